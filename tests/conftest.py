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


# two workloads on the mini catalog: a classifier and a toy 7B LLM, up to two devices
TWO_WORKLOADS = """
name: two
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 20, accuracy_floor: 74}
  - {name: chat, models: [toy-llm-7b], tokens_per_s: 5, context_tokens: 1024}
budgets: {power_w: 30, max_devices: 2}
objective: [min power, max accuracy, min cost]
"""


def spec_from(text: str):
    from planner.spec import parse_spec
    from planner.yamlio import loads_yaml
    data, pos = loads_yaml(text, "spec.yaml")
    return parse_spec(data, pos)
