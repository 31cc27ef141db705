"""Catalog facts and small output defects of issue 15, section 6: the Coral PCIe card and its
host priced apart, cost budgets over prices of different kinds, memory figures without float
noise, a drop worded as a drop, model files without an accuracy, and rule docs that name
only catalog devices."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from planner.catalog.loader import load_catalog

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(use_env=False)


# ---------------------------------------------------------------- rule docs name catalog ids

def _device_ids(doc) -> set[str]:
    """Device ids a YAML snippet names: devices[].id, devices.allow/deny, workloads[].device,
    host."""
    out: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "devices" and isinstance(v, list):
                out |= {e["id"] for e in v if isinstance(e, dict) and "id" in e}
            elif k == "devices" and isinstance(v, dict):
                out |= {i for key in ("allow", "deny") for i in (v.get(key) or ())}
            elif k in ("device", "host") and isinstance(v, str):
                out.add(v)
            else:
                out |= _device_ids(v)
    elif isinstance(doc, list):
        for v in doc:
            out |= _device_ids(v)
    return out


def test_every_device_a_rule_doc_names_is_in_the_catalog(catalog):
    """`edgeplan rules EPxxx` shows the rule's examples: a device id there that the catalog
    lacks (EP312 once showed `pixel-8`) teaches an id that fails with EP901. Only EP901's own
    anti-pattern names an unknown device, on purpose."""
    from planner.lint.pages import rule_doc
    from planner.lint.select import registry
    bad, seen = [], 0
    for rid, cls in sorted(registry().items()):
        doc = rule_doc(cls)
        for part in ("Anti-pattern", "Passing example"):
            for code in doc.code(part):
                ids = _device_ids(yaml.safe_load(code))
                seen += len(ids)
                if rid == "EP901" and part == "Anti-pattern":
                    continue
                bad += [f"{rid} {part}: {i}" for i in sorted(ids - set(catalog.devices))]
        # device ids in the prose, written as `id`
        for kind, block in doc.blocks.get("intro", []) + doc.blocks.get("Fix", []):
            if kind == "text":
                for tok in re.findall(r"`([a-z0-9]+(?:-[a-z0-9.]+)+)`", " ".join(block)):
                    if re.search(r"\d", tok) and tok not in catalog.devices and \
                            tok not in catalog.models and not tok.startswith(("ep", "int", "fp")):
                        bad.append(f"{rid} prose: {tok}")
    assert seen > 30       # the walk found the examples' devices
    assert not bad, bad


# ---------------------------------------------------------------- memory figures

def _floats(o):
    if isinstance(o, float):
        yield o
    elif isinstance(o, dict):
        for v in o.values():
            yield from _floats(v)
    elif isinstance(o, list):
        for v in o:
            yield from _floats(v)


def test_a_unit_conversion_gives_the_decimal_the_text_meant(catalog):
    from planner.units import parse_quantity
    assert parse_quantity("400 KB", "GB") == 0.0004          # not 0.00039999999999999996
    assert parse_quantity("640 KB", "GB") == 0.00064
    nrf = catalog.devices["nrf5340-dk"]
    assert nrf.memory.available_gb == 0.0004
    assert "0.00039999" not in nrf.model_dump_json()
    for d in catalog.devices.values():           # no catalog figure carries conversion noise
        for x in _floats(d.model_dump(mode="json")):
            assert float(f"{x:.12g}") == x, (d.id, x)


KWS_SPEC = """\
apiVersion: edgeplan/v1
kind: Spec
name: kws
workloads:
  - {name: kws, models: [ds-cnn-kws], rate_fps: 5}
