"""Why: which budgets conflict when nothing fits (and how far each must move), and which
budgets bind a plan that does fit.

Conflicts: every budget is enforced through an assumption literal in the explanation model;
CP-SAT returns a sufficient set of assumptions for infeasibility, which a deletion filter
shrinks to a minimal one (no proper subset conflicts). Each member is then relaxed alone, with
all other budgets kept, to the smallest value that restores a plan, and the plan is shown.
"""
from __future__ import annotations

from . import budgets as B
from .candidates import build_candidates
from .catalog import Catalog
from .spec import Spec

RATE_SEARCH_STEPS = 12
HEADROOM_SEARCH_STEPS = 10
LIST_PREFIXES = ("models:", "precisions:", "techniques:", "devices.", "families.", "runtimes.")


def _solver(workers: int, time_limit: float | None = None):
    from .solve import _solver as make
    return make(time_limit, workers)


def _status_feasible(pm, active: list[str], workers: int) -> bool:
    from ortools.sat.python import cp_model
    pm.m.ClearAssumptions()
    pm.m.ClearObjective()
    pm.m.AddAssumptions([pm.lits[b] for b in active])
    st = _solver(workers).Solve(pm.m)
    return st in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def _with_budget(spec: Spec, **changes) -> Spec:
    return spec.model_copy(update={"budgets": spec.budgets.model_copy(update=changes)})


def _with_workload(spec: Spec, name: str, **changes) -> Spec:
    ws = [w.model_copy(update=changes) if w.name == name else w for w in spec.workloads]
    return spec.model_copy(update={"workloads": ws})


def _optimum(pm, terms_pairs, sense, active, workers):
    """Best value of an integer expression with the given budgets enforced."""
    from ortools.sat.python import cp_model
    pm.m.ClearAssumptions()
    pm.m.AddAssumptions([pm.lits[b] for b in active])
    expr = cp_model.LinearExpr.WeightedSum([v for _, v in terms_pairs], [c for c, _ in terms_pairs])
    (pm.m.Maximize if sense == "max" else pm.m.Minimize)(expr)
    solver = _solver(workers)
    st = solver.Solve(pm.m)
    pm.m.ClearObjective()
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return solver.ObjectiveValue()


def _plan_for(spec: Spec, catalog: Catalog, workers: int, extra_models):
    from .solve import plan_summary, solve
    r = solve(spec, catalog, workers=workers, explain=False, binding=False,
              extra_models=extra_models)
    if r.plan is None:
        return None, None
    return plan_summary(r.plan), r.plan


def explain_infeasible(spec: Spec, catalog: Catalog, *, workers: int = 2,
                       extra_models=None) -> list[dict]:
    from ortools.sat.python import cp_model

    cs = build_candidates(spec, catalog, explain=True, extra_models=extra_models)
    for w, cl in zip(spec.workloads, cs.per_workload):
        if not cl:
            return [{"budget": f"models:{w.name}", "limit": w.task or w.models,
                     "relax_to": None, "plan": None,
                     "note": f"no model in the catalog can serve workload {w.name!r} on any "
                             "device, whatever the budgets"}]
    slots = min(len(spec.workloads), spec.budgets.max_devices + 2)
    pm, terms = B.build(cs, spec, slots=slots, explain=True)
    names = sorted(pm.lits)
    pm.m.AddAssumptions([pm.lits[b] for b in names])
    solver = _solver(workers)
    st = solver.Solve(pm.m)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # the slot count is the only thing the explanation model widens
        return [{"budget": "devices", "limit": spec.budgets.max_devices,
                 "relax_to": None, "plan": None,
                 "note": "the workloads need more devices than the spec allows"}]
    core_idx = set(solver.SufficientAssumptionsForInfeasibility())
    by_index = {pm.lits[b].Index(): b for b in names}
    core = sorted(by_index[i] for i in core_idx if i in by_index) or names

    # deletion filter: drop each budget whose removal keeps the rest conflicting
    minimal = list(core)
    for b in list(core):
        trial = [x for x in minimal if x != b]
        if not _status_feasible(pm, trial, workers):
            minimal = trial
    if _status_feasible(pm, minimal, workers):   # pragma: no cover - solver inconsistency
        minimal = core

    conflicts = []
    for b in minimal:
        others = [x for x in names if x != b]
        conflicts.append(_relax(b, spec, catalog, cs, pm, terms, others, workers, extra_models))
    return conflicts


