"""EP502 spec-power-unreachable."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.text import num


class SpecPowerUnreachable(Rule):
    """A spec's power budget below the lowest power mode of every allowed device.

    Device power is a power mode's watts (as `solve` counts it, reason `power`); if even the
    lowest mode of every device the spec allows draws more than the budget, nothing fits.

    Anti-pattern:

        budgets: {power_w: 1}
        families: {allow: [jetson]}           # the lowest Jetson mode is 5 W

    Why it matters: every device has a floor below which it does not run its accelerator. The
    lowest Jetson mode is the Jetson Nano's 5 W (next to its 10 W MaxN); a smaller budget
    excludes the whole family, whatever the models.
    Source: NVIDIA, Jetson Linux Developer Guide (L4T 32.7.6), "Power Management for Jetson
    Nano Devices" ("Supported Modes and Power Efficiency")
    <https://docs.nvidia.com/jetson/archives/l4t-archived/l4t-3276/Tegra%20Linux%20Driver%20Package%20Development%20Guide/power_management_nano.html>

    Fix: a budget at least the lowest mode the message names, or allow lower-power devices.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        budgets: {power_w: 10}
        families: {allow: [jetson]}
        workloads:
          - {name: det, task: detection}
    """
    id = "EP502"
    name = "spec-power-unreachable"
    severity = "error"
    solver_reason = "power"
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        budget = ctx.spec.budgets.power_w
        devices = ctx.allowed_devices()
        if budget is None or not devices:
            return
        low = min(((min(m.power_w for m in d.power.modes), d) for d in devices),
                  key=lambda t: (t[0], t[1].id))
        if low[0] > budget:
            yield Problem(("budgets", "power_w"),
                          f"every allowed device draws more than {num(budget)} W: the lowest "
                          f"power mode is {low[1].id} at {num(low[0])} W",
                          f"raise budgets.power_w to at least {num(low[0])} W or allow "
                          "lower-power devices")
