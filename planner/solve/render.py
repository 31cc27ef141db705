"""A solved plan, for people and for other tools: the deployment manifest that `lint` and
`bundle` read, and the text table `solve` prints."""
from __future__ import annotations

from planner.solve.plan import parts_text
from planner.text import accuracy_elsewhere
from planner.vocabulary import KV_CACHE_BYTES, WEIGHT_FORMAT_BASIS, WEIGHT_FORMATS


def _q(d: dict) -> str:
    s = f"{d['value']:.3g}"
    if "low" in d:
        s += f" [{d['low']:.3g}-{d['high']:.3g}]"
    return s


def render_plan_text(res: dict) -> str:
    """The default output of `solve`: plan, budgets, runners-up, rejections, conflicts."""
    lines = [f"status: {res['status']}"]
    if res.get("cut_short"):
        lines.append("cut short by the limits: " + "; ".join(res["cut_short"]))
    if res.get("robust"):
        lines.append("robust: latency, time-to-first-token, rate and accuracy budgets checked at "
                     "the pessimistic end of their intervals")
    plan = res["plan"]
    if plan:
        lines.append("")
        lines.append("devices:")
        for d in plan["devices"]:
            lines.append(f"  {d['count']} x {d['id']} [{d['power_mode']}]  "
                         f"{d['mode_power_w']:g} W  ${d['unit_price_usd']:g}"
                         f"{' ' + d['price_kind'] if d.get('price_kind') else ''}  ({d['name']})")
            if d.get("parts"):
                lines.append(f"      {parts_text(d['parts'])}")
        lines.append("")
        lines.append("assignments:")
        head = ("workload", "model", "prec/technique", "device#", "unit/runtime", "latency ms",
                "memory GB", "accuracy", "provenance")
        rows = []
        for a in plan["assignments"]:
            e = a["estimates"]
            lat = e["latency_ms"]
            rows.append((a["workload"], a["model"], f"{a['precision']}/{a['technique']}",
                         f"{a['device']}#{a['instance']}", f"{a['unit']}/{a['runtime']}",
                         _q(lat), f"{e['memory_gb']['value']:.3g}",
                         _accuracy_cell(e["accuracy"]), f"{lat['provenance']}, {lat['bottleneck']}"
                         + (", unmeasured runtime" if any(n.startswith("unmeasured runtime")
                                                          or n.startswith("no published measurement uses")
                                                          for n in e["notes"]) else "")))
        lines += _table(head, rows)
        lines += _plan_notes(plan)
        t = plan["totals"]
        lines.append("")
        lines.append(f"totals: power {t['power_w']:g} W (average {t['average_power_w']:.3g} W), "
                     f"cost ${t['cost_usd']:g}, {t['devices']} device(s)")
        for d in t["per_device"]:
            if d.get("units_share_power"):
                lines.append(f"  {d['device']}#{d['instance']}: {', '.join(d['unit_share'])} "
                             f"share the {d['power_mode']} mode's power budget")
        lines.append("")
        lines.append("budgets:")
        bind = set(plan.get("binding", []))
        # a workload's binding rate shows on the unit it shares; its memory on its device
        for a in plan["assignments"]:
            where = f"{a['device']}#{a['instance']}"
            if f"rate:{a['workload']}" in bind:
                bind.add(f"rate:{where}/{a['unit']}")
            if "memory" in bind:
                bind.add(f"memory:{where}")
        for s in plan["slack"]:
            mark = "  <- binding" if s["budget"] in bind else ""
            if s.get("marginal"):
                lo, hi = s["interval"]
                mark += f"  <- marginal: interval {lo:.4g}-{hi:.4g} reaches past the limit"
            elif s.get("checked_at"):
                mark += f"  (pessimistic end; central estimate {s['central']:g})"
            pct = f" ({s['slack_pct']:g} %)" if s["slack_pct"] is not None else ""
            lines.append(f"  {s['budget']}: {s['used']:g} of {s['limit']:g} {s['unit']}, "
                         f"slack {s['slack']:g}{pct}{mark}")
        if plan.get("binding"):
            # the spec's own budget names (what the user edits); the rows above carry the mark
            # on the device or unit each one constrains
            lines.append(f"  binding (removing it gives a better plan): "
                         f"{', '.join(plan['binding'])}")
        if plan.get("marginal"):
            lines.append(f"  marginal: {', '.join(plan['marginal'])} (the estimate meets the "
                         "budget, the pessimistic end of its interval does not; --robust "
                         "checks that end)")
    if res["runners_up"]:
        lines.append("")
        lines.append("runners-up:")
        for i, r in enumerate(res["runners_up"], 1):
            parts = "; ".join(f"{a['workload']}: {a['model']} {a['precision']}/{a['technique']} "
                              f"on {a['device']}[{a['power_mode']}]" for a in r["assignments"])
            lines.append(f"  {i}. {parts}  (power {r['totals']['power_w']:g} W, "
                         f"cost ${r['totals']['cost_usd']:g})")
    if res.get("explanation") is not None:
        lines += render_explanation(res["explanation"])
    elif res["conflicts"]:
        lines += _legacy_conflicts(res["conflicts"])
    summ = res.get("rejected_summary") or {}
    if summ:
        lines.append("")
        lines.append("rejected options by budget (--format json lists each): " +
                     ", ".join(f"{k} {v}" for k, v in summ.items()))
    return "\n".join(lines)


