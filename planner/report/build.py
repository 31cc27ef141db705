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

from planner import version
from planner.errors import EdgeplanError
from planner.lint.engine import lint_paths
from planner.report.labels import (
    _plan_key,
    budget_label,
    option_text,
    plan_changes,
    plan_description,
    where_text,
)
from planner.report.sensitivity import sensitivity
from planner.solve.plan import manifest_yaml
from planner.text import accuracy_elsewhere, num

REJECTED_ROWS_PER_BUDGET = 20


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
    if w.ttft_budget_ms is not None:
        prompt = w.prompt_tokens or w.context_tokens
        needs.append(f"first token within {num(w.ttft_budget_ms)} ms"
                     + (f" after a {prompt:,}-token prompt" if prompt else ""))
    if w.accuracy_floor is not None:
        metrics = _metrics(w, catalog, extra_models)
        m = f" {_listing(metrics)}" if len(metrics) == 1 else \
            (" (in each model's metric: " + _listing(metrics) + ")" if metrics else "")
        needs.append(f"accuracy at least {num(w.accuracy_floor)}{m}")
    if w.batch != 1:
        needs.append(f"batch {w.batch}")
    if w.context_tokens is not None:
        needs.append(f"{w.context_tokens:,} tokens of context")
    if w.kv_cache not in (None, "fp16"):
        needs.append(f"a {w.kv_cache} KV cache")
    if w.precisions:
        needs.append(f"precision {' or '.join(p.upper() for p in w.precisions)}")
    if w.techniques:
        needs.append(f"technique {' or '.join(w.techniques)}")
    if w.latency_critical:
        needs.append("latency-critical (no batching)")
    text = " or ".join(what) + (": " + "; ".join(needs) if needs else "")
    return {"name": w.name, "what": " or ".join(what), "needs": needs, "text": text}


def _objective_words(spec) -> str:
    from planner.spec import OBJECTIVE_TERMS
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


# ---------------------------------------------------------------- the answer

def _q(d: dict | None) -> dict | None:
    if not d:
        return None
    out = {"value": d["value"], "unit": d.get("unit", ""), "provenance": d.get("provenance", ""),
           "text": num(d["value"]), "interval": None, "bottleneck": d.get("bottleneck")}
    if d.get("low") is not None:
        out["interval"] = f"{num(d['low'])}–{num(d['high'])}"
    return out


def _unknown_accuracy(acc: dict) -> dict:
    """The accuracy cell of a model file given without an accuracy: 'unknown', not a 0."""
    if acc.get("value") is not None:
        return {}
    return {"accuracy": {"value": None, "unit": "", "provenance": "no figure given",
                         "text": "unknown", "interval": None, "bottleneck": None},
            "metric": ""}


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
            **_unknown_accuracy(e["accuracy"]),
            "requires": a.get("requires"),
            # the plan's notes already say whose model an accuracy was measured on
            "notes": [n for n in e.get("notes") or ()
                      if not (e["accuracy"].get("quantized_by") and n.startswith(
                          f"accuracy {e['accuracy']['value']:g} {e['accuracy']['metric']} "
                          "was measured on"))]})
    return rows


