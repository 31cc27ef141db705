"""`solve`: pick model, precision and device for every workload under the spec's budgets, or
prove that nothing fits, name a minimal set of conflicting budgets and relax each.

Pipeline: candidates (numpy, pruned) -> CP-SAT model from budget modules -> lexicographic
optimisation (one pass per objective term, then a tie-break that makes the optimum unique)
-> plan with estimates, slack and binding budgets -> runners-up (no-good cuts).
Infeasible: the explanation model keeps every option, tags what each breaks, enforces each
budget through an assumption literal; CP-SAT's infeasible core is shrunk to a minimal set
(deletion filter), and each member is relaxed alone to the smallest value that restores a plan.
"""
from __future__ import annotations

import time

from planner.catalog.loader import Catalog, catalog_with_models
from planner.onnxfile.spec_models import model_file_profiles
from planner.solve.cpsat import DEFAULT_WORKERS, solve_plain
from planner.solve.explain import binding_budgets, explain_infeasible
from planner.solve.plan import SolveResult
from planner.spec import Spec

# ---------------------------------------------------------------- the verb

def solve(spec: Spec, catalog: Catalog, *, top: int = 0, time_limit: float | None = None,
          workers: int = DEFAULT_WORKERS, explain: bool = True, binding: bool = True,
          extra_models: dict | None = None) -> SolveResult:
    """Solve a spec: the plain solve (`cpsat.solve_plain`), then, when nothing fits, a minimal
    set of conflicting budgets with the smallest relaxation of each (`explain=True`), and for
    an optimal plan the budgets that bind it (`binding=True`)."""
    t0 = time.monotonic()
    if extra_models:
        # once here, so every re-solve below shares this catalog and its calibration
        catalog = catalog_with_models(catalog, [m for ms in extra_models.values() for m in ms])
    result = solve_plain(spec, catalog, top=top, time_limit=time_limit, workers=workers,
                         extra_models=extra_models)
    if result.plan is None:
        if explain:
            result.conflicts = explain_infeasible(
                spec, catalog, workers=workers, extra_models=extra_models,
                options_considered=result.stats["candidates_considered"])
    elif binding and result.status == "optimal":
        result.plan["binding"] = binding_budgets(spec, catalog, result.solution.objective,
                                                 workers=workers, extra_models=extra_models)
    result.stats["seconds_total"] = round(time.monotonic() - t0, 3)
    return result


def solve_spec_file(path, catalog: Catalog | None = None, **kw) -> SolveResult:
    """Load a spec file and solve it, ONNX model_files included (the API `bundle` and
    `report` use)."""
    import os

    from planner.catalog.loader import load_catalog
    from planner.spec import load_spec
    spec, _ = load_spec(path)
    kw.setdefault("extra_models", model_file_profiles(spec, os.path.dirname(os.path.abspath(path))))
    return solve(spec, catalog if catalog is not None else load_catalog(), **kw)
