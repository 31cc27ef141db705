"""Adopting lint in a repository with findings: baselines and per-rule severity overrides,
each through the CLI on real files."""
import json
import os
from pathlib import Path

from click.testing import CliRunner

from planner.cli import main

ROOT = Path(__file__).resolve().parent.parent
BAD = (ROOT / "examples" / "ci" / "bad-deploy.yaml").read_text()


def lint(tmp_path, *args):
    r = CliRunner().invoke(main, ["lint", *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def at(tmp_path, monkeypatch, name="deploy.yaml", text=BAD):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    return name


def rules_in(out: str) -> list[str]:
    return sorted(f["rule"] for f in json.loads(out)["findings"])


def test_a_baseline_holds_back_every_current_finding(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch)
    code, out, _ = lint(tmp_path, f, "--format", "json")
    assert code == 1 and rules_in(out) == ["EP101", "EP201", "EP311"]
    code, _, err = lint(tmp_path, "--write-baseline", "base.json", f)
    assert code == 0 and "wrote 3 finding(s)" in err
    data = json.loads((tmp_path / "base.json").read_text())
    assert data["version"] == 1
    assert {(e["file"], e["path"], e["rule"]) for e in data["findings"]} == {
        ("deploy.yaml", "budgets.power_w", "EP311"),
        ("deploy.yaml", "workloads[chat].model", "EP101"),
        ("deploy.yaml", "workloads[classify].precision", "EP201")}
    assert "line" not in json.dumps(data)
    code, out, err = lint(tmp_path, f, "--baseline", "base.json", "--format", "json")
    assert code == 0 and rules_in(out) == []
    assert "3 finding(s) held by the baseline" in err


def test_moving_a_block_keeps_it_baselined_and_a_new_finding_is_reported(tmp_path,
                                                                        monkeypatch):
    f = at(tmp_path, monkeypatch)
    lint(tmp_path, "--write-baseline", "base.json", f)
    # the two workloads swap places (every line number moves) and a third, new problem
    moved = BAD.replace("""  - name: chat                 # a 7B-class model on a 4 GB board
    model: llama-3-8b
    precision: fp16
    device: jetson-nano-4gb
  - name: classify             # FP32 on an Edge TPU
    model: mobilenet-v2
    precision: fp32
    device: coral-usb-on-rpi5
    unit: tpu
""", """  - name: classify             # FP32 on an Edge TPU
    model: mobilenet-v2
    precision: fp32
    device: coral-usb-on-rpi5
    unit: tpu
  - name: chat                 # a 7B-class model on a 4 GB board
    model: llama-3-8b
    precision: fp16
    device: jetson-nano-4gb
  - name: detect
    model: yolov8n
    precision: fp32
    device: coral-usb-on-rpi5
    unit: tpu
""")
    assert moved != BAD
    (tmp_path / f).write_text(moved)
    code, out, _ = lint(tmp_path, f, "--baseline", "base.json", "--format", "json")
    findings = json.loads(out)["findings"]
    assert code == 1
    assert {(x["rule"], x["path"]) for x in findings} == {("EP201", "workloads[detect].precision")}


def test_a_fixed_finding_makes_the_baseline_stale_and_strict_fails(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch)
    lint(tmp_path, "--write-baseline", "base.json", f)
    (tmp_path / f).write_text(BAD.replace("    precision: fp32\n", "    precision: int8\n"))
    code, out, err = lint(tmp_path, f, "--baseline", "base.json", "--format", "json")
    assert code == 0 and rules_in(out) == []
    assert "baselined EP201 at deploy.yaml: workloads[classify].precision no longer occurs" in err
    code, _, _ = lint(tmp_path, f, "--baseline", "base.json", "--strict-baseline")
    assert code == 1
    # shrinking the baseline makes strict mode pass again
    lint(tmp_path, "--write-baseline", "base.json", f)
    assert lint(tmp_path, f, "--baseline", "base.json", "--strict-baseline")[0] == 0


def test_the_baseline_works_from_another_directory_and_from_the_config(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / "deploy" / "a.yaml").write_text(BAD)
    monkeypatch.chdir(repo)
    assert lint(repo, "--write-baseline", ".edgeplan-baseline.json", "deploy/")[0] == 0
    (repo / ".edgeplan.yaml").write_text("lint:\n  baseline: .edgeplan-baseline.json\n"
                                         "  strict-baseline: true\n")
    monkeypatch.chdir(repo / "deploy")      # the config is found upwards, paths still match
    code, out, _ = lint(repo, "a.yaml", "--format", "json")
    assert code == 0 and rules_in(out) == []


def test_bad_baselines_are_one_line_input_errors(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch)
    code, _, err = lint(tmp_path, f, "--baseline", "missing.json")
    assert code == 2 and "missing.json" in err and "does not exist" in err
    (tmp_path / "bad.json").write_text('{"version": 1, "findings": [{"file": 3}]}')
    code, _, err = lint(tmp_path, f, "--baseline", "bad.json")
    assert code == 2 and "bad.json" in err and "findings[0]" in err
    assert "Traceback" not in err


def test_severity_overrides_change_the_exit_code_and_sarif_levels(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch)
    (tmp_path / ".edgeplan.yaml").write_text(
        "lint:\n  severity: {EP101: warning, precision-unsupported: info, EP311: warning}\n")
    code, out, _ = lint(tmp_path, f, "--format", "json")
    sev = {x["rule"]: x["severity"] for x in json.loads(out)["findings"]}
    assert sev == {"EP101": "warning", "EP201": "info", "EP311": "warning"}
    assert code == 0                       # nothing left at error
    code, out, _ = lint(tmp_path, f, "--format", "sarif")
    sarif = json.loads(out)
    levels = {r["ruleId"]: r["level"] for r in sarif["runs"][0]["results"]}
    assert levels == {"EP101": "warning", "EP201": "note", "EP311": "warning"}
    assert lint(tmp_path, f, "--fail-on", "warning")[0] == 1


def test_severity_override_errors_name_the_config(tmp_path, monkeypatch):
    f = at(tmp_path, monkeypatch)
    (tmp_path / ".edgeplan.yaml").write_text("lint:\n  severity: {EP999: error}\n")
    code, _, err = lint(tmp_path, f)
    assert code == 2 and ".edgeplan.yaml" in err and "EP999" in err
    (tmp_path / ".edgeplan.yaml").write_text("lint:\n  severity: {EP101: fatal}\n")
    code, _, err = lint(tmp_path, f)
    assert code == 2 and "fatal" in err
    (tmp_path / ".edgeplan.yaml").write_text("lint:\n  severity: {EP001: info}\n")
    code, _, err = lint(tmp_path, f)
    assert code == 2 and "EP001" in err
    assert not os.path.exists(tmp_path / "base.json")
