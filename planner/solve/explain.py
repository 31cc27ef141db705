"""Why: which budgets conflict when nothing fits (and how far each must move), and which
budgets bind a plan that does fit.

Conflicts: every budget is enforced through an assumption literal in the explanation model;
CP-SAT returns a sufficient set of assumptions for infeasibility, which a deletion filter
shrinks to a minimal one (no proper subset conflicts). Each member is then relaxed alone, with
all other budgets kept, to the smallest value that restores a plan, and the plan is shown.
"""
from __future__ import annotations

from planner.catalog.loader import Catalog
from planner.solve import budgets as B
from planner.solve.budgets import model as scales
from planner.solve.candidates import build_candidates
from planner.solve.cpsat import make_solver, solve_plain, weighted_expr
from planner.spec import Spec

RATE_SEARCH_STEPS = 12
HEADROOM_SEARCH_STEPS = 10
LIST_PREFIXES = ("models:", "precisions:", "techniques:", "devices.", "families.", "runtimes.")
CORE_MODEL_MAX_VARS = 20_000   # above this, skip CP-SAT's core and start from every budget


def _solver(workers: int, model=None):
    return make_solver(None, workers, model)


def _with_budget(spec: Spec, **changes) -> Spec:
    return spec.model_copy(update={"budgets": spec.budgets.model_copy(update=changes)})


def _with_workload(spec: Spec, name: str, **changes) -> Spec:
    ws = [w.model_copy(update=changes) if w.name == name else w for w in spec.workloads]
    return spec.model_copy(update={"workloads": ws})


def budget_names(spec: Spec) -> list[str]:
    """Every budget the spec sets, by the names conflicts use."""
    b = spec.budgets
    out = ["memory"]
    if b.power_w is not None:
        out.append("power")
    if b.cost_usd is not None:
        out.append("cost")
    if b.max_devices < min(len(spec.workloads), 16):
        out.append("devices")
    for w in spec.workloads:
        if w.latency_budget_ms is not None:
            out.append(f"latency:{w.name}")
        if w.accuracy_floor is not None:
            out.append(f"accuracy:{w.name}")
        if w.rate_fps is not None or w.tokens_per_s is not None:
            out.append(f"rate:{w.name}")
        if w.models is not None:
            out.append(f"models:{w.name}")
        if w.precisions is not None:
            out.append(f"precisions:{w.name}")
        if w.techniques is not None:
            out.append(f"techniques:{w.name}")
    for group in ("devices", "families", "runtimes"):
        ad = getattr(spec, group)
        if ad.allow is not None:
            out.append(f"{group}.allow")
        if ad.deny:
            out.append(f"{group}.deny")
    return sorted(out)


def relaxed(spec: Spec, catalog: Catalog, off) -> Spec:
    """The spec with the budgets in `off` lifted (memory is lifted by the caller's flag)."""
    bud, ws = {}, {w.name: {} for w in spec.workloads}
    top = {}
    for b in off:
        if b == "power":
            bud["power_w"] = None
        elif b == "cost":
            bud["cost_usd"] = None
        elif b == "devices":
            bud["max_devices"] = min(len(spec.workloads), 16)
        elif ":" in b:
            kind, wname = b.split(":", 1)
            w = next(x for x in spec.workloads if x.name == wname)
            if kind == "latency":
                ws[wname]["latency_budget_ms"] = None
            elif kind == "accuracy":
                ws[wname]["accuracy_floor"] = None
            elif kind == "rate":
                ws[wname].update(rate_fps=None, tokens_per_s=None)
            elif kind == "models":
                from planner.solve.candidates import workload_tasks
                tasks = sorted(workload_tasks(w, catalog))
                ws[wname].update(models=None, task=w.task or (tasks[0] if tasks else None))
            else:
                ws[wname][kind] = None
        elif b != "memory":
            group, which = b.split(".")
            ad = top.get(group, getattr(spec, group))
            top[group] = ad.model_copy(update={"allow": None} if which == "allow" else {"deny": []})
    new = spec.model_copy(update={"budgets": spec.budgets.model_copy(update=bud),
                                  "workloads": [w.model_copy(update=ws[w.name])
                                                for w in spec.workloads], **top})
    return new


