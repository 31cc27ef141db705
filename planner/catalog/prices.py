"""Comparing prices like with like. A catalog price buys a bare `module` (its carrier board
is not in the price), a `dev-kit` (a board that runs on its own) or a `system` (a finished
product, or an accelerator with its host): dev-kit and system prices are what it costs to run
the device as bought, a module price is not. A cost budget that ranges over module prices and
the others compares unlike things; `mixed_cost_kinds` says where a budget does, and the
spec's `budgets.price_kinds` states which kinds to compare."""
from __future__ import annotations

from dataclasses import dataclass

from planner.text import num

KIND_WORDS = {"module": "a bare module: its carrier board is not in the price",
              "dev-kit": "a board that runs on its own",
              "system": "an accelerator with its host, or a finished product"}


@dataclass(frozen=True)
class MixedKinds:
    """The devices under a cost budget whose prices are of different kinds."""
    budget: float
    counts: dict            # kind -> number of devices priced within the budget
    modules: list           # (price, id) of the module prices within the budget, cheapest first

    def message(self) -> str:
        n = self.counts.get("module", 0)
        rest = [f"{c} {k}" for k, c in sorted(self.counts.items()) if k != "module"]
        others = " and ".join(rest)
        shown = ", ".join(f"{i} ${num(p)}" for p, i in self.modules[:3])
        more = f" and {n - 3} more" if n > 3 else ""
        return (f"budgets.cost_usd ${num(self.budget)} compares {n} module price"
                f"{'s' if n != 1 else ''} ({shown}{more}; a module's carrier board is not in "
                f"its price) with {others} prices of devices that run as bought")


def mixed_cost_kinds(devices, budget: float | None) -> MixedKinds | None:
    """Where a cost budget compares module prices with dev-kit or system prices: among the
    devices priced within the budget (the ones it can admit), at least one module and one of
    another kind. None when the budget compares like with like (or there is none)."""
    if budget is None:
        return None
    within = [d for d in devices if d.price.usd <= budget + 1e-9]
    counts: dict[str, int] = {}
    for d in within:
        counts[d.price_kind] = counts.get(d.price_kind, 0) + 1
    if not counts.get("module") or len(counts) < 2:
        return None
    modules = sorted((d.price.usd, d.id) for d in within if d.price_kind == "module")
    return MixedKinds(budget, dict(sorted(counts.items())), modules)
