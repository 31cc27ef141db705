"""Accuracy: each workload's option reaches its floor (in the profile's metric). The
objective term sums accuracy points over workloads."""
from __future__ import annotations

from planner.solve.budgets.model import CENTI, Term


def add(pm):
    pairs = []
    for w, cl in enumerate(pm.cs.per_workload):
        name = f"accuracy:{pm.spec.workloads[w].name}"
        under = [pm.z(w, k) for k, c in enumerate(cl) if name in c.breaks]
        if under:
            pm.enforce(pm.m.Add(sum(under) == 0), name)
        # lower-is-better metrics (WER) count negatively, so 'max accuracy' improves them
        pairs += [(int(round(c.accuracy * CENTI)) * (1 if c.model.higher_is_better else -1), v)
                  for k, c in enumerate(cl) for v in pm.x[w][k]]
    return (Term("accuracy", pairs, "max", CENTI),)
