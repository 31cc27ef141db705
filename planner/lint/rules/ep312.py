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

        devices: [{id: pixel-8, power_mode: boost}]

    Fix: a sustained power mode (the message names the next one down, and whether the latency
    and rate budgets still hold in it).
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
