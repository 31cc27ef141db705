"""Cost: the devices' prices add up to at most the cost budget."""
from __future__ import annotations

from planner.solve.budgets.model import CENTS, Term, down, up


def add(pm):
    term = Term("cost", [(up(t.price_usd, CENTS), pm.y[s][t.index])
                         for s in range(pm.S) for t in pm.types], "min", CENTS)
    b = pm.spec.budgets.cost_usd
    if b is not None:
        pm.enforce(pm.m.Add(term.expr <= down(b, CENTS)), "cost")
    return (term,)
