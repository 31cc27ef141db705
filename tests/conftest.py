import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "data" / "mini"

# the user's EDGEPLAN_CATALOG must not leak into tests, and tests share one calibration cache
# of their own (keyed by content, so every catalog a test builds gets its own entry)
os.environ.pop("EDGEPLAN_CATALOG", None)
if "EDGEPLAN_CACHE_DIR" not in os.environ:
    import tempfile
    os.environ["EDGEPLAN_CACHE_DIR"] = os.path.join(tempfile.gettempdir(),
                                                    f"edgeplan-test-cache-{os.getuid()}")


@pytest.fixture(scope="session")
def mini_catalog():
    from planner.catalog.loader import load_catalog
    return load_catalog([MINI], builtin=False, use_env=False)


@pytest.fixture(scope="session")
def catalog():
    from planner.catalog.loader import load_catalog
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


def builtin_device(family: str, device_id: str) -> dict:
    """A built-in device's YAML entry (catalog/devices/<family>.yaml), to vary in a test."""
    import yaml
    src = yaml.safe_load((ROOT / "catalog" / "devices" / f"{family}.yaml").read_text())
    return next(d for d in src["devices"] if d["id"] == device_id)


def catalog_with_devices(tmp_path, devices: list[dict]):
    """The built-in catalog plus these device entries."""
    import yaml

    from planner.catalog.loader import load_catalog
    (tmp_path / "devices.yaml").write_text(yaml.safe_dump({"devices": devices}))
    return load_catalog([tmp_path], use_env=False)


def dynamic_power_w(catalog, plan) -> float:
    """A plan's average power above its devices' idle: what `min energy` minimises."""
    t = plan["totals"]
    return t["average_power_w"] - sum(catalog.devices[d["device"]].power.idle_w
                                      for d in t["per_device"])


def grid_cells_match_estimates(cat, device_id: str, models) -> list:
    """`solve`'s grid against `estimate`, cell by cell, for every option of the models on
    every unit, power mode and runtime of the device: the estimates compared (the count is
    for the caller to check)."""
    from planner.estimate.grid import OptionRow, UnitRow, estimate_grid
    from planner.estimate.point import Query, estimate
    dev = cat.devices[device_id]
    opts = [OptionRow(m, o.precision, o.technique, o.accuracy, o.params_scale, o.macs_scale)
            for m in models for o in m.options]
    units = [UnitRow(dev, u, md.id, md.compute_scale, rt) for u in dev.units
             for md in dev.power.modes for rt in u.runtimes]
    g = estimate_grid(cat, opts, units)
    compared = []
    for i, o in enumerate(opts):
        for j, u in enumerate(units):
            if not g["runs"][i, j]:
                continue
            e = estimate(cat, Query(o.model.id, o.precision, dev.id, o.technique, u.unit.id,
                                    u.runtime, power_mode=u.mode_id))
            assert g["latency_ms"][i, j] == pytest.approx(e.latency_ms.value, rel=1e-9)
            assert g["busy_ms"][i, j] == pytest.approx(
                1000.0 / e.throughput_fps.value, rel=1e-9)
            compared.append(e)
    return compared
