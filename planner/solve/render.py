"""A solved plan, for people and for other tools: the deployment manifest that `lint` and
`bundle` read, and the text table `solve` prints."""
from __future__ import annotations

from planner.solve.plan import parts_text


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
        lines.append("robust: latency, rate and accuracy budgets checked at the pessimistic "
                     "end of their intervals")
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
            lines.append(f"  binding: {', '.join(plan['binding'])}")
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
    if res["conflicts"]:
        lines.append("")
        lines.append("conflicting budgets (a minimal set: relax any one of them):")
        for c in res["conflicts"]:
            unit = f" {c['unit']}" if c.get("unit") else ""
            if c.get("relax_to") is None:
                lines.append(f"  {c['budget']} {c.get('limit')}{unit}: "
                             f"{c.get('note', 'cannot be relaxed alone')}")
            else:
                rt = c["relax_to"]
                if isinstance(rt, dict):
                    verb = "add" if "add" in rt else "remove"
                    rt = f"{verb} " + ", ".join(rt[verb])
                else:
                    rt = f"{rt:g}{unit}"
                lim = c.get("limit")
                lim = f"{lim:g}{unit}" if isinstance(lim, (int, float)) else str(lim)
                lines.append(f"  {c['budget']} {lim} -> {rt} gives {c['plan']}")
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
        elif acc.get("provenance") == "estimated":
            rng = (f": range {acc['low']:g}-{acc['high']:g}" if "low" in acc else
                   ": no range given")
            notes.append(f"  {a['workload']}: accuracy {acc['value']:g} {acc['metric']} is "
                         f"estimated, not published, for {what}{rng}")
        if a.get("requires"):
            notes.append(f"  {a['workload']}: {what} needs {a['requires']}; techniques "
                         "default to all, so list `techniques:` in the spec to leave it out")
    return ["", "notes:", *notes] if notes else []


def _table(head, rows) -> list[str]:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(head)]
    out = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(head, widths)).rstrip()]
    out += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return out
