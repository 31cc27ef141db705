"""EP102 weights-off-chip."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.text import num


class WeightsOffChip(Rule):
    """The model's weights do not fit in the accelerator's on-chip memory.

    Accelerators such as the Edge TPU keep weights in on-chip SRAM (8 MB). A larger model
    still runs, but the excess streams from the host on every inference (on Hailo chips the
    network is split into contexts and all of them reload on every call), and that transfer,
    not the TOPS, sets the latency. The estimator's `weights_on_chip` decides.

    Anti-pattern: a 25 M-parameter model on a Coral Edge TPU:

        workloads:
          - {name: cls, model: resnet-50, precision: int8, device: coral-usb-on-rpi5, unit: tpu}

    Why it matters: the Edge TPU compiler caches a model's parameters in the roughly 8 MB of
    SRAM on the chip; what does not fit is fetched from the host's memory on every inference,
    over USB for the USB Accelerator. ResNet-50 at INT8 is 25.6 MB, so 17.6 MB cross the link
    for every image.
    Source: Google Coral, "Edge TPU Compiler", section "Parameter data caching"
    <https://coral.ai/docs/edgetpu/compiler/>

    Fix: a model whose weights at this precision fit on chip (about 8 M INT8 parameters for
    8 MB), a pruned option, or a device that keeps weights in DRAM.

    Passing example: MobileNet V2 (3.5 M parameters) fits on chip:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: coral-usb-on-rpi5}]
        workloads:
          - {name: cls, model: mobilenet-v2, precision: int8, technique: qat,
             device: coral-usb-on-rpi5, unit: tpu}
    """
    id = "EP102"
    name = "weights-off-chip"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        from planner.estimate.roofline import roofline
        for r in ctx.resolved:
            if not r.ok or r.estimate.weights_on_chip is not False:
                continue
            est, u, w = r.estimate, r.unit, r.workload
            weights_mb = est.memory_breakdown_gb["weights"] * 1e3
            ctx_tokens = est.query.context or 0
            rl = roofline(r.model, w.precision, r.device, u, batch=w.batch, context=ctx_tokens,
                          params_scale=r.option.params_scale, macs_scale=r.option.macs_scale,
                          compute_scale=r.mode.compute_scale,
                          math_path=ctx.catalog.math_path(est.runtime))
            how = (f"over the {r.device.host_interface.kind} link"
                   if rl.streaming_ms > 0 and r.device.host_interface else "from memory")
            # against a measured total the modelled transfer can exceed it: say it alone then
            cost = ""
            if 0 < rl.streaming_ms < est.latency_ms.value:
                cost = (f" (about {num(rl.streaming_ms)} ms of the {num(est.latency_ms.value)} ms "
                        "estimate)")
            elif rl.streaming_ms > 0:
                cost = f" (about {num(rl.streaming_ms)} ms modelled)"
            moved = (f"all {num(weights_mb)} MB reload context by context {how} on every "
                     f"call{cost}; a larger batch amortises it"
                     if u.weight_loading == "context-switch" else
                     f"{num(weights_mb - u.on_chip_memory_mb)} MB stream {how} on every "
                     f"inference{cost}")
            yield Problem(("workloads", r.index, "model"),
                          f"{w.model} weights take {num(weights_mb)} MB at "
                          f"{w.precision.upper()}, over the {u.id}'s "
                          f"{num(u.on_chip_memory_mb)} MB on-chip memory: {moved}",
                          f"pick a model whose {w.precision.upper()} weights fit in "
                          f"{num(u.on_chip_memory_mb)} MB, or a pruned option")
