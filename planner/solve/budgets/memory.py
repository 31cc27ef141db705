"""Memory: on every device, the workloads' weights + activations + KV cache fit in what the
OS and runtime leave free, less the memory headroom."""
from __future__ import annotations

from planner.solve.budgets.model import KB, Term, down, up


def add(pm):
    m = pm.m
    pairs = []
    for s in range(pm.S):
        use = [(up(c.memory_gb, KB), pm.x[w][k][s])
               for w, cl in enumerate(pm.cs.per_workload) for k, c in enumerate(cl)]
        cap = sum(down(t.memory_cap_gb, KB) * pm.y[s][t.index] for t in pm.types)
        if not pm.ignore_memory:
            pm.enforce(m.Add(sum(c * v for c, v in use) <= cap), "memory")
        pairs += use
    return (Term("memory", pairs, "min", KB),)
