"""EP503 spec-cost-unreachable."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.text import num


class SpecCostUnreachable(Rule):
    """A spec's cost budget below the price of every allowed device.

    Cost is the catalog list price (reason `cost` in `solve`); if the cheapest allowed device
    costs more than the budget, nothing fits.

    Anti-pattern:

        budgets: {cost_usd: 50}
        families: {allow: [jetson]}           # the cheapest Jetson is $99

    Why it matters: no device in the allowed families can be bought for the budget, so every
    plan is rejected before a single model is tried. The cheapest Jetson in the catalog is the
    original Jetson Nano developer kit at $99.
    Source: Algotechniq, "Nvidia Jetson Naming: A Masterclass in Confusion" ("The original
    Nano was a $99 dev kit") <https://www.algotechniq.com/blog/2025/nvidia-jetson-naming>

    Fix: a budget at least the cheapest price the message names, or allow cheaper devices.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        budgets: {cost_usd: 300, price_kinds: [dev-kit, system]}
        families: {allow: [jetson]}
        workloads:
          - {name: det, task: detection}
    """
    id = "EP503"
    name = "spec-cost-unreachable"
    severity = "error"
    solver_reason = "cost"
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        budget = ctx.spec.budgets.cost_usd
        devices = ctx.allowed_devices()
        if budget is None or not devices:
            return
        d = min(devices, key=lambda d: (d.price.usd, d.id))
        if d.price.usd > budget:
            yield Problem(("budgets", "cost_usd"),
                          f"every allowed device costs more than ${num(budget)}: the cheapest "
                          f"is {d.id} at ${num(d.price.usd)}",
                          f"raise budgets.cost_usd to at least ${num(d.price.usd)} or allow "
                          "cheaper devices")
