"""The shared model every budget module adds to: variables, integer scales, objective
terms, and assumption literals for explanations."""

from __future__ import annotations

import math
from dataclasses import dataclass

# integer scales: CP-SAT works on integers
MW = 1000.0        # W -> mW
CENTS = 100.0      # USD -> cents
KB = 1e6           # GB -> KB (an MCU has a few hundred KB: MB units would round it to 0)
PERMYRIAD = 10000  # share of a unit's time
US = 1000.0        # ms -> microseconds
CENTI = 100.0      # accuracy points -> hundredths


def up(v: float, scale: float) -> int:
    """Usage rounds up and limits round down, so an integer plan is also a real one."""
    return int(math.ceil(v * scale - 1e-9))


def down(v: float, scale: float) -> int:
    return int(math.floor(v * scale + 1e-9))


@dataclass
class Term:
    """An objective term: sum of coefficient x variable, in integer units (`scale` per
    natural unit: per W, per USD, ...)."""
    name: str
    pairs: list          # [(coefficient, BoolVar)]
    sense: str           # "min" | "max"
    scale: float

    @property
    def expr(self):
        from ortools.sat.python import cp_model
        if not self.pairs:
            return 0
        return cp_model.LinearExpr.WeightedSum([v for _, v in self.pairs],
                                               [c for c, _ in self.pairs])

    def scaled(self, factor: float) -> list:
        return [(int(round(c * factor)), v) for c, v in self.pairs]


class PlanModel:
    def __init__(self, cs, spec, *, slots: int, explain: bool, ignore_memory: bool = False):
        self.ignore_memory = ignore_memory
        from ortools.sat.python import (
            cp_model,  # local: `import planner.solve` stays light
        )
        self.m = cp_model.CpModel()
        self.cs, self.spec, self.explain = cs, spec, explain
        self.S = slots
        self.W = len(spec.workloads)
        used_types = sorted({c.dtype.index for cl in cs.per_workload for c in cl})
        self.types = [cs.types[t] for t in used_types]
        self.y = [{t.index: self.m.NewBoolVar(f"y_s{s}_t{t.index}") for t in self.types}
                  for s in range(slots)]
        self.used = [self.m.NewBoolVar(f"used_s{s}") for s in range(slots)]
        self.x = [[[self.m.NewBoolVar(f"x_w{w}_k{k}_s{s}") for s in range(slots)]
                   for k in range(len(cl))] for w, cl in enumerate(cs.per_workload)]
        self.lits: dict[str, object] = {}

    def z(self, w: int, k: int):
        """Workload w runs candidate k (on some slot)."""
        return sum(self.x[w][k])

    def lit(self, budget: str):
        if budget not in self.lits:
            self.lits[budget] = self.m.NewBoolVar(f"budget[{budget}]")
        return self.lits[budget]

    def enforce(self, ct, budget: str):
        """Add constraint ct under the budget's literal in explanation mode."""
        if self.explain:
            ct.OnlyEnforceIf(self.lit(budget))
        return ct

