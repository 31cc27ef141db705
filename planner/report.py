"""`edgeplan report`: a design-review document for a spec, as one self-contained HTML page or
as GitHub-flavoured Markdown for a pull-request comment.

It answers what a review asks, in this order:

1. **The question** — the spec in plain words: workloads, budgets, lists, objective.
2. **The answer** — the plan: devices, per workload the option with its estimates, intervals
   and provenance; totals; the deployment manifest and its lint findings.
3. **Why** — the budgets that bind the optimum, and the slack on every budget.
4. **The trade-off** — exact Pareto fronts (`pareto.py`), drawn as inline SVG (`svg.py`).
5. **Runners-up**, and the rejected options grouped by the budget that excluded them.
6. **Sensitivity** — for each budget, the value at which the chosen plan changes and what it
   changes to, in both directions (re-solves; see `sensitivity`).
7. **When nothing fits** — the minimal set of conflicting budgets and the smallest relaxation
   of each, drawn as well as written.

`build_report` returns plain data (JSON-able); `render_report(data, "html"|"md")` renders it
with the templates in `planner/templates/`. The same spec gives byte-identical output: no
timestamps, stable ordering, the solver's fixed seed. The library never prints or exits.
"""
from __future__ import annotations

from . import version

import math
from functools import lru_cache
from pathlib import Path

from .errors import EdgeplanError, InputError
from .svg import num

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("html", "md")
REJECTED_ROWS_PER_BUDGET = 20
LOOSEN_STEPS = 6            # descent steps when a budget is loosened (each one solve)
REL_STEP = 1e-3             # "just past" a threshold, relative, for continuous budgets

BUDGET_WHY = {
    "memory": "needs more memory than the device leaves free after the headroom",
    "latency": "slower than the workload's latency budget",
    "rate": "cannot keep up with the workload's rate on that unit (after compute headroom)",
    "accuracy": "below the workload's accuracy floor",
    "power": "the device's power mode alone exceeds the power budget",
    "cost": "the device alone costs more than the cost budget",
}


# ---------------------------------------------------------------- plain words

def _listing(xs) -> str:
    xs = [str(x) for x in xs]
    if len(xs) <= 2:
        return " and ".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]


def _metrics(w, catalog, extra_models) -> list[str]:
    mine = list((extra_models or {}).get(w.name, ()))
    if w.models:
        mine += [catalog.models[m] for m in w.models if m in catalog.models]
    elif w.task:
        mine += [m for m in catalog.models.values() if m.task == w.task]
    return sorted({m.metric for m in mine})


def describe_workload(w, catalog, extra_models=None) -> dict:
    """One workload as a sentence and as its parts."""
    what = []
    if w.models and w.task:
        what.append(f"a {w.task} model among {_listing(w.models)}")
    elif w.models:
        what.append(_listing(w.models) if len(w.models) == 1
                    else f"one of {_listing(w.models)}")
    elif w.task:
        what.append(f"any {w.task} model in the catalog")
    if w.model_files:
        what.append(f"the ONNX file{'s' if len(w.model_files) > 1 else ''} "
                    f"{_listing(w.model_files)}")
    needs = []
    if w.rate_fps is not None:
        needs.append(f"{num(w.rate_fps)} inferences/s")
    if w.tokens_per_s is not None:
        needs.append(f"{num(w.tokens_per_s)} tokens/s")
    if w.latency_budget_ms is not None:
        per = "per token" if w.tokens_per_s is not None else "per inference"
        needs.append(f"p50 latency {per} at most {num(w.latency_budget_ms)} ms")
    if w.accuracy_floor is not None:
        metrics = _metrics(w, catalog, extra_models)
        m = f" {_listing(metrics)}" if len(metrics) == 1 else \
            (" (in each model's metric: " + _listing(metrics) + ")" if metrics else "")
        needs.append(f"accuracy at least {num(w.accuracy_floor)}{m}")
    if w.batch != 1:
        needs.append(f"batch {w.batch}")
    if w.context_tokens is not None:
        needs.append(f"{w.context_tokens:,} tokens of context")
    if w.precisions:
        needs.append(f"precision {' or '.join(p.upper() for p in w.precisions)}")
    if w.techniques:
        needs.append(f"technique {' or '.join(w.techniques)}")
    if w.latency_critical:
        needs.append("latency-critical (no batching)")
    text = " or ".join(what) + (": " + "; ".join(needs) if needs else "")
    return {"name": w.name, "what": " or ".join(what), "needs": needs, "text": text}


