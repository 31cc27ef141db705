"""Why: which budgets conflict when nothing fits (and what to change), and which budgets bind
a plan that does fit.

Conflicts. The physics is never a budget: a device's memory and the precisions its units run
hold in every check. Against that background the oracle asks "is there a plan when only these
budgets are enforced?" (memoised, each answer one small feasibility solve), and

- every *conflict* is a minimal set of budgets, by construction: QuickXplain returns a set
  that is infeasible while each subset with one member removed is feasible; further conflicts
  come from a hitting-set tree (Reiter): remove one member of a known conflict, look again;
- the *smallest corrections* are the sets of one, then two, budgets that meet every conflict
  and whose joint relaxation restores a plan (each verified), with the smallest relaxed values
  and the plan each gives;
- the *facts* behind a conflict name the physics it rests on (the most memory any device the
  conflict admits leaves free against the least any option needs; the precisions the devices
  run), computed from the candidates.

The search is bounded: at most MAX_CONFLICTS conflicts and MAX_CHECKS feasibility checks (the
explanation says when it stopped early), and every solve runs under the deadline in force.
"""
from __future__ import annotations

import math

from planner.catalog.loader import Catalog
from planner.solve import budgets as B
from planner.solve.budgets import model as scales
from planner.solve.candidates import build_candidates, workload_grids
from planner.solve.cpsat import make_solver, solve_plain, weighted_expr
from planner.spec import Spec

RATE_SEARCH_STEPS = 12
HEADROOM_SEARCH_STEPS = 10
LIST_PREFIXES = ("models:", "precisions:", "techniques:", "devices.", "families.", "runtimes.")
MAX_CONFLICTS = 6          # minimal conflicts looked for
MAX_CHECKS = 300           # feasibility checks of budget subsets, in all
MAX_PAIRS = 40             # two-budget corrections tried
MAX_CORRECTIONS = 6        # corrections worked out (values and plan) and shown
NEAREST_DEVICES = 3        # devices shown for a devices.allow relaxation
MAX_DEVICE_TRIALS = 15     # devices tried for it, nearest first
QUICK_FEASIBILITY_WORK = 2.0   # CP-SAT deterministic time of the search without presolve


def _solver(workers: int, model=None):
    return make_solver(None, workers, model)


def _with_budget(spec: Spec, **changes) -> Spec:
    return spec.model_copy(update={"budgets": spec.budgets.model_copy(update=changes)})


def _with_workload(spec: Spec, name: str, **changes) -> Spec:
    ws = [w.model_copy(update=changes) if w.name == name else w for w in spec.workloads]
    return spec.model_copy(update={"workloads": ws})


def budget_names(spec: Spec) -> list[str]:
    """Every budget the spec sets, by the names conflicts use ('memory' is the memory
    headroom: the device's memory itself is physics, never relaxed)."""
    b = spec.budgets
    out = ["memory"] if b.memory_headroom_pct > 0 else []
    if b.power_w is not None:
        out.append("power")
    if b.cost_usd is not None:
        out.append("cost")
    if b.max_devices < min(len(spec.workloads), 16):
        out.append("devices")
    for w in spec.workloads:
        if w.latency_budget_ms is not None:
            out.append(f"latency:{w.name}")
        if w.ttft_budget_ms is not None:
            out.append(f"ttft:{w.name}")
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
    """The spec with the budgets in `off` lifted ('memory': no headroom; the device's memory
    still holds)."""
    bud, ws = {}, {w.name: {} for w in spec.workloads}
    top = {}
    for b in off:
        if b == "power":
            bud["power_w"] = None
        elif b == "cost":
            bud["cost_usd"] = None
        elif b == "devices":
            bud["max_devices"] = min(len(spec.workloads), 16)
        elif b == "memory":
            bud["memory_headroom_pct"] = 0.0
        elif ":" in b:
            kind, wname = b.split(":", 1)
            w = next(x for x in spec.workloads if x.name == wname)
            if kind == "latency":
                ws[wname]["latency_budget_ms"] = None
            elif kind == "ttft":
                ws[wname]["ttft_budget_ms"] = None
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
        else:
            group, which = b.split(".")
            ad = top.get(group, getattr(spec, group))
            top[group] = ad.model_copy(update={"allow": None} if which == "allow" else {"deny": []})
    new = spec.model_copy(update={"budgets": spec.budgets.model_copy(update=bud),
                                  "workloads": [w.model_copy(update=ws[w.name])
                                                for w in spec.workloads], **top})
    return new