def _accuracy_cell(a: dict) -> str:
    """The accuracy column: the figure, and 'est.' where it is an estimate, not published
    ('unknown' for a model file given without an accuracy)."""
    if a.get("metric") == "unknown":
        return "unknown"
    return f"{a['value']:g}" + (" est." if a.get("provenance") == "estimated" else "")


def _plan_notes(plan: dict) -> list[str]:
    """What the table's figures rest on: estimated accuracies with their ranges, and the
    techniques that are a training run of their own (QAT, pruning)."""
    notes = []
    if plan.get("cost_compares"):
        notes.append(f"  cost: {plan['cost_compares']['note']}; budgets.price_kinds says "
                     "which kinds to compare")
    for a in plan["assignments"]:
        acc = a["estimates"]["accuracy"]
        what = f"{a['model']} {a['precision'].upper()}/{a['technique']}"
        if acc.get("metric") == "unknown":
            notes.append(f"  {a['workload']}: no accuracy is known for {what} (the spec's "
                         "model file gives none)")
        elif acc.get("quantized_by"):
            notes.append(f"  {a['workload']}: " + accuracy_elsewhere(
                f"{acc['value']:g}", acc["metric"], a["precision"], acc["quantized_by"],
                a["runtime"], what=f"{a['model']} {a['precision'].upper()}/{a['technique']}",
                bounds=(acc["low"], acc["high"]) if "low" in acc else None))
        elif acc.get("provenance") == "estimated":
            rng = (f": range {acc['low']:g}-{acc['high']:g}" if "low" in acc else
                   ": no range given")
            notes.append(f"  {a['workload']}: accuracy {acc['value']:g} {acc['metric']} is "
                         f"estimated, not published, for {what}{rng}")
        ttft = a["estimates"].get("ttft_ms")
        if ttft and ttft["provenance"] == "estimated" and any(
                r["budget"] == f"ttft:{a['workload']}" for r in plan.get("slack", ())):
            notes.append(f"  {a['workload']}: the first token after {a['prompt_tokens']:,} "
                         f"prompt tokens ({ttft['value']:g} ms) is estimated: no prefill was "
                         f"measured on this device family's {a['unit']}")
        if a.get("weight_format"):
            # the estimate's own note has the model's bits (AWQ/GPTQ: its embedding share)
            said = next((n for n in a["estimates"].get("notes", ())
                         if n.startswith(f"weights in {a['weight_format']} (")), None)
            notes.append(f"  {a['workload']}: " + (
                f"{said}, not measured in this format" if said else
                f"weights in {a['weight_format']} "
                f"({WEIGHT_FORMATS[a['weight_format']][1]:.2f} bits per weight "
                f"{WEIGHT_FORMAT_BASIS[a['weight_format']]}); accuracy is the "
                f"{a['precision'].upper()} option's, not measured in this format"))
        if a.get("kv_cache") not in (None, "fp16"):
            notes.append(f"  {a['workload']}: KV cache {a['kv_cache']} in {a['runtime']} "
                         f"({KV_CACHE_BYTES[a['kv_cache']] * 8:g} bits per element in memory "
                         "and in what decode reads); accuracy is the fp16 cache's, not "
                         "measured with the quantized one")
        if a.get("requires"):
            notes.append(f"  {a['workload']}: {what} needs {a['requires']}; techniques "
                         "default to all, so list `techniques:` in the spec to leave it out")
    return ["", "notes:", *notes] if notes else []


