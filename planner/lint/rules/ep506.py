"""EP506 spec-cost-mixes-price-kinds."""
from __future__ import annotations

from planner.catalog.prices import mixed_cost_kinds
from planner.lint.model import Problem, Rule


class SpecCostMixesPriceKinds(Rule):
    """A spec's cost budget that compares bare-module prices with those of complete boards.

    A catalog price says what it buys (`price_kind` in `catalog list`): a `module` (a compute
    module alone), a `dev-kit` (a board that runs on its own) or a `system` (an accelerator
    with its host, or a finished product). A cost budget over devices of both sorts lets a
    module in at a price that leaves out the board it needs.

    Anti-pattern: a $200 budget the $199 Jetson Orin Nano 4GB module meets, compared with
    boards that cost what they cost to run:

        budgets: {cost_usd: 200}
        families: {allow: [jetson, raspberry-pi]}

    Why it matters: a Jetson module does not run on its own; the carrier board receives the
    main power source and enables the module, so a deployment pays for a carrier board (the
    developer kit's, or one of its own) on top of the module's price.
    Source: NVIDIA, "Jetson Orin NX Series and Jetson Orin Nano Series Design Guide"
    (DG-10931-001, section 6.1 "Power Supply and Sequencing")
    <https://www.easymanua.ls/nvidia/jetson-orin-nx-series/manual?p=27>

    Fix: say which prices the budget compares: `budgets.price_kinds: [dev-kit, system]`
    (boards and systems, as bought) or `[module]` (modules, carriers priced apart); or
    allow devices of one kind only.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        budgets: {cost_usd: 200, price_kinds: [dev-kit, system]}
        families: {allow: [jetson, raspberry-pi]}
        workloads:
          - {name: cls, task: classification}
    """
    id = "EP506"
    name = "spec-cost-mixes-price-kinds"
    severity = "warning"
    solver_reason = None
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        b = ctx.spec.budgets
        if b.price_kinds is not None:
            return
        mixed = mixed_cost_kinds(ctx.allowed_devices(), b.cost_usd)
        if mixed is not None:
            yield Problem(("budgets", "cost_usd"), mixed.message(),
                          "set budgets.price_kinds: [dev-kit, system] to compare what the "
                          "devices cost to run as bought (or [module])")
