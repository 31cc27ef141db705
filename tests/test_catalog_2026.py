"""The catalog of 2026 (issue 18, devices): `as_of` on every device entry, and
`edgeplan catalog diff` between two catalogs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.catalog.diff import diff_catalogs, render_text
from planner.catalog.loader import load_catalog
from planner.cli import main
from planner.errors import CatalogError

ROOT = Path(__file__).resolve().parent.parent
X86 = (ROOT / "catalog" / "devices" / "x86.yaml").read_text()


def run(*args):
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(use_env=False)


def _device(tmp_path, name="pc.yaml", **replace) -> Path:
    src = X86.replace("id: desktop-x86-host", "id: my-pc")
    for old, new in replace.items():
        assert old in src, old
        src = src.replace(old, new)
    (tmp_path / name).write_text(src)
    return tmp_path / name


# ---------------------------------------------------------------- as_of

def test_every_builtin_device_says_when_its_facts_were_checked(catalog):
    import datetime
    for d in catalog.devices.values():
        assert d.as_of is not None, d.id
        day = datetime.date.fromisoformat(d.as_of)
        assert datetime.date(2026, 1, 1) <= day <= datetime.date(2026, 12, 31), d.id


def test_a_builtin_device_without_as_of_is_refused(tmp_path, monkeypatch):
    from planner.catalog import loader
    cat_dir = tmp_path / "catalog"
    cat_dir.mkdir()
    src = re.sub(r'\n    as_of: "[0-9-]+"', "", X86)
    (cat_dir / "x86.yaml").write_text(src)
    monkeypatch.setattr(loader, "builtin_dirs", lambda: [cat_dir])
    with pytest.raises(CatalogError) as e:
        load_catalog(use_env=False)
    assert "as_of" in str(e.value) and e.value.field == "devices[0].id"


def test_as_of_is_optional_in_a_user_catalog_and_shown(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    _device(d, **{'    as_of: "2026-11-28"\n': ""})
    cat = load_catalog([d], use_env=False)
    assert cat.devices["my-pc"].as_of is None
    code, out = run("catalog", "show", "my-pc", "--catalog", str(d), "--format", "json")
    assert code == 0 and json.loads(out)["as_of"] is None
    code, out = run("catalog", "list", "--catalog", str(d), "--format", "json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["my-pc"]["as_of"] is None
    assert rows["jetson-agx-orin-64gb"]["as_of"] == \
        load_catalog(use_env=False).devices["jetson-agx-orin-64gb"].as_of


def test_as_of_unquoted_in_yaml_reads_as_the_date(tmp_path):
    _device(tmp_path, **{'as_of: "2026-11-28"': "as_of: 2026-10-01"})
    assert load_catalog([tmp_path], use_env=False).devices["my-pc"].as_of == "2026-10-01"


@pytest.mark.parametrize("value", ['"2026-13-01"', '"04.12.2026"', "2026-12-04T10:00:00", "20261204"])
def test_as_of_that_is_not_a_date_is_one_line_naming_the_field(tmp_path, value):
    _device(tmp_path, **{'as_of: "2026-11-28"': f"as_of: {value}"})
    code, out = run("catalog", "validate", str(tmp_path))
    assert code == 2 and "as_of" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


# ---------------------------------------------------------------- catalog diff

def _two(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    _device(old)
    _device(old, "gone.yaml", **{"id: my-pc": "id: old-pc"})
    _device(new, **{"bandwidth_gbs: 42.7 GB/s": "bandwidth_gbs: 60 GB/s",
                    'as_of: "2026-11-28"': 'as_of: "2026-12-04"'})
    _device(new, "new.yaml", **{"id: my-pc": "id: new-pc"})
    return old, new


def test_diff_lists_added_removed_and_changed_facts(tmp_path):
    if "bandwidth_gbs: 42.7 GB/s" not in X86:
        pytest.skip("x86 entry changed")
    old, new = _two(tmp_path)
    d = diff_catalogs(old, new)
    assert d.added["device"] == ["new-pc"] and d.removed["device"] == ["old-pc"]
    facts = {(c.id, c.path): (c.old, c.new) for c in d.changed}
    assert facts == {("my-pc", "as_of"): ("2026-11-28", "2026-12-04"),
                     ("my-pc", "memory.bandwidth_gbs"): (42.7, 60.0)}
    text = render_text(d)
    assert text.splitlines()[0] == "devices: 1 added, 1 removed, 1 changed"
    assert "+ device new-pc" in text and "- device old-pc" in text
    assert "~ device my-pc: memory.bandwidth_gbs 42.7 -> 60.0" in text


def test_diff_paths_name_units_modes_and_options_by_id(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "m.yaml").write_text((ROOT / "catalog" / "devices" / "jetson.yaml").read_text())
    src = (ROOT / "catalog" / "devices" / "jetson.yaml").read_text()
    src = src.replace("- {id: 5w, power_w: 5 W, compute_scale: 0.694}",
                      "- {id: 5w, power_w: 5 W, compute_scale: 0.7}")
    src = src.replace("peak_tops: {fp32: 0.236, fp16: 0.472}", "peak_tops: {fp32: 0.236, fp16: 0.5}")
    (new / "m.yaml").write_text(src)
    d = diff_catalogs(old, new)
    assert [(c.id, c.path, c.old, c.new) for c in d.changed] == [
        ("jetson-nano-4gb", "power.modes[5w].compute_scale", 0.694, 0.7),
        ("jetson-nano-4gb", "units[gpu].peak_tops.fp16", 0.472, 0.5)]


def test_diff_of_a_catalog_with_itself_is_empty_and_exit_code_says_so(tmp_path):
    old, new = _two(tmp_path)
    code, out = run("catalog", "diff", str(old), str(old), "--exit-code")
    assert code == 0 and out.strip() == "no differences"
    code, out = run("catalog", "diff", str(old), str(new), "--exit-code")
    assert code == 1 and "+ device new-pc" in out
    code, _ = run("catalog", "diff", str(old), str(new))
    assert code == 0


def test_diff_json_is_deterministic_and_complete(tmp_path):
    old, new = _two(tmp_path)
    code, out = run("catalog", "diff", str(old), str(new), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["summary"]["device"] == {"added": 1, "removed": 1, "changed": 1}
    assert data["added"]["device"] == ["new-pc"] and data["removed"]["device"] == ["old-pc"]
    assert {c["path"] for c in data["changed"]} == {"as_of", "memory.bandwidth_gbs"}
    assert run("catalog", "diff", str(old), str(new), "--format", "json")[1] == out


def test_diff_reads_a_checkout_layout_against_the_builtin_catalog(tmp_path):
    import shutil
    for name in ("catalog", "profiles"):
        shutil.copytree(ROOT / name, tmp_path / name)
    code, out = run("catalog", "diff", str(tmp_path))
    assert code == 0 and out.strip() == "no differences"
    # measurements are matched by what they measured; a changed value is a changed fact
    f = tmp_path / "catalog" / "measurements" / "rockchip.yaml"
    text = f.read_text()
    m = re.search(r"value: ([0-9.]+)", text)
    f.write_text(text.replace(m.group(0), "value: 12345", 1))
    code, out = run("catalog", "diff", str(tmp_path))
    assert code == 0 and out.splitlines()[0] == "measurements: 0 added, 0 removed, 1 changed"
    assert re.search(r"^~ measurement rk3588-orange-pi-5-8gb/resnet-50/int8/npu/rknn/-/1/throughput_fps: value 12345.0 -> ", out, re.M)


def test_diff_bad_directory_is_one_line_exit_2(tmp_path):
    code, out = run("catalog", "diff", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in out and len(out.strip().splitlines()) == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "d.yaml").write_text("devices:\n  - {id: x, name: y, colour: red}\n")
    code, out = run("catalog", "diff", str(bad), str(bad))
    assert code == 2 and "d.yaml" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_diff_text_shows_where_a_long_string_changed():
    from planner.catalog.diff import Change, CatalogDiff
    before = "Factory default mode is 25W. " * 5
    d = CatalogDiff(added={}, removed={}, changed=[
        Change("device", "x", "notes", before, before + "Checked 2026-12-04.")])
    line = render_text(d).splitlines()[-1]
    assert "Checked 2026-12-04." in line and line.count("...") >= 2


# ---------------------------------------------------------------- the devices of issue 18

def test_the_catalog_reaches_the_issues_size(catalog):
    assert len(catalog.devices) >= 70
    assert len(catalog.families()) >= 13


@pytest.mark.parametrize("device", ["jetson-agx-thor-devkit", "dgx-spark", "ryzen-ai-max-395-128gb",
                                    "hailo-10h-rpi5-ai-hat-plus-2", "rk3576-armsom-sige5-8gb",
                                    "lunar-lake-core-ultra-7-258v-32gb", "imx8mp-panzer-plus-4gb",
                                    "mac-mini-m4-pro-24gb", "oneplus-15-8elite-gen5"])
def test_new_devices_are_dated_today_and_every_block_is_sourced(catalog, device):
    d = catalog.devices[device]
    assert d.as_of == "2026-12-04"
    for block in (d.memory, d.power, d.price, *d.units):
        assert len(block.source) > 10, (device, type(block).__name__)


def test_bus_width_and_bandwidth_agree_on_a_real_transfer_rate(catalog):
    """bandwidth = bus width / 8 x transfer rate: the rate that implies is one DRAM runs at
    (LPDDR4 1600 MT/s to LPDDR5X 10700 MT/s), so a bus width typed wrong shows up here."""
    seen = 0
    for d in catalog.devices.values():
        bits = d.memory.bus_width_bits
        if bits is None:
            continue
        seen += 1
        mts = d.memory.bandwidth_gbs * 1000 / (bits / 8)
        assert 1600 <= mts <= 10700, (d.id, bits, d.memory.bandwidth_gbs, mts)
    assert seen >= 6


def test_every_rockchip_board_records_its_bus_width_and_the_32_bit_one_has_half(catalog):
    boards = [d for d in catalog.devices.values() if d.family == "rockchip"]
    assert boards and all(d.memory.bus_width_bits for d in boards)
    rk3576 = catalog.devices["rk3576-armsom-sige5-8gb"]
    rk3588 = catalog.devices["rk3588-orange-pi-5-8gb"]
    assert (rk3576.memory.bus_width_bits, rk3588.memory.bus_width_bits) == (32, 64)
    assert rk3576.memory.bandwidth_gbs < 0.6 * rk3588.memory.bandwidth_gbs


def test_int8_only_npus_list_no_float_peak(catalog):
    for dev in ("qcs6490-rb3-gen2", "imx8mp-panzer-plus-4gb"):
        npu = catalog.devices[dev].unit("npu")
        assert set(npu.peak_tops) == {"int8"}, dev


def test_new_families_have_their_vendor_runtime(catalog):
    for family_unit, runtime in (("dgx/gpu", "tensorrt"), ("amd/npu", "onnxruntime"),
                                 ("intel/npu", "openvino"), ("intel/gpu", "openvino")):
        fam, kind = family_unit.split("/")
        dev = next(d for d in catalog.devices.values() if d.family == fam)
        unit = next(u for u in dev.units if u.kind == kind)
        assert catalog.vendor_runtime(family_unit, unit.runtimes) == runtime


def test_bus_width_is_checked_input(tmp_path):
    _device(tmp_path, **{"bandwidth_gbs: 42.7 GB/s\n": "bandwidth_gbs: 42.7 GB/s\n      bus_width_bits: -64\n"})
    code, out = run("catalog", "validate", str(tmp_path))
    assert code == 2 and "bus_width_bits" in out and len(out.strip().splitlines()) == 1


def test_rt_detr_is_sourced_flops_are_two_macs_and_no_int8_is_invented(catalog):
    """RT-DETR R18 / R50 (issue 18's vision list): the authors' table gives FLOPs = 2 x the
    MACs their own paddle.flops prints (R50: 136 G vs 68.35 G); the decoder's deformable
    attention is GridSample, which op tables must see; no INT8 AP is published, so no INT8
    option exists to be planned."""
    r18, r50 = catalog.models["rtdetr-r18"], catalog.models["rtdetr-r50"]
    assert (r18.size.params_m, r18.size.macs_g) == (20, 30)
    assert r50.size.macs_g == pytest.approx(136 / 2, rel=0.01)
    for m in (r18, r50):
        assert m.task == "detection" and m.size.output_elements == 300 * 6
        assert {"GridSample", "TopK"} <= set(m.onnx_ops)
        assert {o.precision for o in m.options} == {"fp32", "fp16"}
        assert "rtdetr_paddle/README.md" in m.size.source


@pytest.mark.parametrize("mid, params, ops_g, side, fp32, hw_int8", [
    ("efficientdet-lite0", 3.56, 1.94, 320, 27.32, 26.56),
    ("efficientdet-lite1", 4.73, 4.0, 384, 32.27, 31.76),
    ("efficientdet-lite2", 5.93, 6.84, 448, 35.95, 34.72)])
def test_efficientdet_lite_is_hailos_table_ops_are_two_macs_and_int8_is_hardware_map(
        catalog, mid, params, ops_g, side, fp32, hw_int8):
    """EfficientDet-Lite0-2 (google/automl) from the Hailo Model Zoo HAILO8 COCO table: Params,
    OPS = 2 x MACs (yolov11n 6.55 there against the catalog's 3.25 GMACs), float mAP, and the
    Hailo-8 'Hardware mAP' as the published INT8 PTQ figure; FP16 and QAT are estimated by the
    rules, with ranges that keep QAT between that PTQ figure and FP32."""
    m = catalog.models[mid]
    assert m.task == "detection" and m.family == "efficientdet-lite"
    assert m.size.params_m == params
    assert m.size.macs_g == pytest.approx(ops_g / 2, abs=0.005)
    assert m.size.input_elements == 3 * side * side
    assert m.size.output_elements == 100 * 6 + 1
    assert {"activation_mb", "output_elements"} <= set(m.size.estimated)
    assert "HAILO8_object_detection.rst" in m.size.source
    assert {"Clip", "NonMaxSuppression"} <= set(m.onnx_ops)
    fp32_opt, ptq = m.option("fp32", "baseline"), m.option("int8", "ptq")
    assert fp32_opt.accuracy == fp32 and not fp32_opt.accuracy_estimated
    assert ptq.accuracy == hw_int8 and not ptq.accuracy_estimated and ptq.accuracy_range is None
    assert "Hardware mAP" in ptq.source and "post-training" in ptq.source
    fp16 = m.option("fp16", "baseline")
    assert fp16.accuracy == fp32 and fp16.accuracy_estimated
    qat = m.option("int8", "qat")
    assert qat.accuracy_estimated and hw_int8 <= qat.accuracy < fp32
    assert (qat.accuracy_range.low, qat.accuracy_range.high) == (hw_int8, fp32)
