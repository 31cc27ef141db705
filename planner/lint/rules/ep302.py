"""EP302 rate-not-met."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import (
    alternatives,
    peak_utilization,
    rate_path,
    unit_of_rate,
    utilization,
)
from planner.spec import rate_per_s
from planner.text import num, pct


class RateNotMet(Rule):
    """The unit cannot sustain the workload's rate at the estimated latency.

    At `rate_fps` (or `tokens_per_s` for an LLM) and the estimator's latency per batch, the
    unit is busy rate x latency / batch of the time; above 100 % (less the compute headroom
    `solve` keeps) the rate is not met. Workloads sharing a unit add up. `solve` rejects such
    an option (reason `rate`). When even the unit's peak cannot do it, EP303 reports instead.

    Anti-pattern: 30 fps of a 64 ms detector:

        workloads:
          - {name: det, model: yolov8n, precision: int8, device: raspberry-pi-5-8gb,
             rate_fps: 30}

    Why it matters: a unit busy more than 100 % of the time cannot keep up: inputs queue
    without bound and are dropped or arrive later and later. A throughput claim only counts
    together with the rate it is sustained at and the latency each input sees, which is how
    MLPerf's multi-stream and server scenarios measure it.
    Source: Reddi et al., "MLPerf Inference Benchmark", ISCA 2020
    <https://arxiv.org/abs/1911.02549>

    Fix: a faster power mode, unit or precision (the message names one that works), batching
    where latency allows, a smaller model, or another device.

    Passing example: the same rate on a Hailo-8 accelerator:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: hailo-8-on-rpi5}]
        workloads:
          - {name: det, model: yolov8n, precision: int8, technique: qat, device: hailo-8-on-rpi5,
             rate_fps: 30}
    """
    id = "EP302"
    name = "rate-not-met"
    severity = "error"
    solver_reason = "rate"

    @staticmethod
    def check(ctx):
        cap = ctx.compute_cap
        head = f" within the {pct(1 - cap)} compute headroom" if cap < 1 else ""
        alone_bad = set()
        for r in ctx.resolved:
            util = utilization(ctx, r)
            if util is None or util <= cap:
                continue
            alone_bad.add(r.index)
            peak = peak_utilization(ctx, r)
            if peak is not None and peak[0] > 1.0:
                continue                                     # EP303: even the peak cannot
            w = r.workload
            rate = rate_per_s(w)
            max_rate = cap * r.estimate.throughput_fps.value
            u = unit_of_rate(w)
            alts = alternatives(ctx, r, lambda v: v.unit_share(rate) <= cap)
            # the unit time a call holds (a pipelined unit's is below its latency)
            held_ms = 1000.0 * w.batch / r.estimate.throughput_fps.value
            if w.batch == 1:
                call = "token" if u == "tokens/s" else "inference"
            else:   # one call serves the whole batch: a decode step of N sequences
                call = f"step of {w.batch} tokens" if u == "tokens/s" else \
                    f"call of {w.batch} inputs"
            yield Problem(rate_path(r),
                          f"{num(rate)} {u} at {num(held_ms)} ms of unit time per {call} "
                          f"keeps the {r.device.id} {r.unit.id} busy {pct(util)} of the time; "
                          f"it sustains about {num(max_rate)} {u}{head}",
                          ("try " + "; or ".join(alts)) if alts else
                          "use a smaller model, a lower precision or a faster device")
        # workloads sharing one unit of one device add up; a single-segment fallback's CPU
        # layers (the Edge TPU's) hold the device's CPU as well as their own unit
        for j, e in enumerate(ctx.manifest.devices):
            if e.count != 1:
                continue
            by_unit: dict[str, list] = {}
            for i in ctx.workloads_on(j):
                r = ctx.resolved[i]
                util = utilization(ctx, r)
                if util is None:
                    continue
                if i not in alone_bad:
                    by_unit.setdefault(r.unit.id, []).append((r, util, ""))
                if r.estimate.host_unit is not None:
                    by_unit.setdefault(r.estimate.host_unit, []).append(
                        (r, r.estimate.host_share(rate_per_s(r.workload)),
                         f" for its layers the {r.unit.id} does not run"))
            for unit_id, rs in sorted(by_unit.items()):
                total = sum(u for _, u, _ in rs)
                fallback = any(why for _, _, why in rs)
                if (len(rs) > 1 or fallback) and total > cap:
                    names = ", ".join(f"{r.workload.name} {pct(u)}{why}" for r, u, why in rs)
                    yield Problem(("devices", j, "id"),
                                  f"workloads sharing the {e.id} {unit_id} keep it busy "
                                  f"{pct(total)} of the time ({names}){head}",
                                  "move a workload to another unit or device, or lower a rate")