class Oracle:
    """Is there a plan when only some budgets are enforced? Answers with the ordinary,
    pruned model of the spec with the other budgets lifted: fast, and memoised."""

    def __init__(self, spec, catalog, workers, extra_models):
        self.spec, self.catalog, self.workers, self.extra = spec, catalog, workers, extra_models
        self.names = budget_names(spec)
        self.memo: dict[frozenset, bool] = {}
        self.calls = 0

    def feasible(self, enforced) -> bool:
        key = frozenset(enforced)
        if key not in self.memo:
            self.calls += 1
            off = [b for b in self.names if b not in key]
            self.memo[key] = feasible_spec(relaxed(self.spec, self.catalog, off), self.catalog,
                                           self.workers, self.extra,
                                           ignore_memory="memory" not in key)
        return self.memo[key]


def feasible_spec(spec, catalog, workers, extra_models, ignore_memory=False) -> bool:
    from ortools.sat.python import cp_model
    cs = build_candidates(spec, catalog, extra_models=extra_models, ignore_memory=ignore_memory,
                          feasibility_only=True)
    if not all(cs.per_workload):
        return False
    pm, _ = B.build(cs, spec, slots=min(len(spec.workloads), spec.budgets.max_devices),
                    explain=False, ignore_memory=ignore_memory)
    st = _solver(workers, pm.m).Solve(pm.m)
    return st in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def quickxplain(constraints: list[str], consistent) -> list[str]:
    """A minimal conflicting subset (Junker's QuickXplain): no proper subset conflicts.
    `consistent(set)` says whether the budgets in the set can all hold at once."""
    def qx(background: list[str], delta: list[str], cs: list[str]) -> list[str]:
        if delta and not consistent(background):
            return []
        if len(cs) == 1:
            return list(cs)
        half = len(cs) // 2
        c1, c2 = cs[:half], cs[half:]
        d2 = qx(background + c1, c1, c2)
        d1 = qx(background + d2, d2, c1)
        return d1 + d2
    if consistent(constraints):
        return []
    return sorted(qx([], [], list(constraints)))


def _cpsat_core(spec, catalog, workers, extra_models) -> list[str] | None:
    """CP-SAT's own infeasible core over assumption literals, one per budget, when the
    explanation model is small enough to build quickly; a starting point for QuickXplain."""
    from ortools.sat.python import cp_model
    cs = build_candidates(spec, catalog, explain=True, extra_models=extra_models)
    if not all(cs.per_workload):
        return None
    slots = min(len(spec.workloads), spec.budgets.max_devices + 2)
    if sum(len(c) for c in cs.per_workload) * slots > CORE_MODEL_MAX_VARS:
        return None
    pm, _ = B.build(cs, spec, slots=slots, explain=True)
    names = sorted(pm.lits)
    pm.m.AddAssumptions([pm.lits[b] for b in names])
    solver = _solver(workers)
    if solver.Solve(pm.m) != cp_model.INFEASIBLE:
        return None
    by_index = {pm.lits[b].Index(): b for b in names}
    core = {by_index[i] for i in solver.SufficientAssumptionsForInfeasibility() if i in by_index}
    return sorted(core) or None


CORE_MAX_OPTIONS = 50_000     # options considered; above, CP-SAT's core model is too big


def explain_infeasible(spec: Spec, catalog: Catalog, *, workers: int = 2,
                       extra_models=None, options_considered: int = 0,
                       deadline=None) -> list[dict]:
    """A minimal set of conflicting budgets, each relaxed alone to the smallest value that
    restores a plan. [] when the spec has a plan. `deadline` (planner/solve/deadline.py):
    every solve under it gets the time left; SolveTimeout when it runs out."""
    if deadline is not None:
        deadline.check("explanations")
    oracle = Oracle(spec, catalog, workers, extra_models)
    if not oracle.feasible(set()):
        return [{"budget": f"models:{w.name}", "limit": w.task or w.models, "relax_to": None,
                 "plan": None, "note": f"no model in the catalog can serve workload {w.name!r} "
                 "on any device, whatever the budgets"} for w in spec.workloads][:1]
    start = (_cpsat_core(spec, catalog, workers, extra_models)
             if options_considered <= CORE_MAX_OPTIONS else None)
    names = start if start and not oracle.feasible(start) else oracle.names
    minimal = quickxplain(names, oracle.feasible)
    out = []
    for b in minimal:
        if deadline is not None:
            deadline.check("explanations")
        out.append(_relax(b, spec, catalog, workers, extra_models))
    return out