def plan_notes(plan: dict) -> list[str]:
    """What the plan's figures rest on, in words: each estimated accuracy with the range its
    evidence allows, and each technique that is a training run of its own (QAT, pruning)."""
    out = []
    for a in plan["assignments"]:
        acc = a["estimates"]["accuracy"]
        what = option_text(a)
        if acc.get("metric") == "unknown":
            out.append(f"{a['workload']}: no accuracy is known for {what} (the spec's model "
                       "file gives none).")
        elif acc.get("quantized_by"):
            out.append(f"{a['workload']}: " + accuracy_elsewhere(
                num(acc["value"]), acc["metric"], a["precision"], acc["quantized_by"],
                a["runtime"], what=f"{a['model']} {a['precision'].upper()}/{a['technique']}",
                bounds=(acc["low"], acc["high"]) if "low" in acc else None) + ".")
        elif acc.get("provenance") == "estimated":
            rng = (f", range {num(acc['low'])}–{num(acc['high'])}" if "low" in acc else "")
            out.append(f"{a['workload']}: the accuracy of {what} ({num(acc['value'])} "
                       f"{acc['metric']}) is estimated, not published{rng}.")
        if a.get("requires"):
            out.append(f"{a['workload']}: {what} needs {a['requires']}; techniques default "
                       "to all, so list `techniques:` in the spec to leave it out.")
    return out


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
        elif s.get("marginal"):          # the estimate's interval reaches past the limit
            status = "marginal"
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
        interval_text = None
        if s.get("marginal"):
            lo, hi = s["interval"]
            interval_text = f"interval {shown(lo)}–{shown(hi)} reaches past the limit"
        elif s.get("checked_at"):
            interval_text = f"pessimistic end; central estimate {shown(s['central'])}"
        rows.append({"budget": name, "label": budget_label(name), "limit": s["limit"],
                     "used": s["used"], "slack": s["slack"], "slack_pct": pct, "unit": unit,
                     "status": status, "binding": binding, "floor": floor,
                     "used_text": shown(s["used"]), "limit_text": shown(s["limit"]),
                     "slack_text": shown(s["slack"]), "text": text,
                     "interval_text": interval_text})
    return rows


def lint_manifest(manifest, catalog) -> dict:
    """Lint findings of the plan's manifest.
    {available, findings: [{rule, name, severity, message, fix, line, path}], counts, reason}."""
    if manifest is None:
        return {"available": False, "reason": "no plan, so no manifest to lint",
                "findings": [], "counts": {}}
    try:
        rep = lint_paths(["-"], stdin_text=manifest_yaml(manifest), catalog=catalog)
    except EdgeplanError as e:
        return {"available": False, "findings": [], "counts": {},
                "reason": f"lint could not run: {e.one_line()}"}
    findings = [f.as_dict() for f in rep.findings]
    rows = [{k: f.get(k) for k in ("rule", "name", "severity", "message", "fix", "line",
                                   "path")} for f in findings]
    counts: dict[str, int] = {}
    for f in rows:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return {"available": True, "findings": rows, "counts": dict(sorted(counts.items())),
            "reason": None, "file": "deploy.yaml"}


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
                          "by": r["by"] if r["by"] is not None else "—", "also": others,
                          "text": r.get("note") or f"{num(r['value'])} vs {num(r['limit'])}"})
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


def infeasible_verdict(rows: list[dict], explanation: dict | None = None) -> str:
    if explanation and explanation.get("conflict_sets"):
        return _explained_verdict(explanation)
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


def conflicts_intro(rows: list[dict], explanation: dict | None) -> str:
    """The sentence above the conflicts table: true of the table's rows whatever the number
    of conflicts (only a single conflict lets any one of its budgets fix it)."""
    sets = (explanation or {}).get("conflict_sets") or []
    if len(rows) == 1:
        return "This budget alone leaves no plan; relaxing it as shown restores one."
    if len(sets) > 1:
        return (f"These budgets form {len(sets)} separate conflicts (each a minimal set: no "
                "smaller set of it conflicts), so a correction must relax a budget of each. "
                "A value is shown where relaxing that budget alone restores a plan; the verdict "
                "above lists the corrections of two budgets.")
    return ("These budgets conflict (a minimal set: no smaller set does). Relaxing any one of "
            "them, alone, as shown restores a plan:")