families: {allow: [mcu]}
"""


def test_a_microcontroller_plan_counts_its_memory_in_kilobytes(catalog, tmp_path):
    """The solver counted memory in whole MB: a 400 KB MCU had 0 MB to give and a 41 KB model
    took 1 MB, so no MCU could ever be planned. The plan rounds memory to whole KB."""
    from planner.solve.pipeline import solve_spec_file
    from planner.solve.render import render_plan_text
    p = tmp_path / "kws.yaml"
    p.write_text(KWS_SPEC)
    r = solve_spec_file(p, catalog)
    assert r.status == "optimal"
    assert r.plan["devices"][0]["id"] in ("nrf5340-dk", "stm32l4r5-nucleo")
    d = r.plan["totals"]["per_device"][0]
    assert 0 < d["memory_gb"] < d["memory_available_gb"] <= 0.000512
    assert d["memory_gb"] == round(d["memory_gb"], 6)
    mem = next(s for s in r.plan["slack"] if s["budget"].startswith("memory:"))
    assert mem["used"] > 0 and mem["limit"] > mem["used"]
    assert all(v == round(v, 6) for v in (mem["used"], mem["limit"], mem["slack"]))
    text = render_plan_text(r.as_dict())
    assert "999999" not in text and "000000" not in text


# ---------------------------------------------------------------- an accuracy drop in words

def test_accuracy_change_in_words():
    from planner.text import accuracy_change
    assert accuracy_change(0.28) == "a drop of 0.28 points"
    assert accuracy_change(-0.11) == "a gain of 0.11 points"
    assert accuracy_change(0.001) == "no change"


def _verification(drop):
    return {"target": {"model": "digits-cnn", "precision": "int8", "device": "jetson-orin-nano-8gb",
                       "unit": "gpu", "runtime": "tensorrt"},
            "conversion": {"method": "static-qdq", "calibration": {"samples": 128,
                                                                   "file": "cal.npz"}},
            "comparison": {"top1_agreement_pct": 96.88, "max_abs_error": 0.26,
                           "cosine_mean": 0.99993},
            "sizes": {"converted_bytes": 161225, "ratio": 0.266},
            "samples": {"count": 32}, "provider": {"used": "CPUExecutionProvider"},
            "accuracy": {"samples": 360, "fp32_pct": 98.89, "converted_pct": 98.89 - drop,
                         "drop_points": drop},
            "latency_ms": {"fp32": {"median_ms": 0.014}, "converted": {"median_ms": 0.022}},
            "op_support": {"fallback_ops": {}}}


@pytest.mark.parametrize("drop, words", [(0.28, "(a drop of 0.28 points)"),
                                         (-0.56, "(a gain of 0.56 points)")])
def test_bundle_summary_words_the_accuracy_change(monkeypatch, tmp_path, drop, words):
    """`edgeplan bundle` said `(+0.28 points drop)`: a drop with a plus sign (and a gain
    would have read `-0.56 points drop`)."""
    from types import SimpleNamespace

    from click.testing import CliRunner

    import planner.bundle.build as build
    from planner.cli import main as cli
    monkeypatch.setattr(build, "build_bundle", lambda *a, **k: SimpleNamespace(
        warnings=[], verification=_verification(drop), out_dir=str(tmp_path / "b")))
    plan = tmp_path / "deploy.yaml"
    plan.write_text("kind: Deployment\n")
    r = CliRunner().invoke(cli, ["bundle", str(plan), "-o", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert words in r.output
    assert "points drop" not in r.output


# ---------------------------------------------------------------- an accelerator and its host

def test_coral_pcie_entry_prices_and_powers_the_card_and_the_host_apart(catalog):
    """coral-pcie-accelerator read as a $1024.99 / 152 W card: it is the $24.99 / 2 W card
    in a $1000 / 150 W desktop, and the entry now says which is which."""
    d = catalog.devices["coral-pcie-accelerator"]
    host = catalog.devices[d.host]
    assert d.host == "desktop-x86-host"
    assert d.price.accelerator_usd == 24.99 and d.power.accelerator_w == 2
    assert d.host_usd == host.price.usd == 1000
    assert d.price.usd == pytest.approx(d.price.accelerator_usd + host.price.usd)
    assert d.max_mode.power_w == pytest.approx(d.power.accelerator_w + host.max_mode.power_w)
    assert d.price_kind == "system"
    assert "$" not in d.name and "card" in d.name and d.host in d.name
    assert "2 watts" in d.power.source                 # the Edge TPU datasheet figure
    assert "accelerator_usd" in d.price.estimated      # the card's list price is not stored


def test_every_hosted_accelerator_gives_its_own_share(catalog):
    hosted = [d for d in catalog.devices.values() if d.host]
    assert len(hosted) >= 10
    for d in hosted:
        host = catalog.devices[d.host]
        assert d.price.accelerator_usd is not None and d.power.accelerator_w is not None, d.id
        adapter = d.host_usd - host.price.usd          # an M.2 HAT, or nothing
        assert 0 <= adapter <= 15, (d.id, adapter)
        assert d.max_mode.power_w == pytest.approx(d.power.accelerator_w +
                                                   host.max_mode.power_w, abs=0.01), d.id
        assert d.price.source and d.power.source


def test_an_accelerator_share_needs_a_host(tmp_path):
    from planner.errors import CatalogError
    src = (ROOT / "catalog" / "devices" / "x86.yaml").read_text()
    src = src.replace("id: desktop-x86-host", "id: my-pc").replace(
        "      usd: $1000\n", "      usd: $1000\n      accelerator_usd: $100\n")
    (tmp_path / "pc.yaml").write_text(src)
    with pytest.raises(CatalogError) as e:
        load_catalog([tmp_path], use_env=False)
    assert "accelerator_usd" in str(e.value) and "no host" in str(e.value)
    assert e.value.file.endswith("pc.yaml") and e.value.field == "devices[0].price.accelerator_usd"


PCIE_SPEC = """\
apiVersion: edgeplan/v1
kind: Spec
name: pcie
workloads:
  - {name: cls, models: [mobilenet-v2], rate_fps: 30}