class _Exhausted(Exception):
    """The explanation used up its feasibility checks (MAX_CHECKS)."""


class Oracle:
    """Is there a plan when only some budgets are enforced? Answers with the ordinary,
    pruned model of the spec with the other budgets lifted (physics always on): fast,
    memoised, and at most `max_checks` solves."""

    def __init__(self, spec, catalog, workers, extra_models, max_checks=MAX_CHECKS,
                 deadline=None):
        self.spec, self.catalog, self.workers, self.extra = spec, catalog, workers, extra_models
        self.names = budget_names(spec)
        self.memo: dict[frozenset, bool] = {}
        self.calls = 0
        self.max_checks = max_checks
        self.deadline = deadline

    def feasible(self, enforced) -> bool:
        key = frozenset(enforced)
        if key not in self.memo:
            if self.calls >= self.max_checks:
                raise _Exhausted()
            if self.deadline is not None:
                self.deadline.check("explanations")
            self.calls += 1
            self.memo[key] = feasible_spec(self.spec_for(key), self.catalog, self.workers,
                                           self.extra)
        return self.memo[key]

    def spec_for(self, enforced) -> Spec:
        return relaxed(self.spec, self.catalog, [b for b in self.names if b not in enforced])


def feasible_spec(spec, catalog, workers, extra_models, ignore_memory=False) -> bool:
    from ortools.sat.python import cp_model
    cs = build_candidates(spec, catalog, extra_models=extra_models, ignore_memory=ignore_memory,
                          feasibility_only=True)
    if not all(cs.per_workload):
        return False
    pm, _ = B.build(cs, spec, slots=min(len(spec.workloads), spec.budgets.max_devices),
                    explain=False, ignore_memory=ignore_memory)
    solver = _solver(workers, pm.m)
    if solver.parameters.cp_model_presolve:
        # a big model: presolve costs far more than finding a plan (2.6 s against 0.15 s for
        # 8 workloads on 100 devices), so first search without it for a bounded amount of
        # deterministic work; a plan found or a proof of none is the answer either way, and
        # only when it finds neither the full solve below runs
        quick = _solver(workers, None)
        quick.parameters.cp_model_presolve = False
        quick.parameters.max_deterministic_time = QUICK_FEASIBILITY_WORK
        st = quick.Solve(pm.m)
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return True
        if st == cp_model.INFEASIBLE:
            return False
    st = solver.Solve(pm.m)
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


def minimal_conflicts(names: list[str], feasible, max_conflicts: int = MAX_CONFLICTS):
    """Every minimal conflict among `names` (up to `max_conflicts`), by a hitting-set tree:
    each node removes one member of a known conflict from the budgets, and what is left, if
    still infeasible, holds another conflict (a known one that misses the removed budgets, or
    a new one from QuickXplain). Returns (conflicts sorted by size then names, complete):
    `complete` is False when the cap, or `feasible`'s own budget (_Exhausted), stopped it."""
    found: list[list[str]] = []
    seen: set[frozenset] = set()
    closed: list[frozenset] = []     # removals that leave a plan (so do all larger ones)
    queue = [frozenset()]
    complete = True
    try:
        while queue:
            removed = queue.pop(0)
            if removed in seen or any(c <= removed for c in closed):
                continue
            seen.add(removed)
            rest = [b for b in names if b not in removed]
            if feasible(rest):
                closed.append(removed)
                continue
            known = next((c for c in found if not removed & set(c)), None)
            if known is None:
                if len(found) >= max_conflicts:
                    complete = False
                    break
                known = quickxplain(rest, feasible)
                found.append(known)
            queue += [removed | {b} for b in known]
    except _Exhausted:
        complete = False
    return sorted(found, key=lambda c: (len(c), c)), complete


