"""Structure: each workload runs exactly one candidate on one slot; a slot holds at most one
device type; a candidate runs only on a slot of its type; slots fill in order (symmetry)."""
from __future__ import annotations


def add(pm):
    m = pm.m
    for w in range(pm.W):
        m.AddExactlyOne([v for xs in pm.x[w] for v in xs])
    for s in range(pm.S):
        m.Add(sum(pm.y[s].values()) == pm.used[s])
        for w, cl in enumerate(pm.cs.per_workload):
            for k, c in enumerate(cl):
                m.AddImplication(pm.x[w][k][s], pm.y[s][c.dtype.index])
        if s:
            # symmetry: used slots first, and in non-decreasing type order
            m.AddImplication(pm.used[s], pm.used[s - 1])
            prev = sum(t * v for t, v in pm.y[s - 1].items())
            cur = sum(t * v for t, v in pm.y[s].items())
            m.Add(prev <= cur).OnlyEnforceIf(pm.used[s])
    # a used slot runs something
    for s in range(pm.S):
        m.Add(sum(pm.x[w][k][s] for w in range(pm.W) for k in range(len(pm.x[w])))
              >= 1).OnlyEnforceIf(pm.used[s])
    return ()
