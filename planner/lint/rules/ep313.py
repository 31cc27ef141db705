"""EP313 cost-budget."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.text import num


class CostBudget(Rule):
    """The devices cost more than the cost budget.

    Cost is each device's catalog list price times its count, summed (reason `cost` in
    `solve`).

    Anti-pattern: four $249 developer kits under an $800 budget:

        devices: [{id: jetson-orin-nano-super-8gb, count: 4}]
        budgets: {cost_usd: 800}

    Why it matters: the bill of materials of a fleet is the unit price times the count, so a
    plan that is affordable per site can break the budget once `count` says how many sites
    there are. The catalog's price for the Orin Nano Super developer kit is NVIDIA's $249.
    Source: B. Sapui, "Jetson Orin Nano Super: Edge AI Hardware Deep Dive" ("NVIDIA's $249
    generative-AI edge computer")
    <https://www.brojogopalsapui.com/ai-foundations/sub_contents/AI_hardware/jetson_orin_nano_light.html>

    Fix: cheaper devices (`edgeplan solve` with the same budgets finds them), fewer devices,
    or a larger budget.

    Passing example: two kits ($498) under the same budget:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-super-8gb, count: 2}]
        budgets: {cost_usd: 800}
        workloads:
          - {name: det, model: yolov8n, precision: fp16, device: jetson-orin-nano-super-8gb}
    """
    id = "EP313"
    name = "cost-budget"
    severity = "error"
    solver_reason = "cost"

    @staticmethod
    def check(ctx):
        budget = ctx.manifest.budgets.cost_usd
        if budget is None:
            return
        parts, total = [], 0.0
        for e in ctx.manifest.devices:
            dev = ctx.catalog.devices.get(e.id)
            if dev is None:
                return                                    # EP901 reports it
            total += dev.price.usd * e.count
            parts.append(f"{e.count} x {e.id} ${num(dev.price.usd)}" if e.count > 1
                         else f"{e.id} ${num(dev.price.usd)}")
        if total > budget:
            yield Problem(("budgets", "cost_usd"),
                          f"devices cost ${num(total)} ({', '.join(parts)}), over the "
                          f"${num(budget)} budget",
                          "use cheaper or fewer devices, or raise budgets.cost_usd")
