"""The CP-SAT side of solve: solver parameters, lexicographic optimisation with a unique
optimum, and a plain solve of one spec (no explanations, no binding re-solves) that
`explain` and `report` call."""
from __future__ import annotations

import time

from planner.catalog.loader import Catalog, catalog_with_models
from planner.errors import EdgeplanError, SolveTimeout
from planner.solve import budgets as B
from planner.solve import deadline as D
from planner.solve.candidates import (
    build_candidates,
    check_spec_ids,
    workload_grids,
)
from planner.solve.plan import Solution, SolveResult, plan_dict, to_manifest
from planner.spec import Spec

DEFAULT_WORKERS = 2


SEED = 0


# ---------------------------------------------------------------- CP-SAT plumbing

SMALL_MODEL_VARS = 2_000   # at most this many variables: one worker, no presolve


def make_solver(time_limit: float | None, workers: int, model=None):
    """A seeded CP-SAT solver. For a small `model` (the usual plan: a few hundred Booleans)
    presolve and a second worker cost more than the search (about 6 ms of a 2.5 ms solve
    here), so it gets one worker without presolve; the optimum, and so the plan after the
    tie-break, is the same either way."""
    from ortools.sat.python import cp_model
    s = cp_model.CpSolver()
    s.parameters.random_seed = SEED
    s.parameters.num_workers = workers
    if model is not None and len(model.Proto().variables) <= SMALL_MODEL_VARS:
        s.parameters.num_workers = 1
        s.parameters.cp_model_presolve = False
    if time_limit is not None:
        s.parameters.max_time_in_seconds = max(0.01, time_limit)
    d = D.active()
    if d is not None:   # the deadline in force bounds every solver made under it
        d.check("a CP-SAT solve")
        d.limit(s)
    return s


def _extract(pm, solver) -> tuple[list[tuple[int, int]], dict[int, int]]:
    choice = []
    for w in range(pm.W):
        for k, xs in enumerate(pm.x[w]):
            for s, v in enumerate(xs):
                if solver.BooleanValue(v):
                    choice.append((k, s))
    slot_type = {}
    for s in range(pm.S):
        for t, v in pm.y[s].items():
            if solver.BooleanValue(v):
                slot_type[s] = t
    return choice, slot_type


def _hint(pm, choice, slot_type):
    pm.m.ClearHints()
    chosen = {(w, k, s) for w, (k, s) in enumerate(choice)}
    for w in range(pm.W):
        for k, xs in enumerate(pm.x[w]):
            for s, v in enumerate(xs):
                pm.m.AddHint(v, (w, k, s) in chosen)
    for s in range(pm.S):
        for t, v in pm.y[s].items():
            pm.m.AddHint(v, slot_type.get(s) == t)


def weighted_expr(spec, terms):
    """Weighted objective as one integer expression (minimised): each term in natural units
    times its weight, in milli-units; maximised terms count negatively."""
    from ortools.sat.python import cp_model
    pairs = []
    for name, weight in sorted(spec.objective.weights.items()):
        t = terms[name]
        sign = -1.0 if t.sense == "max" else 1.0
        pairs += t.scaled(sign * weight * 1000.0 / t.scale)
    pairs = [(c, v) for c, v in pairs if c]
    if not pairs:
        return 0
    return cp_model.LinearExpr.WeightedSum([v for _, v in pairs], [c for c, _ in pairs])


TIE_BREAK_MAX = 2 ** 52   # a combined tie-break objective stays exact in a double


def _tie_break_passes(pm) -> list[tuple]:
    """The tie-break, workload by workload: the lowest-ranked candidate (by what pruning
    compares, then faster, then smaller: `candidates._rank_order`; so a pruned, dominated
    option could never have won it), then the lowest slots and device types. The result
    does not depend on how many options pruning kept. Each workload's rank and the placement are bounded integers, so the lexicographic
    order is one objective with mixed-radix weights (rank of workload 0 in the top digit,
    placement in the last) when it fits in TIE_BREAK_MAX; else one pass each."""
    ranked = [(w, cl) for w, cl in enumerate(pm.cs.per_workload) if len(cl) > 1]
    ranks = [(f"tie-break:{w}", sum(c.rank * v for k, c in enumerate(cl) for v in pm.x[w][k]),
              max(c.rank for c in cl)) for w, cl in ranked]
    place = sum((s + 1) * pm.x[w][k][s] for w, cl in enumerate(pm.cs.per_workload)
                for k in range(len(cl)) for s in range(pm.S))
    place += sum((t + 1) * v for s in range(pm.S) for t, v in pm.y[s].items())
    place_max = pm.W * pm.S + sum(max((t + 1 for t in pm.y[s]), default=0)
                                  for s in range(pm.S))
    radix, combined = place_max + 1, place
    for name, expr, top in reversed(ranks):
        combined = combined + radix * expr
        radix *= top + 1
    if radix <= TIE_BREAK_MAX:
        return [("tie-break", combined, "min")]
    return [(name, expr, "min") for name, expr, _ in ranks] + [("tie-break", place, "min")]