def _objective_words(spec) -> str:
    from .spec import OBJECTIVE_TERMS
    words = {"power": "board power", "cost": "device cost", "accuracy": "accuracy",
             "latency": "latency", "energy": "energy at the asked rates",
             "devices": "number of devices", "memory": "memory used"}
    if isinstance(spec.objective, list):
        parts = []
        for item in spec.objective:
            sense, term = item.split()
            parts.append(f"{'minimise' if sense == 'min' else 'maximise'} {words[term]}")
        head = parts[0][0].upper() + parts[0][1:]
        return head + "".join(f", then {p}" for p in parts[1:]) + \
            " (lexicographic: each term only breaks ties of the ones before it)."
    terms = []
    for term, wgt in sorted(spec.objective.weights.items()):
        sign = "−" if OBJECTIVE_TERMS[term] == "max" else "+"
        terms.append((sign, f"{num(wgt)} × {words[term]}"))
    s = ("−" if terms[0][0] == "−" else "") + terms[0][1]
    for sign, t in terms[1:]:
        s += f" {sign} {t}"
    return f"Minimise the weighted sum {s} (accuracy counts negatively: more is better)."


def describe_question(spec, catalog, extra_models=None) -> dict:
    b = spec.budgets
    budgets = []
    budgets.append(f"total power of all devices at most {num(b.power_w)} W"
                   if b.power_w is not None else "no power budget")
    budgets.append(f"device cost at most ${num(b.cost_usd)}" if b.cost_usd is not None
                   else "no cost budget")
    budgets.append(f"at most {b.max_devices} device{'s' if b.max_devices > 1 else ''}")
    budgets.append(f"{num(b.memory_headroom_pct)} % of memory kept free on every device")
    budgets.append(f"{num(b.compute_headroom_pct)} % of compute time kept free on every unit")
    budgets.append(f"a budget met with less than {num(b.headroom_pct)} % slack is marginal")
    lists = []
    for label, ad in (("devices", spec.devices), ("device families", spec.families),
                      ("runtimes", spec.runtimes)):
        parts = []
        if ad.allow is not None:
            parts.append("only " + _listing(ad.allow))
        if ad.deny:
            parts.append("never " + _listing(ad.deny))
        if parts:
            lists.append(f"{label}: {'; '.join(parts)}")
    return {"name": spec.name, "description": spec.description,
            "workloads": [describe_workload(w, catalog, extra_models) for w in spec.workloads],
            "budgets": budgets, "lists": lists, "objective": _objective_words(spec)}


# ---------------------------------------------------------------- labels

def budget_label(name: str) -> str:
    """`memory:toy-gpu#0` -> `memory on toy-gpu #0`, `latency:classify` -> `classify: latency`."""
    if name in ("power", "cost", "devices"):
        return {"power": "total power", "cost": "device cost", "devices": "number of devices"}[name]
    if name == "memory":
        return "memory headroom"
    if name == "compute":
        return "compute headroom"
    kind, _, rest = name.partition(":")
    if kind == "memory":
        return f"memory on {rest.replace('#', ' #')}"
    if kind == "rate" and "#" in rest:
        dev, _, unit = rest.partition("/")
        return f"compute time on {dev.replace('#', ' #')} {unit}"
    if kind in ("latency", "accuracy", "rate") and rest:
        return f"{rest}: {'rate' if kind == 'rate' else kind}"
    if kind in ("models", "precisions", "techniques"):
        return f"{rest}: allowed {kind}"
    group, _, which = name.partition(".")
    if group in ("devices", "families", "runtimes") and which in ("allow", "deny"):
        what = "device families" if group == "families" else group
        return f"{'allowed' if which == 'allow' else 'denied'} {what}"
    return name


def option_text(a: dict) -> str:
    tech = a["technique"]
    return f"{a['model']} {a['precision'].upper()}/{tech}"


def where_text(a: dict) -> str:
    inst = a.get("instance")
    inst = f" #{inst}" if inst else ""
    return f"{a['device']}{inst} [{a['power_mode']}]"


def plan_summary(plan: dict) -> str:
    return "; ".join(f"{a['workload']}: {option_text(a)} on {where_text(a)}, "
                     f"{a['unit']}/{a['runtime']}" for a in plan["assignments"])


def _plan_key(plan):
    from .pareto import plan_key
    return plan_key(plan)


