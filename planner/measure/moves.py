"""How a user catalog's measurements move the estimates: for each device they measured,
each measured combination and the other catalog models of the same task on the same unit,
runtime and precision, estimated without the user's points (before) and with them (after)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from planner.catalog.loader import Catalog
from planner.errors import EdgeplanError, InputError

_METRIC = {"latency_ms": ("latency_ms", "ms"), "throughput_fps": ("throughput_fps", "fps"),
           "decode_tokens_per_s": ("decode_tokens_per_s", "tokens/s"),
           "prefill_tokens_per_s": ("prefill_tokens_per_s", "tokens/s")}


def _split(catalog: Catalog, catalog_dir) -> tuple[Catalog, list[int]]:
    """The catalog without the measurements from `catalog_dir`, and their indexes."""
    root = os.path.abspath(os.fspath(catalog_dir)) + os.sep
    mine = [i for i in range(len(catalog.measurements))
            if os.path.abspath(catalog.origin.get(f"measurement:{i}", "")).startswith(root)]
    before = dataclasses.replace(
        catalog, measurements=[m for i, m in enumerate(catalog.measurements) if i not in mine])
    return before, mine


def _q(est, metric: str):
    return getattr(est, _METRIC[metric][0])


def estimate_moves(catalog: Catalog, catalog_dir) -> list[dict]:
    """Per device (sorted), the measured rows and the related estimates, before -> after."""
    from planner.estimate.point import Query, estimate
    from planner.estimate.roofline import MEASURED_CONTEXT
    before_cat, mine = _split(catalog, catalog_dir)
    if not mine:
        raise InputError("no measurements in this catalog directory (add some with "
                         "`edgeplan calibrate add`)", file=os.fspath(catalog_dir))
    out: dict[str, dict] = {}
    for i in mine:
        m = catalog.measurements[i]
        d = out.setdefault(m.device, {"device": m.device, "points": 0, "rows": {}})
        d["points"] += 1
        model = catalog.models[m.model]
        unit = m.unit or catalog.devices[m.device].default_unit.id
        related = sorted(x.id for x in catalog.models.values()
                         if x.task == model.task and (x.llm is None) == (model.llm is None))
        for mid in related:
            key = (mid, m.precision, unit, m.runtime, m.power_mode, m.batch, m.metric)
            if key in d["rows"] and mid != m.model:
                continue
            # an LLM's rates at the short context they are measured at, like for like
            q = Query(model=mid, precision=m.precision, device=m.device, unit=unit,
                      runtime=m.runtime, batch=m.batch, power_mode=m.power_mode,
                      context=MEASURED_CONTEXT if model.llm else None)
            try:
                a = _q(estimate(catalog, q), m.metric)
                b = _q(estimate(before_cat, q), m.metric)
            except EdgeplanError:       # no option at this precision, runtime does not run it
                continue
            row = {"model": mid, "precision": m.precision, "unit": unit, "runtime": m.runtime,
                   "power_mode": m.power_mode, "batch": m.batch, "metric": m.metric,
                   "unit_of": _METRIC[m.metric][1], "before": b.as_dict(), "after": a.as_dict()}
            if mid == m.model:
                row["measured"] = m.value
            d["rows"][key] = row
    result = []
    for dev in sorted(out):
        d = out[dev]
        rows = sorted(d["rows"].values(),
                      key=lambda r: ("measured" not in r, r["unit"], r["runtime"],
                                     r["precision"], r["metric"], r["model"]))
        result.append({"device": dev, "points": d["points"], "rows": rows})
    return result


def render_moves(moves: list[dict], catalog_dir) -> str:
    def q(d):
        s = f"{d['value']:.4g}"
        if "low" in d:
            s += f" [{d['low']:.3g}-{d['high']:.3g}]"
        return s
    lines = []
    for d in moves:
        lines.append(f"{d['device']}: {d['points']} measured point"
                     f"{'s' if d['points'] != 1 else ''} from {Path(catalog_dir)}")
        for r in d["rows"]:
            b, a = r["before"], r["after"]
            ratio = a["value"] / b["value"] - 1.0 if b["value"] else 0.0
            what = (f"  {r['model']} {r['precision'].upper()} {r['unit']}/{r['runtime']}"
                    f"{' [' + r['power_mode'] + ']' if r['power_mode'] else ''}"
                    f"{' batch ' + str(r['batch']) if r['batch'] != 1 else ''}")
            meas = f" (measured {r['measured']:g})" if "measured" in r else ""
            lines.append(f"{what}: {r['metric']} {q(b)} -> {q(a)} {r['unit_of']} "
                         f"({ratio:+.0%}, {a['provenance']}){meas}")
    return "\n".join(lines)
