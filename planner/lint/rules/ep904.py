"""EP904 unknown-power-mode."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class UnknownPowerMode(Rule):
    """A power mode the device does not have.

    Power modes are per device, named as the vendor names them (`7w`, `15w`, `maxn`, ...;
    `edgeplan catalog show DEVICE` lists them). Without `power_mode:`, the first is used.

    Anti-pattern:

        devices: [{id: jetson-orin-nano-8gb, power_mode: max}]

    Why it matters: the power mode sets the clocks and the watts every latency, rate and power
    check uses, and the set of modes differs per module: the Orin Nano 8GB has 15 W and 7 W,
    the Orin NX 16GB adds 10 W, 25 W and MAXN. A mode the device lacks has no numbers.
    Source: NVIDIA, Jetson Linux Developer Guide (r35.6.0), "Platform Power and Performance:
    Jetson Orin Nano Series, Jetson Orin NX Series and Jetson AGX Orin Series"
    <https://docs.nvidia.com/jetson/archives/r35.6.0/DeveloperGuide/SD/PlatformPowerAndPerformance/JetsonOrinNanoSeriesJetsonOrinNxSeriesAndJetsonAgxOrinSeries.html>

    Fix: a mode of the device, as the message lists.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb, power_mode: 7w}]
        workloads:
          - {name: det, model: yolov8n, precision: fp16, device: jetson-orin-nano-8gb}
    """
    id = "EP904"
    name = "unknown-power-mode"
    severity = "error"
    solver_reason = None

    @staticmethod
    def check(ctx):
        from planner.errors import did_you_mean
        for j, e in enumerate(ctx.manifest.devices):
            dev = ctx.catalog.devices.get(e.id)
            if dev is None or e.power_mode is None:
                continue
            modes = [m.id for m in dev.power.modes]
            if e.power_mode not in modes:
                yield Problem(("devices", j, "power_mode"),
                              f"device {dev.id!r} has no power mode {e.power_mode!r}"
                              f"{did_you_mean(e.power_mode, modes)}",
                              f"use one of: {', '.join(modes)}")