def _relax(b: str, spec, catalog, cs, pm, terms, others, workers, extra_models) -> dict:
    budgets = spec.budgets
    out = {"budget": b}
    if b in ("power", "cost", "devices"):
        field, unit = {"power": ("power_w", "W"), "cost": ("cost_usd", "USD"),
                       "devices": ("max_devices", "devices")}[b]
        out["limit"], out["unit"] = getattr(budgets, field), unit
        best = _optimum(pm, terms[b].pairs, "min", others, workers)
        if best is None:
            return out | {"relax_to": None, "plan": None,
                          "note": "relaxing this budget alone does not restore a plan"}
        val = best / terms[b].scale
        val = int(round(val)) if b == "devices" else round(val, 4)
        new = _with_budget(spec, **{field: val})
    elif b.startswith(("latency:", "accuracy:")):
        kind, wname = b.split(":", 1)
        wi = [w.name for w in spec.workloads].index(wname)
        w = spec.workloads[wi]
        if kind == "latency":
            pairs = [(B.up(c.latency_ms, B.US), v) for k, c in enumerate(cs.per_workload[wi])
                     for v in pm.x[wi][k]]
            best = _optimum(pm, pairs, "min", others, workers)
            out["limit"], out["unit"] = w.latency_budget_ms, "ms"
            if best is None:
                return out | {"relax_to": None, "plan": None}
            val = round(best / B.US, 4)
            new = _with_workload(spec, wname, latency_budget_ms=val)
        else:
            hib = cs.per_workload[wi][0].model.higher_is_better
            pairs = [(int(round(c.accuracy * B.CENTI)) * (1 if hib else -1), v)
                     for k, c in enumerate(cs.per_workload[wi]) for v in pm.x[wi][k]]
            best = _optimum(pm, pairs, "max", others, workers)
            out["limit"], out["unit"] = w.accuracy_floor, cs.per_workload[wi][0].model.metric
            if best is None:
                return out | {"relax_to": None, "plan": None}
            val = round(best / B.CENTI * (1 if hib else -1), 4)
            new = _with_workload(spec, wname, accuracy_floor=val)
    elif b.startswith("rate:"):
        wname = b.split(":", 1)[1]
        w = next(w for w in spec.workloads if w.name == wname)
        field = "tokens_per_s" if w.tokens_per_s is not None else "rate_fps"
        rate = getattr(w, field)
        out["limit"], out["unit"] = rate, "tokens/s" if field == "tokens_per_s" else "fps"
        lo, hi = 0.0, rate
        found = None
        for _ in range(RATE_SEARCH_STEPS):
            mid = (lo + hi) / 2
            trial = _with_workload(spec, wname, **{field: mid})
            if _feasible_spec(trial, catalog, workers, extra_models):
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
        if not _feasible_spec(_with_budget(spec, memory_headroom_pct=0.0), catalog, workers,
                              extra_models):
            need = _memory_shortfall(spec, cs)
            return out | {"relax_to": None, "plan": None, "note": need}
        lo, hi = 0.0, budgets.memory_headroom_pct
        for _ in range(HEADROOM_SEARCH_STEPS):
            mid = (lo + hi) / 2
            if _feasible_spec(_with_budget(spec, memory_headroom_pct=mid), catalog, workers,
                              extra_models):
                lo = mid
            else:
                hi = mid
        val = float(f"{lo:.2f}")
        new = _with_budget(spec, memory_headroom_pct=val)
    else:  # a list: the smallest addition is what the best plan without the list uses
        out["limit"] = _list_value(spec, b)
        from .solve import optimise
        # optimise() pins each objective pass into the model: work on a fresh copy
        pm2, terms2 = B.build(cs, spec, slots=pm.S, explain=True)
        sol = optimise(pm2, terms2, spec, time_limit=None, workers=workers,
                       assumptions=[pm2.lit(x) for x in others])
        if sol is None:
            return out | {"relax_to": None, "plan": None}
        add = sorted({str(cs.per_workload[w][k].breaks[b][0])
                      for w, (k, _) in enumerate(sol.choice) if b in cs.per_workload[w][k].breaks})
        val = {"add": add}
        new = _extend_list(spec, b, add)
    summary, plan = _plan_for(new, catalog, workers, extra_models)
    return out | {"relax_to": val, "plan": summary,
                  "assignments": plan["assignments"] and [
                      {k: a[k] for k in ("workload", "model", "precision", "technique", "device",
                                         "power_mode", "unit", "runtime")}
                      for a in plan["assignments"]] if plan else None}