def plan_changes(old: dict, new: dict, *, options: bool = True) -> list[str]:
    """What differs in `new` from `old`, as short phrases: per workload the new option
    (`options`), accuracy, and the totals."""
    out = []
    olda = {a["workload"]: a for a in old["assignments"]}
    for a in new["assignments"]:
        o = olda.get(a["workload"])
        if o is None:
            continue
        before = f"{option_text(o)} on {where_text(o)} {o['unit']}/{o['runtime']}"
        after = f"{option_text(a)} on {where_text(a)} {a['unit']}/{a['runtime']}"
        if options and before != after:
            out.append(f"{a['workload']} → {after}")
        acc_o, acc_n = o["estimates"]["accuracy"], a["estimates"]["accuracy"]
        if acc_o["value"] != acc_n["value"]:
            out.append(f"{a['workload']} accuracy {num(acc_o['value'])} → "
                       f"{num(acc_n['value'])} {acc_n.get('metric', acc_n.get('unit', ''))}"
                       .rstrip())
        lat_o, lat_n = o["estimates"]["latency_ms"], a["estimates"]["latency_ms"]
        if not options and lat_o["value"] != lat_n["value"]:
            out.append(f"{a['workload']} latency {num(lat_o['value'])} → "
                       f"{num(lat_n['value'])} ms")
    to, tn = old["totals"], new["totals"]
    if to["power_w"] != tn["power_w"]:
        out.append(f"power {num(to['power_w'])} → {num(tn['power_w'])} W")
    if to["cost_usd"] != tn["cost_usd"]:
        out.append(f"cost ${num(to['cost_usd'])} → ${num(tn['cost_usd'])}")
    if to["devices"] != tn["devices"]:
        out.append(f"devices {to['devices']} → {tn['devices']}")
    return out


def qty(v, unit: str) -> str:
    """A value with its unit, for sentences: `5 W`, `1 device`, `$150`, `20 %`."""
    if v is None:
        return "—"
    if unit == "devices":
        return f"{num(v)} device{'' if v == 1 else 's'}"
    if unit == "USD":
        return f"${num(v)}"
    return f"{num(v)} {unit}".rstrip()


# ---------------------------------------------------------------- the answer

def _q(d: dict | None) -> dict | None:
    if not d:
        return None
    out = {"value": d["value"], "unit": d.get("unit", ""), "provenance": d.get("provenance", ""),
           "text": num(d["value"]), "interval": None, "bottleneck": d.get("bottleneck")}
    if d.get("low") is not None:
        out["interval"] = f"{num(d['low'])}–{num(d['high'])}"
    return out


def _assignment_rows(plan: dict) -> list[dict]:
    rows = []
    for a in plan["assignments"]:
        e = a["estimates"]
        llm = e.get("decode_tokens_per_s") is not None
        rows.append({
            "workload": a["workload"], "model": a["model"],
            "model_name": e.get("model_name", a["model"]), "precision": a["precision"],
            "technique": a["technique"], "device": a["device"], "instance": a["instance"],
            "power_mode": a["power_mode"], "unit": a["unit"], "runtime": a["runtime"],
            "where": where_text(a), "option": option_text(a), "batch": a.get("batch", 1),
            "llm": llm, "unit_share": a.get("unit_share"),
            "latency": _q(e["latency_ms"]), "throughput": _q(e.get("throughput_fps")),
            "decode": _q(e.get("decode_tokens_per_s")),
            "prefill": _q(e.get("prefill_tokens_per_s")),
            "memory": _q(e["memory_gb"]), "power": _q(e.get("power_w")),
            "energy": _q(e.get("energy_mj")), "accuracy": _q(e["accuracy"]),
            "metric": e["accuracy"].get("metric", e["accuracy"].get("unit", "")),
            "notes": list(e.get("notes") or [])})
    return rows


def _slack_rows(spec, plan: dict) -> list[dict]:
    bind = set(plan.get("binding") or [])
    on_unit: dict[str, list[str]] = {}
    for a in plan["assignments"]:
        on_unit.setdefault(f"{a['device']}#{a['instance']}/{a['unit']}", []).append(a["workload"])
    rows = []
    marginal_pct = spec.budgets.headroom_pct
    for s in plan["slack"]:
        name = s["budget"]
        kind, _, rest = name.partition(":")
        binding = name in bind or (kind == "memory" and "memory" in bind) or \
            (kind == "rate" and any(f"rate:{w}" in bind for w in on_unit.get(rest, ())))
        floor = kind == "accuracy"
        pct = s.get("slack_pct")
        if s["slack"] < 0:
            status = "over"
        elif binding:
            status = "binding"
        elif pct is not None and pct < marginal_pct and kind != "devices":
            status = "marginal"
        else:
            status = "ok"
        unit = s["unit"]
        if unit == "unit share":
            def shown(v):
                return f"{num(v * 100)} %"
        elif unit == "devices":
            def shown(v):
                return f"{num(v)} device{'' if v == 1 else 's'}"
        else:
            def shown(v, unit=unit):
                return f"{num(v)} {unit}"
        text = f"{shown(s['used'])} of {shown(s['limit'])}"
        if pct is not None:
            text += f" · slack {num(pct)} %"
        rows.append({"budget": name, "label": budget_label(name), "limit": s["limit"],
                     "used": s["used"], "slack": s["slack"], "slack_pct": pct, "unit": unit,
                     "status": status, "binding": binding, "floor": floor,
                     "used_text": shown(s["used"]), "limit_text": shown(s["limit"]),
                     "slack_text": shown(s["slack"]), "text": text})
    return rows


