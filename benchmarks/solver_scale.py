"""Solver scale on synthetic catalogs (issue 3 targets). Run:

    python benchmarks/solver_scale.py [--repeats 3]

Prints one line per case with the median wall time of `solve()` end to end (candidate grid,
pruning, CP-SAT model, lexicographic optimisation; catalog generation excluded and reported
separately), and for the 8-workload case the naive formulation (one Boolean per workload x
candidate x device slot, no pre-filtering, no pruning) in the same run, for the ratio."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from synthetic import make_catalog  # noqa: E402

from planner.solve import budgets as B  # noqa: E402
from planner.solve.budgets import model as budget_model  # noqa: E402
from planner.solve.candidates import build_candidates  # noqa: E402
from planner.solve.cpsat import optimise
from planner.solve.pipeline import solve  # noqa: E402
from planner.spec import Spec  # noqa: E402

NAIVE_TIME_LIMIT_S = 60.0


def timed(fn, repeats, catalog=None):
    times, out = [], None
    for _ in range(repeats):
        if catalog is not None:   # no estimates cached from the previous repeat
            catalog.__dict__.pop("_grid_cache", None)
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def case_one(repeats):
    t = time.perf_counter()
    cat = make_catalog(1000, 1000, seed=1)
    gen = time.perf_counter() - t
    spec = Spec.model_validate({
        "name": "one", "workloads": [{"name": "cls", "task": "classification", "rate_fps": 30,
                                      "latency_budget_ms": 50, "accuracy_floor": 60}],
        "budgets": {"power_w": 20}, "objective": ["min power", "max accuracy", "min cost"]})
    med, r = timed(lambda: solve(spec, cat, binding=False), repeats, cat)
    print(f"1 workload x 1000 devices x 1000 models x 5 precisions: median {med:.3f} s "
          f"(target <= 1 s), status {r.status}, {r.stats['candidates_considered']} options, "
          f"{r.stats['candidates_in_model']} in the model; catalog generation {gen:.2f} s")
    return med


def eight_spec(power_w):
    ws = []
    for i in range(8):
        ws.append({"name": f"w{i}", "task": f"task{i}", "rate_fps": [5, 10, 20, 30][i % 4],
                   "latency_budget_ms": 200, "accuracy_floor": 55})
    return Spec.model_validate({"name": "eight", "workloads": ws,
                                "budgets": {"max_devices": 3, "power_w": power_w},
                                "objective": ["min power", "max accuracy", "min cost"]})


def case_eight(repeats):
    # 8 tasks x 40 models x 5 options = 200 candidates per workload, over 100 devices
    cat = make_catalog(100, 320, tasks=tuple(f"task{i}" for i in range(8)), seed=2)
    spec = eight_spec(60)
    med, r = timed(lambda: solve(spec, cat, binding=False), repeats, cat)
    print(f"8 workloads x 200 candidates x 100 devices, up to 3 devices: median {med:.3f} s "
          f"(target <= 2 s), status {r.status}, {r.stats['candidates_in_model']} candidates "
          f"after pruning of {r.stats['candidates_considered']}")

    def naive():
        cs = build_candidates(spec, cat, explain=True, prune=False)
        pm, terms = B.build(cs, spec, slots=3, explain=True)
        return optimise(pm, terms, spec, time_limit=NAIVE_TIME_LIMIT_S, workers=2,
                        assumptions=list(pm.lits.values()))
    t = time.perf_counter()
    sol = naive()
    naive_s = time.perf_counter() - t
    same = sol is not None and r.plan is not None and \
        round(sol.objective.get("power", -1) / budget_model.MW, 3) == r.plan["objective"]["power"]
    print(f"  naive formulation: {naive_s:.3f} s ({sol.status if sol else 'none'}"
          f"{', hit the time limit' if naive_s >= NAIVE_TIME_LIMIT_S else ''}); "
          f"speed-up {naive_s / med:.1f}x (target >= 20x); same optimal power: {same}")
    inf = eight_spec(1)
    med_e, r_inf = timed(lambda: solve(inf, cat, binding=False), 1, cat)
    conflicts = r_inf.conflicts
    print(f"  the same case made infeasible (power 1 W), solve with explanation: {med_e:.3f} s "
          f"(target <= 5 s): {[c['budget'] + ' -> ' + str(c['relax_to']) for c in conflicts]}")
    return med, naive_s, med_e


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    case_one(a.repeats)
    case_eight(a.repeats)
