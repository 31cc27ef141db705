"""EP904 unknown-power-mode."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class UnknownPowerMode(Rule):
    """A power mode the device does not have.

    Power modes are per device, named as the vendor names them (`7w`, `15w`, `maxn`, ...;
    `edgeplan catalog show DEVICE` lists them). Without `power_mode:`, the first is used.

    Anti-pattern:

        devices: [{id: jetson-orin-nano-8gb, power_mode: max}]

    Fix: a mode of the device, as the message lists.
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