def lint_manifest(manifest, catalog) -> dict:
    """Lint findings of the plan's manifest, through `planner.lint` when it is there.
    {available, findings: [{rule, name, severity, message, fix, line, path}], counts, reason}."""
    if manifest is None:
        return {"available": False, "reason": "no plan, so no manifest to lint",
                "findings": [], "counts": {}}
    try:
        from . import lint as L
        from .plan import manifest_yaml
        text = manifest_yaml(manifest)
        fn = getattr(L, "lint_text", None)
        if fn is not None:
            rep = fn(text, catalog=catalog, file="deploy.yaml")
        else:
            rep = L.lint_paths(["-"], stdin_text=text, catalog=catalog)
        findings = [f.as_dict() for f in rep.findings]
    except (ImportError, AttributeError, TypeError) as e:
        return {"available": False, "findings": [], "counts": {},
                "reason": f"lint is not available in this build ({type(e).__name__})"}
    except EdgeplanError as e:
        return {"available": False, "findings": [], "counts": {},
                "reason": f"lint could not run: {e.one_line()}"}
    rows = [{k: f.get(k) for k in ("rule", "name", "severity", "message", "fix", "line",
                                   "path")} for f in findings]
    counts: dict[str, int] = {}
    for f in rows:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return {"available": True, "findings": rows, "counts": dict(sorted(counts.items())),
            "reason": None, "file": "deploy.yaml"}


# ---------------------------------------------------------------- sensitivity

class _Knob:
    """One budget the report moves: how to set it, which way tightens it, and the value at
    which a given plan just fits it."""

    def __init__(self, name, label, unit, now, tighten, setter, needs, loosest, step=None,
                 bounds=(0.0, math.inf), integer=False):
        self.name, self.label, self.unit, self.now = name, label, unit, now
        self.tighten = tighten            # "down": smaller is tighter; "up": larger is
        self.setter, self.needs, self.loosest = setter, needs, loosest
        self.step, self.bounds, self.integer = step, bounds, integer

    def past(self, t: float) -> float | None:
        """A value just tighter than t (None when none is allowed)."""
        if self.integer:
            v = t - 1 if self.tighten == "down" else t + 1
        else:
            d = self.step if self.step is not None else max(abs(t) * REL_STEP, 1e-6)
            v = t - d if self.tighten == "down" else t + d
        lo, hi = self.bounds
        if v <= lo or v >= hi:
            return None
        return v

    def looser(self, a: float, b) -> bool:
        """a is looser than b (None: unlimited)."""
        if b is None:
            return False
        return a > b if self.tighten == "down" else a < b


