"""`solve`: pick model, precision and device for every workload under the spec's budgets, or
prove that nothing fits, name the minimal conflicts and the smallest corrections.

Pipeline: candidates (numpy, pruned) -> CP-SAT model from budget modules -> lexicographic
optimisation (one pass per objective term, then a tie-break that makes the optimum unique)
-> plan with estimates, slack and binding budgets -> runners-up (no-good cuts).
Infeasible: `explain` finds the minimal conflicts among the budgets (QuickXplain and a
hitting-set tree over feasibility re-solves), the smallest corrections (one, then two budgets
relaxed together) with the plan each gives, and the physics behind each conflict.

One `Deadline` (planner/solve/deadline.py) bounds all of it: what runs out of time is cut
short and listed in the result's `cut_short` (the plan found so far stands).
"""
from __future__ import annotations

import time

from planner.catalog.loader import Catalog, catalog_with_models
from planner.onnxfile.spec_models import model_file_profiles
from planner.errors import ModelTooLarge, SolveTimeout
from planner.solve import deadline as D
from planner.solve import robust as R
from planner.solve.cpsat import DEFAULT_WORKERS, solve_plain
from planner.solve.explain import binding_budgets
from planner.solve.explain import explain as explain_spec
from planner.solve.plan import SolveResult
from planner.spec import Spec

# ---------------------------------------------------------------- the verb

def solve(spec: Spec, catalog: Catalog, *, top: int = 0, time_limit: float | None = None,
          workers: int = DEFAULT_WORKERS, explain: bool = True, binding: bool = True,
          extra_models: dict | None = None, deadline: D.Deadline | None = None,
          max_memory: int | None = None, robust: bool = False) -> SolveResult:
    """Solve a spec: the plain solve (`cpsat.solve_plain`), then, when nothing fits, a minimal
    set of conflicting budgets with the smallest relaxation of each (`explain=True`), and for
    an optimal plan the budgets that bind it (`binding=True`).

    `time_limit` (or a `deadline` shared with the caller) bounds every step; `max_memory`
    (bytes) the candidate grids and the model. Out of time with no plan: SolveTimeout; a
    model over the memory budget: ModelTooLarge. Explanations or binding budgets cut short
    are left out and named in `result.cut_short`.

    `robust`: latency, rate and accuracy budgets are checked against the pessimistic end of
    their intervals (`planner.solve.robust`) in every solve of this call."""
    t0 = time.monotonic()
    if deadline is None:
        deadline = D.Deadline(time_limit, max_memory=max_memory) if (
            time_limit is not None or max_memory is not None) else D.ensure(None)
    if extra_models:
        # once here, so every re-solve below shares this catalog and its calibration
        catalog = catalog_with_models(catalog, [m for ms in extra_models.values() for m in ms])
    with D.running(deadline), R.running(robust):
        result = solve_plain(spec, catalog, top=top, workers=workers,
                             extra_models=extra_models, deadline=deadline)
        if result.plan is None:
            if explain:
                result.explanation = _bounded(
                    deadline, "explanations", None,
                    lambda: explain_spec(spec, catalog, workers=workers, extra_models=extra_models,
                                         deadline=deadline))
                if result.explanation is not None:
                    result.conflicts = result.explanation.pop("conflicts")
        elif binding and result.status == "optimal":
            result.plan["binding"] = _bounded(
                deadline, "binding budgets", [],
                lambda: binding_budgets(spec, catalog, result.solution.objective,
                                        workers=workers, extra_models=extra_models,
                                        deadline=deadline))
    result.robust = robust or R.active()
    result.cut_short = deadline.cut    # shared: listing the rejections later may add to it
    result.stats["seconds_total"] = round(time.monotonic() - t0, 3)
    return result


def _bounded(deadline: D.Deadline, step: str, empty, fn):
    """Run a step that only adds to a result (explanations, binding budgets) under the
    deadline: when time or memory runs out in it, or its solves may have been cut by the
    limit (so an answer could be wrong), it is left out and recorded as cut short."""
    try:
        out = fn()
    except (SolveTimeout, ModelTooLarge) as e:
        deadline.cut_short(step if isinstance(e, SolveTimeout) else f"{step} ({e})")
        return empty
    if deadline.expired():
        deadline.cut_short(step)
        return empty
    return out


def solve_spec_file(path, catalog: Catalog | None = None, **kw) -> SolveResult:
    """Load a spec file and solve it, ONNX model_files included (the API `bundle` and
    `report` use)."""
    import os

    from planner.catalog.loader import load_catalog
    from planner.spec import load_spec
    spec, _ = load_spec(path)
    kw.setdefault("extra_models", model_file_profiles(spec, os.path.dirname(os.path.abspath(path))))
    return solve(spec, catalog if catalog is not None else load_catalog(), **kw)
