"""`edgeplan lint --fix`, `--diff` and `--unsafe-fixes`, through the CLI on real files: the
edits are certain ones, change only the bytes of the value they fix, and never leave a
half-written file."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main

ROOT = Path(__file__).resolve().parent.parent
BAD = (ROOT / "examples" / "ci" / "bad-deploy.yaml").read_text()
FIXED = BAD.replace("    precision: fp32\n", "    precision: int8\n")
# FP32 on a Coral's host CPU, named: it runs there (EP202, a warning). Without `unit:` lint
# checks the default unit, the Edge TPU, where FP32 is an error (EP201)
FALLBACK = BAD.replace("    unit: tpu\n", "    unit: cpu\n")

HEAD = """apiVersion: edgeplan/v1
kind: Deployment
name: t
devices: [{id: coral-usb-on-rpi5}]   # one board
workloads:
"""


def lint(*args, input=None):
    r = CliRunner().invoke(main, ["lint", *args], input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def at(tmp_path, monkeypatch, text=BAD, name="deploy.yaml"):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    return name


def rules_in(out: str) -> list[str]:
    return sorted(f["rule"] for f in json.loads(out)["findings"])


def test_bad_deploy_is_what_the_fixes_are_tested_on():
    assert "device: coral-usb-on-rpi5\n    unit: tpu\n" in BAD and BAD.count("precision: fp32") == 1
    from planner.catalog.loader import load_catalog
    cat = load_catalog()
    have = {o.precision for o in cat.model("mobilenet-v2").options}
    # the profile has FP16 too, but the Edge TPU runs INT8 only: INT8 is the best it runs
    assert {"fp16", "int8"} <= have
    assert cat.device("coral-usb-on-rpi5").unit("tpu").precisions == ["int8"]


def test_fix_sets_the_precision_the_unit_runs_and_keeps_every_other_byte(tmp_path,
                                                                         monkeypatch):
    f = at(tmp_path, monkeypatch)
    code, out, err = lint("--fix", f, "--format", "json")
    # the Edge TPU runs INT8 only, and mobilenet-v2 has INT8 options: EP201 is fixed, the
    # findings that have no certain fix remain and decide the exit code
    assert (tmp_path / f).read_text() == FIXED
    assert code == 1 and rules_in(out) == ["EP101", "EP311"]
    assert "deploy.yaml: applied 1 fix (EP201 precision: fp32 -> int8)" in err
    assert "unsafe" not in err


def test_a_second_fix_changes_nothing(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch)
    lint("--fix", f)
    before = os.stat(tmp_path / f)
    code, _, err = lint("--fix", f)
    assert code == 1 and "nothing to fix" in err and "applied" not in err
    assert (tmp_path / f).read_text() == FIXED
    assert os.stat(tmp_path / f).st_ino == before.st_ino      # not even rewritten


def test_diff_shows_the_fix_and_writes_nothing(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch)
    code, out, err = lint("--diff", f)
    assert code == 1
    assert out.startswith("--- deploy.yaml\n+++ deploy.yaml\n@@ ")
    assert "\n-    precision: fp32\n+    precision: int8\n" in out
    assert [ln for ln in out.splitlines() if ln[:1] in "+-"] == [
        "--- deploy.yaml", "+++ deploy.yaml", "-    precision: fp32", "+    precision: int8"]
    assert "would apply 1 fix" in err
    assert (tmp_path / f).read_text() == BAD
    # the diff is a patch: applied, it gives what --fix writes
    if shutil.which("patch"):
        patched = subprocess.run(["patch", "-p0"], input=out, text=True, capture_output=True,
                                 check=False)
        assert patched.returncode == 0, patched.stdout + patched.stderr
        assert (tmp_path / f).read_text() == FIXED
        (tmp_path / f).write_text(BAD)
    # nothing left to fix: no diff, exit 0 (findings or not)
    lint("--fix", f)
    code, out, err = lint("--diff", f)
    assert (code, out) == (0, "") and "nothing to fix" in err


def test_an_unsafe_fix_needs_unsafe_fixes(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch, FALLBACK)
    code, out, _ = lint(f, "--format", "json")
    assert "EP202" in rules_in(out) and "EP201" not in rules_in(out)
    # moving the workload from the host CPU to the Edge TPU at INT8 changes what runs
    code, _, err = lint("--fix", f)
    assert (tmp_path / f).read_text() == FALLBACK
    assert ("deploy.yaml: 1 unsafe fix not applied (EP202 precision: fp32 -> int8, unit: cpu -> tpu)"
            "; --unsafe-fixes applies them") in err
    code, out, err = lint("--diff", f)
    assert (code, out) == (0, "")
    code, out, err = lint("--fix", "--unsafe-fixes", f, "--format", "json")
    assert (tmp_path / f).read_text() == BAD.replace("    precision: fp32\n",
                                                     "    precision: int8\n")
    assert "EP202" not in rules_in(out) and "applied 1 fix (EP202" in err


def test_a_missing_unit_the_runtime_needs_is_added(tmp_path, monkeypatch):
    """No `unit:`: INT8 resolves to the Edge TPU, where onnxruntime does not run; the one
    unit that runs onnxruntime at INT8 is the host CPU. Block and flow mappings alike."""
    text = HEAD + """  - name: block          # onnxruntime on the host
    model: mobilenet-v2
    precision: int8
    device: coral-usb-on-rpi5
    runtime: onnxruntime   # not edgetpu
  # a flow mapping
  - {name: flow, model: mobilenet-v2, precision: int8, device: coral-usb-on-rpi5, runtime: onnxruntime}  # x
budgets:
  power_w: 20
