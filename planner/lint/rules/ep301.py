"""EP301 latency-budget."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import alternatives
from planner.text import num


class LatencyBudget(Rule):
    """The estimated latency exceeds the workload's latency budget.

    The estimate is the estimator's p50 latency per inference (per generated token for an
    LLM), with its provenance (measured, calibrated or estimated) and 80 % interval; `solve`
    rejects such an option (reason `latency`).

    Anti-pattern: a detector at FP32 on a Raspberry Pi CPU with a 33 ms budget:

        workloads:
          - {name: det, model: yolov8s, precision: fp32, device: raspberry-pi-5-8gb,
             latency_budget_ms: 33}

    Why it matters: a latency budget is a deadline per input (33 ms is one frame at 30 fps).
    When even the median misses it, most inputs are late, and the tail is later still;
    inference benchmarks judge real-time systems by a latency percentile for that reason.
    Source: Reddi et al., "MLPerf Inference Benchmark", ISCA 2020
    <https://arxiv.org/abs/1911.02549>

    Fix: the change the message names (a faster power mode, another unit, a lower precision),
    a smaller model, or a faster device.

    Passing example: the same detector at INT8 on a Hailo-8 next to the Pi:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: hailo-8-on-rpi5}]
        workloads:
          - {name: det, model: yolov8s, precision: int8, technique: qat, device: hailo-8-on-rpi5,
             latency_budget_ms: 33}
    """
    id = "EP301"
    name = "latency-budget"
    severity = "error"
    solver_reason = "latency"

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            w = r.workload
            if not r.ok or w.latency_budget_ms is None:
                continue
            lat = r.estimate.latency_ms
            if lat.value <= w.latency_budget_ms:
                continue
            per = " per token" if r.estimate.is_llm else ""
            alts = alternatives(ctx, r, lambda v: v.latency_ms.value <= w.latency_budget_ms)
            yield Problem(("workloads", r.index, "latency_budget_ms"),
                          f"{w.model} at {w.precision.upper()} on the {r.device.id} {r.unit.id}: "
                          f"p50 latency {num(lat.value)} ms{per} ({lat.provenance}, 80 % interval "
                          f"{num(lat.low)}-{num(lat.high)} ms, {lat.bottleneck}-bound) exceeds "
                          f"the {num(w.latency_budget_ms)} ms budget",
                          ("try " + "; or ".join(alts)) if alts else
                          "use a smaller model, a lower precision or a faster device")