# ---------------------------------------------------------------- infeasible specs

def explain_infeasible(spec: Spec, catalog: Catalog, *, workers: int = 2,
                       extra_models=None, options_considered: int = 0,
                       deadline=None) -> list[dict]:
    """The budgets of the conflicts, one entry each (what `explain` lists as `conflicts`)."""
    return explain(spec, catalog, workers=workers, extra_models=extra_models,
                   deadline=deadline)["conflicts"]


def explain(spec: Spec, catalog: Catalog, *, workers: int = 2, extra_models=None,
            deadline=None, max_checks: int = MAX_CHECKS) -> dict:
    """Why a spec has no plan, as data:

    - `conflict_sets`: each minimal conflict ({budgets: [{budget, limit, unit}], facts}),
      smallest first; `complete`: False when the search stopped at its caps;
    - `corrections`: the sets of one, then two, budgets whose joint relaxation restores a
      plan, each with its `changes` (budget, limit, relax_to) and the `plan` it gives;
      `corrections_more`: how many more were found than are worked out here;
    - `facts`: the physics when no plan exists whatever the budgets;
    - `conflicts`: one entry per budget of the conflicts (budget, limit, unit, relax_to,
      plan, note), as the report and lint read them: relax_to only where relaxing that budget
      alone restores a plan;
    - `checks`: the feasibility checks it took.
    `deadline` (planner/solve/deadline.py): every solve under it gets the time left;
    SolveTimeout when it runs out."""
    from planner.solve import deadline as D
    with D.running(deadline):
        return _explain(spec, catalog, workers, extra_models, deadline, max_checks)


def _explain(spec, catalog, workers, extra_models, deadline, max_checks) -> dict:
    if deadline is not None:
        deadline.check("explanations")
    oracle = Oracle(spec, catalog, workers, extra_models, max_checks, deadline)
    ctx = _Ctx(spec, catalog, workers, extra_models)
    if not oracle.feasible(set()):
        facts = _facts(ctx, oracle.spec_for(set()), [])
        note = "; ".join(facts) if facts else "no model in the catalog can serve it"
        w = spec.workloads[0]
        return {"conflict_sets": [], "complete": True, "corrections": [], "corrections_more": 0,
                "facts": facts, "checks": oracle.calls,
                "conflicts": [{"budget": f"models:{w.name}", "limit": w.task or w.models,
                               "relax_to": None, "plan": None,
                               "note": f"no plan whatever the budgets: {note}"}]}
    conflicts, complete = minimal_conflicts(oracle.names, oracle.feasible)
    sets = [{"budgets": [ctx.limit_row(b) for b in c],
             "facts": _facts(ctx, oracle.spec_for(set(c)), c)} for c in conflicts]
    fixes, more, complete2 = _corrections(conflicts, oracle)
    worked = []
    for fix in fixes:
        if deadline is not None:
            deadline.check("explanations")
        worked.append(_work_out(ctx, fix))
    singles = {c["relax"][0]: c for c in worked if len(c["relax"]) == 1}
    legacy = []
    for b in sorted({b for c in conflicts for b in c}):
        if b in singles:
            fix = singles[b]
            legacy.append(dict(fix["changes"][0], plan=fix["plan"],
                               assignments=fix["assignments"]))
            continue
        left = [i + 1 for i, c in enumerate(conflicts) if b not in c]
        note = ("relaxing this budget alone does not restore a plan"
                + (f": conflict{'s' if len(left) > 1 else ''} "
                   f"{', '.join(map(str, left))} would remain" if left else ""))
        legacy.append(ctx.limit_row(b) | {"relax_to": None, "plan": None, "note": note})
    return {"conflict_sets": sets, "complete": complete and complete2, "corrections": worked,
            "corrections_more": more, "facts": [], "checks": oracle.calls,
            "conflicts": legacy}


