"""EP105 spec-infeasible."""
from __future__ import annotations

from planner.lint.model import Problem, Rule

_BUDGET_FIELDS = {"memory": "memory_headroom_pct", "power": "power_w", "cost": "cost_usd",
                  "devices": "max_devices"}
_WORKLOAD_FIELDS = {"latency": ("latency_budget_ms",), "accuracy": ("accuracy_floor",),
                    "rate": ("rate_fps", "tokens_per_s"), "models": ("models",),
                    "precisions": ("precisions",), "techniques": ("techniques",)}


def budget_path(ctx, budget: str) -> tuple:
    """The YAML path of the budget a conflict names (`latency:cls`, `devices.allow`,
    `power`), or of its nearest written ancestor: a default (the memory headroom) that the
    spec does not write is reported where the budgets, or the document, begin."""
    if ":" in budget:
        kind, name = budget.split(":", 1)
        for i, w in enumerate(ctx.spec.workloads):
            if w.name == name:
                fields = _WORKLOAD_FIELDS.get(kind, ())
                written = [f for f in fields if ("workloads", i, f) in ctx.pos.where]
                return ("workloads", i, (written or list(fields) or [""])[0])
        return ("workloads",)
    if "." in budget:
        return tuple(budget.split(".", 1))
    return ("budgets", _BUDGET_FIELDS.get(budget, budget))


def _relaxation(c: dict) -> str:
    if c.get("plan"):
        to = c.get("relax_to")
        if isinstance(to, dict) and to.get("add"):
            how = "add " + ", ".join(to["add"])
        elif to is not None:
            how = f"relax it to {to:g}" if isinstance(to, (int, float)) else f"relax it to {to}"
        else:
            how = "relax it"
        return f"{how}: gives {c['plan']}"
    return c.get("note") or "cannot be relaxed alone"


class SpecInfeasible(Rule):
    """A spec that `solve` proves infeasible: no plan meets its budgets together.

    The other spec rules (EP5xx) each look at one budget; this one runs the solver's own
    feasibility check on the whole spec (every workload, device and budget at once) and
    reports each budget of the conflicting set at its line, with the relaxation that restores
    a plan. It runs only where the caller gives lint a feasibility checker: `edgeplan lint`
    does (from `solve`); the library's `lint_paths` without one skips this rule, so lint of a
    manifest never loads the solver.

    Anti-pattern:

        workloads:
          - {name: chat, models: [llama-3-8b], tokens_per_s: 5}
        devices: {allow: [jetson-nano-4gb]}     # 4 GB: an 8B model does not fit at any precision

    Why it matters: a spec checked into CI that no device and model can satisfy fails only
    when someone runs `solve`; lint should fail first, at the budget that conflicts. The 4 GB
    Jetson Nano leaves about 2.5 GB for models after JetPack, while Llama 3 8B needs about
    4.8 GB even at 4-bit weights.
    Source: NVIDIA, "Jetson Nano Developer Kit" (4 GB LPDDR4)
    <https://developer.nvidia.com/embedded/jetson-nano-developer-kit>
    Source: Meta, "Llama 3 model card" (8B parameters)
    <https://github.com/meta-llama/llama3/blob/main/MODEL_CARD.md>

    Fix: relax one budget of the set as the message says (`edgeplan solve` prints the same
    explanation with the plan each relaxation gives).

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        workloads:
          - {name: chat, models: [llama-3.2-3b], tokens_per_s: 5}
        devices: {allow: [jetson-nano-4gb]}
    """
    id = "EP105"
    name = "spec-infeasible"
    severity = "error"
    solver_reason = None
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        if ctx.feasibility is None:
            return
        conflicts = ctx.feasibility(ctx.spec, ctx.catalog, ctx.base_dir)
        if conflicts is None:           # a plan exists
            return
        if not conflicts:
            yield Problem((), "solve finds no plan for this spec", "run `edgeplan solve` on it")
            return
        names = ", ".join(c["budget"] for c in conflicts)
        for c in conflicts:
            what = (f"budgets {names} conflict; {c['budget']} is one of them"
                    if len(conflicts) > 1 else f"the budget {names} cannot be met")
            yield Problem(budget_path(ctx, c["budget"]), f"solve finds no plan: {what}",
                          _relaxation(c))
