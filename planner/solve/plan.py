"""A solved plan: the result of solve, the plan as data (devices, assignments with their
estimates, totals, slack), and the deployment manifest that `lint` and `bundle` read."""
from __future__ import annotations

from dataclasses import dataclass, field

from planner.catalog.loader import Catalog
from planner.estimate.point import Query, estimate, workload_prompt
from planner.manifest import API_VERSION, Manifest
from planner.solve.candidates import CandidateSet
from planner.spec import Spec


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
    # infeasible: conflict sets, corrections, facts (planner.solve.explain.explain)
    explanation: dict | None = None
    stats: dict = field(default_factory=dict)
    manifest: object = None
    robust: bool = False            # budgets checked at the pessimistic end (--robust)
    solution: Solution | None = None   # the optimum behind `plan` (for re-solves)
    cut_short: list[str] = field(default_factory=list)   # steps the time limit cut short

    def as_dict(self) -> dict:
        out = {"status": self.status, "spec": self.spec.name,
               "objective": [f"{s} {t}" for t, s in self.spec.objective_order()]
               if isinstance(self.spec.objective, list) else
               {"weights": dict(self.spec.objective.weights)},
               "plan": self.plan, "runners_up": self.runners_up,
               "conflicts": self.conflicts, "rejected": list(self.rejected),
               "rejected_summary": summarize_rejections(self.rejected), "stats": self.stats}
        if self.explanation is not None:    # only when infeasible and explained
            out["explanation"] = self.explanation
        if self.cut_short:     # only when --time-limit (or --max-memory) cut a step short
            out["cut_short"] = list(self.cut_short)
        if self.robust:        # only with --robust: every interval budget at its pessimistic end
            out["robust"] = True
        return out