def _relax(b: str, spec, catalog, workers, extra_models) -> dict:
    """Relax budget b alone (every other budget kept) to the smallest value with a plan."""
    budgets = spec.budgets
    out = {"budget": b}

    def ok(trial_spec, ignore_memory=False):
        return feasible_spec(trial_spec, catalog, workers, extra_models, ignore_memory)

    if b in ("power", "cost", "devices"):
        field, unit, term = {"power": ("power_w", "W", "power"),
                             "cost": ("cost_usd", "USD", "cost"),
                             "devices": ("max_devices", "devices", "devices")}[b]
        out["limit"], out["unit"] = getattr(budgets, field), unit
        lifted = relaxed(spec, catalog, [b])   # every other budget stays on
        lifted = lifted.model_copy(update={"objective": [f"min {term}"]})
        r = solve_plain(lifted, catalog, workers=workers,
                  extra_models=extra_models)
        if r.plan is None:
            return out | {"relax_to": None, "plan": None,
                          "note": "relaxing this budget alone does not restore a plan"}
        val = r.plan["objective"][term]
        val = int(round(val)) if b == "devices" else round(val, 4)
        new = _with_budget(spec, **{field: val})
    elif b.startswith(("latency:", "accuracy:")):
        kind, wname = b.split(":", 1)
        w = next(x for x in spec.workloads if x.name == wname)
        field = "latency_budget_ms" if kind == "latency" else "accuracy_floor"
        out["limit"] = getattr(w, field)
        out["unit"] = "ms" if kind == "latency" else _metric(w, catalog)
        # the answer is one of the options' own values: search the sorted values
        lifted = relaxed(spec, catalog, [b])
        cs = build_candidates(lifted, catalog, extra_models=extra_models, prune=False)
        wi = [x.name for x in spec.workloads].index(wname)
        if kind == "latency":
            vals = sorted({round(c.latency_ms, 6) for c in cs.per_workload[wi]
                           if c.latency_ms > w.latency_budget_ms})
        else:
            hib = all(c.model.higher_is_better for c in cs.per_workload[wi])
            vals = sorted({c.accuracy for c in cs.per_workload[wi] if c.model.accuracy_known
                           and (c.accuracy < w.accuracy_floor if hib
                                else c.accuracy > w.accuracy_floor)}, reverse=hib)
        lo, hi, found = 0, len(vals) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            if ok(_with_workload(spec, wname, **{field: vals[mid]})):
                found, hi = vals[mid], mid - 1
            else:
                lo = mid + 1
        if found is None:
            unknown = sorted({c.model.id for c in cs.per_workload[wi]
                              if not c.model.accuracy_known}) if kind == "accuracy" else []
            return out | {"relax_to": None, "plan": None} | (
                {"note": f"no floor admits {', '.join(unknown)}: no accuracy is known for it "
                         "(give the model file's accuracy)"} if unknown else {})
        val = found
        new = _with_workload(spec, wname, **{field: val})
    elif b.startswith("rate:"):
        wname = b.split(":", 1)[1]
        w = next(x for x in spec.workloads if x.name == wname)
        field = "tokens_per_s" if w.tokens_per_s is not None else "rate_fps"
        rate = getattr(w, field)
        out["limit"], out["unit"] = rate, "tokens/s" if field == "tokens_per_s" else "fps"
        lo, hi, found = 0.0, rate, None
        for _ in range(RATE_SEARCH_STEPS):
            mid = (lo + hi) / 2
            if ok(_with_workload(spec, wname, **{field: mid})):
                lo, found = mid, mid
            else:
                hi = mid
        if found is None:
            return out | {"relax_to": None, "plan": None}
        val = float(f"{found:.3g}")
        while val > found:       # rounding to 3 digits must not step past the feasible rate
            val = float(f"{val * 0.99:.3g}")
        new = _with_workload(spec, wname, **{field: val})
    elif b == "memory":
        out["limit"], out["unit"] = budgets.memory_headroom_pct, "% headroom"
        if not ok(_with_budget(spec, memory_headroom_pct=0.0)):
            return out | {"relax_to": None, "plan": None,
                          "note": _memory_shortfall(spec, catalog, extra_models)}
        lo, hi = 0.0, budgets.memory_headroom_pct
        for _ in range(HEADROOM_SEARCH_STEPS):
            mid = (lo + hi) / 2
            if ok(_with_budget(spec, memory_headroom_pct=mid)):
                lo = mid
            else:
                hi = mid
        val = float(f"{lo:.2f}")
        new = _with_budget(spec, memory_headroom_pct=val)
    else:  # a list: the smallest addition is what the best plan without the list uses
        out["limit"] = _list_value(spec, b)
        lifted = relaxed(spec, catalog, [b])
        r = solve_plain(lifted, catalog, workers=workers,
                  extra_models=extra_models)
        if r.plan is None:
            return out | {"relax_to": None, "plan": None}
        used = {_list_item(b, a, catalog) for a in r.plan["assignments"]}
        if b.endswith(".deny"):    # what the plan uses from the deny list comes off it
            add = sorted(used & set(_list_value(spec, b) or ()))
            val = {"remove": add}
        else:                      # what the plan uses outside the allow list goes on it
            add = sorted(used - set(_list_value(spec, b) or ()))
            val = {"add": add}
        new = _extend_list(spec, b, add)
    summary, plan = _plan_for(new, catalog, workers, extra_models)
    return out | {"relax_to": val, "plan": summary,
                  "assignments": [
                      {k: a[k] for k in ("workload", "model", "precision", "technique", "device",
                                         "power_mode", "unit", "runtime")}
                      for a in plan["assignments"]] if plan else None}