"""
    f = at(tmp_path, monkeypatch, text)
    _, out, err = lint("--fix", f, "--format", "json")
    assert (tmp_path / f).read_text() == text.replace(
        "    runtime: onnxruntime   # not edgetpu\n",
        "    runtime: onnxruntime   # not edgetpu\n    unit: cpu\n").replace(
        "runtime: onnxruntime}", "runtime: onnxruntime, unit: cpu}")
    assert "EP401" not in rules_in(out)
    assert "applied 2 fixes (EP401 unit: + cpu; EP401 unit: + cpu)" in err


def test_a_stated_unit_that_contradicts_the_runtime_is_an_unsafe_fix(tmp_path, monkeypatch):
    text = HEAD + """  - {name: a, model: mobilenet-v2, precision: int8, device: coral-usb-on-rpi5, unit: tpu, runtime: onnxruntime}
"""
    f = at(tmp_path, monkeypatch, text)
    _, _, err = lint("--fix", f)
    assert (tmp_path / f).read_text() == text and "1 unsafe fix not applied (EP401" in err
    lint("--fix", "--unsafe-fixes", f)
    assert (tmp_path / f).read_text() == text.replace("unit: tpu", "unit: cpu")


def test_a_stated_technique_that_must_change_makes_the_precision_fix_unsafe(tmp_path,
                                                                           monkeypatch):
    text = BAD.replace("    precision: fp32\n", "    precision: 'fp32'\n    technique: baseline\n")
    f = at(tmp_path, monkeypatch, text)
    _, _, err = lint("--fix", f)
    assert (tmp_path / f).read_text() == text
    assert "(EP201 precision: fp32 -> int8, technique: baseline -> qat)" in err
    lint("--fix", "--unsafe-fixes", f)
    assert (tmp_path / f).read_text() == BAD.replace(
        "    precision: fp32\n", "    precision: 'int8'\n    technique: qat\n")  # quoting kept


def test_a_suppressed_or_baselined_finding_is_not_fixed(tmp_path, monkeypatch):
    text = BAD.replace("    precision: fp32\n",
                       "    precision: fp32    # edgeplan: disable=EP201 -- compiled elsewhere\n")
    f = at(tmp_path, monkeypatch, text)
    _, _, err = lint("--fix", f)
    assert (tmp_path / f).read_text() == text and "nothing to fix" in err
    g = at(tmp_path, monkeypatch, BAD, "other.yaml")
    assert lint("--write-baseline", "base.json", g)[0] == 0
    code, _, err = lint("--fix", "--baseline", "base.json", g)
    assert (tmp_path / g).read_text() == BAD and "nothing to fix" in err and code == 0


def test_stdin_cannot_be_fixed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for flag in ("--fix", "--diff"):
        code, out, err = lint(flag, "-", input=BAD)
        assert code == 2 and "standard input (-) cannot be fixed" in err and out == ""
    code, _, err = lint("--unsafe-fixes", "-", input=BAD)
    assert code == 2 and "--unsafe-fixes goes with --fix or --diff" in err
    f = at(tmp_path, monkeypatch)
    code, _, err = lint("--fix", "--write-baseline", "b.json", f)
    assert code == 2 and (tmp_path / f).read_text() == BAD


def test_a_failed_write_leaves_the_original_whole_and_no_temporary_file(tmp_path,
                                                                        monkeypatch):
    """We run as root, so a read-only directory would not stop the write: the rename fails."""
    f = at(tmp_path, monkeypatch)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = lint("--fix", f)
    assert code == 2 and "cannot write the fixes: Permission denied" in err
    assert "Traceback" not in err
    assert (tmp_path / f).read_text() == BAD
    assert sorted(os.listdir(tmp_path)) == [f]


def test_line_endings_bom_missing_final_newline_and_mode_are_kept(tmp_path, monkeypatch):
    text = ("\ufeffapiVersion: edgeplan/v1\r\nkind: Deployment\r\nname: t\r\n"
            "devices:\r\n  - id: coral-usb-on-rpi5\r\nworkloads:\r\n  - name: a\r\n"
            "    model: mobilenet-v2\r\n    precision: int8\r\n    device: coral-usb-on-rpi5\r\n"
            "    runtime: onnxruntime")
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "deploy.yaml"
    p.write_bytes(text.encode())
    p.chmod(0o640)
    code, _, err = lint("--fix", "deploy.yaml")
    assert code == 0, err
    assert p.read_bytes() == (text + "\r\n    unit: cpu").encode()
    assert p.stat().st_mode & 0o777 == 0o640


def test_a_value_behind_an_anchor_is_left_alone(tmp_path, monkeypatch):
    text = HEAD + """  - name: a
    model: mobilenet-v2
    precision: &p fp32
    device: coral-usb-on-rpi5
    unit: tpu
  - name: b
    model: mobilenet-v2
    precision: *p
    device: coral-usb-on-rpi5
    unit: tpu
"""
    f = at(tmp_path, monkeypatch, text)
    code, _, err = lint("--fix", f)
    assert code == 1 and (tmp_path / f).read_text() == text
    assert "cannot fix EP201 at workloads[a].precision: the value is behind an anchor" in err


def test_plain_lint_does_not_load_the_fixer():
    code = ("import sys\nfrom planner.cli import main\n"
            "try:\n    main(['lint', 'examples/ci/bad-deploy.yaml'])\n"
            "except SystemExit:\n    pass\n"
            "print('planner.lint.fixes' in sys.modules, file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.stderr.strip().splitlines()[-1] == "False", p.stderr[-2000:]


@pytest.mark.parametrize("flag", ["--fix", "--diff"])
def test_help_documents_the_fix_options(flag):
    r = CliRunner().invoke(main, ["lint", "--help"])
    assert flag in r.stdout and "--unsafe-fixes" in r.stdout
