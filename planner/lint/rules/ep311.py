"""EP311 power-budget."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.text import num


class PowerBudget(Rule):
    """The devices' power modes draw more than the power budget.

    Device power is the chosen power mode's watts times the device count, summed over the
    devices (the default mode is the device's first), which is how `solve` counts power
    (reason `power`).

    Anti-pattern: a Jetson in its 25 W mode under a 15 W budget:

        devices: [{id: jetson-orin-nx-16gb, power_mode: 25w}]
        budgets: {power_w: 15}

    Why it matters: a Jetson power mode is a power budget enforced by capping clocks and
    online cores (`nvpmodel`); the supply, battery and cooling must be sized for the mode the
    device runs in, not for the one in the datasheet headline. The Orin NX 16GB offers 10 W,
    15 W and 25 W modes besides MAXN.
    Source: NVIDIA, Jetson Linux Developer Guide (r35.6.0), "Platform Power and Performance:
    Jetson Orin Nano Series, Jetson Orin NX Series and Jetson AGX Orin Series"
    <https://docs.nvidia.com/jetson/archives/r35.6.0/DeveloperGuide/SD/PlatformPowerAndPerformance/JetsonOrinNanoSeriesJetsonOrinNxSeriesAndJetsonAgxOrinSeries.html>

    Fix: a lower power mode (the message names one that fits when there is one; check the
    latency and rate budgets still hold), fewer or other devices, or a larger budget.

    Passing example: the 15 W mode under a 20 W budget:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nx-16gb, power_mode: 15w}]
        budgets: {power_w: 20}
        workloads:
          - {name: det, model: yolov8n, precision: fp16, device: jetson-orin-nx-16gb}
    """
    id = "EP311"
    name = "power-budget"
    severity = "error"
    solver_reason = "power"

    @staticmethod
    def check(ctx):
        budget = ctx.manifest.budgets.power_w
        if budget is None:
            return
        entries = ctx.manifest.devices
        powers = [ctx.device_power_w(j) for j in range(len(entries))]
        if None in powers:
            return                                   # an unknown device or mode: EP901/EP904
        total = sum(powers)
        if total <= budget:
            return
        parts = ", ".join(f"{e.count} x {e.id} {ctx.catalog.devices[e.id].mode(e.power_mode).id} "
                          f"{num(p)} W" if e.count > 1 else
                          f"{e.id} {ctx.catalog.devices[e.id].mode(e.power_mode).id} {num(p)} W"
                          for e, p in zip(entries, powers))
        lowest = []
        low_total = 0.0
        for e in entries:
            dev = ctx.catalog.devices[e.id]
            m = min(dev.power.modes, key=lambda m: m.power_w)
            lowest.append((e, m))
            low_total += m.power_w * e.count
        if low_total <= budget:
            changes = [f"{e.id} power_mode: {m.id} ({num(m.power_w)} W)" for e, m in lowest
                       if m.id != ctx.catalog.devices[e.id].mode(e.power_mode).id]
            fix = "use " + ", ".join(changes) + " and check the latency and rate budgets"
        else:
            fix = (f"even the lowest power modes draw {num(low_total)} W: use fewer or "
                   "lower-power devices, or raise budgets.power_w")
        yield Problem(("budgets", "power_w"),
                      f"devices draw {num(total)} W in their power modes ({parts}), over the "
                      f"{num(budget)} W budget", fix)