def _corrections(conflicts: list[list[str]], oracle: Oracle):
    """Sets of one, then two, budgets that meet every conflict and whose relaxation (every
    other budget kept) restores a plan. A correction must meet every conflict, so only such
    sets are tried; each is verified. Returns (the first MAX_CORRECTIONS, how many more,
    complete)."""
    names = sorted({b for c in conflicts for b in c})
    hits = lambda s: all(set(c) & s for c in conflicts)   # noqa: E731
    everything = set(oracle.names)
    found: list[list[str]] = []
    complete = True
    try:
        for b in names:
            if hits({b}) and oracle.feasible(everything - {b}):
                found.append([b])
        single = {f[0] for f in found}
        tried = 0
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if a in single or b in single or not hits({a, b}):
                    continue
                if tried >= MAX_PAIRS:
                    complete = False
                    break
                tried += 1
                if oracle.feasible(everything - {a, b}):
                    found.append([a, b])
    except _Exhausted:
        complete = False
    return found[:MAX_CORRECTIONS], max(0, len(found) - MAX_CORRECTIONS), complete


def _work_out(ctx, relax: list[str]) -> dict:
    """The relaxed values of a correction and the plan it gives: one budget, relaxed to the
    smallest value with a plan (every other budget kept); two, the first relaxed with the
    second lifted, then the second with the first at its new value."""
    spec = ctx.spec
    changes = []
    if len(relax) == 1:
        row, new = _relax(relax[0], spec, ctx)
        changes.append(row)
    else:
        a, b = relax
        row_a, new_a = _relax(a, relaxed(spec, ctx.catalog, [b]), ctx)
        # b back as the user set it, a at its relaxed value (lifted if none was found)
        start = _apply(spec, a, new_a if new_a is not None else relaxed(spec, ctx.catalog, [a]))
        row_b, new = _relax(b, start, ctx)
        changes += [row_a, row_b]
        if new is None:
            new = relaxed(start, ctx.catalog, [b])
    if len(relax) == 1 and new is None:
        new = relaxed(spec, ctx.catalog, relax)
    for row in changes:
        if row.get("relax_to") is None:
            row["lift"] = True        # no limit of it was found: the correction lifts it
    summary, plan = _plan_for(new, ctx.catalog, ctx.workers, ctx.extra) if new is not None \
        else (None, None)
    return {"relax": list(relax), "changes": changes, "plan": summary,
            "assignments": _assignments(plan)}


def _assignments(plan):
    if plan is None:
        return None
    return [{k: a[k] for k in ("workload", "model", "precision", "technique", "device",
                               "power_mode", "unit", "runtime")} for a in plan["assignments"]]


class _Ctx:
    def __init__(self, spec, catalog, workers, extra):
        self.spec, self.catalog, self.workers, self.extra = spec, catalog, workers, extra

    def ok(self, spec) -> bool:
        return feasible_spec(spec, self.catalog, self.workers, self.extra)

    def limit_row(self, b: str, spec=None) -> dict:
        """{budget, limit, unit} of budget b as the spec sets it."""
        spec = spec or self.spec
        bud = spec.budgets
        if b in ("power", "cost", "devices"):
            field, unit = {"power": ("power_w", "W"), "cost": ("cost_usd", "USD"),
                           "devices": ("max_devices", "devices")}[b]
            return {"budget": b, "limit": getattr(bud, field), "unit": unit}
        if b == "memory":
            return {"budget": b, "limit": bud.memory_headroom_pct, "unit": "% headroom"}
        if b.startswith(("latency:", "ttft:", "accuracy:", "rate:")):
            kind, wname = b.split(":", 1)
            w = next(x for x in spec.workloads if x.name == wname)
            if kind == "latency":
                return {"budget": b, "limit": w.latency_budget_ms, "unit": "ms"}
            if kind == "ttft":
                return {"budget": b, "limit": w.ttft_budget_ms, "unit": "ms"}
            if kind == "accuracy":
                return {"budget": b, "limit": w.accuracy_floor,
                        "unit": _metric(w, self.catalog)}
            if w.tokens_per_s is not None:
                return {"budget": b, "limit": w.tokens_per_s, "unit": "tokens/s"}
            return {"budget": b, "limit": w.rate_fps, "unit": "fps"}
        return {"budget": b, "limit": _list_value(spec, b)}


