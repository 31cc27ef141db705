"""Sensitivity: for each budget, the value at which the chosen plan changes and what it
changes to, in both directions (each step one re-solve)."""
from __future__ import annotations

import math

from planner.report.labels import _plan_key, _round, plan_changes, plan_description, qty
from planner.spec import rate_per_s
from planner.text import num

LOOSEN_STEPS = 6            # descent steps when a budget is loosened (each one solve)


REL_STEP = 1e-3             # "just past" a threshold, relative, for continuous budgets


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
        if w.ttft_budget_ms is not None:
            def ttft(p, name=name):
                return next(a for a in p["assignments"] if a["workload"] == name)[
                    "estimates"]["ttft_ms"]["value"]
            ks.append(_Knob(f"ttft:{name}", f"{name}: time to first token", "ms",
                            w.ttft_budget_ms, "down", workload(name, "ttft_budget_ms"), ttft,
                            None))
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
    rates = {w.name: rate_per_s(w) or 0.0
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
    from planner.solve.pipeline import solve
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
            row["tight_plan"] = plan_description(new) if new else None
            row["tight_changes"] = plan_changes(plan, new) if new else []
            row["tight_text"] = (f"{_past_words(kb, used)}: " +
                                 ("; ".join(row["tight_changes"]) or plan_description(new)
                                  if new else "no plan fits"))
        # loosening: only a budget that binds changes the plan when it moves out
        if kb.name in binding:
            at, new = _loosen(kb, spec, run, key0)
            if new is not None:
                row["loose_at"] = _round(at) if at is not None else None
                row["loose_plan"] = plan_description(new)
                row["loose_changes"] = plan_changes(plan, new)
                where = f"at {qty(at, kb.unit)}" if at is not None else "when removed"
                row["loose_text"] = f"{where}: " + ("; ".join(row["loose_changes"]) or
                                                   plan_description(new))
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
