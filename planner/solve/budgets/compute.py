"""Rate: on every unit of every device, the workloads' shares of time (rate x latency)
add up to at most 1 - compute headroom. In explanation mode each workload's rate is its own
budget: dropping it frees the unit time that workload could take."""
from __future__ import annotations

from planner.solve.budgets.model import PERMYRIAD, down, up


def add(pm):
    m = pm.m
    cap = down(1.0 - pm.spec.budgets.compute_headroom_pct / 100.0, PERMYRIAD)
    # a candidate holds its own unit, and a single-segment fallback also its device's CPU
    shares = [[c.shares() for c in cl] for cl in pm.cs.per_workload]
    units = sorted({u for sl in shares for sh in sl for u in sh})
    for s in range(pm.S):
        for u in units:
            terms, slack = [], []
            for w, sl in enumerate(shares):
                on_u = [(k, sh[u]) for k, sh in enumerate(sl) if sh.get(u, 0.0) > 0]
                if not on_u:
                    continue
                terms += [up(share, PERMYRIAD) * pm.x[w][k][s] for k, share in on_u]
                if pm.explain:
                    worst = max(up(share, PERMYRIAD) for _, share in on_u)
                    slack.append(worst * (1 - pm.lit(f"rate:{pm.spec.workloads[w].name}")))
            if terms:
                m.Add(sum(terms) <= cap + sum(slack))
    return ()