def _knobs(spec, catalog, plan: dict) -> list[_Knob]:
    b = spec.budgets
    ks = []

    def budget(field):
        return lambda s, v: s.model_copy(update={"budgets": s.budgets.model_copy(
            update={field: v})})

    def workload(name, field):
        def set_(s, v):
            ws = [w.model_copy(update={field: v}) if w.name == name else w for w in s.workloads]
            return s.model_copy(update={"workloads": ws})
        return set_

    ks.append(_Knob("power", "total power", "W", b.power_w, "down", budget("power_w"),
                    lambda p: p["totals"]["power_w"], None))
    ks.append(_Knob("cost", "device cost", "USD", b.cost_usd, "down", budget("cost_usd"),
                    lambda p: p["totals"]["cost_usd"], None))
    ks.append(_Knob("devices", "number of devices", "devices", b.max_devices, "down",
                    budget("max_devices"), lambda p: p["totals"]["devices"],
                    max(b.max_devices, min(16, len(spec.workloads))), integer=True,
                    bounds=(0, 17)))

    def mem_needs(p):
        return min(100.0 * (1.0 - d["memory_gb"] / d["memory_available_gb"])
                   for d in p["totals"]["per_device"])

    def compute_needs(p):
        worst = max((v for d in p["totals"]["per_device"] for v in d["unit_share"].values()),
                    default=0.0)
        return 100.0 * (1.0 - worst)

    ks.append(_Knob("memory", "memory headroom", "%", b.memory_headroom_pct, "up",
                    budget("memory_headroom_pct"), mem_needs, 0.0, step=0.1,
                    bounds=(-1e-9, 90.0)))
    ks.append(_Knob("compute", "compute headroom", "%", b.compute_headroom_pct, "up",
                    budget("compute_headroom_pct"), compute_needs, 0.0, step=0.1,
                    bounds=(-1e-9, 90.0)))
    for w in spec.workloads:
        name = w.name

        def lat(p, name=name):
            return next(a for a in p["assignments"] if a["workload"] == name)[
                "estimates"]["latency_ms"]["value"]
        ks.append(_Knob(f"latency:{name}", f"{name}: latency", "ms", w.latency_budget_ms,
                        "down", workload(name, "latency_budget_ms"), lat, None))
        if w.accuracy_floor is not None:
            def acc(p, name=name):
                return next(a for a in p["assignments"] if a["workload"] == name)[
                    "estimates"]["accuracy"]["value"]
            mine = next(a for a in plan["assignments"] if a["workload"] == name)
            hib = _higher_is_better(mine["model"], catalog)
            ks.append(_Knob(f"accuracy:{name}", f"{name}: accuracy floor",
                            mine["estimates"]["accuracy"].get("metric", ""),
                            w.accuracy_floor, "up" if hib else "down",
                            workload(name, "accuracy_floor"), acc, None, step=0.01,
                            bounds=(-math.inf, math.inf)))
        field = "tokens_per_s" if w.tokens_per_s is not None else (
            "rate_fps" if w.rate_fps is not None else None)
        if field is not None:
            ks.append(_Knob(f"rate:{name}", f"{name}: rate",
                            "tokens/s" if field == "tokens_per_s" else "fps",
                            getattr(w, field), "up", workload(name, field),
                            lambda p, name=name: _rate_capacity(spec, p, name), None))
    return ks


def _higher_is_better(model_id: str, catalog) -> bool:
    m = catalog.models.get(model_id)
    return True if m is None else m.higher_is_better


def _rate_capacity(spec, plan: dict, name: str) -> float:
    """The highest rate of workload `name` the plan's unit sustains with the others at their
    spec rates, under the compute headroom."""
    cap = 1.0 - spec.budgets.compute_headroom_pct / 100.0
    rates = {w.name: w.tokens_per_s if w.tokens_per_s is not None else (w.rate_fps or 0.0)
             for w in spec.workloads}
    me = next(a for a in plan["assignments"] if a["workload"] == name)
    where = (me["device"], me["power_mode"], me["instance"], me["unit"])
    # a call holds its unit for its occupancy: 1 / throughput per input (a pipelined unit's
    # is below its latency)
    per_rate = 1.0 / me["estimates"]["throughput_fps"]["value"]
    others = 0.0
    for a in plan["assignments"]:
        if a["workload"] == name or (a["device"], a["power_mode"], a["instance"], a["unit"]) \
                != where:
            continue
        others += rates[a["workload"]] / a["estimates"]["throughput_fps"]["value"]
    return max(0.0, (cap - others) / per_rate) if per_rate > 0 else math.inf


