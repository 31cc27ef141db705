"""EP404 batch-latency-critical."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.spec import rate_per_s
from planner.text import num


class BatchLatencyCritical(Rule):
    """Batch larger than 1 on a latency-critical workload.

    Batching raises throughput by making each input wait: for the batch to fill (batch - 1
    input intervals at the asked rate) and for the whole batch to run. A real-time workload
    (`latency_critical: true`) pays that on every input.

    Anti-pattern:

        workloads:
          - {name: brake-assist, model: yolov8n, precision: int8, device: jetson-orin-nano-8gb,
             batch: 8, rate_fps: 30, latency_critical: true}

    Why it matters: a batch is formed by holding requests back until others join it; inference
    servers expose that wait as an explicit queue delay to trade against throughput. At 30 fps
    the first of 8 frames waits 233 ms for the batch to fill, seven frame times a brake assist
    cannot spare.
    Source: NVIDIA, Triton Inference Server user guide, "Batchers" (dynamic batcher delay)
    <https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/batcher.html>

    Fix: `batch: 1`; if the rate is not met at batch 1, a faster option rather than batching.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: brake-assist, model: yolov8n, precision: int8, technique: qat,
             device: jetson-orin-nano-8gb, batch: 1, rate_fps: 30, latency_critical: true}
    """
    id = "EP404"
    name = "batch-latency-critical"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for i, w in enumerate(ctx.manifest.workloads):
            if w.batch <= 1 or not w.latency_critical:
                continue
            r = ctx.resolved[i]
            parts = []
            rate = rate_per_s(w)
            if rate:
                parts.append(f"the first input waits {num((w.batch - 1) * 1000.0 / rate)} ms "
                             f"for the batch to fill at {num(rate)} per second")
            if r.ok:
                parts.append(f"the batch runs {num(r.estimate.latency_ms.value)} ms")
            detail = ("; " + " and ".join(parts)) if parts else ""
            yield Problem(("workloads", i, "batch"),
                          f"batch {w.batch} on a latency-critical workload{detail}",
                          "use batch: 1 and a faster option if the rate needs it")
