"""Damaged numbers in a user catalog are bad input at load: exit 2, one line naming file:line
and the field, never a math domain error (exit 70) later (issue 20, section 3)."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("bad", [".inf", "-.inf", ".nan"])
def test_non_finite_measurement_is_refused_with_its_line(tmp_path, bad):
    src = (ROOT / "catalog/measurements/rockchip.yaml").read_text().splitlines()
    head = src[:15]
    assert head[11].strip() == "value: 110.4"
    head[11] = f"    value: {bad}"
    (tmp_path / "measurements").mkdir()
    (tmp_path / "measurements/bad.yaml").write_text("\n".join(head) + "\n")
    r = CliRunner().invoke(main, ["catalog", "validate", "--catalog", str(tmp_path)])
    assert r.exit_code == 2, r.output
    msg = r.output.strip()
    assert len(msg.splitlines()) == 1
    assert "bad.yaml:12" in msg and "value" in msg and "finite" in msg


def test_non_finite_spec_number_is_refused_with_its_line(tmp_path):
    text = (ROOT / "examples/camera-classifier.yaml").read_text()
    assert "accuracy_floor: 70" in text
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("accuracy_floor: 70", "accuracy_floor: .nan"))
    r = CliRunner().invoke(main, ["solve", str(spec)])
    assert r.exit_code == 2, r.output
    assert "spec.yaml:10" in r.output and "accuracy_floor" in r.output and "finite" in r.output


DEVICE = ROOT / "catalog/devices/rockchip.yaml"


@pytest.mark.parametrize("old, new, field", [
    ("total_gb: 8 GB", "total_gb: 0 GB", "total_gb"),
    ("available_gb: 7.2 GB", "available_gb: 0", "available_gb"),
    ("bandwidth_gbs: 33.8 GB/s", "bandwidth_gbs: 0 GB/s", "bandwidth_gbs"),
    ("peak_tops: {fp16: 3, int8: 6, int4: 12}", "peak_tops: {fp16: 3, int8: 0, int4: 12}",
     "peak_tops"),
    ("peak_tops: {fp16: 3, int8: 6, int4: 12}", "peak_tops: {fp16: 3, int8: -6, int4: 12}",
     "peak_tops"),
])
def test_zero_or_negative_device_quantities_are_refused_with_their_line(tmp_path, old, new,
                                                                        field):
    """A device with 0 TOPS, 0 GB or 0 GB/s is a damaged entry, not a device that divides by
    zero (or wins every cost budget) later."""
    text = DEVICE.read_text()
    assert old in text
    line = text[:text.index(old)].count("\n") + 1
    (tmp_path / "devices").mkdir()
    bad = tmp_path / "devices/bad.yaml"
    bad.write_text(text.replace(old, new, 1).replace("id: rk3588-", "id: damaged-rk3588-"))
    r = CliRunner().invoke(main, ["catalog", "validate", "--catalog", str(tmp_path)])
    assert r.exit_code == 2, r.output
    msg = r.output.strip()
    assert len(msg.splitlines()) == 1 and f"bad.yaml:{line}" in msg and field in msg, msg


@pytest.mark.parametrize("value", ["170.9", "-1", ".nan"])
def test_accuracy_outside_its_scale_is_refused_with_its_line(tmp_path, value):
    """Every metric edgeplan knows is on a 0-100 scale; 170.9 is a typo and 0.709 a 0-1
    scale figure that would lose every floor."""
    text = (ROOT / "profiles/classification.yaml").read_text()
    old = "accuracy: 70.9"
    line = text[:text.index(old)].count("\n") + 1
    (tmp_path / "profiles").mkdir()
    bad = tmp_path / "profiles/bad.yaml"
    ids = [ln.split("id:")[1].strip() for ln in text.splitlines() if ln.startswith("  - id:")]
    for i in ids:        # new ids, so the file adds models instead of clashing with builtins
        text = text.replace(f"id: {i}\n", f"id: damaged-{i}\n")
    bad.write_text(text.replace(old, f"accuracy: {value}", 1))
    r = CliRunner().invoke(main, ["catalog", "validate", "--catalog", str(tmp_path)])
    assert r.exit_code == 2, r.output
    msg = r.output.strip()
    assert len(msg.splitlines()) == 1 and f"bad.yaml:{line}" in msg and "accuracy" in msg, msg


def test_accuracy_floor_outside_the_scale_is_refused(tmp_path):
    text = (ROOT / "examples/camera-classifier.yaml").read_text()
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("accuracy_floor: 70", "accuracy_floor: 700"))
    r = CliRunner().invoke(main, ["solve", str(spec)])
    assert r.exit_code == 2, r.output
    assert "spec.yaml:10" in r.output and "accuracy_floor" in r.output and "100" in r.output