def _apply(spec: Spec, b: str, src: Spec) -> Spec:
    """`spec` with budget b set as `src` sets it."""
    if b in ("power", "cost", "devices", "memory"):
        field = {"power": "power_w", "cost": "cost_usd", "devices": "max_devices",
                 "memory": "memory_headroom_pct"}[b]
        return _with_budget(spec, **{field: getattr(src.budgets, field)})
    if ":" in b:
        kind, wname = b.split(":", 1)
        fields = {"latency": ["latency_budget_ms"], "ttft": ["ttft_budget_ms"],
                  "accuracy": ["accuracy_floor"],
                  "rate": ["rate_fps", "tokens_per_s"], "models": ["models", "task"]}.get(
                      kind, [kind])
        w = next(x for x in src.workloads if x.name == wname)
        return _with_workload(spec, wname, **{f: getattr(w, f) for f in fields})
    group = b.split(".")[0]
    return spec.model_copy(update={group: getattr(src, group)})


def _relax(b: str, spec, ctx):
    """Relax budget b of `spec` (every other budget as `spec` has it) to the smallest value
    with a plan. Returns ({budget, limit, unit, relax_to[, alternatives][, note]}, the spec
    with b relaxed, or None)."""
    catalog, workers, extra_models = ctx.catalog, ctx.workers, ctx.extra
    out = ctx.limit_row(b, spec)
    budgets = spec.budgets
    ok = ctx.ok

    if b in ("power", "cost", "devices"):
        field, term = {"power": ("power_w", "power"), "cost": ("cost_usd", "cost"),
                       "devices": ("max_devices", "devices")}[b]
        lifted = relaxed(spec, catalog, [b])   # every other budget stays on
        lifted = lifted.model_copy(update={"objective": [f"min {term}"]})
        r = solve_plain(lifted, catalog, workers=workers, extra_models=extra_models)
        if r.plan is None:
            return out | {"relax_to": None,
                          "note": "relaxing this budget alone does not restore a plan"}, None
        val = r.plan["objective"][term]
        val = int(round(val)) if b == "devices" else round(val, 4)
        return out | {"relax_to": val}, _with_budget(spec, **{field: val})
    if b.startswith(("latency:", "ttft:", "accuracy:")):
        kind, wname = b.split(":", 1)
        w = next(x for x in spec.workloads if x.name == wname)
        field = {"latency": "latency_budget_ms", "ttft": "ttft_budget_ms"}.get(
            kind, "accuracy_floor")
        # the answer is one of the options' own values: search the sorted values
        lifted = relaxed(spec, catalog, [b])
        cs = (build_candidates(lifted, catalog, extra_models=extra_models, prune=False)
              if kind != "ttft" else None)
        wi = [x.name for x in spec.workloads].index(wname)
        limit = getattr(w, field)
        if kind == "latency":
            vals = sorted({round(c.latency_ms, 6) for c in cs.per_workload[wi]
                           if limit is None or c.latency_ms > limit})
        elif kind == "ttft":
            # every cell's prefill, not only the candidates': a unit keeps its fastest-decoding
            # runtime as the candidate, while another may reach the first token sooner. The
            # budget must hold the whole prefill: round up, never below the value
            g = workload_grids(lifted, catalog, extra_models=extra_models)[wi]
            import numpy as np
            cells = g.ttft[g.keep] if g is not None and g.ttft is not None else np.empty(0)
            vals = sorted({math.ceil(v * 1e6) / 1e6 for v in cells.tolist()
                           if v == v and (limit is None or v > limit)})
        else:
            # a floor is read in the task's metric: options scored in another, or with no
            # known accuracy, are no value
            same = [c for c in cs.per_workload[wi] if c.model.accuracy_known
                    and c.model.metric == catalog.task_metric(c.model.task)]
            hib = all(c.model.higher_is_better for c in same)
            vals = sorted({c.accuracy for c in same
                           if limit is None or (c.accuracy < limit if hib
                                                else c.accuracy > limit)}, reverse=hib)
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
            return out | {"relax_to": None} | (
                {"note": f"no floor admits {', '.join(unknown)}: no accuracy is known for it"
                         "; drop the floor, then measure it with `edgeplan bundle --eval-data`"} if unknown else {}), None
        return out | {"relax_to": found}, _with_workload(spec, wname, **{field: found})
    if b.startswith("rate:"):
        wname = b.split(":", 1)[1]
        w = next(x for x in spec.workloads if x.name == wname)
        field = "tokens_per_s" if w.tokens_per_s is not None else "rate_fps"
        rate = getattr(w, field)
        lo, hi, found = 0.0, rate, None
        for _ in range(RATE_SEARCH_STEPS):
            mid = (lo + hi) / 2
            if ok(_with_workload(spec, wname, **{field: mid})):
                lo, found = mid, mid
            else:
                hi = mid
        if found is None:
            return out | {"relax_to": None}, None
        val = float(f"{found:.3g}")
        while val > found:       # rounding to 3 digits must not step past the feasible rate
            val = float(f"{val * 0.99:.3g}")
        return out | {"relax_to": val}, _with_workload(spec, wname, **{field: val})
    if b == "memory":
        headroom = budgets.memory_headroom_pct
        if not ok(_with_budget(spec, memory_headroom_pct=0.0)):
            return out | {"relax_to": None, "note": "no headroom setting fixes this"}, None
        lo, hi = 0.0, headroom
        for _ in range(HEADROOM_SEARCH_STEPS):
            mid = (lo + hi) / 2
            if ok(_with_budget(spec, memory_headroom_pct=mid)):
                lo = mid
            else:
                hi = mid
        val = float(f"{lo:.2f}")
        return out | {"relax_to": val}, _with_budget(spec, memory_headroom_pct=val)
    # a list
    if b in ("devices.allow", "families.allow"):
        near = _nearest(spec, ctx, b)
        if near:
            alts = []
            for d in near[1:]:
                s, _ = _plan_for(_extend_list(spec, b, [d]), catalog, workers, extra_models)
                alts.append({"add": [d], "plan": s})
            row = out | {"relax_to": {"add": [near[0]]}}
            if alts:
                row["alternatives"] = alts
            return row, _extend_list(spec, b, [near[0]])
    # the smallest addition is what the best plan without the list uses
    lifted = relaxed(spec, catalog, [b])
    r = solve_plain(lifted, catalog, workers=workers, extra_models=extra_models)
    if r.plan is None:
        return out | {"relax_to": None}, None
    used = {_list_item(b, a, catalog) for a in r.plan["assignments"]}
    if b.endswith(".deny"):    # what the plan uses from the deny list comes off it
        add = sorted(used & set(_list_value(spec, b) or ()))
        val = {"remove": add}
    else:                      # what the plan uses outside the allow list goes on it
        add = sorted(used - set(_list_value(spec, b) or ()))
        val = {"add": add}
    return out | {"relax_to": val}, _extend_list(spec, b, add)