def sensitivity(spec, catalog, result: dict, *, workers: int = 2, extra_models=None) -> list[dict]:
    """For each budget: tightening — the value past which the plan no longer fits, and the
    plan that replaces it (or none); loosening (budgets that bind) — the value at which a
    better plan appears, and which. Thresholds come from the plans themselves (the limit at
    which a plan just fits), so they are exact up to the estimator's rounding; each "changes
    to" is a real re-solve. Tightening a budget that the plan still meets never changes the
    optimum, and loosening one never brings it back, so no other change points exist."""
    from .solve import solve
    plan = result["plan"]
    if plan is None:
        return []
    key0 = _plan_key(plan)
    binding = set(plan.get("binding") or [])
    cache: dict = {}

    def run(s):
        k = s.model_dump_json()
        if k not in cache:
            r = solve(s, catalog, workers=workers, explain=False, binding=False,
                      extra_models=extra_models)
            cache[k] = r.plan
        return cache[k]

    rows = []
    for kb in _knobs(spec, catalog, plan):
        used = kb.needs(plan)
        row = {"budget": kb.name, "label": kb.label, "unit": kb.unit, "now": kb.now,
               "now_text": qty(kb.now, kb.unit) if kb.now is not None else "not set",
               "used": _round(used), "used_text": qty(_round(used), kb.unit),
               "tighter": kb.tighten, "binding": kb.name in binding,
               "tight_at": None, "tight_plan": None, "tight_changes": [], "tight_text": "",
               "loose_at": None, "loose_plan": None, "loose_changes": [], "loose_text": ""}
        # tightening: the plan holds until the limit passes what it uses
        past = kb.past(used)
        if kb.integer:
            past = int(past) if past is not None else None
        inside = kb.bounds[0] < used < kb.bounds[1] or (kb.integer and used >= 1)
        row["tight_at"] = _round(used) if inside else None
        if past is None:
            row["tight_text"] = "the plan holds for every allowed value"
        else:
            new = run(kb.setter(spec, past))
            row["tight_plan"] = plan_summary(new) if new else None
            row["tight_changes"] = plan_changes(plan, new) if new else []
            row["tight_text"] = (f"{_past_words(kb, used)}: " +
                                 ("; ".join(row["tight_changes"]) or plan_summary(new)
                                  if new else "no plan fits"))
        # loosening: only a budget that binds changes the plan when it moves out
        if kb.name in binding:
            at, new = _loosen(kb, spec, run, key0)
            if new is not None:
                row["loose_at"] = _round(at) if at is not None else None
                row["loose_plan"] = plan_summary(new)
                row["loose_changes"] = plan_changes(plan, new)
                where = f"at {qty(at, kb.unit)}" if at is not None else "when removed"
                row["loose_text"] = f"{where}: " + ("; ".join(row["loose_changes"]) or
                                                   plan_summary(new))
            else:
                row["loose_text"] = "no change when loosened"
        else:
            row["loose_text"] = "not binding: loosening it changes nothing"
        lo, hi = (row["tight_at"], row["loose_at"]) if kb.tighten == "down" else \
            (row["loose_at"], row["tight_at"])
        row["range"] = {"lo": lo, "hi": hi}
        row["short"] = _range_words(kb, lo, hi)
        row["text"] = f"{kb.label}: the plan stays the same for {row['short']}"
        rows.append(row)
    return rows


def _round(v):
    if v is None or isinstance(v, int):
        return v
    return float(f"{v:.6g}")


def _past_words(kb, t) -> str:
    return f"below {qty(t, kb.unit)}" if kb.tighten == "down" else f"above {qty(t, kb.unit)}"


def _range_words(kb, lo, hi) -> str:
    if lo is None and hi is None:
        return "any allowed value"
    if lo is None:
        return f"≤ {qty(hi, kb.unit)}"
    if hi is None:
        return f"≥ {qty(lo, kb.unit)}"
    if kb.unit == "USD":
        return f"${num(lo)}–{num(hi)}"
    return f"{num(lo)}–{qty(hi, kb.unit)}"


def _loosen(kb, spec, run, key0):
    """The loosest-first descent: remove the budget (or set it to its loosest value), take
    the plan that gives, and move the limit to just tighter than what that plan needs; repeat
    until the original plan comes back. The last plan found, at the value it needs, is the
    first change. Returns (value or None, plan or None)."""
    cand = run(kb.setter(spec, kb.loosest))
    if cand is None or _plan_key(cand) == key0:
        return None, None
    for _ in range(LOOSEN_STEPS):
        t = kb.needs(cand)
        if kb.integer:
            t = int(round(t))
        if not kb.looser(t, kb.now):
            return None, cand            # the change does not come from this budget's value
        probe = kb.past(t)
        if probe is None or not kb.looser(probe, kb.now):
            return t, cand
        nxt = run(kb.setter(spec, int(probe) if kb.integer else probe))
        if nxt is None or _plan_key(nxt) == key0:
            return t, cand
        cand = nxt
    return kb.needs(cand), cand


# ---------------------------------------------------------------- rejections

def group_rejections(rejected, *, per_budget: int = REJECTED_ROWS_PER_BUDGET) -> dict:
    groups: dict[str, list] = {}
    for r in rejected:
        groups.setdefault(r["budget"], []).append(r)
    out = []
    for budget in sorted(groups, key=lambda b: (-len(groups[b]), b)):
        rows = groups[budget]
        shown = []
        for r in rows[:per_budget]:
            others = [v["budget"] for v in r.get("violations", [])[1:]]
            shown.append({"workload": r["workload"], "option": option_text(r),
                          "device": r["device"], "value": r["value"], "limit": r["limit"],
                          "by": r["by"], "also": others,
                          "text": f"{num(r['value'])} vs {num(r['limit'])}"})
        out.append({"budget": budget, "why": BUDGET_WHY.get(budget, budget),
                    "count": len(rows), "rows": shown, "more": max(0, len(rows) - per_budget)})
    return {"total": len(rejected), "groups": out}


