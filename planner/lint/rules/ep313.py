"""EP313 cost-budget."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.text import num


class CostBudget(Rule):
    """The devices cost more than the cost budget.

    Cost is each device's catalog list price times its count, summed (reason `cost` in
    `solve`).

    Anti-pattern:

        devices: [{id: jetson-agx-orin-64gb}]
        budgets: {cost_usd: 500}

    Fix: cheaper devices (`edgeplan solve` with the same budgets finds them), fewer devices,
    or a larger budget.
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
