"""Pareto fronts: what else was on the table, and what the chosen plan gives up for what.

Two kinds of front, both exact:

- **Per workload** (`workload_fronts`): every option the workload could run — model x
  precision x technique x device x power mode x unit x runtime — that passes its own budgets
  (latency, accuracy floor, memory, rate, power, cost, lists), enumerated from the candidate
  set the solver sees *before* dominance pruning (`build_candidates(prune=False)`), so no
  trade-off is hidden by the solver's objective. Fronts: accuracy vs latency (one per accuracy
  metric) and power vs latency. When no option of a workload passes its budgets, every option
  it could run is shown instead, each tagged with the budgets it breaks: the chart then draws
  why nothing fits.
- **Whole plan** (`plan_fronts`, specs with several workloads): total power vs total accuracy
  and total power vs total latency over complete plans that meet every budget, by the
  epsilon-constraint method on the solver itself: solve `[max accuracy, min power]` with the
  power budget at epsilon, record the plan, set epsilon just under its power, repeat until
  nothing fits. Each step is one CP-SAT solve, and every point is a real, optimal plan.

`front_mask` is the one dominance test; tests check it, and both fronts, against brute force.
Everything here returns plain data (`Front.as_dict()`); drawing lives in `svg.py`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.solve.plan import plan_summary

MAX_POINTS = 240          # drawn per chart; the rest of the dominated options are counted
PLAN_FRONT_MAX = 12       # epsilon-constraint steps per whole-plan front
POWER_STEP_W = 0.0005     # under the solver's 1 mW resolution: the next epsilon is strictly lower
_DIGITS = 9               # coordinates are compared after rounding to this many decimals


# ---------------------------------------------------------------- dominance

def front_mask(xs, ys, *, x_sense: str = "min", y_sense: str = "min") -> list[bool]:
    """True for each point no other point dominates (at least as good on both axes and
    strictly better on one). Points with identical coordinates do not dominate each other, so
    both stay on the front. O(n log n): sort by x, sweep the best y seen at strictly smaller x."""
    n = len(xs)
    if len(ys) != n:
        raise ValueError("xs and ys differ in length")
    sx = 1.0 if x_sense == "min" else -1.0
    sy = 1.0 if y_sense == "min" else -1.0
    a = [round(sx * float(x), _DIGITS) for x in xs]
    b = [round(sy * float(y), _DIGITS) for y in ys]
    order = sorted(range(n), key=lambda i: (a[i], b[i]))
    out = [False] * n
    best_before = math.inf          # min b over points with a strictly smaller a
    i = 0
    while i < n:
        j = i
        while j < n and a[order[j]] == a[order[i]]:
            j += 1
        group_min = b[order[i]]      # sorted by b within the same a
        for k in range(i, j):
            p = order[k]
            out[p] = b[p] == group_min and b[p] < best_before
        best_before = min(best_before, group_min)
        i = j
    return out


def pareto_layers(xs, ys, *, x_sense="min", y_sense="min", limit: int | None = None) -> list[int]:
    """Layer of each point: 0 for the front, 1 for the front of the rest, ... (peeling).
    Points past `limit` layers get `limit`."""
    n = len(xs)
    layer = [-1] * n
    left = list(range(n))
    k = 0
    while left and (limit is None or k < limit):
        m = front_mask([xs[i] for i in left], [ys[i] for i in left],
                       x_sense=x_sense, y_sense=y_sense)
        for i, on in zip(left, m):
            if on:
                layer[i] = k
        left = [i for i, on in zip(left, m) if not on]
        k += 1
    for i in left:
        layer[i] = k
    return layer


# ---------------------------------------------------------------- data

@dataclass(frozen=True)
class Axis:
    name: str              # "p50 latency"
    unit: str              # "ms"
    sense: str             # "min" | "max": which way is better

    @property
    def label(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name

    def as_dict(self) -> dict:
        return {"name": self.name, "unit": self.unit, "sense": self.sense, "label": self.label}


@dataclass
class Point:
    x: float
    y: float
    label: str             # short, drawn next to front points
    detail: str            # everything, for the tooltip and the tables
    option: dict           # model, precision, technique, device, power_mode, unit, runtime
    front: bool = False
    chosen: bool = False
    breaks: list[str] = field(default_factory=list)   # budgets this option breaks alone
    also: list[str] = field(default_factory=list)     # other options at the same coordinates

    def as_dict(self) -> dict:
        return {"x": _r(self.x), "y": _r(self.y), "label": self.label, "detail": self.detail,
                "option": self.option, "front": self.front, "chosen": self.chosen,
                "breaks": list(self.breaks), "also": list(self.also)}


@dataclass
class Front:
    id: str                # stable, unique in a report: "classify-accuracy-latency"
    title: str
    scope: str             # "workload" | "plan"
    workload: str | None
    x: Axis
    y: Axis
    points: list[Point]
    limits: list[dict] = field(default_factory=list)   # {axis: x|y, value, label}
    note: str = ""
    hidden: int = 0        # dominated options not drawn (past MAX_POINTS)
    all_options: bool = False   # True: nothing passes the budgets; every option shown

    @property
    def front_points(self) -> list[Point]:
        pts = [p for p in self.points if p.front]
        return sorted(pts, key=lambda p: (p.x, -p.y if self.y.sense == "max" else p.y, p.label))

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "scope": self.scope,
                "workload": self.workload, "x": self.x.as_dict(), "y": self.y.as_dict(),
                "points": [p.as_dict() for p in self.points],
                "front": [p.as_dict() for p in self.front_points],
                "limits": self.limits, "note": self.note, "hidden": self.hidden,
                "all_options": self.all_options,
                "counts": {"drawn": len(self.points), "front": len(self.front_points),
                           "hidden": self.hidden}}


def _r(x: float) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.6g}")


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in s.lower()).strip("-")


# ---------------------------------------------------------------- per workload

LIST_BUDGETS = ("models:", "precisions:", "techniques:", "devices.", "families.", "runtimes.")
OPTION_KEYS = ("model", "precision", "technique", "device", "power_mode", "unit", "runtime")


def _option(c) -> dict:
    return {"model": c.model.id, "precision": c.precision, "technique": c.technique,
            "device": c.dtype.device.id, "power_mode": c.dtype.mode_id, "unit": c.unit,
            "runtime": c.runtime}


def option_key(d: dict) -> tuple:
    return tuple(d[k] for k in OPTION_KEYS)


def _breaks_alone(spec, w, c) -> list[str]:
    """Budgets an option breaks on its own (the solver rejects it for these)."""
    b = spec.budgets
    out = set(c.breaks)
    if c.memory_gb > c.dtype.memory_cap_gb + 1e-12:
        out.add("memory")
    if c.util > 1.0 - b.compute_headroom_pct / 100.0 + 1e-12:
        out.add(f"rate:{w.name}")
    if b.power_w is not None and c.dtype.power_w > b.power_w + 1e-12:
        out.add("power")
    if b.cost_usd is not None and c.dtype.price_usd > b.cost_usd + 1e-12:
        out.add("cost")
    return sorted(out)


def _modes_per_device(cands) -> dict[str, int]:
    seen: dict[str, set] = {}
    for c in cands:
        seen.setdefault(c.dtype.device.id, set()).add(c.dtype.mode_id)
    return {d: len(m) for d, m in seen.items()}


def _labels(c, modes: dict[str, int]) -> tuple[str, str]:
    dev = c.dtype.device.id
    if modes.get(dev, 1) > 1:
        dev += f" [{c.dtype.mode_id}]"
    tech = "" if c.technique == "baseline" else f"-{c.technique}"
    short = f"{c.model.id} {c.precision.upper()}{tech} · {dev}"
    detail = (f"{c.model.id} {c.precision.upper()}/{c.technique} on {c.dtype.device.id} "
              f"[{c.dtype.mode_id}] {c.unit}/{c.runtime}: {c.latency_ms:.3g} ms, "
              f"{f'{c.accuracy:g} {c.model.metric}' if c.model.accuracy_known else 'accuracy unknown'}, "
              f"{c.dtype.power_w:g} W, {c.memory_gb:.3g} GB")
    return short, detail


def workload_fronts(spec, catalog, plan: dict | None = None, *, extra_models=None,
                    max_points: int = MAX_POINTS) -> list[Front]:
    """Accuracy-vs-latency (per metric) and power-vs-latency fronts for every workload."""
    from planner.solve.candidates import build_candidates
    feasible = build_candidates(spec, catalog, prune=False, extra_models=extra_models)
    everything = None
    chosen = {}
    if plan:
        chosen = {a["workload"]: option_key(a) for a in plan["assignments"]}
    fronts: list[Front] = []
    for wi, w in enumerate(spec.workloads):
        cands = feasible.per_workload[wi]
        all_options = False
        if not cands:
            if everything is None:
                everything = build_candidates(spec, catalog, explain=True, prune=False,
                                              extra_models=extra_models)
            cands = everything.per_workload[wi]
            # the options the spec's lists allow, when there are any: the chart then shows
            # what the team asked for and why none of it fits (the conflicts table names
            # what lies outside the lists)
            inside = [c for c in cands if not any(b.startswith(LIST_BUDGETS) for b in c.breaks)]
            cands = inside or cands
            all_options = True
        if not cands:
            continue
        llm = any(c.model.llm for c in cands)
        lat_axis = Axis("latency per token" if llm else "p50 latency", "ms", "min")
        modes = _modes_per_device(cands)
        limits_x = ([{"axis": "x", "value": w.latency_budget_ms,
                      "label": f"latency budget {w.latency_budget_ms:g} ms"}]
                    if w.latency_budget_ms is not None else [])
        # no accuracy front for options whose accuracy nobody gave (model files without one)
        metrics = sorted({(c.model.metric, c.model.higher_is_better) for c in cands
                          if c.model.accuracy_known})
        for metric, hib in metrics:
            mine = [c for c in cands if (c.model.metric, c.model.higher_is_better) ==
                    (metric, hib)]
            y = Axis("accuracy", metric, "max" if hib else "min")
            lim = list(limits_x)
            if w.accuracy_floor is not None:
                lim.append({"axis": "y", "value": w.accuracy_floor,
                            "label": f"accuracy floor {w.accuracy_floor:g} {metric}"})
            suffix = "" if len(metrics) == 1 else f"-{_slug(metric)}"
            fronts.append(_front(
                f"{_slug(w.name)}-accuracy-latency{suffix}",
                f"{w.name}: accuracy vs latency" + (f" ({metric})" if len(metrics) > 1 else ""),
                spec, w, mine, lat_axis, y, lambda c: c.accuracy, lim, chosen.get(w.name),
                modes, all_options, max_points, per_mode=False))
        lim = list(limits_x)
        if spec.budgets.power_w is not None:
            lim.append({"axis": "y", "value": spec.budgets.power_w,
                        "label": f"power budget {spec.budgets.power_w:g} W"})
        fronts.append(_front(
            f"{_slug(w.name)}-power-latency", f"{w.name}: power vs latency", spec, w, cands,
            lat_axis, Axis("board power in the power mode", "W", "min"),
            lambda c: c.dtype.power_w, lim, chosen.get(w.name), modes, all_options,
            max_points, per_mode=True))
    # names that slug alike ("cam.1", "cam-1") must still give unique element ids
    seen: dict[str, int] = {}
    for f in fronts:
        n = seen.get(f.id, 0)
        seen[f.id] = n + 1
        if n:
            f.id = f"{f.id}-{n + 1}"
    return fronts


def _front(fid, title, spec, w, cands, xa: Axis, ya: Axis, yfun, limits, chosen_key, modes,
           all_options, max_points, *, per_mode: bool) -> Front:
    # one point per (model, precision, technique, device[, power mode]): the fastest unit,
    # runtime (and mode). Within such a group the y value is equal, so the group's fastest
    # point is on the front whenever any of the group is; the front over these points is the
    # front over all options. The chosen option is always kept as itself.
    reps: dict[tuple, object] = {}
    chosen_c = None
    for c in cands:
        key = (c.model.id, c.precision, c.technique, c.dtype.device.id,
               c.dtype.mode_id if per_mode else "")
        r = reps.get(key)
        if r is None or (c.latency_ms, c.rank) < (r.latency_ms, r.rank):
            reps[key] = c
        if chosen_key is not None and option_key(_option(c)) == chosen_key:
            chosen_c = c
    pts_c = sorted(reps.values(), key=lambda c: (c.latency_ms, c.rank))
    if chosen_c is not None and chosen_c not in pts_c:
        pts_c.append(chosen_c)
    xs = [c.latency_ms for c in pts_c]
    ys = [yfun(c) for c in pts_c]
    layers = pareto_layers(xs, ys, x_sense=xa.sense, y_sense=ya.sense, limit=64)
    # options at identical coordinates (INT8 by PTQ and by QAT on the power chart, say) are
    # one point; the chosen option represents its group
    merged: dict[tuple, int] = {}
    points, pl, px = [], [], []
    for c, x, y, layer in sorted(zip(pts_c, xs, ys, layers),
                                 key=lambda t: (t[0] is not chosen_c, t[1], t[0].rank)):
        short, detail = _labels(c, modes if per_mode or c is chosen_c else {})
        breaks = _breaks_alone(spec, w, c) if all_options else []
        key = (round(x, _DIGITS), round(y, _DIGITS), tuple(breaks))
        if key in merged:
            p = points[merged[key]]
            p.also.append(short)
            p.detail += f" | {detail}"
            continue
        merged[key] = len(points)
        points.append(Point(x, y, short, detail, _option(c), front=layer == 0,
                            chosen=c is chosen_c, breaks=breaks))
        pl.append(layer)
        px.append(x)
    layers, xs = pl, px
    # keep the front, the chosen option and the nearest dominated layers
    order = sorted(range(len(points)), key=lambda i: (not points[i].chosen, layers[i],
                                                      xs[i], points[i].label))
    keep = sorted(order[:max_points], key=lambda i: (xs[i], points[i].label))
    hidden = len(points) - len(keep)
    if all_options:
        note = (f"No option of {w.name} passes its budgets on its own: every option the spec "
                "allows it (or, when the lists allow none, every option it could run) is "
                "shown, with the budgets it breaks.")
    elif len(spec.workloads) > 1:
        note = (f"Options of {w.name} that pass its own budgets, each taken alone; sharing "
                "devices with the other workloads can rule some out.")
    else:
        note = "Every option that passes the spec's budgets."
    return Front(fid, title, "workload", w.name, xa, ya, [points[i] for i in keep], limits,
                 note, hidden, all_options)


# ---------------------------------------------------------------- whole plan

def plan_totals(plan: dict, catalog=None) -> dict:
    """Power (W), accuracy (sum of points; lower-is-better metrics count negatively, as in
    the solver's objective) and latency (sum, ms) of a plan dict."""
    acc = 0.0
    for a in plan["assignments"]:
        v = a["estimates"]["accuracy"]["value"]
        if v is None:           # no accuracy known (a model file given without one)
            continue
        hib = True
        if catalog is not None and a["model"] in catalog.models:
            hib = catalog.models[a["model"]].higher_is_better
        acc += v if hib else -v
    lat = sum(a["estimates"]["latency_ms"]["value"] for a in plan["assignments"])
    return {"power_w": plan["totals"]["power_w"], "accuracy": round(acc, 4),
            "latency_ms": round(lat, 4)}


def plan_key(plan: dict | None) -> tuple | None:
    if plan is None:
        return None
    return tuple((a["workload"], a["instance"]) + option_key(a) for a in plan["assignments"])


def epsilon_front(spec, catalog, second: str, *, extra_models=None, workers: int = 2,
                  max_points: int = PLAN_FRONT_MAX) -> tuple[list[dict], bool]:
    """Whole plans on the (power, `second`) front, `second` in {accuracy, latency}, highest
    power first: each step solves `[best second, min power]` under the power budget epsilon,
    then lowers epsilon to just under that plan's power. Returns
    ([{power_w, accuracy, latency_ms, plan}], complete); complete is False when it stopped at
    max_points."""
    from planner.solve.pipeline import solve
    sense = "max" if second == "accuracy" else "min"
    eps = spec.budgets.power_w
    out: list[dict] = []
    complete = False
    while len(out) < max_points:
        s = spec.model_copy(update={
            "objective": [f"{sense} {second}", "min power"],
            "budgets": spec.budgets.model_copy(update={"power_w": eps})})
        r = solve(s, catalog, workers=workers, explain=False, binding=False,
                  extra_models=extra_models)
        if r.plan is None:
            complete = True
            break
        t = plan_totals(r.plan, catalog)
        if out and t["power_w"] >= out[-1]["power_w"]:     # pragma: no cover - solver noise
            complete = True
            break
        out.append(t | {"plan": r.plan})
        eps = t["power_w"] - POWER_STEP_W
        if eps <= 0:
            complete = True
            break
    return out, complete


def plan_fronts(spec, catalog, result: dict, *, extra_models=None, workers: int = 2,
                max_points: int = PLAN_FRONT_MAX) -> list[Front]:
    """Whole-plan fronts for specs with several workloads and a plan (else [])."""
    plan = result.get("plan")
    if plan is None or len(spec.workloads) < 2:
        return []
    fronts = []
    chosen = plan_totals(plan, catalog)
    others = [plan_totals(p, catalog) | {"plan": p} for p in result.get("runners_up") or []]
    for second, ya in (("accuracy", Axis("total accuracy", "sum of points", "max")),
                       ("latency", Axis("total latency", "ms, sum over workloads", "min"))):
        pts, complete = epsilon_front(spec, catalog, second, extra_models=extra_models,
                                      workers=workers, max_points=max_points)
        ysel = "accuracy" if second == "accuracy" else "latency_ms"
        points = []
        seen = set()
        for t in pts:
            k = plan_key(t["plan"])
            seen.add(k)
            points.append(Point(t["power_w"], t[ysel], _plan_label(t["plan"]),
                                plan_summary(t["plan"]), {"plan": plan_summary(t["plan"])},
                                front=True, chosen=k == plan_key(plan)))
        extra = [(chosen | {"plan": plan}, True)] + [(o, False) for o in others]
        for t, is_chosen in extra:
            k = plan_key(t["plan"])
            if k in seen:
                continue
            seen.add(k)
            points.append(Point(t["power_w"], t[ysel], _plan_label(t["plan"]),
                                plan_summary(t["plan"]), {"plan": plan_summary(t["plan"])},
                                front=False, chosen=is_chosen))
        # plans with identical totals (e.g. differing only in runtime) are one point
        merged: dict[tuple, Point] = {}
        for p in points:
            k = (round(p.x, 6), round(p.y, 6))
            q = merged.get(k)
            if q is None:
                merged[k] = p
            else:
                q.chosen = q.chosen or p.chosen
                if p.chosen:
                    q.label, q.detail, q.option = p.label, p.detail, p.option
        points = list(merged.values())
        # a plan off the epsilon front may still tie a front point: recheck exactly
        mask = front_mask([p.x for p in points], [p.y for p in points], x_sense="min",
                          y_sense=ya.sense)
        for p, m in zip(points, mask):
            p.front = m
        points.sort(key=lambda p: (p.x, p.label))
        lim = ([{"axis": "x", "value": spec.budgets.power_w,
                 "label": f"power budget {spec.budgets.power_w:g} W"}]
               if spec.budgets.power_w is not None else [])
        note = ("Complete plans that meet every budget, one per step of the epsilon-constraint "
                "method (each an optimal CP-SAT solve); the chosen plan and the runners-up are "
                "marked.")
        if not complete:
            note += f" Stopped after {max_points} steps; lower-power plans may exist."
        fronts.append(Front(f"plan-power-{second}", f"whole plan: power vs {second}", "plan",
                            None, Axis("board power, all devices", "W", "min"), ya, points,
                            lim, note, 0, False))
    return fronts


def _plan_label(plan: dict) -> str:
    devs = " + ".join(f"{d['count']}x {d['id']}" if d["count"] > 1 else d["id"]
                      for d in plan["devices"])
    models = ", ".join(f"{a['model']} {a['precision'].upper()}" for a in plan["assignments"])
    return f"{models} · {devs}"