def _table(head, rows) -> list[str]:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(head)]
    out = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(head, widths)).rstrip()]
    out += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return out


# ---------------------------------------------------------------- why nothing fits

def _num(v, unit: str = "") -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        u = unit or ""
        if u == "USD":
            return f"${v:g}"
        if u.startswith("%"):
            return f"{v:g} %{u[1:]}"
        return f"{v:g} {u}".rstrip() if u else f"{v:g}"
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def budget_text(row: dict) -> str:
    """'power 2 W', 'latency:classify 1 ms', 'devices.allow [jetson-nano-4gb]'."""
    return f"{row['budget']} {_num(row.get('limit'), row.get('unit') or '')}"


def change_text(row: dict) -> str:
    """'power 2 W -> 5 W', 'devices.allow: add x', 'rate:w 30 fps: lifted (...)'."""
    rt = row.get("relax_to")
    unit = row.get("unit") or ""
    if rt is None:
        why = row.get("note") or "no limit of it was found that keeps a plan"
        return f"{budget_text(row)}: lift it ({why})"
    if isinstance(rt, dict):
        verb = "add" if "add" in rt else "remove"
        return f"{row['budget']}: {verb} {', '.join(rt[verb])}"
    return f"{budget_text(row)} -> {_num(rt, unit)}"


def render_explanation(e: dict) -> list[str]:
    """Why nothing fits: the conflicts (each a minimal set), the physics they rest on, and the
    smallest corrections with the plan each gives."""
    lines = [""]
    sets = e["conflict_sets"]
    if not sets:
        lines.append("no plan whatever the budgets:")
        lines += [f"  {f}" for f in e["facts"]] or ["  no model in the catalog serves the "
                                                    "workloads on any device"]
        return lines
    more = "" if e["complete"] else " (at least; the search stopped at its limit)"
    if len(sets) == 1 and len(sets[0]["budgets"]) == 1:
        lines.append(f"one conflict{more}: this budget cannot be met, whatever the others:")
    elif len(sets) == 1:
        lines.append(f"one conflict{more}: these budgets cannot all hold, and each is needed "
                     "for the conflict (drop any one and the rest can hold):")
    else:
        lines.append(f"{len(sets)} conflicts{more}: each a minimal set of budgets that cannot "
                     "all hold (drop any one of a set and the rest of that set can); a "
                     "correction relaxes at least one budget of each:")
    for i, c in enumerate(sets, 1):
        lines.append(f"  {i}. " + " + ".join(budget_text(b) for b in c["budgets"]))
        lines += [f"     {f}" for f in c["facts"]]
    fixes = e["corrections"]
    lines.append("")
    if not fixes:
        lines.append("no correction of one or two budgets restores a plan")
        return lines
    sizes = sorted({len(f["relax"]) for f in fixes})
    if sizes == [1]:
        head = "smallest corrections (each one budget, relaxed alone, restores a plan):"
    elif sizes == [2]:
        head = ("smallest corrections (no single budget fixes it; each pair, relaxed together, "
                "restores a plan):")
    else:
        head = ("smallest corrections (each restores a plan: one budget alone, else two "
                "relaxed together):")
    lines.append(head)
    for f in fixes:
        lines.append("  - " + "; ".join(change_text(c) for c in f["changes"]))
        lines.append(f"    gives {f['plan']}" if f.get("plan") else
                     "    (no plan found for these values)")
        for c in f["changes"]:
            for a in c.get("alternatives") or ():
                if a.get("plan"):
                    lines.append(f"    or add {', '.join(a['add'])}: {a['plan']}")
    if e.get("corrections_more"):
        lines.append(f"  ... and {e['corrections_more']} more corrections, not worked out")
    return lines


def _legacy_conflicts(conflicts: list[dict]) -> list[str]:
    """Conflicts without an explanation (a result made before explanations existed)."""
    lines = ["", "conflicting budgets:"]
    for c in conflicts:
        if c.get("relax_to") is None:
            lines.append(f"  {budget_text(c)}: {c.get('note', 'relaxing it alone does not restore a plan')}")
        else:
            lines.append(f"  {change_text(c)} gives {c.get('plan')}")
    return lines
