"""EP312 battery-max-power."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.spec import rate_per_s
from planner.text import num


class BatteryMaxPower(Rule):
    """A battery-powered device runs in its max-power mode.

    Phones, tablets and laptops (`battery_powered` in the catalog) throttle in their boost
    modes within minutes and drain the battery; a plan should hold in a sustained mode.

    Anti-pattern:

        devices: [{id: galaxy-s24-8gen3, power_mode: peak}]

    Why it matters: on phones, performance of long-running apps fluctuates as the CPU is
    throttled at temperature limits; Android's Sustained Performance Mode exists to give an
    app a consistent, lower level it can keep for at least 30 minutes. A plan sized on the
    peak mode does not hold after the first minutes.
    Source: Android Compatibility Definition Document, section 8.5 "Consistent Performance"
    <https://android.googlesource.com/platform/compatibility/cdd/+/refs/tags/android-o-mr1-iot-release-1.0.7/8_performance-and-power/8_5_consistent-performance.md>

    Fix: a sustained power mode (the message names the next one down, and whether the latency
    and rate budgets still hold in it).

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: galaxy-s24-8gen3, power_mode: sustained}]
        workloads:
          - {name: cls, model: mobilenet-v2, precision: fp16, device: galaxy-s24-8gen3}
    """
    id = "EP312"
    name = "battery-max-power"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for j, e in enumerate(ctx.manifest.devices):
            dev = ctx.catalog.devices.get(e.id)
            if dev is None or not dev.battery_powered or len(dev.power.modes) < 2:
                continue
            try:
                mode = dev.mode(e.power_mode)
            except KeyError:
                continue
            if mode.id != dev.max_mode.id:
                continue
            lower = sorted((m for m in dev.power.modes if m.power_w < mode.power_w),
                           key=lambda m: -m.power_w)
            fix = None
            for m in lower:
                holds = True
                for i in ctx.workloads_on(j):
                    r = ctx.resolved[i]
                    if not r.ok:
                        continue
                    v = ctx.variant(r, power_mode=m.id)
                    w = r.workload
                    rate = rate_per_s(w)
                    if v is None or (w.latency_budget_ms and v.latency_ms.value > w.latency_budget_ms) \
                            or (rate and v.unit_share(rate) > ctx.compute_cap):
                        holds = False
                fix = f"use power_mode: {m.id} ({num(m.power_w)} W)" + (
                    "; the latency and rate budgets still hold" if holds else
                    "; it misses a latency or rate budget, so pick a faster option too")
                if holds:
                    break
            path = ("devices", j, "power_mode") if e.power_mode else ("devices", j, "id")
            yield Problem(path, f"{dev.id} is battery-powered and runs in its max-power mode "
                          f"{mode.id} ({num(mode.power_w)} W): it will throttle and drain the "
                          "battery", fix or "use a sustained power mode")
