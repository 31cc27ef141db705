"""The CP-SAT model, built from small modules: one per budget, each adding its constraints
to a shared `PlanModel` and returning its objective term (or None).

Variables (owned by PlanModel):
  y[s][t]   slot s of the bill of devices is device type t (a device in one power mode)
  used[s]   slot s holds a device
  x[w][k][s] workload w runs candidate k on slot s

In explanation mode every budget is enforced through its own assumption literal
(`pm.enforce(constraint, budget)`), so CP-SAT can name a set of budgets that conflict.
"""
from __future__ import annotations

from planner.solve.budgets import (
    accuracy,
    assignment,
    compute,
    cost,
    devices,
    energy,
    latency,
    lists,
    memory,
    power,
)
from planner.solve.budgets.model import PlanModel, Term


def build(cs, spec, *, slots: int, explain: bool,
          ignore_memory: bool = False) -> tuple[PlanModel, dict[str, Term]]:
    pm = PlanModel(cs, spec, slots=slots, explain=explain, ignore_memory=ignore_memory)
    terms: dict[str, Term] = {}
    for module in (assignment, memory, compute, latency, accuracy, lists, power, cost, devices,
                   energy):
        for t in module.add(pm) or ():
            terms[t.name] = t
    return pm, terms