devices: {allow: [coral-pcie-accelerator]}
"""


def test_a_plan_bill_splits_an_accelerator_from_its_host(catalog, tmp_path):
    from planner.solve.pipeline import solve_spec_file
    from planner.solve.render import render_plan_text
    p = tmp_path / "pcie.yaml"
    p.write_text(PCIE_SPEC)
    r = solve_spec_file(p, catalog)
    b = r.plan["devices"][0]
    assert b["unit_price_usd"] == 1024.99 and b["price_kind"] == "system"
    assert b["parts"] == {"host": "desktop-x86-host", "accelerator_usd": 24.99,
                          "host_usd": 1000.0, "accelerator_w": 2.0, "host_w": 150.0}
    text = render_plan_text(r.as_dict())
    assert ("of which the accelerator 2 W, $24.99 and the host desktop-x86-host 150 W, $1000"
            in text)


# ---------------------------------------------------------------- cost: like with like

COST_SPEC = """\
apiVersion: edgeplan/v1
kind: Spec
name: door-camera
workloads:
  - {{name: cls, task: classification, rate_fps: 15, latency_budget_ms: 50}}
budgets:
  cost_usd: 200
{kinds}families: {{allow: [jetson, raspberry-pi]}}
objective: [min cost, max accuracy]
"""


def _solve_cost(tmp_path, catalog, kinds=""):
    from planner.solve.pipeline import solve_spec_file
    p = tmp_path / "spec.yaml"
    p.write_text(COST_SPEC.format(kinds=kinds))
    return p, solve_spec_file(p, catalog)


def test_a_cost_budget_over_module_and_board_prices_says_so(catalog, tmp_path):
    """$199 buys the Jetson Orin Nano 4GB module without the carrier board it needs, $55 a
    Raspberry Pi that runs as bought: the $200 budget compared them without a word."""
    from planner.lint.engine import lint_paths
    from planner.solve.render import render_plan_text
    p, r = _solve_cost(tmp_path, catalog)
    cc = r.plan["cost_compares"]
    assert cc["price_kinds"]["module"] == 1 and cc["price_kinds"]["dev-kit"] >= 5
    assert "jetson-orin-nano-4gb $199" in cc["note"]
    text = render_plan_text(r.as_dict())
    assert "cost: budgets.cost_usd $200 compares 1 module price" in text
    assert "budgets.price_kinds" in text
    found = [f for f in lint_paths([str(p)], catalog=catalog).findings if f.rule == "EP506"]
    assert len(found) == 1 and found[0].line == 7 and "module" in found[0].message


@pytest.mark.parametrize("kinds, want", [("[dev-kit, system]", {"dev-kit", "system"}),
                                         ("[module]", {"module"})])
def test_price_kinds_keep_the_cost_to_one_kind(catalog, tmp_path, kinds, want):
    from planner.lint.engine import lint_paths
    p, r = _solve_cost(tmp_path, catalog, f"  price_kinds: {kinds}\n")
    assert r.status == "optimal"
    assert "cost_compares" not in r.plan
    assert {b["price_kind"] for b in r.plan["devices"]} <= want
    seen = {x["device"] for x in r.rejected}
    assert seen and all(catalog.devices[d].price_kind in want for d in seen)
    assert not [f for f in lint_paths([str(p)], catalog=catalog).findings if f.rule == "EP506"]


def test_price_kinds_is_checked_input(catalog, tmp_path):
    from planner.errors import InputError
    from planner.spec import load_spec
    p = tmp_path / "spec.yaml"
    p.write_text(COST_SPEC.format(kinds="  price_kinds: [kit]\n"))
    with pytest.raises(InputError) as e:
        load_spec(p)
    assert e.value.line == 8 and "price_kinds" in e.value.field


# ---------------------------------------------------------------- a model file without accuracy

ONNX_SPEC = """\
apiVersion: edgeplan/v1
kind: Spec
name: digits
workloads:
  - name: digits-cnn
    model_files: [{onnx}]
    rate_fps: 30
    precisions: [int8]
{floor}devices: {{allow: [jetson-orin-nano-8gb]}}
runtimes: {{allow: [tensorrt]}}
"""


def _solve_onnx(tmp_path, catalog, floor=None):
    from planner.solve.pipeline import solve_spec_file
    p = tmp_path / "spec.yaml"
    p.write_text(ONNX_SPEC.format(
        onnx=ROOT / "examples" / "models" / "digits_cnn.onnx",
        floor="" if floor is None else f"    accuracy_floor: {floor}\n"))
    return solve_spec_file(p, catalog)


def test_a_model_file_without_accuracy_is_not_shown_as_accuracy_0(catalog, tmp_path):
    import json

    from planner.solve.render import render_plan_text
    r = _solve_onnx(tmp_path, catalog)
    a = r.plan["assignments"][0]["estimates"]["accuracy"]
    assert a["value"] is None and a["metric"] == "unknown"
    assert r.plan["totals"]["accuracy"] == {"digits-cnn": None}
    assert '"value": 0.0' not in json.dumps(r.plan["assignments"][0]["estimates"]["accuracy"])
    text = render_plan_text(r.as_dict())
    assert "unknown" in text and "accuracy 0" not in text


@pytest.mark.parametrize("floor", [0, 90])
def test_no_accuracy_floor_admits_a_model_file_without_accuracy(catalog, tmp_path, floor):
    """A floor of 0 let the placeholder 0 through; 90 rejected it as 'value 0,
    by 100 %' and the explanation offered to relax the floor to 0."""
    from planner.solve.render import render_plan_text
    r = _solve_onnx(tmp_path, catalog, floor)
    assert r.status == "infeasible"
    rej = [x for x in r.rejected if x["budget"] == "accuracy"]
    assert rej and all(x["value"] is None and x["by"] == "unknown" for x in rej)
    c = next(c for c in r.conflicts if c["budget"] == "accuracy:digits-cnn")
    assert c["relax_to"] is None
    assert "no accuracy is known for it" in c["note"]
    text = render_plan_text(r.as_dict())
    assert "-> 0 gives" not in text and "no floor admits digits_cnn" in text


def test_a_report_draws_no_accuracy_front_for_a_model_file_without_accuracy(catalog, tmp_path):
    from planner.report.pareto import workload_fronts
    from planner.spec import load_spec
    from planner.solve.pipeline import solve_spec_file
    p = tmp_path / "spec.yaml"
    p.write_text(ONNX_SPEC.format(onnx=ROOT / "examples" / "models" / "digits_cnn.onnx",
                                  floor=""))
    r = solve_spec_file(p, catalog)
    spec, _ = load_spec(p)
    from planner.solve.pipeline import model_file_profiles
    fronts = workload_fronts(spec, catalog, r.plan,
                             extra_models=model_file_profiles(spec, str(tmp_path)))
    assert fronts and not [f for f in fronts if "accuracy" in f.id]
