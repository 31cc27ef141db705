"""Damaged data is bad input, never a result (issue 20, section 3): calibration or eval data
with NaN, infinity or numbers the model's input cannot hold, and eval labels that are not
class indices, are refused with exit 2 and one line naming the file and the option, before
anything is converted or written. Before, such data gave a "verified" bundle, or exit 4 with
"0.00 % accuracy" as if the model were bad."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest_bundle import (  # noqa: F401
    CNN,
    EXAMPLES,
    catalog_dir,
    only_test_catalog,
    workload,
    write_manifest,
)

from planner import exitcodes
from planner.bundle.quantize import class_labels, load_npz
from planner.cli import main
from planner.errors import InputError

GOOD = np.load(EXAMPLES / "digits_cnn_eval.npz")
IMAGE, LABELS = GOOD["image"][:8], GOOD["labels"][:8]
SPECS = [("image", "float32", ["N", 1, 8, 8])]


def damaged_image(kind: str) -> np.ndarray:
    img = IMAGE.astype(np.float64 if kind == "huge-float" else np.float32).copy()
    if kind == "nan":
        img[3, 0, 2, 2] = np.nan
    elif kind == "inf":
        img[5, 0, 0, 0] = -np.inf
    elif kind == "huge-float":
        img[1, 0, 0, 0] = 1e300        # becomes float32 infinity
    elif kind == "huge-int":
        img = (IMAGE * 10**12).astype(np.int64)   # no longer exact in float32
    return img


@pytest.mark.parametrize("kind, message", [
    ("nan", "holds NaN at row 3"),
    ("inf", "holds infinity at row 5"),
    ("huge-float", "beyond what the model's float32 input holds"),
    ("huge-int", "holds exactly"),
])
@pytest.mark.parametrize("option", ["--calibration-data", "--eval-data"])
def test_non_finite_or_unrepresentable_inputs_are_bad_input(tmp_path, only_test_catalog, kind,
                                                           message, option):
    bad = tmp_path / "data.npz"
    np.savez(bad, image=damaged_image(kind), labels=LABELS)
    plan = write_manifest(tmp_path / "deploy.yaml", workload(model_file=str(CNN)))
    r = CliRunner().invoke(main, ["bundle", str(plan), "--catalog", only_test_catalog,
                                  "-o", str(tmp_path / "out"), option, str(bad), "-q"])
    assert r.exit_code == exitcodes.USAGE, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in r.output
    assert str(bad) in err and option in err and message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("labels, message", [
    (np.array(["cat"] * 8), "not class indices"),
    (np.full(8, 10), "label 10 at row 0 is outside 0 to 9 (the model's 10 classes)"),
    (np.r_[LABELS[:7], -1], "label -1 at row 7 is outside 0"),
    (np.r_[LABELS[:6].astype(float), 2.5, 1.0], "label 2.5 at row 6 is not a class index"),
])
def test_eval_labels_that_are_not_class_indices_are_bad_input(tmp_path, only_test_catalog,
                                                              labels, message):
    bad = tmp_path / "eval.npz"
    np.savez(bad, image=IMAGE, labels=labels)
    plan = write_manifest(tmp_path / "deploy.yaml", workload(model_file=str(CNN)))
    r = CliRunner().invoke(main, ["bundle", str(plan), "--catalog", only_test_catalog,
                                  "-o", str(tmp_path / "out"), "--eval-data", str(bad), "-q"])
    assert r.exit_code == exitcodes.USAGE, r.output      # not 4, "0.00 % accuracy"
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and message in err and "--eval-data" in err, err
    assert not (tmp_path / "out").exists()


def test_good_data_loads_unchanged_and_integral_inputs_convert_exactly(tmp_path):
    f = tmp_path / "ok.npz"
    np.savez(f, image=IMAGE, labels=LABELS.astype(np.float64))
    arrays, labels = load_npz(f, SPECS, what="--eval-data")
    assert np.array_equal(arrays["image"], IMAGE) and labels.dtype == np.int64
    assert np.array_equal(labels, LABELS)
    # small integers are exact in float32: accepted
    np.savez(f, image=(IMAGE * 16).astype(np.int64))
    arrays, _ = load_npz(f, SPECS, what="--calibration-data")
    assert arrays["image"].dtype == np.float32
    # a uint8 input cannot hold 300 (it would wrap to 44)
    with pytest.raises(InputError, match="uint8 input cannot hold"):
        np.savez(f, x=np.full((2, 4), 300, np.int64))
        load_npz(f, [("x", "uint8", ["N", 4])], what="--calibration-data")


def test_class_labels_without_a_class_count_checks_sign_only():
    assert class_labels(np.array([0, 99]), "f", "--eval-data").tolist() == [0, 99]
    with pytest.raises(InputError, match="outside 0"):
        class_labels(np.array([0, -3]), Path("f"), "--eval-data")