def _explained_verdict(e: dict) -> str:
    """The verdict from solve's explanation: how many conflicts (each a minimal set), the
    physics behind them, and how many corrections of one or two budgets restore a plan."""
    sets = e["conflict_sets"]
    label = lambda b: budget_label(b["budget"])   # noqa: E731
    if len(sets) == 1:
        names = [label(b) for b in sets[0]["budgets"]]
        head = (f"The {names[0]} budget cannot be met" if len(names) == 1 else
                f"{len(names)} budgets conflict — {_listing(names)}: together they leave no "
                "plan, and no smaller set of them does")
    else:
        head = (f"{len(sets)} separate conflicts among the budgets ("
                + "; ".join(_listing(label(b) for b in c["budgets"]) for c in sets)
                + "): a correction must relax a budget of each")
    facts = [f for c in sets for f in c.get("facts", ())]
    fixes = e.get("corrections") or []
    if not fixes:
        tail = "no correction of one or two budgets restores a plan"
    else:
        def how(f):
            rows = conflict_rows(f["changes"])
            return " with ".join(f"{r['label']} ({r['text']})" for r in rows)
        if len(sets) == 1 and len(sets[0]["budgets"]) == 1 and len(fixes) == 1:
            tail = f"relaxing it ({conflict_rows(fixes[0]['changes'])[0]['text']}) restores a plan"
        else:
            tail = ("relaxing " + " or ".join(how(f) for f in fixes)
                    + " restores a plan, as shown below")
    text = f"{head}; {tail}."
    if facts:
        text += " " + " ".join(f[0].upper() + f[1:] + "." for f in facts)
    return text


# ---------------------------------------------------------------- the report

def build_report(spec, catalog, *, top: int = 3, workers: int = 2, extra_models=None,
                 with_sensitivity: bool = True, with_fronts: bool = True,
                 with_lint: bool = True, source: str | None = None,
                 spec_text: str | None = None, deadline=None, robust: bool = False) -> dict:
    """Everything the templates show, as plain data. Raises the solver's typed errors.
    `deadline` (planner/solve/deadline.py) bounds the whole report: the plan's solve first
    (SolveTimeout when no plan was found in time), then each section; a section that could
    not finish in time is left out and named in `cut_short`, which the page shows.
    `robust`: every solve checks latency, rate and accuracy budgets at the pessimistic end of
    their intervals (`solve --robust`), and the page says so."""
    from planner.solve import robust as R
    with R.running(robust):
        report = _build_report_within(spec, catalog, top=top, workers=workers,
                                      extra_models=extra_models,
                                      with_sensitivity=with_sensitivity,
                                      with_fronts=with_fronts, with_lint=with_lint,
                                      source=source, spec_text=spec_text, deadline=deadline)
        report["robust"] = R.active()
    return report


def _build_report_within(spec, catalog, *, top, workers, extra_models, with_sensitivity,
                         with_fronts, with_lint, source, spec_text, deadline) -> dict:
    from planner.solve import deadline as D
    if deadline is not None:
        with D.running(deadline):
            return _build_report(spec, catalog, top=top, workers=workers,
                                 extra_models=extra_models, with_sensitivity=with_sensitivity,
                                 with_fronts=with_fronts, with_lint=with_lint, source=source,
                                 spec_text=spec_text, deadline=deadline)
    return _build_report(spec, catalog, top=top, workers=workers, extra_models=extra_models,
                         with_sensitivity=with_sensitivity, with_fronts=with_fronts,
                         with_lint=with_lint, source=source, spec_text=spec_text,
                         deadline=None)


def _section(deadline, name: str, empty, fn):
    """One report section under the deadline: left out (`empty`) and named as cut short when
    the time runs out before or while it runs (a solve cut by the limit could mislead)."""
    if deadline is None:
        return fn()
    from planner.errors import SolveTimeout
    if deadline.expired():
        deadline.cut_short(name)
        return empty
    try:
        out = fn()
    except SolveTimeout:
        deadline.cut_short(name)
        return empty
    if deadline.expired():
        deadline.cut_short(name)
        return empty
    return out


