"""Energy: average power above idle that the workloads draw at their rates (W): what running
them costs a battery, beyond keeping the devices on."""
from __future__ import annotations

from planner.solve.budgets.model import MW, Term, up


def add(pm):
    return (Term("energy", [(up(c.dyn_power_w, MW), v)
                            for w, cl in enumerate(pm.cs.per_workload)
                            for k, c in enumerate(cl) for v in pm.x[w][k]], "min", MW),)
