"""EP304 marginal-budget."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import rate_path, utilization
from planner.text import num, pct


class MarginalBudget(Rule):
    """A budget is met with less slack than `budgets.headroom_pct` (a marginal plan).

    Estimates have error bars (the message gives the estimator's 80 % interval), thermal
    throttling and background load eat into margins. A latency, rate, power or cost budget met
    by less than the configured headroom (default 10 %) is flagged so reviewers see it.

    Anti-pattern: a 10.1 ms estimate against an 11 ms budget:

        budgets: {headroom_pct: 10}
        workloads:
          - {name: det, model: yolov8s, precision: fp16, device: jetson-orin-nano-8gb,
             latency_budget_ms: 11}

    Why it matters: the clocks a plan is estimated at are not guaranteed in the field. Jetson's
    thermal and electrical management lowers CPU and GPU clocks when the module gets hot or
    draws too much, so a plan with no margin misses its budget exactly when the enclosure
    warms up.
    Source: NVIDIA, Jetson Linux Developer Guide (r35.6.0), "Platform Power and Performance:
    Jetson Orin Nano Series, Jetson Orin NX Series and Jetson AGX Orin Series"
    <https://docs.nvidia.com/jetson/archives/r35.6.0/DeveloperGuide/SD/PlatformPowerAndPerformance/JetsonOrinNanoSeriesJetsonOrinNxSeriesAndJetsonAgxOrinSeries.html>

    Fix: more margin (a faster option), or a deliberate, smaller `headroom_pct`.

    Passing example: a budget the estimate meets by a third:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        budgets: {headroom_pct: 10}
        workloads:
          - {name: det, model: yolov8s, precision: fp16, device: jetson-orin-nano-8gb,
             latency_budget_ms: 15}
    """
    id = "EP304"
    name = "marginal-budget"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        h = ctx.manifest.budgets.headroom_pct / 100.0
        if h <= 0:
            return
        need = f"the {pct(h)} headroom (budgets.headroom_pct)"
        for r in ctx.resolved:
            if not r.ok:
                continue
            w, lat = r.workload, r.estimate.latency_ms
            b = w.latency_budget_ms
            if b and lat.value <= b and (b - lat.value) / b < h:
                yield Problem(("workloads", r.index, "latency_budget_ms"),
                              f"p50 latency {num(lat.value)} ms meets the {num(b)} ms budget by "
                              f"{pct((b - lat.value) / b)}, less than {need}; the 80 % interval "
                              f"reaches {num(lat.high)} ms",
                              "choose a faster option or accept the margin with a smaller "
                              "headroom_pct")
            # the rate: spare time on the unit (the compute headroom is a budget of its own,
            # checked by EP302; this flags what is left when that headroom is set low)
            util = utilization(ctx, r)
            if util is not None and util <= ctx.compute_cap and 1.0 - util < h:
                yield Problem(rate_path(r),
                              f"the rate keeps the {r.unit.id} busy {pct(util)} of the time: "
                              f"{pct(1.0 - util)} spare, less than {need}",
                              "choose a faster option or a lower rate")
        budgets = ctx.manifest.budgets
        if budgets.power_w:
            powers = [ctx.device_power_w(j) for j in range(len(ctx.manifest.devices))]
            if None not in powers:
                total = sum(powers)
                if total <= budgets.power_w and (budgets.power_w - total) / budgets.power_w < h:
                    yield Problem(("budgets", "power_w"),
                                  f"devices draw {num(total)} W in their power modes, within "
                                  f"{pct((budgets.power_w - total) / budgets.power_w)} of the "
                                  f"{num(budgets.power_w)} W budget, less than {need}",
                                  "use a lower power mode or accept the margin")
        if budgets.cost_usd:
            prices = [ctx.catalog.devices[e.id].price.usd * e.count
                      for e in ctx.manifest.devices if e.id in ctx.catalog.devices]
            if len(prices) == len(ctx.manifest.devices):
                total = sum(prices)
                c = budgets.cost_usd
                if total <= c and (c - total) / c < h:
                    yield Problem(("budgets", "cost_usd"),
                                  f"devices cost ${num(total)}, within {pct((c - total) / c)} of "
                                  f"the ${num(c)} budget, less than {need}",
                                  "accept the margin or choose cheaper devices")
