"""Allow/deny lists and candidate lists (models, precisions, techniques, devices, families,
runtimes). Outside explanation mode such options are never candidates; in it, each list is a
budget that can be named in a conflict and relaxed."""
from __future__ import annotations

_PREFIXES = ("models:", "precisions:", "techniques:", "devices.", "families.", "runtimes.")


def add(pm):
    if not pm.explain:
        return ()
    outside: dict[str, list] = {}
    for w, cl in enumerate(pm.cs.per_workload):
        for k, c in enumerate(cl):
            for b in c.breaks:
                if b.startswith(_PREFIXES):
                    outside.setdefault(b, []).append(pm.z(w, k))
    for b in sorted(outside):
        pm.enforce(pm.m.Add(sum(outside[b]) == 0), b)
    return ()
