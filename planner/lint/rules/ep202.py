"""EP202 fp32-on-accelerator."""
from __future__ import annotations

from planner.lint.model import Change, Edit, Problem, Rule
from planner.text import num
from planner.vocabulary import PRECISIONS


def faster_precisions(unit, model) -> list[str]:
    """Precisions the unit runs faster than FP32 (natively) that the model has options for."""
    fp32 = unit.peak_tops.get("fp32", 0.0)
    have = {o.precision for o in model.options}
    return [p for p in PRECISIONS if p != "fp32" and p in have
            and unit.peak_tops.get(p, 0.0) > fp32]


class Fp32OnAccelerator(Rule):
    """Unquantized FP32 on a device whose accelerator runs a faster precision.

    Edge accelerators are built for reduced precision: the Edge TPU runs INT8 only, Jetson
    GPUs run FP16 at about twice and INT8 at about four times their FP32 rate, the Apple
    Neural Engine runs FP16. FP32 leaves that on the table, or runs on the host CPU (a Coral
    workload with `unit: cpu`; without `unit:` lint checks the default unit, the Edge TPU,
    where FP32 is an EP201 error). The recommendation
    comes from the unit's catalog entry and the model's profile, with the estimator's latency
    and accuracy for each.

    Anti-pattern:

        workloads:
          - {name: det, model: yolov8n, precision: fp32, device: jetson-orin-nano-8gb}

    Why it matters: NVIDIA's own Jetson tooling notes that reduced precision can bring
    substantial throughput gains, often with little impact on accuracy; on the Orin GPU the
    catalog's peaks are 2x for FP16 and 4x for INT8 over FP32. On a Coral device an FP32 model
    never reaches the Edge TPU, which runs only fully 8-bit quantized models.
    Source: NVIDIA-AI-IOT, torch2trt documentation, "Reduced Precision"
    <https://nvidia-ai-iot.github.io/torch2trt/v0.2.0/usage/reduced_precision.html>
    Source: Google Coral, "TensorFlow models on the Edge TPU"
    <https://coral.ai/docs/edgetpu/models-intro/>

    Fix: FP16 (no calibration needed) or INT8 (QAT, or PTQ with calibration data), as the
    message recommends for the target.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: det, model: yolov8n, precision: fp16, device: jetson-orin-nano-8gb}
    """
    id = "EP202"
    name = "fp32-on-accelerator"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if not r.ok or r.workload.precision != "fp32":
                continue
            w = r.workload
            if r.unit.kind != "cpu":
                target = r.unit if faster_precisions(r.unit, r.model) else None
            else:
                target = next((u for u in r.device.units if u.kind != "cpu"
                               and faster_precisions(u, r.model)), None)
            if target is None:
                continue
            recs, edit = [], None
            for p in faster_precisions(target, r.model):
                v = ctx.variant(r, precision=p, technique=None, unit=target.id, runtime=None)
                if v is None:
                    continue
                if edit is None:
                    edit = _edit(ctx, r, target, p, v)
                recs.append(f"{p.upper()} {v.technique} ({num(v.latency_ms.value)} ms, "
                            f"{v.accuracy.value:g} {v.accuracy_metric})")
            if not recs:
                continue
            fp32 = target.peak_tops.get("fp32")
            speed = ", ".join(f"{p.upper()} at {num(target.peak_tops[p] / fp32)}x the FP32 peak"
                              if fp32 else p.upper()
                              for p in faster_precisions(target, r.model))
            if target is r.unit:
                msg = (f"{w.model} runs unquantized FP32 on the {r.device.id} {r.unit.id} "
                       f"({num(r.estimate.latency_ms.value)} ms); the {target.id} runs {speed}")
            else:
                msg = (f"{w.model} runs unquantized FP32 on the {r.device.id} host "
                       f"{r.unit.id} ({num(r.estimate.latency_ms.value)} ms) while its "
                       f"{target.id} runs {speed}")
            yield Problem(("workloads", r.index, "precision"), msg,
                          f"use {' or '.join(recs)}"
                          + (f" with unit: {target.id}" if target is not r.unit else ""),
                          edit=edit)


def _edit(ctx, r, target, p: str, v) -> Edit:
    """The first recommendation (the highest-fidelity faster precision), for `lint --fix
    --unsafe-fixes`. Never safe: it changes what the model computes (its accuracy; INT8 needs
    calibration data or QAT), and on the host-CPU fallback it adds (or changes) `unit:`,
    moving the workload to the accelerator, with the technique and runtime that go with it."""
    i, w = r.index, r.workload
    changes = [Change(("workloads", i, "precision"), p)]
    if w.technique is not None and w.technique != v.technique:
        changes.append(Change(("workloads", i, "technique"), v.technique))
    if target is not r.unit:
        changes.append(Change(("workloads", i, "unit"), target.id,
                              insert=not ctx.given(i, "unit")))
        if w.runtime is not None and w.runtime not in target.runtimes:
            changes.append(Change(("workloads", i, "runtime"), v.runtime))
    return Edit(tuple(changes), safe=False)