def _plan_for(spec: Spec, catalog: Catalog, workers: int, extra_models):
    from planner.solve.plan import plan_summary
    r = solve_plain(spec, catalog, workers=workers,
              extra_models=extra_models)
    if r.plan is None:
        return None, None
    return plan_summary(r.plan), r.plan


def _metric(w, catalog) -> str:
    from planner.solve.candidates import workload_models
    models = workload_models(w, catalog, widen=False)
    return catalog.task_metric(w.task or (models[0].task if models else None))


def _memory_shortfall(spec, catalog, extra_models) -> str:
    """Physical limit: what the smallest option of each workload needs vs the most any
    allowed device leaves free."""
    cs = build_candidates(relaxed(spec, catalog, [n for n in budget_names(spec)
                                                  if not n.startswith(LIST_PREFIXES)]),
                          catalog, extra_models=extra_models, prune=False, ignore_memory=True)
    most = max((t.available_gb for t in cs.types), default=0.0)
    parts = []
    for w, cl in zip(spec.workloads, cs.per_workload):
        if not cl:
            continue
        c = min(cl, key=lambda c: c.memory_gb)
        if c.memory_gb > most:
            parts.append(f"{w.name} needs at least {c.memory_gb:.3g} GB ({c.model.id} "
                         f"{c.precision.upper()}) but the allowed devices leave at most "
                         f"{most:.3g} GB free")
    return ("; ".join(parts) or "the workloads together need more memory than the allowed "
            "devices leave free") + ": no headroom setting fixes this"


def _list_item(b, a, catalog):
    kind = b.split(":")[0] if ":" in b else b.split(".")[0]
    if kind == "models":
        return a["model"]
    if kind in ("precisions", "techniques"):
        return a[kind[:-1]]
    if kind == "devices":
        return a["device"]
    if kind == "families":
        return catalog.devices[a["device"]].family
    return a["runtime"]


def _list_value(spec, b):
    if ":" in b:
        kind, wname = b.split(":", 1)
        w = next(w for w in spec.workloads if w.name == wname)
        return getattr(w, kind)
    group, which = b.split(".")
    return getattr(getattr(spec, group), which)


