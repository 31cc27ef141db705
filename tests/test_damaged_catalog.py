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
