"""Issue 15 §6, small output defects lint and the loaders show: a did-you-mean for an
unknown field name, a duplicate workload name at the duplicate's own line, and no `%%` in
`bundle --help`."""
from __future__ import annotations

from click.testing import CliRunner

from planner.cli import main

HEAD = """apiVersion: edgeplan/v1
kind: Deployment
devices: [{id: coral-usb-on-rpi5}]
workloads:
"""
W = "  - {name: det, model: mobilenet-v2, precision: int8, device: coral-usb-on-rpi5}\n"


def run(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout + r.stderr


def test_duplicate_workload_name_is_reported_at_the_duplicate(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text(HEAD + W + W.replace("precision: int8", "precision: int8, technique: qat"))
    code, out = run("lint", str(f))
    assert code == 2
    assert f"{f}:6:" in out and "duplicate workload name 'det'" in out, out


def test_unknown_manifest_field_gets_did_you_mean(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text(HEAD + W.replace("device:", "runtme: tflite, device:"))
    code, out = run("lint", str(f))
    assert code == 2
    assert "runtme: unknown field; did you mean 'runtime'?" in out, out


def test_unknown_spec_field_gets_did_you_mean(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nworkloads:\n  - name: chat\n    models: [llama-3-8b]\n"
                 "    contxt_tokens: 2048\ndevices:\n  allow: [jetson-nano-4gb]\n")
    code, out = run("solve", str(f))
    assert code == 2
    assert f"{f}:5:5:" in out and "did you mean 'context_tokens'?" in out, out


def test_unknown_field_far_from_any_gets_no_guess(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text(HEAD + W.replace("device:", "zzzzqqq: 1, device:"))
    code, out = run("lint", str(f))
    assert "zzzzqqq: unknown field" in out and "did you mean" not in out, out


def test_bundle_help_shows_a_plain_percent_sign():
    code, out = run("bundle", "--help")
    assert code == 0 and "%%" not in out and "--eval-data, %" in out


def test_lint_of_a_directory_says_which_specs_without_kind_it_skipped(tmp_path):
    (tmp_path / "spec.yaml").write_text("name: s\nworkloads:\n  - {name: cls, task: classification}\n")
    (tmp_path / "ci.yaml").write_text("on: push\njobs: {}\n")          # other YAML: silent
    (tmp_path / "deploy.yaml").write_text(HEAD + W)
    code, out = run("lint", str(tmp_path))
    assert "skipped 1 spec without `kind: Spec`" in out and "spec.yaml" in out, out
    assert "ci.yaml" not in out