def _build_report(spec, catalog, *, top, workers, extra_models, with_sensitivity, with_fronts,
                  with_lint, source, spec_text, deadline) -> dict:
    from planner.catalog.loader import catalog_with_models
    from planner.report.pareto import plan_fronts, workload_fronts
    from planner.solve.pipeline import solve
    if extra_models:
        catalog = catalog_with_models(catalog, [m for ms in extra_models.values() for m in ms])
    # the plan is what `edgeplan solve SPEC` gives; every re-solve below (sensitivity,
    # fronts) compares against it with the same settings
    res = solve(spec, catalog, workers=workers, extra_models=extra_models, deadline=deadline)
    d = res.as_dict()
    d.pop("stats", None)
    d.pop("cut_short", None)
    plan = d["plan"]
    if plan is not None and top:
        d["runners_up"] = _section(deadline, "runners-up", [], lambda: runners_up(
            spec, catalog, plan, top, workers=workers, extra_models=extra_models))
    report = {
        "title": f"{spec.name}: design review",
        "name": spec.name, "source": source, "spec_text": spec_text,
        "version": version(), "status": d["status"],
        "question": describe_question(spec, catalog, extra_models),
        "objective": d["objective"], "plan": None, "why": None, "fronts": [],
        "plan_fronts": [], "runners_up": [], "rejected": group_rejections(d["rejected"]),
        "sensitivity": [], "conflicts": [], "conflicts_intro": "", "lint": None,
        "manifest_yaml": None,
        "verdict": "",
        "cut_short": [],    # sections --time-limit cut short (the page names them)
    }
    if plan is not None:
        report["plan"] = {
            "summary": plan_description(plan), "devices": plan["devices"],
            "assignments": _assignment_rows(plan), "totals": plan["totals"],
            "notes": plan_notes(plan),
            "objective": plan.get("objective", {}),
            "per_device": plan["totals"].get("per_device", [])}
        slack = _slack_rows(spec, plan)
        report["why"] = {"binding": [{"budget": b, "label": budget_label(b)}
                                     for b in plan.get("binding") or []],
                         "slack": slack,
                         "marginal": [s for s in slack if s["status"] == "marginal"]}
        report["runners_up"] = [
            {"rank": i, "summary": plan_description(r), "totals": r["totals"],
             "objective": r.get("objective", {}),
             "changes": plan_changes(plan, r, options=False)}
            for i, r in enumerate(d["runners_up"], 1)]
        if res.manifest is not None:
            from planner.solve.plan import manifest_yaml
            report["manifest_yaml"] = manifest_yaml(res.manifest).rstrip("\n")
            if with_lint:
                report["lint"] = lint_manifest(res.manifest, catalog)
        if with_sensitivity:
            report["sensitivity"] = _section(deadline, "sensitivity", [], lambda: sensitivity(
                spec, catalog, d, workers=workers, extra_models=extra_models))
    else:
        report["conflicts"] = conflict_rows(d["conflicts"])
        report["verdict"] = infeasible_verdict(report["conflicts"], d.get("explanation"))
        report["conflicts_intro"] = conflicts_intro(report["conflicts"], d.get("explanation"))
    if with_fronts:
        report["fronts"] = _section(deadline, "Pareto fronts", [], lambda: [
            f.as_dict() for f in workload_fronts(spec, catalog, plan, extra_models=extra_models)])
        report["plan_fronts"] = _section(deadline, "plan fronts", [], lambda: [
            f.as_dict() for f in plan_fronts(spec, catalog, d, extra_models=extra_models,
                                             workers=workers)])
    if deadline is not None:
        report["cut_short"] = list(deadline.cut)
    return report


def runners_up(spec, catalog, plan: dict, top: int, *, workers: int = 2,
               extra_models=None) -> list[dict]:
    """The next `top` best plans distinct from `plan`. Asking the solver for runners-up keeps
    more candidates alive, which can move its tie-break to another plan of equal objective;
    that plan then counts as the first runner-up."""
    from planner.solve.pipeline import solve
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


def shown_path(path) -> str:
    """The spec's path as shown in the report: relative to the working directory when it is
    under it, else its name, so the page does not depend on how the path was typed."""
    import os
    p = os.path.abspath(os.fspath(path))
    rel = os.path.relpath(p)
    return rel if not rel.startswith("..") else os.path.basename(p)