# ---------------------------------------------------------------- infeasible

def conflict_rows(conflicts: list[dict]) -> list[dict]:
    rows = []
    for c in conflicts:
        unit = c.get("unit") or ""
        lim, to = c.get("limit"), c.get("relax_to")
        if isinstance(lim, list):
            lim_text = ", ".join(str(x) for x in lim)
        elif isinstance(lim, (int, float)):
            lim_text = f"{num(lim)} {unit}".strip()
        else:
            lim_text = "—" if lim is None else str(lim)
        if isinstance(to, dict) and "add" in to:
            to_text = "add " + ", ".join(to["add"])
            arrow = f"{to_text} to {c['budget']}"
        elif isinstance(to, (int, float)):
            to_text = f"{num(to)} {unit}".strip()
            arrow = f"{lim_text} → {to_text}"
        else:
            to_text = None
            arrow = c.get("note") or "relaxing this budget alone does not restore a plan"
        rows.append({"budget": c["budget"], "label": budget_label(c["budget"]),
                     "limit": lim if isinstance(lim, (int, float)) else None,
                     "relax_to": to if isinstance(to, (int, float)) else None,
                     "limit_text": lim_text, "relax_text": to_text, "text": arrow,
                     "plan": c.get("plan"), "note": c.get("note"), "unit": unit})
    return rows


def infeasible_verdict(rows: list[dict]) -> str:
    fixable = [c for c in rows if c["relax_text"]]
    if not rows:
        return "No plan meets the spec."
    if len(rows) == 1:
        c = rows[0]
        how = (f"relaxing it ({c['text']}) restores a plan" if c["relax_text"]
               else c["text"])
        return f"The {c['label']} budget cannot be met; {how}."
    names = _listing(c["label"] for c in rows)
    stuck = [c["label"] for c in rows if not c["relax_text"]]
    if len(fixable) == len(rows):
        tail = "relaxing any one of them as shown below restores a plan"
    elif fixable:
        its = "its" if len(stuck) == 1 else "their"
        tail = (f"relaxing {_listing(c['label'] for c in fixable)} as shown below restores a "
                f"plan ({_listing(stuck)} cannot be relaxed enough on {its} own)")
    else:
        tail = "no single relaxation restores a plan"
    return (f"{len(rows)} budgets conflict — {names}: together they leave no plan, and no "
            f"smaller set of them does; {tail}.")


# ---------------------------------------------------------------- the report

def build_report(spec, catalog, *, top: int = 3, workers: int = 2, extra_models=None,
                 with_sensitivity: bool = True, with_fronts: bool = True,
                 with_lint: bool = True, source: str | None = None,
                 spec_text: str | None = None) -> dict:
    """Everything the templates show, as plain data. Raises the solver's typed errors."""
    from .pareto import plan_fronts, workload_fronts
    from .solve import catalog_with_models, solve
    if extra_models:
        catalog = catalog_with_models(catalog, [m for ms in extra_models.values() for m in ms])
    # the plan is what `edgeplan solve SPEC` gives; every re-solve below (sensitivity,
    # fronts) compares against it with the same settings
    res = solve(spec, catalog, workers=workers, extra_models=extra_models)
    d = res.as_dict()
    d.pop("stats", None)
    plan = d["plan"]
    if plan is not None and top:
        d["runners_up"] = runners_up(spec, catalog, plan, top, workers=workers,
                                     extra_models=extra_models)
    report = {
        "title": f"{spec.name}: design review",
        "name": spec.name, "source": source, "spec_text": spec_text,
        "version": version(), "status": d["status"],
        "question": describe_question(spec, catalog, extra_models),
        "objective": d["objective"], "plan": None, "why": None, "fronts": [],
        "plan_fronts": [], "runners_up": [], "rejected": group_rejections(d["rejected"]),
        "sensitivity": [], "conflicts": [], "lint": None, "manifest_yaml": None,
        "verdict": "",
    }
    if plan is not None:
        report["plan"] = {
            "summary": plan_summary(plan), "devices": plan["devices"],
            "assignments": _assignment_rows(plan), "totals": plan["totals"],
            "objective": plan.get("objective", {}),
            "per_device": plan["totals"].get("per_device", [])}
        slack = _slack_rows(spec, plan)
        report["why"] = {"binding": [{"budget": b, "label": budget_label(b)}
                                     for b in plan.get("binding") or []],
                         "slack": slack,
                         "marginal": [s for s in slack if s["status"] == "marginal"]}
        report["runners_up"] = [
            {"rank": i, "summary": plan_summary(r), "totals": r["totals"],
             "objective": r.get("objective", {}),
             "changes": plan_changes(plan, r, options=False)}
            for i, r in enumerate(d["runners_up"], 1)]
        if res.manifest is not None:
            from .plan import manifest_yaml
            report["manifest_yaml"] = manifest_yaml(res.manifest).rstrip("\n")
            if with_lint:
                report["lint"] = lint_manifest(res.manifest, catalog)
        if with_sensitivity:
            report["sensitivity"] = sensitivity(spec, catalog, d, workers=workers,
                                                extra_models=extra_models)
    else:
        report["conflicts"] = conflict_rows(d["conflicts"])
        report["verdict"] = infeasible_verdict(report["conflicts"])
    if with_fronts:
        report["fronts"] = [f.as_dict() for f in workload_fronts(
            spec, catalog, plan, extra_models=extra_models)]
        report["plan_fronts"] = [f.as_dict() for f in plan_fronts(
            spec, catalog, d, extra_models=extra_models, workers=workers)]
    return report


