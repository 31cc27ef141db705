"""Every shipped example spec solves as its comments say, and its plan re-checks clean."""
from pathlib import Path

import pytest
from conftest import ROOT

from planner.solve.check import validate_plan
from planner.solve.pipeline import solve
from planner.spec import load_spec

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_there_are_at_least_six_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_solves(catalog, path: Path):
    spec, _ = load_spec(path)
    r = solve(spec, catalog, top=1, binding=False)
    if path.name.startswith("infeasible"):
        assert r.status == "infeasible"
        assert r.conflicts
        return
    assert r.status == "optimal", r.conflicts
    assert validate_plan(spec, catalog, r.plan) == []
    for p in r.runners_up:
        assert validate_plan(spec, catalog, p) == []


def test_seed_7b_on_nano_is_infeasible_on_memory_with_relaxations(catalog):
    spec, _ = load_spec(ROOT / "examples" / "infeasible-7b-on-nano.yaml")
    r = solve(spec, catalog)
    names = {c["budget"] for c in r.conflicts}
    assert names == {"devices.allow", "models:chat"}
    # memory is the physics behind the conflict, named as such
    (conflict,) = r.explanation["conflict_sets"]
    assert "leaves more than 2.5 GB free" in conflict["facts"][0]
    fixes = [c for c in r.conflicts if c["relax_to"] is not None]
    assert fixes and all(c["plan"] for c in fixes)