def _feasible_spec(spec, catalog, workers, extra_models) -> bool:
    from ortools.sat.python import cp_model
    cs = build_candidates(spec, catalog, extra_models=extra_models)
    if not all(cs.per_workload):
        return False
    pm, _ = B.build(cs, spec, slots=min(len(spec.workloads), spec.budgets.max_devices),
                    explain=False)
    st = _solver(workers).Solve(pm.m)
    return st in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def _memory_shortfall(spec, cs) -> str:
    """Physical limit: what the smallest option of each workload needs vs the most any
    allowed device leaves free."""
    parts = []
    allowed = [c for cl in cs.per_workload for c in cl
               if not any(b.startswith(("devices.", "families.")) for b in c.breaks)]
    most = max((c.dtype.available_gb for c in allowed), default=0.0)
    for wi, w in enumerate(spec.workloads):
        mine = [c for c in cs.per_workload[wi] if not any(b.startswith(LIST_PREFIXES)
                                                           for b in c.breaks)]
        if not mine:
            continue
        c = min(mine, key=lambda c: c.memory_gb)
        if c.memory_gb > most:
            parts.append(f"{w.name} needs at least {c.memory_gb:.3g} GB ({c.model.id} "
                         f"{c.precision.upper()}) but the allowed devices leave at most "
                         f"{most:.3g} GB free")
    return ("; ".join(parts) or "the workloads together need more memory than the allowed "
            "devices leave free") + ": no headroom setting fixes this"


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

def _lex_key(spec: Spec, objective: dict) -> tuple:
    from .solve import objective_order
    if not isinstance(spec.objective, list):
        return (objective.get("weighted", 0),)
    return tuple((-1 if sense == "max" else 1) * objective.get(name, 0)
                 for name, sense in objective_order(spec))


def binding_budgets(spec: Spec, catalog: Catalog, objective: dict, *, workers: int = 2,
                    extra_models=None) -> list[str]:
    """Budgets whose removal would give a better plan (the ones that bind the optimum)."""
    from .solve import solve
    base = _lex_key(spec, objective)
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
        r = solve(trial, catalog, workers=workers, explain=False, binding=False,
                  extra_models=extra_models)
        if r.plan is None:
            continue
        raw = {k: round(v * _scale(k)) for k, v in r.plan["objective"].items()}
        if _lex_key(spec, raw) < _lex_key(spec, objective):
            out.append(name)
    return out


def _scale(term: str) -> float:
    return {"power": B.MW, "cost": B.CENTS, "memory": B.MB, "latency": B.US,
            "accuracy": B.CENTI, "energy": B.MW, "devices": 1.0}.get(term, 1.0)