def device_closeness(allowed, dev) -> tuple:
    """How far `dev` is from the devices the user allowed (smaller is nearer): another family
    last, then another form factor and host link, then the price gap, then the id."""
    fams = {d.family for d in allowed}
    forms = {d.form_factor for d in allowed}
    links = {d.host_interface.kind for d in allowed if d.host_interface is not None}
    link = dev.host_interface.kind if dev.host_interface is not None else None
    same_form = dev.form_factor in forms or (link is not None and link in links)
    gap = min((abs(dev.price.usd - d.price.usd) for d in allowed), default=dev.price.usd)
    return (dev.family not in fams, not same_form, round(gap, 2), dev.id)


def _nearest(spec, ctx, b: str) -> list[str]:
    """For devices.allow (or families.allow): the devices (families) outside the list whose
    addition alone restores a plan, nearest to what the user allowed first
    (`device_closeness`; a family by its nearest device); at most NEAREST_DEVICES, trying at
    most MAX_DEVICE_TRIALS of those that run some workload within the other budgets."""
    import numpy as np
    catalog = ctx.catalog
    group = b.split(".")[0]
    allow = list(getattr(spec, group).allow or ())
    if group == "devices":
        allowed = [catalog.devices[i] for i in allow if i in catalog.devices]
    else:
        allowed = [d for d in catalog.devices.values() if d.family in allow]
    lifted = relaxed(spec, catalog, [b])
    grids = workload_grids(lifted, catalog, extra_models=ctx.extra)
    usable = set()
    for g in grids:
        if g is not None:
            usable |= {g.units[j].device.id for j in np.flatnonzero(g.keep.any(axis=0))}
    order = []
    for dev in sorted((catalog.devices[i] for i in usable),
                      key=lambda d: device_closeness(allowed, d)):
        item = dev.id if group == "devices" else dev.family
        if item not in allow and item not in order:
            order.append(item)
    found = []
    for item in order[:MAX_DEVICE_TRIALS]:
        if ctx.ok(_extend_list(spec, b, [item])):
            found.append(item)
            if len(found) >= NEAREST_DEVICES:
                break
    return found


