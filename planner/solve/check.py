"""A solver-independent check of a plan: re-estimates every assignment with the scalar
estimator and re-checks every budget of the spec with plain arithmetic. Tests run it on every
plan the solver returns; it never imports ortools."""
from __future__ import annotations

from planner.catalog.loader import Catalog
from planner.estimate.point import Query, estimate, workload_prompt
from planner.solve.candidates import workload_tasks
from planner.spec import Spec, rate_per_s

EPS = 1e-9


def validate_plan(spec: Spec, catalog: Catalog, plan: dict) -> list[str]:
    """Every budget the plan breaks, as sentences; empty when the plan is valid."""
    bad: list[str] = []
    b = spec.budgets
    bill = {(d["id"], d["power_mode"]): d["count"] for d in plan["devices"]}
    by_name = {a["workload"]: a for a in plan["assignments"]}
    if sorted(by_name) != sorted(w.name for w in spec.workloads) or \
            len(plan["assignments"]) != len(spec.workloads):
        bad.append("every workload must have exactly one assignment")
        return bad
    n_devices = sum(bill.values())
    if n_devices > b.max_devices:
        bad.append(f"{n_devices} devices > max_devices {b.max_devices}")
    power = sum(catalog.devices[d].mode(m).power_w * n for (d, m), n in bill.items())
    if b.power_w is not None and power > b.power_w + EPS:
        bad.append(f"power {power:g} W > budget {b.power_w:g} W")
    cost = sum(catalog.devices[d].price.usd * n for (d, m), n in bill.items())
    if b.cost_usd is not None and cost > b.cost_usd + EPS:
        bad.append(f"cost ${cost:g} > budget ${b.cost_usd:g}")

    mem: dict[tuple, float] = {}
    share: dict[tuple, float] = {}
    for w in spec.workloads:
        a = by_name[w.name]
        key = (a["device"], a["power_mode"])
        if key not in bill:
            bad.append(f"{w.name}: runs on {key} which is not in the bill of devices")
            continue
        if a["instance"] >= bill[key]:
            bad.append(f"{w.name}: instance {a['instance']} of {key} but only {bill[key]}")
        dev = catalog.devices[a["device"]]
        model = catalog.models.get(a["model"])
        if model is None:
            continue   # a profiled ONNX file: checked by the caller that made it
        if w.models is not None and model.id not in w.models:
            bad.append(f"{w.name}: {model.id} is not one of the workload's models")
        if w.models is None and model.task not in workload_tasks(w, catalog):
            bad.append(f"{w.name}: {model.id} is not a {w.task} model")
        if w.precisions and a["precision"] not in w.precisions:
            bad.append(f"{w.name}: precision {a['precision']} not allowed")
        if w.techniques and a["technique"] not in w.techniques:
            bad.append(f"{w.name}: technique {a['technique']} not allowed")
        if not spec.devices.admits(dev.id) or not spec.families.admits(dev.family):
            bad.append(f"{w.name}: device {dev.id} is excluded by the allow/deny lists")
        if not spec.runtimes.admits(a["runtime"]):
            bad.append(f"{w.name}: runtime {a['runtime']} is excluded")
        e = estimate(catalog, Query(model=model.id, precision=a["precision"],
                                    technique=a["technique"], device=dev.id, unit=a["unit"],
                                    runtime=a["runtime"], batch=w.batch,
                                    context=w.context_tokens, power_mode=a["power_mode"],
                                    kv_cache=w.kv_cache or "fp16",
                                    prompt_tokens=workload_prompt(w, model),
                                    weight_format=w.weight_format))
        lat = e.latency_ms.value
        if w.latency_budget_ms is not None and lat > w.latency_budget_ms * (1 + EPS):
            bad.append(f"{w.name}: latency {lat:g} ms > budget {w.latency_budget_ms:g} ms")
        if w.ttft_budget_ms is not None and (
                e.ttft_ms is None or e.ttft_ms.value > w.ttft_budget_ms * (1 + EPS)):
            bad.append(f"{w.name}: time to first token "
                       f"{'none (not an LLM)' if e.ttft_ms is None else f'{e.ttft_ms.value:g} ms'}"
                       f" > budget {w.ttft_budget_ms:g} ms")
        if w.accuracy_floor is not None:
            acc = e.accuracy.value
            if (model.higher_is_better and acc < w.accuracy_floor - EPS) or \
                    (not model.higher_is_better and acc > w.accuracy_floor + EPS):
                bad.append(f"{w.name}: accuracy {acc:g} misses the floor {w.accuracy_floor:g}")
        inst = (a["device"], a["power_mode"], a["instance"])
        mem[inst] = mem.get(inst, 0.0) + e.memory_gb.value
        rate = rate_per_s(w) or 0.0
        u = inst + (a["unit"],)
        share[u] = share.get(u, 0.0) + e.unit_share(rate)
        if e.host_unit is not None:       # a fallback's CPU layers hold the CPU too
            h = inst + (e.host_unit,)
            share[h] = share.get(h, 0.0) + e.host_share(rate)
    for (d, m, i), used in sorted(mem.items()):
        cap = catalog.devices[d].memory.available_gb * (1 - b.memory_headroom_pct / 100.0)
        if used > cap * (1 + 1e-6):
            bad.append(f"{d}#{i}: memory {used:.4g} GB > {cap:.4g} GB (after headroom)")
    cap = 1.0 - b.compute_headroom_pct / 100.0
    for (d, m, i, u), s in sorted(share.items()):
        if s > cap * (1 + 1e-6):
            bad.append(f"{d}#{i}/{u}: busy {s:.3f} of the time > {cap:.3f}")
    return bad
