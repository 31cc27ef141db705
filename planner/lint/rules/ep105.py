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


def _fix(budget: str, corrections: list[dict]) -> str:
    """The smallest corrections that relax this budget, as `solve` words them (`said`), with
    the plan the first gives; one that relaxes it alone comes before one that pairs it."""
    mine = sorted((f for f in corrections if budget in f["relax"]), key=lambda f: len(f["relax"]))
    if not mine:
        return ("no correction of one or two budgets relaxes it; relax another budget of its "
                "conflict (`edgeplan solve` lists the corrections)")
    f = mine[0]
    how = f["said"]
    if len(f["relax"]) > 1:
        how = "relax together: " + how
    more = f" ({len(mine) - 1} more in `edgeplan solve`)" if len(mine) > 1 else ""
    return f"{how}: gives {f['plan']}{more}" if f.get("plan") else how + more


def _in_conflicts(budget: str, sets: list[dict]) -> str:
    """'latency:detect 15 ms conflicts with accuracy:detect 40 + families.allow [...]
    (conflict 1 of 2)': each minimal set this budget belongs to, with its other members."""
    n = len(sets)
    parts, me = [], None
    for i, s in enumerate(sets, 1):
        rows = s["budgets"]
        mine = next((r for r in rows if r["budget"] == budget), None)
        if mine is None:
            continue
        me = me or mine["said"]
        others = " + ".join(r["said"] for r in rows if r["budget"] != budget)
        parts.append((others, i))
    if len(parts) == 1 and not parts[0][0]:
        return f"the budget {me} cannot be met, whatever the others"
    said = "; and with ".join(f"{o} (conflict {i} of {n})" if n > 1 else o for o, i in parts)
    return f"{me} conflicts with {said}"


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
        why = ctx.feasibility(ctx.spec, ctx.catalog, ctx.base_dir)
        if why is None:                 # a plan exists
            return
        sets = why.get("conflict_sets") or []
        if not sets:
            facts = why.get("facts") or []
            yield Problem((), "solve finds no plan for this spec" +
                          (f": {facts[0]}" if facts else ""), "run `edgeplan solve` on it")
            return
        # one finding per budget, at its line, naming every conflict it belongs to
        seen = []
        for s in sets:
            seen += [r["budget"] for r in s["budgets"] if r["budget"] not in seen]
        for b in seen:
            yield Problem(budget_path(ctx, b), f"solve finds no plan: {_in_conflicts(b, sets)}",
                          _fix(b, why.get("corrections") or []))
