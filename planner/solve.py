"""`solve`: pick model, precision and device for every workload under the spec's budgets, or
prove that nothing fits, name a minimal set of conflicting budgets and relax each.

Pipeline: candidates (numpy, pruned) -> CP-SAT model from budget modules -> lexicographic
optimisation (one pass per objective term, then a tie-break that makes the optimum unique)
-> plan with estimates, slack and binding budgets -> runners-up (no-good cuts).
Infeasible: the explanation model keeps every option, tags what each breaks, enforces each
budget through an assumption literal; CP-SAT's infeasible core is shrunk to a minimal set
(deletion filter), and each member is relaxed alone to the smallest value that restores a plan.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import budgets as B
from .candidates import CandidateSet, build_candidates, check_spec_ids, workload_grids
from .catalog import Catalog
from .errors import EdgeplanError
from .estimate import Query, estimate
from .spec import Spec

DEFAULT_WORKERS = 2
SEED = 0


class SolveTimeout(EdgeplanError):
    """The time limit ran out before any plan was found."""


@dataclass
class Solution:
    status: str                     # optimal | feasible
    choice: list[tuple[int, int]]   # per workload: (candidate index, slot)
    slot_type: dict[int, int]       # slot -> device type index
    objective: dict[str, float] = field(default_factory=dict)


@dataclass
class SolveResult:
    status: str                     # optimal | feasible | infeasible
    spec: Spec
    plan: dict | None = None
    runners_up: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    manifest: object = None

    def as_dict(self) -> dict:
        out = {"status": self.status, "spec": self.spec.name,
               "objective": [f"{s} {t}" for t, s in self.spec.objective_order()]
               if isinstance(self.spec.objective, list) else
               {"weights": dict(self.spec.objective.weights)},
               "plan": self.plan, "runners_up": self.runners_up,
               "conflicts": self.conflicts, "rejected": list(self.rejected),
               "rejected_summary": summarize_rejections(self.rejected), "stats": self.stats}
        return out


def summarize_rejections(rejected: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rejected:
        out[r["budget"]] = out.get(r["budget"], 0) + 1
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- CP-SAT plumbing

def _solver(time_limit: float | None, workers: int):
    from ortools.sat.python import cp_model
    s = cp_model.CpSolver()
    s.parameters.random_seed = SEED
    s.parameters.num_workers = workers
    if time_limit is not None:
        s.parameters.max_time_in_seconds = max(0.01, time_limit)
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


def _weighted_expr(spec, terms):
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


def optimise(pm, terms, spec: Spec, *, time_limit: float | None, workers: int,
             assumptions=None) -> Solution | None:
    """Lexicographic optimisation (or one weighted pass), then a tie-break that makes the
    optimum unique, so the same spec always gives the same plan. None if infeasible."""
    from ortools.sat.python import cp_model
    deadline = None if time_limit is None else time.monotonic() + time_limit
    status_name = "optimal"
    objective: dict[str, float] = {}
    passes = []
    if isinstance(spec.objective, list):
        for name, sense in spec.objective_order():
            passes.append((name, terms[name].expr, sense))
    else:
        passes.append(("weighted", _weighted_expr(spec, terms), "min"))
    # tie-break, workload by workload: the lowest-ranked candidate (faster, then smaller, then
    # by id; so a pruned, dominated option could never have won it), then the lowest slots
    # and device types. The result does not depend on how many options pruning kept.
    for w, cl in enumerate(pm.cs.per_workload):
        if len(cl) > 1:
            passes.append((f"tie-break:{w}", sum(c.rank * v for k, c in enumerate(cl)
                                                  for v in pm.x[w][k]), "min"))
    place = sum((s + 1) * pm.x[w][k][s] for w, cl in enumerate(pm.cs.per_workload)
                for k in range(len(cl)) for s in range(pm.S))
    place += sum((t + 1) * v for s in range(pm.S) for t, v in pm.y[s].items())
    passes.append(("tie-break", place, "min"))
    if assumptions:
        pm.m.AddAssumptions(assumptions)
    choice = slot_type = None
    for name, expr, sense in passes:
        if isinstance(expr, int):
            continue
        (pm.m.Maximize if sense == "max" else pm.m.Minimize)(expr)
        left = None if deadline is None else deadline - time.monotonic()
        solver = _solver(left, workers)
        st = solver.Solve(pm.m)
        if st == cp_model.INFEASIBLE or st == cp_model.MODEL_INVALID:
            if choice is None:
                return None
            raise EdgeplanError(f"internal: pass {name!r} became infeasible")
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if choice is None:
                raise SolveTimeout("the time limit ran out before any plan was found; "
                                   "raise --time-limit")
            status_name = "feasible"
            break
        if st == cp_model.FEASIBLE:
            status_name = "feasible"
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


# ---------------------------------------------------------------- plans

def _instances(slot_type: dict[int, int], cs: CandidateSet):
    """Slots -> (device id, mode, instance number) and the bill of devices."""
    seen: dict[tuple, int] = {}
    where = {}
    for s in sorted(slot_type):
        t = cs.types[slot_type[s]]
        key = (t.device.id, t.mode_id)
        where[s] = (t, seen.get(key, 0))
        seen[key] = seen.get(key, 0) + 1
    bill = [{"id": d, "power_mode": m, "count": n} for (d, m), n in sorted(seen.items())]
    return where, bill


def plan_dict(spec: Spec, catalog: Catalog, cs: CandidateSet, sol: Solution) -> dict:
    where, bill = _instances(sol.slot_type, cs)
    for b in bill:
        dev = catalog.devices[b["id"]]
        b["name"] = dev.name
        b["unit_price_usd"] = dev.price.usd
        b["mode_power_w"] = dev.mode(b["power_mode"]).power_w
    assignments = []
    per_instance: dict[tuple, dict] = {}
    for wi, (k, s) in enumerate(sol.choice):
        c = cs.per_workload[wi][k]
        w = spec.workloads[wi]
        t, inst = where[s]
        est = estimate(catalog, Query(model=c.model.id, precision=c.precision,
                                      technique=c.technique, device=t.device.id, unit=c.unit,
                                      runtime=c.runtime, batch=w.batch,
                                      context=w.context_tokens, power_mode=t.mode_id))
        assignments.append({
            "workload": w.name, "model": c.model.id, "precision": c.precision,
            "technique": c.technique, "device": t.device.id, "instance": inst,
            "power_mode": t.mode_id, "unit": c.unit, "runtime": c.runtime, "batch": w.batch,
            "context_tokens": w.context_tokens if c.model.llm else None,
            "unit_share": round(c.util, 4),
            "estimates": {k: v for k, v in est.as_dict().items() if k != "query"}})
        inst_key = (t.device.id, t.mode_id, inst)
        d = per_instance.setdefault(inst_key, {"device": t.device.id, "power_mode": t.mode_id,
                                               "instance": inst, "memory_gb": 0.0,
                                               "memory_cap_gb": t.memory_cap_gb,
                                               "memory_available_gb": t.available_gb,
                                               "unit_share": {}, "dyn_power_w": 0.0,
                                               "idle_w": t.idle_w})
        d["memory_gb"] += c.memory_gb
        d["unit_share"][c.unit] = d["unit_share"].get(c.unit, 0.0) + c.util
        d["dyn_power_w"] += c.dyn_power_w
    power = sum(b["mode_power_w"] * b["count"] for b in bill)
    cost = sum(b["unit_price_usd"] * b["count"] for b in bill)
    avg_power = sum(d["idle_w"] + d["dyn_power_w"] for d in per_instance.values())
    totals = {"power_w": round(power, 4), "average_power_w": round(avg_power, 4),
              "cost_usd": round(cost, 2), "devices": sum(b["count"] for b in bill),
              "accuracy": {a["workload"]: a["estimates"]["accuracy"]["value"]
                           for a in assignments},
              "per_device": [
                  {"device": d["device"], "power_mode": d["power_mode"],
                   "instance": d["instance"], "memory_gb": round(d["memory_gb"], 4),
                   "memory_available_gb": round(d["memory_available_gb"], 4),
                   "unit_share": {u: round(v, 4) for u, v in sorted(d["unit_share"].items())}}
                  for _, d in sorted(per_instance.items())]}
    chosen = [cs.per_workload[wi][k] for wi, (k, _) in enumerate(sol.choice)]
    slack = budget_slack(spec, assignments, totals, per_instance, chosen)
    return {"devices": bill, "assignments": assignments, "totals": totals, "slack": slack}


def budget_slack(spec: Spec, assignments, totals, per_instance, chosen) -> list[dict]:
    """Slack on every budget the spec sets: limit, used, slack (how far from the limit, in
    the budget's unit; positive is inside) and slack as a share of the limit."""
    b = spec.budgets
    out = []

    def row(budget, limit, used, unit, higher_ok=False):
        sl = (used - limit) if higher_ok else (limit - used)
        out.append({"budget": budget, "limit": round(limit, 4), "used": round(used, 4),
                    "unit": unit, "slack": round(sl, 4),
                    "slack_pct": round(100.0 * sl / abs(limit), 2) if limit else None})

    if b.power_w is not None:
        row("power", b.power_w, totals["power_w"], "W")
    if b.cost_usd is not None:
        row("cost", b.cost_usd, totals["cost_usd"], "USD")
    row("devices", b.max_devices, totals["devices"], "devices")
    cap = 1.0 - b.compute_headroom_pct / 100.0
    for _, d in sorted(per_instance.items()):
        row(f"memory:{d['device']}#{d['instance']}", d["memory_cap_gb"], d["memory_gb"], "GB")
        for u, share in sorted(d["unit_share"].items()):
            if share > 0:
                row(f"rate:{d['device']}#{d['instance']}/{u}", cap, share, "unit share")
    for a, w, c in zip(assignments, spec.workloads, chosen):
        e = a["estimates"]
        if w.latency_budget_ms is not None:
            row(f"latency:{w.name}", w.latency_budget_ms, e["latency_ms"]["value"], "ms")
        if w.accuracy_floor is not None:
            row(f"accuracy:{w.name}", w.accuracy_floor, e["accuracy"]["value"],
                e["accuracy"]["metric"], higher_ok=c.model.higher_is_better)
    return out


def plan_summary(plan: dict) -> str:
    parts = [f"{a['workload']}: {a['model']} {a['precision'].upper()}/{a['technique']} on "
             f"{a['device']} [{a['power_mode']}]" for a in plan["assignments"]]
    return "; ".join(parts)


# ---------------------------------------------------------------- the verb

def solve(spec: Spec, catalog: Catalog, *, top: int = 0, time_limit: float | None = None,
          workers: int = DEFAULT_WORKERS, explain: bool = True, binding: bool = True,
          extra_models: dict | None = None) -> SolveResult:
    """Solve a spec. `extra_models`: {workload name: [ModelProfile]} profiled from the spec's
    ONNX files (see `model_file_profiles`); they join the catalog for this solve."""
    t0 = time.monotonic()
    if extra_models:
        catalog = catalog_with_models(catalog, [m for ms in extra_models.values() for m in ms])
    check_spec_ids(spec, catalog)
    grids = workload_grids(spec, catalog, extra_models=extra_models)
    within = _incumbent_bound(spec, grids, workers) if top == 0 else None
    cs = build_candidates(spec, catalog, layers=top + 1, within=within, grids=grids)
    t_cands = time.monotonic() - t0
    stats = {"candidates_considered": cs.considered,
             "candidates_in_model": sum(len(c) for c in cs.per_workload),
             "pruned_dominated": cs.pruned_dominated,
             "rejected": cs.rejected.count()}
    result = SolveResult("infeasible", spec, rejected=cs.rejected, stats=stats)
    sol = None
    if all(cs.per_workload):
        slots = min(len(spec.workloads), spec.budgets.max_devices)
        pm, terms = B.build(cs, spec, slots=slots, explain=False)
        stats["model_variables"] = len(pm.m.Proto().variables)
        sol = optimise(pm, terms, spec, time_limit=time_limit, workers=workers)
    stats["seconds_candidates"] = round(t_cands, 3)
    if sol is None:
        if explain:
            from .explain import explain_infeasible
            result.conflicts = explain_infeasible(
                spec, catalog, workers=workers, extra_models=extra_models,
                options_considered=cs.considered)
        stats["seconds_total"] = round(time.monotonic() - t0, 3)
        return result
    result.status = sol.status
    result.plan = plan_dict(spec, catalog, cs, sol)
    result.plan["objective"] = {k: round(v / terms[k].scale, 4) if k in terms else v
                                for k, v in sol.objective.items()}
    if binding and sol.status == "optimal":
        from .explain import binding_budgets
        result.plan["binding"] = binding_budgets(spec, catalog, sol.objective, workers=workers,
                                                 extra_models=extra_models)
    for _ in range(top):
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
        nxt = optimise(pm2, terms2, spec, time_limit=time_limit, workers=workers)
        if nxt is None:
            break
        p = plan_dict(spec, catalog, cs, nxt)
        p["objective"] = {k: round(v / terms2[k].scale, 4) if k in terms2 else v
                          for k, v in nxt.objective.items()}
        p["_sol"] = nxt
        result.runners_up.append(p)
    for r in result.runners_up:
        r.pop("_sol")
    from .plan import to_manifest
    result.manifest = to_manifest(spec, result.plan, catalog,
                                  model_files=getattr(extra_models, "paths", None))
    stats["seconds_total"] = round(time.monotonic() - t0, 3)
    return result


def _incumbent_bound(spec: Spec, grids, workers: int):
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
    while True:
        thr = min(thr, cap)
        cs = build_candidates(spec, None, within={term: thr}, grids=grids)
        if all(cs.per_workload):
            pm, terms = B.build(cs, spec, slots=min(len(spec.workloads),
                                                     spec.budgets.max_devices), explain=False)
            pm.m.Minimize(terms[term].expr)
            solver = _solver(None, workers)
            from ortools.sat.python import cp_model
            if solver.Solve(pm.m) == cp_model.OPTIMAL:
                return {term: solver.ObjectiveValue() / terms[term].scale}
        if thr >= cap:
            return None
        thr *= 2


def _plan_key(c) -> tuple:
    return (c.model.id, c.precision, c.technique, c.dtype.device.id, c.dtype.mode_id)


def catalog_with_models(catalog: Catalog, models) -> Catalog:
    """A copy of the catalog with extra model profiles (ONNX files a spec names)."""
    import dataclasses
    extra = {m.id: m for m in models}
    return dataclasses.replace(catalog, models={**catalog.models, **extra},
                               origin={**catalog.origin,
                                       **{f"model:{i}": "spec model_files" for i in extra}})


def model_file_profiles(spec: Spec, base_dir) -> dict | None:
    """ONNX files named by the spec's workloads, profiled into candidate models:
    {workload name: [ModelProfile]}. Paths are relative to the spec's directory."""
    import os
    if not any(w.model_files for w in spec.workloads):
        return None
    from .onnx_profile import profile_as_model
    out = ModelFiles()
    for w in spec.workloads:
        for f in w.model_files or ():
            path = f if os.path.isabs(f) else os.path.join(os.fspath(base_dir), f)
            mid = os.path.splitext(os.path.basename(f))[0].lower()
            m = profile_as_model(path, mid, task=w.task or "custom")
            out.setdefault(w.name, []).append(m)
            out.paths[m.id] = f
    return out


class ModelFiles(dict):
    """{workload: [ModelProfile]} from a spec's model_files, and `paths`: model id -> the
    file as the spec names it (relative to the spec), for the manifest's model_file."""

    def __init__(self):
        super().__init__()
        self.paths: dict[str, str] = {}


def solve_spec_file(path, catalog: Catalog | None = None, **kw) -> SolveResult:
    """Load a spec file and solve it, ONNX model_files included (the API `bundle` and
    `report` use)."""
    import os
    from .catalog import load_catalog
    from .spec import load_spec
    spec, _ = load_spec(path)
    kw.setdefault("extra_models", model_file_profiles(spec, os.path.dirname(os.path.abspath(path))))
    return solve(spec, catalog if catalog is not None else load_catalog(), **kw)