def optimise(pm, terms, spec: Spec, *, time_limit: float | None = None, workers: int,
             assumptions=None, deadline: D.Deadline | None = None,
             step: str = "optimisation") -> Solution | None:
    """Lexicographic optimisation (or one weighted pass), then a tie-break that makes the
    optimum unique, so the same spec always gives the same plan. None if infeasible.
    Each pass gets the time left on `deadline`; when it runs out after a plan was found, the
    plan so far is returned with status 'feasible' and `step` is recorded as cut short;
    before any plan, SolveTimeout."""
    from ortools.sat.python import cp_model
    deadline = D.ensure(deadline, time_limit)
    status_name = "optimal"
    objective: dict[str, float] = {}
    passes = []
    if isinstance(spec.objective, list):
        for name, sense in spec.objective_order():
            passes.append((name, terms[name].expr, sense))
    else:
        passes.append(("weighted", weighted_expr(spec, terms), "min"))
    passes += _tie_break_passes(pm)
    if assumptions:
        pm.m.AddAssumptions(assumptions)
    choice = slot_type = None
    for name, expr, sense in passes:
        if isinstance(expr, int):
            continue
        if choice is not None and deadline.expired():
            status_name = "feasible"
            deadline.cut_short(step)
            break
        (pm.m.Maximize if sense == "max" else pm.m.Minimize)(expr)
        with D.running(deadline):
            solver = make_solver(None, workers, pm.m)
        if choice is None and deadline.expired():
            raise deadline.timeout(step)
        st = solver.Solve(pm.m)
        if st == cp_model.INFEASIBLE or st == cp_model.MODEL_INVALID:
            if choice is None:
                return None
            raise EdgeplanError(f"internal: pass {name!r} became infeasible")
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if choice is None:
                raise deadline.stopped(step)
            status_name = "feasible"
            deadline.cut_short(step)
            break
        if st == cp_model.FEASIBLE:
            status_name = "feasible"
            deadline.cut_short(step)
        choice, slot_type = _extract(pm, solver)
        value = int(round(solver.ObjectiveValue()))
        if not name.startswith("tie-break"):
            objective[name] = value
        # every pass, tie-breaks included, pins its optimum for the passes after it
        pm.m.Add(expr >= value) if sense == "max" else pm.m.Add(expr <= value)
        _hint(pm, choice, slot_type)
        if st == cp_model.FEASIBLE:
            break
    return Solution(status_name, choice, slot_type, objective)


def _incumbent_bound(spec: Spec, grids, workers: int, deadline: D.Deadline | None = None):
    """When the first objective is 'min power' (or 'min cost'), find its optimum on growing
    subsets of device types (those whose own power is at most a threshold that doubles), and
    return it as a bound: no device type above the optimum can be in an optimal plan, since
    the total is a sum of the devices' values. The final model then sees far fewer options.
    None when the objective starts otherwise or no threshold below the budget works."""
    order = spec.objective_order()
    if not isinstance(spec.objective, list) or order[0][0] not in ("power", "cost"):
        return None
    term = order[0][0]
    attr = "power_w" if term == "power" else "price_usd"
    limit = spec.budgets.power_w if term == "power" else spec.budgets.cost_usd
    values = sorted({getattr(t, attr) for t in grids.types})
    if not values:
        return None
    top_value = values[-1] * min(len(spec.workloads), spec.budgets.max_devices)
    cap = min(limit, top_value) if limit is not None else top_value
    thr = values[0]
    deadline = D.ensure(deadline)
    while True:
        if deadline.expired():
            return None      # only a speed-up: the final model without it is still right
        thr = min(thr, cap)
        cs = build_candidates(spec, None, within={term: thr}, grids=grids)
        if all(cs.per_workload):
            pm, terms = B.build(cs, spec, slots=min(len(spec.workloads),
                                                     spec.budgets.max_devices), explain=False)
            pm.m.Minimize(terms[term].expr)
            with D.running(deadline):
                if deadline.expired():
                    return None
                solver = make_solver(None, workers, pm.m)
            from ortools.sat.python import cp_model
            if solver.Solve(pm.m) == cp_model.OPTIMAL:
                return {term: solver.ObjectiveValue() / terms[term].scale}
        if thr >= cap:
            return None
        thr *= 2


# ---------------------------------------------------------------- a plain solve