def runners_up(spec, catalog, plan: dict, top: int, *, workers: int = 2,
               extra_models=None) -> list[dict]:
    """The next `top` best plans distinct from `plan`. Asking the solver for runners-up keeps
    more candidates alive, which can move its tie-break to another plan of equal objective;
    that plan then counts as the first runner-up."""
    from .solve import solve
    r = solve(spec, catalog, top=top, workers=workers, explain=False, binding=False,
              extra_models=extra_models)
    seen = {_plan_key(plan)}
    out = []
    for p in ([r.plan] if r.plan else []) + list(r.runners_up):
        k = _plan_key(p)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out[:top]


# ---------------------------------------------------------------- rendering

def md_cell(v) -> str:
    """Text for one GitHub-flavoured Markdown table cell: one line, pipes and the characters
    that start HTML escaped."""
    s = "" if v is None else str(v)
    s = s.replace("\r", " ").replace("\n", " ").replace("\\", "\\\\").replace("|", "\\|")
    return s.replace("<", "&lt;").replace(">", "&gt;") or " "


@lru_cache(maxsize=1)
def environment():
    """The one jinja2 environment of the report: sandboxed (spec text reaches it), strict
    about undefined names, autoescaping for HTML templates only; cached."""
    from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from markupsafe import Markup

    from . import svg
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                     default_for_string=False, default=False),
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = num
    env.filters["md"] = md_cell
    env.globals["scatter"] = lambda f: Markup(svg.scatter(f))
    env.globals["budget_bars"] = lambda rows: Markup(svg.budget_bars(rows))
    env.globals["ranges"] = lambda rows: Markup(svg.ranges(rows))
    env.globals["relaxations"] = lambda rows: Markup(svg.relaxations(rows))
    env.globals["css"] = lambda: Markup(_css())
    return env


@lru_cache(maxsize=1)
def _css() -> str:
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")


def render_report(report: dict, fmt: str = "html") -> str:
    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}",
                         field="--format")
    name = "report.html.j2" if fmt == "html" else "report.md.j2"
    text = environment().get_template(name).render(r=report)
    if fmt == "md":
        # GitHub renders blank-line-separated blocks; collapse runs of blank lines
        lines, blank = [], 0
        for line in text.splitlines():
            blank = blank + 1 if not line.strip() else 0
            if blank <= 1:
                lines.append(line.rstrip())
        text = "\n".join(lines).strip() + "\n"
    return text


def report_for_file(path, catalog, *, fmt: str = "html", extra_models=None, **kw) -> str:
    """Load a spec file, build its report and render it (the API the CLI uses)."""
    import os

    from .solve import model_file_profiles
    from .spec import load_spec
    spec, _ = load_spec(path)
    if extra_models is None:
        extra_models = model_file_profiles(spec, os.path.dirname(os.path.abspath(path)))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:         # pragma: no cover - load_spec read it a moment ago
        text = None
    data = build_report(spec, catalog, extra_models=extra_models, source=shown_path(path),
                        spec_text=text, **kw)
    return render_report(data, fmt)


def shown_path(path) -> str:
    """The spec's path as shown in the report: relative to the working directory when it is
    under it, else its name, so the page does not depend on how the path was typed."""
    import os
    p = os.path.abspath(os.fspath(path))
    rel = os.path.relpath(p)
    return rel if not rel.startswith("..") else os.path.basename(p)