# ---------------------------------------------------------------- the physics behind it

def _facts(ctx, spec_c: Spec, conflict: list[str]) -> list[str]:
    """The physics a conflict rests on, from the candidates of `spec_c` (the spec with only
    the conflict's budgets): memory, where the conflict needs the devices' memory (it has a
    plan when memory is not checked), and precision support, where a precisions list is in
    it and no device it admits runs those precisions."""
    facts = []
    for w in spec_c.workloads:
        if f"precisions:{w.name}" in conflict or (not conflict and w.precisions):
            f = _precision_fact(ctx, spec_c, w, conflict)
            if f:
                facts.append(f)
    if not facts and feasible_spec(spec_c, ctx.catalog, ctx.workers, ctx.extra,
                                   ignore_memory=True):
        facts.append(_memory_fact(ctx, spec_c, conflict))
    return facts


def _device_words(spec_c: Spec, conflict: list[str]) -> str:
    """The devices a conflict admits, in words: 'within 3 W', 'allowed (jetson-nano-4gb)'."""
    words = []
    if "power" in conflict:
        words.append(f"within {spec_c.budgets.power_w:g} W")
    if "cost" in conflict:
        words.append(f"within ${spec_c.budgets.cost_usd:g}")
    for group in ("devices", "families"):
        ad = getattr(spec_c, group)
        if f"{group}.allow" in conflict and ad.allow is not None:
            ids = list(ad.allow)
            what = ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
            words.append(f"allowed ({what})" if group == "devices" else f"in {what}")
        if f"{group}.deny" in conflict and ad.deny:
            words.append(f"not denied by {group}.deny")
    return " and ".join(words) if words else "in the catalog"


