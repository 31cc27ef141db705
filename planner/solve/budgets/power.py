"""Power: the devices' chosen power modes add up to at most the power budget (a power mode is
the board's power limit, so this is the draw when busy)."""
from __future__ import annotations

from planner.solve.budgets.model import MW, Term, down, up


def add(pm):
    term = Term("power", [(up(t.power_w, MW), pm.y[s][t.index])
                          for s in range(pm.S) for t in pm.types], "min", MW)
    b = pm.spec.budgets.power_w
    if b is not None:
        pm.enforce(pm.m.Add(term.expr <= down(b, MW)), "power")
    return (term,)
