"""EP303 compute-too-small."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import (
    peak_utilization,
    rate_path,
    unit_of_rate,
    utilization,
)
from planner.spec import rate_per_s
from planner.text import num


class ComputeTooSmall(Rule):
    """The unit's peak compute (or memory bandwidth) is too small for the rate.

    Even at 100 % of its peak TOPS in the chosen power mode, with no overheads, the unit
    cannot do rate x ops per inference (for LLM decode, rate x bytes read per token against
    the memory bandwidth). No runtime or tuning fixes that; `solve` rejects such an option
    (reason `rate`).

    Anti-pattern: 30 fps of a 179 GMAC model on a 0.5 TOPS unit:

        workloads:
          - {name: seg, model: deeplabv3-resnet50, precision: fp16, device: jetson-nano-4gb,
             rate_fps: 30}

    Why it matters: attainable performance is bounded by the lower of the peak compute rate
    and memory bandwidth x operational intensity (the roofline); software can approach the
    roof, never pass it. 30 fps of 179 GMAC is 10.7 TOPS against the Jetson Nano's 0.47.
    Source: Williams, Waterman and Patterson, "Roofline: An Insightful Visual Performance Model
    for Multicore Architectures", Communications of the ACM 52(4), 2009
    <https://doi.org/10.1145/1498765.1498785>

    Fix: a device or unit with the TOPS (or GB/s) the message names, a smaller model, or a
    lower precision the unit runs faster.

    Passing example: a lighter segmentation model at a rate the GPU's peak allows:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-nano-4gb}]
        workloads:
          - {name: seg, model: deeplabv3-mobilenet-v2, precision: fp16, device: jetson-nano-4gb,
             rate_fps: 10}
    """
    id = "EP303"
    name = "compute-too-small"
    severity = "error"
    solver_reason = "rate"

    @staticmethod
    def check(ctx):
        from planner.estimate.roofline import math_precision
        for r in ctx.resolved:
            util = utilization(ctx, r)
            if util is None or util <= ctx.compute_cap:
                continue
            peak = peak_utilization(ctx, r)
            if peak is None or peak[0] <= 1.0:
                continue
            share, rl = peak
            w = r.workload
            rate, u = rate_per_s(w), unit_of_rate(w)
            mode = f" in power mode {r.mode.id}" if len(r.device.power.modes) > 1 else ""
            if rl.regime == "compute":
                math_path = ctx.catalog.math_path(r.estimate.runtime)
                mp = math_precision(r.unit, w.precision, math_path)
                peak_tops = r.unit.peak_for(mp, math_path.matrix_units) * r.mode.compute_scale
                msg = (f"{num(rate)} {u} of {w.model} needs {num(share * peak_tops)} TOPS at "
                       f"{mp.upper()}; the {r.device.id} {r.unit.id} peaks at {num(peak_tops)} "
                       f"TOPS{mode}")
                fix = f"use a unit with at least {num(share * peak_tops)} {mp.upper()} TOPS, " \
                      "a smaller model or a lower precision"
            else:
                bw = r.device.memory.bandwidth_gbs
                msg = (f"{num(rate)} {u} of {w.model} needs {num(share * bw)} GB/s of memory "
                       f"bandwidth; the {r.device.id} has {num(bw)} GB/s")
                fix = f"use a device with at least {num(share * bw)} GB/s, a lower precision " \
                      "(fewer bytes per inference) or a smaller model"
            yield Problem(rate_path(r), msg, fix)