def _option_words(spec_c: Spec, w, conflict: list[str]) -> str:
    kinds = [k for k in ("latency", "ttft", "accuracy", "rate", "precisions", "techniques")
             if f"{k}:{w.name}" in conflict]
    if f"models:{w.name}" in conflict and w.models:
        what = f"every option of {', '.join(w.models)} for {w.name}"
    else:
        what = f"every {w.task + ' ' if w.task else ''}option for {w.name}"
    if kinds:
        what += " that meets its " + " and ".join(
            {"latency": "latency budget", "ttft": "time-to-first-token budget",
             "accuracy": "accuracy floor", "rate": "rate",
             "precisions": "precisions list", "techniques": "techniques list"}[k] for k in kinds)
    return what


def _memory_fact(ctx, spec_c: Spec, conflict: list[str]) -> str:
    import numpy as np
    grids = workload_grids(spec_c, ctx.catalog, extra_models=ctx.extra, ignore_memory=True)
    where = _device_words(spec_c, conflict)
    after = (f" (after the {spec_c.budgets.memory_headroom_pct:g} % headroom)"
             if "memory" in conflict else "")
    for w, g in zip(spec_c.workloads, grids):
        if g is None or not g.keep.any():
            continue
        ii, jj = np.nonzero(g.keep)
        cap = np.array([t.memory_cap_gb for t in g.unit_type])
        need = g.mem[ii, jj]
        k = int(np.argmin(need))
        # every device the conflict admits (within its power and cost), and those of them
        # that run one of the options
        admitted = np.ones(len(cap), dtype=bool)
        for name, bad, _, _ in g.checks:
            if name in ("power", "cost"):
                admitted &= ~np.asarray(bad)[0]
        jm = int(np.argmax(cap[jj]))
        most, dev = float(cap[jj][jm]), g.unit_type[jj[jm]].device.id
        if need[k] > most:
            o = g.options[ii[k]]
            top = float(cap[admitted].max()) if admitted.any() else most
            which = "" if top <= most else " that runs one of them"
            return (f"physics: no device {where}{which} leaves more than {_gb(most)} free"
                    f"{after} (the most: {dev}); {_option_words(spec_c, w, conflict)} needs "
                    f"at least {_gb(float(need[k]))} ({o.model.id} {o.precision.upper()})")
    return (f"physics: the workloads' options together need more memory than "
            f"{spec_c.budgets.max_devices} device(s) {where} leave free{after}")


def _precision_fact(ctx, spec_c: Spec, w, conflict: list[str]) -> str | None:
    grids = workload_grids(spec_c, ctx.catalog, extra_models=ctx.extra, ignore_memory=True)
    g = grids[[x.name for x in spec_c.workloads].index(w.name)]
    if g is not None and g.runs.any():
        return None
    free = relaxed(spec_c, ctx.catalog, [f"precisions:{w.name}"])
    g2 = workload_grids(free, ctx.catalog, extra_models=ctx.extra,
                        ignore_memory=True)[[x.name for x in spec_c.workloads].index(w.name)]
    import numpy as np
    run = sorted({g2.options[i].precision for i in np.flatnonzero(g2.runs.any(axis=1))}) \
        if g2 is not None else []
    return (f"physics: no device {_device_words(spec_c, conflict)} runs "
            f"{'/'.join(p.upper() for p in w.precisions)} for {w.name}"
            + (f"; they run {', '.join(p.upper() for p in run)}" if run else ""))


def _gb(x: float) -> str:
    return f"{x:.3g} GB" if x >= 0.01 else f"{x * 1000:.3g} MB"


def _plan_for(spec: Spec, catalog: Catalog, workers: int, extra_models):
    from planner.solve.plan import plan_summary
    r = solve_plain(spec, catalog, workers=workers, extra_models=extra_models)
    if r.plan is None:
        return None, None
    return plan_summary(r.plan), r.plan


def _metric(w, catalog) -> str:
    from planner.solve.candidates import workload_models
    models = workload_models(w, catalog, widen=False)
    return catalog.task_metric(w.task or (models[0].task if models else None))


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
        if w.ttft_budget_ms is not None:
            trials.append((f"ttft:{w.name}", _with_workload(spec, w.name, ttft_budget_ms=None)))
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
