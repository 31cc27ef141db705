import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini"

# the user's EDGEPLAN_CATALOG must not leak into tests
os.environ.pop("EDGEPLAN_CATALOG", None)


@pytest.fixture(scope="session")
def mini_catalog():
    from planner.catalog import load_catalog
    return load_catalog([MINI], builtin=False, use_env=False)


@pytest.fixture(scope="session")
def catalog():
    from planner.catalog import load_catalog
    return load_catalog(use_env=False)


def spec_from(text: str):
    from planner.spec import parse_spec
    from planner.yamlio import loads_yaml
    data, pos = loads_yaml(text, "spec.yaml")
    return parse_spec(data, pos)