def solve_plain(spec: Spec, catalog: Catalog, *, top: int = 0, time_limit: float | None = None,
                workers: int = DEFAULT_WORKERS, extra_models: dict | None = None,
                deadline: D.Deadline | None = None) -> SolveResult:
    """Solve a spec without explanations or binding re-solves: candidates, the CP-SAT model,
    the optimum (or status infeasible), runners-up and the manifest. What `explain`, the
    report's sensitivity and fronts re-solve with; `pipeline.solve` adds the explanations.
    `extra_models`: {workload name: [ModelProfile]} profiled from the spec's ONNX files
    (see `model_file_profiles`); they join the catalog for this solve.
    `deadline` (or `time_limit`) bounds all of it: the candidate grids, every CP-SAT pass and
    the runners-up; steps cut short are listed in `deadline.cut`."""
    t0 = time.monotonic()
    deadline = D.ensure(deadline, time_limit)
    if extra_models:
        catalog = catalog_with_models(catalog, [m for ms in extra_models.values() for m in ms])
    check_spec_ids(spec, catalog)
    with D.running(deadline):
        grids = workload_grids(spec, catalog, extra_models=extra_models)
    within = _incumbent_bound(spec, grids, workers, deadline) if top == 0 else None
    deadline.check("candidate pruning")
    cs = build_candidates(spec, catalog, layers=top + 1, within=within, grids=grids)
    if deadline.end is not None:
        cs.rejected.deadline = deadline
    if all(cs.per_workload):     # else already proven infeasible: say so, whatever the time
        deadline.check("candidate pruning")
    t_cands = time.monotonic() - t0
    stats = {"candidates_considered": cs.considered,
             "candidates_in_model": sum(len(c) for c in cs.per_workload),
             "pruned_dominated": cs.pruned_dominated,
             "rejected": cs.rejected.count()}
    result = SolveResult("infeasible", spec, rejected=cs.rejected, stats=stats)
    sol = None
    if all(cs.per_workload):
        slots = min(len(spec.workloads), spec.budgets.max_devices)
        check_model_memory(cs, slots, deadline)
        pm, terms = B.build(cs, spec, slots=slots, explain=False)
        stats["model_variables"] = len(pm.m.Proto().variables)
        deadline.check("building the CP-SAT model")
        sol = optimise(pm, terms, spec, workers=workers, deadline=deadline)
    stats["seconds_candidates"] = round(t_cands, 3)
    if sol is None:
        return result
    result.status = sol.status
    result.plan = plan_dict(spec, catalog, cs, sol)
    result.plan["objective"] = {k: round(v / terms[k].scale, 4) if k in terms else v
                                for k, v in sol.objective.items()}
    result.solution = sol
    for _ in range(top):
        if deadline.expired():
            deadline.cut_short("runners-up")
            break
        cut_choices = [sol] + [r["_sol"] for r in result.runners_up]
        pm2, terms2 = B.build(cs, spec, slots=pm.S, explain=False)
        for prev in cut_choices:
            # distinct: some workload changes model, precision, technique, device or mode
            # (another runtime or unit for the same choice is not another plan)
            same = []
            for w, (k, _) in enumerate(prev.choice):
                key = _plan_key(cs.per_workload[w][k])
                same += [pm2.z(w, k2) for k2, c in enumerate(cs.per_workload[w])
                         if _plan_key(c) == key]
            pm2.m.Add(sum(same) <= pm2.W - 1)
        try:
            nxt = optimise(pm2, terms2, spec, workers=workers, deadline=deadline,
                           step="runners-up")
        except SolveTimeout:
            deadline.cut_short("runners-up")
            break
        if nxt is None:
            break
        p = plan_dict(spec, catalog, cs, nxt)
        p["objective"] = {k: round(v / terms2[k].scale, 4) if k in terms2 else v
                          for k, v in nxt.objective.items()}
        p["_sol"] = nxt
        result.runners_up.append(p)
    for r in result.runners_up:
        r.pop("_sol")
    result.manifest = to_manifest(spec, result.plan, catalog,
                                  model_files=getattr(extra_models, "paths", None))
    return result


def check_model_memory(cs, slots: int, deadline: D.Deadline) -> None:
    """Refuse, before building it, a CP-SAT model that would need more than the budget: one
    Boolean per (workload, candidate, slot) and one per (slot, device type)."""
    n = sum(len(c) for c in cs.per_workload) * slots + slots * len(cs.types)
    deadline.check_memory(f"the CP-SAT model ({n:,} Booleans)", n * D.MODEL_BYTES_PER_VAR)


def _plan_key(c) -> tuple:
    return (c.model.id, c.precision, c.technique, c.dtype.device.id, c.dtype.mode_id)