def summarize_rejections(rejected: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rejected:
        out[r["budget"]] = out.get(r["budget"], 0) + 1
    return dict(sorted(out.items()))


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


def instance_average_power(idle_w: float, dyn_w: float, mode_power_w: float) -> float:
    """A device's average power: idle plus its units' dynamic power, which they share within
    the power mode's budget (the mode caps the board, not each unit), so never above it."""
    return min(idle_w + dyn_w, mode_power_w)


def price_parts(dev, mode_id: str | None = None) -> dict | None:
    """An accelerator on a host, split: the accelerator's own price and power, and the host's
    (the rest of the system: host and any adapter), where the catalog gives the accelerator's
    share; None otherwise."""
    a_usd, a_w = dev.price.accelerator_usd, dev.power.accelerator_w
    if dev.host is None or (a_usd is None and a_w is None):
        return None
    out: dict = {"host": dev.host}
    if a_usd is not None:
        out["accelerator_usd"] = a_usd
        out["host_usd"] = dev.host_usd
    if a_w is not None:
        out["accelerator_w"] = a_w
        out["host_w"] = round(dev.mode(mode_id).power_w - a_w, 4)
    return out


def cost_mixes_kinds(spec: Spec, catalog: Catalog):
    """The spec's cost budget compares module prices with dev-kit or system prices among the
    devices it allows (MixedKinds), or None: like with like, budgets.price_kinds given, or
    no cost budget."""
    from planner.catalog.prices import mixed_cost_kinds
    if spec.budgets.price_kinds is not None:
        return None
    allowed = [d for _, d in sorted(catalog.devices.items())
               if spec.devices.admits(d.id) and spec.families.admits(d.family)]
    return mixed_cost_kinds(allowed, spec.budgets.cost_usd)


def parts_text(parts: dict) -> str:
    """`price_parts` in words: 'of which the accelerator 2 W, $24.99 and the host
    desktop-x86-host 150 W, $1000'."""
    def side(kind):
        vals = [f"{parts[kind + '_w']:g} W" if kind + "_w" in parts else None,
                f"${parts[kind + '_usd']:g}" if kind + "_usd" in parts else None]
        return ", ".join(v for v in vals if v)
    return (f"of which the accelerator {side('accelerator')} and the host {parts['host']} "
            f"{side('host')}")


# memory figures (GB) are rounded to whole kilobytes: fixed decimals keep the output stable,
# and a coarser step would show a microcontroller's few hundred KB as 0
MEMORY_DECIMALS = 6


def plan_dict(spec: Spec, catalog: Catalog, cs: CandidateSet, sol: Solution) -> dict:
    where, bill = _instances(sol.slot_type, cs)
    for b in bill:
        dev = catalog.devices[b["id"]]
        b["name"] = dev.name
        b["unit_price_usd"] = dev.price.usd
        b["price_kind"] = dev.price_kind
        b["mode_power_w"] = dev.mode(b["power_mode"]).power_w
        parts = price_parts(dev, b["power_mode"])
        if parts:
            b["parts"] = parts
    assignments = []
    intervals = []                  # per assignment: the estimator's intervals (unrounded)
    per_instance: dict[tuple, dict] = {}
    for wi, (k, s) in enumerate(sol.choice):
        c = cs.per_workload[wi][k]
        w = spec.workloads[wi]
        t, inst = where[s]
        est = estimate(catalog, Query(model=c.model.id, precision=c.precision,
                                      technique=c.technique, device=t.device.id, unit=c.unit,
                                      runtime=c.runtime, batch=w.batch,
                                      context=w.context_tokens, power_mode=t.mode_id,
                                      kv_cache=w.kv_cache or "fp16",
                                      prompt_tokens=workload_prompt(w, c.model),
                                      weight_format=w.weight_format))
        assignments.append({
            "workload": w.name, "model": c.model.id, "precision": c.precision,
            "technique": c.technique, "device": t.device.id, "instance": inst,
            "power_mode": t.mode_id, "unit": c.unit, "runtime": c.runtime, "batch": w.batch,
            "context_tokens": w.context_tokens if c.model.llm else None,
            "kv_cache": w.kv_cache if c.model.llm else None,
            "weight_format": w.weight_format if c.model.llm else None,
            "prompt_tokens": est.query.prompt_tokens,
            "unit_share": round(c.util, 4),
            "estimates": {k: v for k, v in est.as_dict().items() if k != "query"}})
        step = TRAINING_STEPS.get(c.technique)
        if step:    # a technique that is a training run of its own, not an export option
            assignments[-1]["requires"] = step
        intervals.append(_intervals(est, w))
        inst_key = (t.device.id, t.mode_id, inst)
        d = per_instance.setdefault(inst_key, {"device": t.device.id, "power_mode": t.mode_id,
                                               "instance": inst, "memory_gb": 0.0,
                                               "memory_cap_gb": t.memory_cap_gb,
                                               "memory_available_gb": t.available_gb,
                                               "unit_share": {}, "dyn_power_w": 0.0,
                                               "idle_w": t.idle_w, "mode_power_w": t.power_w})
        d["memory_gb"] += c.memory_gb
        d["unit_share"][c.unit] = d["unit_share"].get(c.unit, 0.0) + c.util
        lo, hi = intervals[-1]["share"]
        sh = d.setdefault("share_interval", {}).setdefault(c.unit, [0.0, 0.0, 0.0])
        sh[0] += lo
        sh[1] += hi
        sh[2] += intervals[-1]["share_central"]
        if c.host_util > 0:
            # a fallback's CPU layers hold the device's CPU too (its share, no interval)
            d["unit_share"][c.host_unit] = d["unit_share"].get(c.host_unit, 0.0) + c.host_util
            sh = d["share_interval"].setdefault(c.host_unit, [0.0, 0.0, 0.0])
            for k in range(3):
                sh[k] += c.host_util
        d["dyn_power_w"] += c.dyn_power_w
    power = sum(b["mode_power_w"] * b["count"] for b in bill)
    cost = sum(b["unit_price_usd"] * b["count"] for b in bill)
    avg_power = sum(instance_average_power(d["idle_w"], d["dyn_power_w"], d["mode_power_w"])
                    for d in per_instance.values())
    totals = {"power_w": round(power, 4), "average_power_w": round(avg_power, 4),
              "cost_usd": round(cost, 2), "devices": sum(b["count"] for b in bill),
              "accuracy": {a["workload"]: a["estimates"]["accuracy"]["value"]
                           for a in assignments},
              "per_device": [
                  {"device": d["device"], "power_mode": d["power_mode"],
                   "instance": d["instance"],
                   "memory_gb": round(d["memory_gb"], MEMORY_DECIMALS),
                   "memory_available_gb": round(d["memory_available_gb"], MEMORY_DECIMALS),
                   "unit_share": {u: round(v, 4) for u, v in sorted(d["unit_share"].items())},
                   "average_power_w": round(instance_average_power(
                       d["idle_w"], d["dyn_power_w"], d["mode_power_w"]), 4),
                   "units_share_power": len(d["unit_share"]) > 1}
                  for _, d in sorted(per_instance.items())]}
    chosen = [cs.per_workload[wi][k] for wi, (k, _) in enumerate(sol.choice)]
    slack = budget_slack(spec, assignments, totals, per_instance, chosen, intervals)
    out = {"devices": bill, "assignments": assignments, "totals": totals, "slack": slack}
    mixed = cost_mixes_kinds(spec, catalog)
    if mixed is not None:
        out["cost_compares"] = {"price_kinds": mixed.counts, "note": mixed.message()}
    marginal = [r["budget"] for r in slack if r.get("marginal")]
    if marginal:
        out["marginal"] = marginal
    return out


# techniques that are a step of their own before deployment (the plan says so)
TRAINING_STEPS = {
    "qat": "quantization-aware training (a fine-tuning run with fake quantization on the "
           "training data, before export)",
    "pruned": "structured pruning and fine-tuning (a training run to the option's params and "
              "MACs scales)",
}


def _intervals(est, w) -> dict:
    """The intervals the estimate gives the budgets a plan checks: latency (ms), unit share
    at the asked rate, accuracy (None where the accuracy is a published point)."""
    from planner.spec import rate_per_s
    lat = est.latency_ms
    rate = rate_per_s(w) or 0.0
    thr = est.throughput_fps
    share = (rate / thr.high, rate / thr.low) if rate and thr.low else (0.0, 0.0)
    central = rate / thr.value if rate and thr.value else 0.0
    acc = est.accuracy
    ttft = est.ttft_ms
    return {"latency": (lat.low, lat.high), "share": share, "share_central": central,
            "accuracy": (acc.low, acc.high) if acc.low is not None else None,
            "ttft": (ttft.low, ttft.high) if ttft is not None else None}


def _interval_row(row: dict, interval, higher_ok: bool, robust: bool,
                  central: float | None = None) -> None:
    """Mark a slack row by where its interval falls: with --robust, the row is the
    pessimistic end (what was checked); otherwise `marginal` where that end breaks the
    budget while the central estimate meets it (the interval straddles the limit)."""
    if interval is None or interval[0] is None:
        return
    lo, hi = interval
    worst = lo if higher_ok else hi
    limit = row["limit"]
    if robust:
        row["central"] = row["used"] if central is None else round(central, 4)
        row["used"] = round(worst, 4)
        sl = (worst - limit) if higher_ok else (limit - worst)
        row["slack"] = round(sl, 4)
        row["slack_pct"] = round(100.0 * sl / abs(limit), 2) if limit else None
        row["checked_at"] = "pessimistic"
        return
    breaks = worst < limit - 1e-9 if higher_ok else worst > limit + 1e-9
    if breaks:
        row["marginal"] = True
        row["interval"] = [round(lo, 4), round(hi, 4)]


def budget_slack(spec: Spec, assignments, totals, per_instance, chosen,
                 intervals=None) -> list[dict]:
    """Slack on every budget the spec sets: limit, used, slack (how far from the limit, in
    the budget's unit; positive is inside) and slack as a share of the limit. A latency, rate
    or accuracy row whose interval reaches past the limit is `marginal` (with the
    `interval`); under --robust those rows are the pessimistic end (`checked_at`), with the
    central estimate beside it."""
    from planner.solve import robust as R
    b = spec.budgets
    out = []
    is_robust = R.active()

    def row(budget, limit, used, unit, higher_ok=False, interval=None, central=None, nd=4):
        sl = (used - limit) if higher_ok else (limit - used)
        out.append({"budget": budget, "limit": round(limit, nd), "used": round(used, nd),
                    "unit": unit, "slack": round(sl, nd),
                    "slack_pct": round(100.0 * sl / abs(limit), 2) if limit else None})
        if intervals is not None:
            _interval_row(out[-1], interval, higher_ok, is_robust, central)

    if b.power_w is not None:
        row("power", b.power_w, totals["power_w"], "W")
    if b.cost_usd is not None:
        row("cost", b.cost_usd, totals["cost_usd"], "USD")
    row("devices", b.max_devices, totals["devices"], "devices")
    cap = 1.0 - b.compute_headroom_pct / 100.0
    for _, d in sorted(per_instance.items()):
        row(f"memory:{d['device']}#{d['instance']}", d["memory_cap_gb"], d["memory_gb"], "GB",
            nd=MEMORY_DECIMALS)
        for u, share in sorted(d["unit_share"].items()):
            if share > 0:
                iv = d.get("share_interval", {}).get(u)
                central = None
                if iv is not None:
                    central = iv[2]
                    # under --robust the candidates' shares already are the pessimistic end
                    iv = (iv[0], share if is_robust else iv[1])
                row(f"rate:{d['device']}#{d['instance']}/{u}", cap, share, "unit share",
                    interval=iv, central=central)
    ivs = intervals if intervals is not None else [None] * len(assignments)
    for a, w, c, iv in zip(assignments, spec.workloads, chosen, ivs):
        e = a["estimates"]
        if w.latency_budget_ms is not None:
            row(f"latency:{w.name}", w.latency_budget_ms, e["latency_ms"]["value"], "ms",
                interval=iv and iv["latency"])
        if w.ttft_budget_ms is not None and "ttft_ms" in e:
            row(f"ttft:{w.name}", w.ttft_budget_ms, e["ttft_ms"]["value"], "ms",
                interval=iv and iv["ttft"])
        if w.accuracy_floor is not None:
            row(f"accuracy:{w.name}", w.accuracy_floor, e["accuracy"]["value"],
                e["accuracy"]["metric"], higher_ok=c.model.higher_is_better,
                interval=iv and iv["accuracy"])
    return out


def plan_summary(plan: dict) -> str:
    parts = [f"{a['workload']}: {a['model']} {a['precision'].upper()}/{a['technique']} on "
             f"{a['device']} [{a['power_mode']}]" for a in plan["assignments"]]
    return "; ".join(parts)


def to_manifest(spec, plan: dict, catalog=None, model_files: dict | None = None) -> Manifest:
    """The plan as a deployment manifest. On a unit that compiles static shapes only, the plan
    assumes the model is exported with static shapes, and the manifest says so."""
    b = spec.budgets
    workloads = []
    for a, w in zip(plan["assignments"], spec.workloads):
        static = catalog is not None and \
            catalog.devices[a["device"]].unit(a["unit"]).static_shapes_only
        workloads.append({
            "name": w.name, "model": a["model"],
            "model_file": (model_files or {}).get(a["model"]), "precision": a["precision"],
            "technique": a["technique"], "device": a["device"], "instance": a["instance"],
            "unit": a["unit"], "runtime": a["runtime"], "batch": w.batch,
            "rate_fps": w.rate_fps, "tokens_per_s": w.tokens_per_s,
            "latency_budget_ms": w.latency_budget_ms, "latency_critical": w.latency_critical,
            "ttft_budget_ms": w.ttft_budget_ms,
            "prompt_tokens": w.prompt_tokens,
            "accuracy_floor": w.accuracy_floor,
            "context_tokens": a["context_tokens"], "kv_cache": a.get("kv_cache"),
            "weight_format": a.get("weight_format"),
            # False is dropped below like the other defaults; written only as a fact
            "dynamic_shapes": False if static else None})
    data = {"apiVersion": API_VERSION, "kind": "Deployment", "name": spec.name,
            "devices": [{"id": d["id"], "power_mode": d["power_mode"], "count": d["count"]}
                        for d in plan["devices"]],
            "workloads": [{k: v for k, v in wl.items()
                           if v is not None and (v is not False or k == "dynamic_shapes")}
                          for wl in workloads],
            "budgets": {k: v for k, v in {
                "power_w": b.power_w, "cost_usd": b.cost_usd,
                "memory_headroom_pct": b.memory_headroom_pct,
                "compute_headroom_pct": b.compute_headroom_pct,
                "headroom_pct": b.headroom_pct}.items() if v is not None}}
    return Manifest.model_validate(data)


def manifest_yaml(m: Manifest) -> str:
    import yaml
    data = m.model_dump(mode="json", exclude_defaults=False, exclude_none=True)
    head = "# Written by `edgeplan solve -o`; `edgeplan lint` and `edgeplan bundle` read it.\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
