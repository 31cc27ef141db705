"""Rate: on every unit of every device, the workloads' shares of time (rate x latency)
add up to at most 1 - compute headroom. In explanation mode each workload's rate is its own
budget: dropping it frees the unit time that workload could take."""
from __future__ import annotations

from planner.solve.budgets.model import PERMYRIAD, down, up


def add(pm):
    m = pm.m
    cap = down(1.0 - pm.spec.budgets.compute_headroom_pct / 100.0, PERMYRIAD)
    units = sorted({c.unit for cl in pm.cs.per_workload for c in cl})
    for s in range(pm.S):
        for u in units:
            terms, slack = [], []
            for w, cl in enumerate(pm.cs.per_workload):
                on_u = [(k, c) for k, c in enumerate(cl) if c.unit == u and c.util > 0]
                if not on_u:
                    continue
                terms += [up(c.util, PERMYRIAD) * pm.x[w][k][s] for k, c in on_u]
                if pm.explain:
                    worst = max(up(c.util, PERMYRIAD) for _, c in on_u)
                    slack.append(worst * (1 - pm.lit(f"rate:{pm.spec.workloads[w].name}")))
            if terms:
                m.Add(sum(terms) <= cap + sum(slack))
    return ()
