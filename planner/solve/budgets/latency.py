"""Latency and time to first token: each workload's p50 latency (and an LLM's prefill of its
prompt) is within its budget. Options over budget never reach the model; in explanation mode
they do, under the workload's latency (or ttft) literal."""
from __future__ import annotations

from planner.solve.budgets.model import US, Term, up


def add(pm):
    pairs = []
    for w, cl in enumerate(pm.cs.per_workload):
        for kind in ("latency", "ttft"):
            name = f"{kind}:{pm.spec.workloads[w].name}"
            over = [pm.z(w, k) for k, c in enumerate(cl) if name in c.breaks]
            if over:
                pm.enforce(pm.m.Add(sum(over) == 0), name)
        pairs += [(up(c.latency_ms, US), v) for k, c in enumerate(cl) for v in pm.x[w][k]]
    return (Term("latency", pairs, "min", US),)