def _extend_list(spec, b, add):
    if ":" in b:
        kind, wname = b.split(":", 1)
        w = next(w for w in spec.workloads if w.name == wname)
        return _with_workload(spec, wname, **{kind: list(getattr(w, kind) or []) + add})
    group, which = b.split(".")
    ad = getattr(spec, group)
    if which == "allow":
        ad = ad.model_copy(update={"allow": list(ad.allow or []) + add})
    else:
        ad = ad.model_copy(update={"deny": [x for x in ad.deny if x not in add]})
    return spec.model_copy(update={group: ad})


# ---------------------------------------------------------------- binding budgets

def binding_budgets(spec: Spec, catalog: Catalog, objective: dict, *, workers: int = 2,
                    extra_models=None, deadline=None) -> list[str]:
    """Budgets whose removal would give a better plan (the ones that bind the optimum).
    `deadline`: SolveTimeout when it runs out before every budget was tried."""
    trials = []
    b = spec.budgets
    if b.power_w is not None:
        trials.append(("power", _with_budget(spec, power_w=None)))
    if b.cost_usd is not None:
        trials.append(("cost", _with_budget(spec, cost_usd=None)))
    trials.append(("devices", _with_budget(spec, max_devices=16)))
    if b.memory_headroom_pct > 0:
        trials.append(("memory", _with_budget(spec, memory_headroom_pct=0.0)))
    for w in spec.workloads:
        if w.latency_budget_ms is not None:
            trials.append((f"latency:{w.name}", _with_workload(spec, w.name, latency_budget_ms=None)))
        if w.accuracy_floor is not None:
            trials.append((f"accuracy:{w.name}", _with_workload(spec, w.name, accuracy_floor=None)))
        if w.rate_fps is not None or w.tokens_per_s is not None:
            trials.append((f"rate:{w.name}", _with_workload(spec, w.name, rate_fps=None,
                                                             tokens_per_s=None)))
    out = []
    for name, trial in trials:
        if name == "devices" and b.max_devices >= min(16, len(spec.workloads)):
            continue
        if deadline is not None:
            deadline.check("binding budgets")
        if _improves(trial, catalog, objective, workers, extra_models):
            out.append(name)
    return out


def _improves(trial: Spec, catalog: Catalog, objective: dict, workers: int,
              extra_models) -> bool:
    """Has `trial` a plan lexicographically better than the optimum's `objective` (integer
    values per term, as `optimise` returns them)? One feasibility solve instead of a full
    optimisation: its pruned candidates keep an optimum, so a better plan exists among them
    exactly when the trial's optimum is better. When the objective starts with min power (or
    cost), no device type above the optimum's total can be in a better plan."""
    from ortools.sat.python import cp_model
    lex = isinstance(trial.objective, list)
    order = trial.objective_order() if lex else [("weighted", "min")]
    first = order[0][0]
    within = ({first: objective[first] / _scale(first)}
              if lex and first in ("power", "cost") else None)
    cs = build_candidates(trial, catalog, within=within, extra_models=extra_models)
    if not all(cs.per_workload):
        return False
    pm, terms = B.build(cs, trial, slots=min(len(trial.workloads), trial.budgets.max_devices),
                        explain=False)
    exprs = {name: terms[name].expr for name, _ in order} if lex else \
        {"weighted": weighted_expr(trial, terms)}
    better = []           # better[k]: the first k-1 terms equal the optimum's, term k beats it
    for k, (name, sense) in enumerate(order):
        b = pm.m.NewBoolVar(f"better:{name}")
        for prev, _ in order[:k]:
            pm.m.Add(exprs[prev] == objective[prev]).OnlyEnforceIf(b)
        if sense == "max":
            pm.m.Add(exprs[name] > objective[name]).OnlyEnforceIf(b)
        else:
            pm.m.Add(exprs[name] < objective[name]).OnlyEnforceIf(b)
        better.append(b)
    pm.m.AddBoolOr(better)
    return _solver(workers, pm.m).Solve(pm.m) in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def _scale(term: str) -> float:
    return {"power": scales.MW, "cost": scales.CENTS, "memory": scales.KB, "latency": scales.US,
            "accuracy": scales.CENTI, "energy": scales.MW, "devices": 1.0}.get(term, 1.0)
