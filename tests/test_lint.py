"""`edgeplan lint`: targets, config, select/ignore, suppressions, exit codes, the CLI, and
never a traceback. The rules themselves are tested case by case in test_lint_cases.py."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner import exitcodes
from planner.errors import InputError
from planner.lint.config import load_config
from planner.lint.engine import lint_paths
from planner.lint.rules import RULES
from planner.lint.select import enabled_rules, get_rule, match_rules
from planner.lint.targets import expand_targets

try:
    from .lint_helpers import make_onnx
except ImportError:             # tests/ is not a package: pytest put it on sys.path
    from lint_helpers import make_onnx

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "lint_cases" / "_catalog"

BAD = textwrap.dedent("""\
    apiVersion: edgeplan/v1
    kind: Deployment
    devices: [{id: lt-gpu}]
    workloads:
      - name: chat
        model: lt-llm
        precision: fp16
        device: lt-gpu
      - name: cls
        model: lt-cnn
        precision: fp32
        device: lt-gpu
    """)
CLEAN = textwrap.dedent("""\
    apiVersion: edgeplan/v1
    kind: Deployment
    devices: [{id: lt-gpu, power_mode: 15w}]
    workloads:
      - {name: cls, model: lt-cnn, precision: fp16, device: lt-gpu, rate_fps: 30}
    """)


@pytest.fixture(scope="module")
def toy():
    from planner.catalog.loader import load_catalog
    return load_catalog([TOY], builtin=False, use_env=False)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def rules_of(report):
    return [f.rule for f in report.findings]


# ---------------------------------------------------------------- findings and exit codes

def test_findings_have_file_line_column_and_fix(tmp_path, toy):
    p = write(tmp_path, "deploy.yaml", BAD)
    r = lint_paths([str(p)], catalog=toy, cwd=str(tmp_path))
    assert rules_of(r) == ["EP101", "EP202"]
    mem, fp32 = r.findings
    assert (mem.file, mem.line, mem.column) == ("deploy.yaml", 6, 5)
    assert (fp32.line, fp32.column) == (11, 5)
    assert mem.fix and fp32.fix
    assert mem.path == "workloads[chat].model"
    assert r.exit_code == exitcodes.FINDINGS


@pytest.mark.parametrize("fail_on, code", [("error", exitcodes.FINDINGS),
                                           ("warning", exitcodes.FINDINGS),
                                           ("info", exitcodes.FINDINGS)])
def test_fail_on_with_an_error(tmp_path, toy, fail_on, code):
    p = write(tmp_path, "deploy.yaml", BAD)
    assert lint_paths([str(p)], catalog=toy, fail_on=fail_on).exit_code == code


def test_fail_on_decides_for_warnings(tmp_path, toy):
    p = write(tmp_path, "deploy.yaml", BAD)
    only_warning = dict(catalog=toy, select=["EP202"])
    assert lint_paths([str(p)], fail_on="error", **only_warning).exit_code == exitcodes.OK
    assert lint_paths([str(p)], fail_on="warning", **only_warning).exit_code == exitcodes.FINDINGS


def test_clean_manifest_exits_zero(tmp_path, toy):
    p = write(tmp_path, "deploy.yaml", CLEAN)
    r = lint_paths([str(p)], catalog=toy, fail_on="info")
    assert r.findings == [] and r.exit_code == exitcodes.OK


def test_invalid_document_is_a_finding_and_exit_2(tmp_path, toy):
    p = write(tmp_path, "deploy.yaml", "apiVersion: edgeplan/v1\nkind: Deployment\ndevices: [\n")
    q = write(tmp_path, "ok.yaml", BAD)
    r = lint_paths([str(p), str(q)], catalog=toy)
    assert "EP001" in rules_of(r) and "EP101" in rules_of(r)   # the other file is still linted
    assert r.exit_code == exitcodes.USAGE


def test_ep001_cannot_be_ignored_or_suppressed(tmp_path, toy):
    p = write(tmp_path, "deploy.yaml",
              "# edgeplan: disable-file=EP001 -- no\napiVersion: edgeplan/v1\nkind: Deployment\n")
    r = lint_paths([str(p)], catalog=toy, ignore=["EP001"])
    assert rules_of(r) == ["EP001"]


# ---------------------------------------------------------------- select / ignore

def test_select_forms():
    assert match_rules(["EP101"]) == {"EP101"}
    assert match_rules(["memory-overflow"]) == {"EP101"}
    assert match_rules(["ep1"]) == {r for r in RULES if r.startswith("EP1")}
    assert match_rules(["EP3xx"]) == {r for r in RULES if r.startswith("EP3")}
    assert match_rules(["EP101,EP202", " EP203 "]) == {"EP101", "EP202", "EP203"}
    assert match_rules(["ALL"]) == set(RULES)


def test_unknown_rule_is_a_usage_error_with_did_you_mean():
    with pytest.raises(InputError, match="did you mean 'EP101'"):
        match_rules(["EP1O1"])
    with pytest.raises(InputError, match="did you mean 'memory-overflow'"):
        get_rule("memory-overflw")
    with pytest.raises(InputError, match="no rule starts with"):
        match_rules(["EP8"])


def test_ignore_and_always_on():
    ids = enabled_rules(select=["EP1"], ignore=["EP102"])
    assert "EP102" not in ids and "EP101" in ids and "EP001" in ids
    assert "EP202" not in ids


def test_ignore_drops_findings(tmp_path, toy):
    p = write(tmp_path, "deploy.yaml", BAD)
    assert rules_of(lint_paths([str(p)], catalog=toy, ignore=["EP2"])) == ["EP101"]
    assert rules_of(lint_paths([str(p)], catalog=toy, select=["fp32-on-accelerator"])) == ["EP202"]


# ---------------------------------------------------------------- suppressions

def _lines(text: str, lineno: int, comment: str) -> str:
    lines = text.splitlines()
    lines[lineno - 1] += f"  {comment}"
    return "\n".join(lines) + "\n"


def test_trailing_suppression_on_the_workload_covers_it(tmp_path, toy):
    text = _lines(BAD, 5, "# edgeplan: disable=EP101 -- runs on the bigger board in prod")
    r = lint_paths([str(write(tmp_path, "d.yaml", text))], catalog=toy)
    assert rules_of(r) == ["EP202"]
    assert [f.rule for f in r.suppressed] == ["EP101"]
    assert r.suppressed[0].suppressed == "runs on the bigger board in prod"
    assert r.notices == []


def test_comment_line_suppresses_the_next_line(tmp_path, toy):
    lines = BAD.splitlines()
    lines.insert(10, "    # edgeplan: disable=fp32-on-accelerator -- reference run")
    r = lint_paths([str(write(tmp_path, "d.yaml", "\n".join(lines) + "\n"))], catalog=toy)
    assert rules_of(r) == ["EP101"]


def test_suppression_on_another_workload_does_not_apply(tmp_path, toy):
    text = _lines(BAD, 9, "# edgeplan: disable=EP101 -- wrong place")
    r = lint_paths([str(write(tmp_path, "d.yaml", text))], catalog=toy)
    assert "EP101" in rules_of(r)
    assert [n.message for n in r.notices] == ["suppression of EP101 suppresses nothing"]
    assert r.notices[0].line == 9


def test_file_suppression_and_unknown_ids(tmp_path, toy):
    text = "# edgeplan: disable-file=EP202,EP1O1 -- lab bench\n" + BAD
    r = lint_paths([str(write(tmp_path, "d.yaml", text))], catalog=toy)
    assert rules_of(r) == ["EP101"]
    assert any("unknown rule 'EP1O1'; did you mean 'EP101'" in n.message for n in r.notices)


def test_suppression_without_reason_is_noted(tmp_path, toy):
    text = _lines(BAD, 5, "# edgeplan: disable=EP101")
    r = lint_paths([str(write(tmp_path, "d.yaml", text))], catalog=toy)
    assert rules_of(r) == ["EP202"]
    assert any("without a reason" in n.message for n in r.notices)


def test_unused_suppression_of_a_rule_not_run_is_not_noted(tmp_path, toy):
    text = _lines(BAD, 5, "# edgeplan: disable=EP101 -- x")
    r = lint_paths([str(write(tmp_path, "d.yaml", text))], catalog=toy, select=["EP202"])
    assert r.notices == []


def test_marker_inside_a_string_is_not_a_suppression(tmp_path, toy):
    text = BAD.replace("name: chat", "name: chat\n    calibration_data: 'x # edgeplan: disable=EP101'")
    r = lint_paths([str(write(tmp_path, "d.yaml", text))], catalog=toy)
    assert "EP101" in rules_of(r)


# ---------------------------------------------------------------- targets

def test_directories_and_globs_lint_only_edgeplan_documents(tmp_path, toy):
    write(tmp_path, "deploy/a.yaml", BAD)
    write(tmp_path, "deploy/b.yml", CLEAN)
    write(tmp_path, "deploy/ci.yaml", "name: CI\non: [push]\n")
    write(tmp_path, "deploy/.hidden/c.yaml", BAD)
    write(tmp_path, "deploy/notes.txt", "apiVersion: edgeplan/v1")
    r = lint_paths([str(tmp_path / "deploy")], catalog=toy, cwd=str(tmp_path))
    assert r.files == ["deploy/a.yaml", "deploy/b.yml"]
    r = lint_paths([str(tmp_path / "deploy" / "*.y*ml")], catalog=toy, cwd=str(tmp_path))
    assert r.files == ["deploy/a.yaml", "deploy/b.yml"]


def test_named_files_are_linted_whatever_they_are(tmp_path, toy):
    ci = write(tmp_path, "ci.yaml", "name: CI\non: [push]\n")
    r = lint_paths([str(ci)], catalog=toy)
    assert rules_of(r) == ["EP001"]
    r = lint_paths([str(ci)], catalog=toy, skip_other=True)
    assert r.files == [] and r.exit_code == exitcodes.OK


def test_missing_paths_are_usage_errors(tmp_path, toy):
    with pytest.raises(InputError, match="no such file"):
        lint_paths([str(tmp_path / "nope.yaml")], catalog=toy)
    with pytest.raises(InputError, match="no files match"):
        lint_paths([str(tmp_path / "*.yaml")], catalog=toy)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no edgeplan manifests or specs"):
        lint_paths([str(tmp_path / "empty")], catalog=toy)


def test_same_file_twice_is_linted_once(tmp_path, toy):
    p = write(tmp_path, "deploy.yaml", BAD)
    assert len(expand_targets([str(p), str(p), str(tmp_path)])) == 1


def test_stdin(toy):
    r = lint_paths(["-"], catalog=toy, stdin_text=BAD)
    assert rules_of(r) == ["EP101", "EP202"] and r.findings[0].file == "-"


# ---------------------------------------------------------------- fingerprints

def test_fingerprints_survive_line_shifts_and_reordering(tmp_path, toy):
    a = lint_paths([str(write(tmp_path, "d.yaml", BAD))], catalog=toy, cwd=str(tmp_path))
    moved = "# a comment\n# another\n" + BAD.replace("  - name: chat", "  - name: chat\n    batch: 1")
    b = lint_paths([str(write(tmp_path, "d.yaml", moved))], catalog=toy, cwd=str(tmp_path))
    assert [f.fingerprint for f in a.findings] == [f.fingerprint for f in b.findings]
    assert [f.line for f in a.findings] != [f.line for f in b.findings]
    assert len({f.fingerprint for f in a.findings}) == len(a.findings)


# ---------------------------------------------------------------- config

def test_config_file_edgeplan_yaml(tmp_path):
    write(tmp_path, ".edgeplan.yaml", "catalog: [devices]\nlint:\n  select: [EP1, EP2]\n"
          "  ignore: EP102\n  fail-on: warning\n  format: json\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = load_config(start=str(sub))
    assert cfg.select == ["EP1", "EP2"] and cfg.ignore == ["EP102"]
    assert cfg.fail_on == "warning" and cfg.format == "json"
    assert cfg.catalog == [str(tmp_path / "devices")]


def test_config_pyproject(tmp_path):
    pytest.importorskip("tomllib")
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\n\n[tool.edgeplan]\ncatalog = ['cat']\n\n"
          "[tool.edgeplan.lint]\nignore = ['EP304']\nfail-on = 'info'\n")
    cfg = load_config(start=str(tmp_path))
    assert cfg.ignore == ["EP304"] and cfg.fail_on == "info"
    assert cfg.catalog == [str(tmp_path / "cat")]


def test_pyproject_without_our_table_is_skipped(tmp_path):
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\n")
    assert load_config(start=str(tmp_path)).source is None


@pytest.mark.parametrize("text, msg", [
    ("lint: {selct: [EP1]}\n", "did you mean 'select'"),
    ("lint: {fail-on: fatal}\n", "fail-on must be one of"),
    ("lint: {ignore: [EP999]}\n", "unknown rule 'EP999'"),
    ("lint: [x]\n", "must be a mapping"),
    ("rules: {}\n", "unknown key 'rules'"),
    ("lint: {select: 3}\n", "must be a list of strings"),
])
def test_bad_config_is_a_usage_error(tmp_path, text, msg):
    p = write(tmp_path, ".edgeplan.yaml", text)
    with pytest.raises(InputError, match=msg):
        load_config(str(p))


# ---------------------------------------------------------------- never a traceback

WEIRD = [
    "", "---\n", "null\n", "42\n", "[1, 2]\n", "'just a string'\n", "{{{{\n", ": :\n",
    "\t- bad indent\n", "apiVersion: edgeplan/v1\n", "kind: Deployment\n",
    "apiVersion: edgeplan/v1\nkind: Deployment\ndevices: 3\nworkloads: x\n",
    "apiVersion: edgeplan/v1\nkind: Deployment\ndevices: []\nworkloads: []\n",
    "apiVersion: edgeplan/v1\nkind: Spec\nworkloads: []\n",
    "apiVersion: edgeplan/v1\nkind: Spec\nworkloads: [{name: a}]\n",
    "apiVersion: edgeplan/v2\nkind: Deployment\n",
    "kind: Other\n",
    "a: &a [*a]\n",
    "a: &a {b: *a}\n",
    "apiVersion: edgeplan/v1\nkind: Deployment\ndevices: [{id: lt-gpu}]\nworkloads:\n"
    "  - {name: x, model: lt-cnn, precision: fp16, device: lt-gpu, batch: -1}\n",
    "apiVersion: edgeplan/v1\nkind: Deployment\ndevices: [{id: lt-gpu}]\nworkloads:\n"
    "  - {name: x, model: lt-cnn, precision: fp16, device: lt-gpu, rate_fps: 0,"
    " latency_budget_ms: 0, context_tokens: 1}\n",
    "apiVersion: edgeplan/v1\nkind: Deployment\ndevices: [{id: lt-gpu}]\nworkloads:\n"
    "  - {name: x, model: lt-llm, precision: int4, device: lt-gpu, tokens_per_s: 1e308}\n",
    "apiVersion: edgeplan/v1\nkind: Deployment\ndevices: [{id: lt-gpu}]\nbudgets: {power_w: 0}\n"
    "workloads:\n  - {name: x, model: lt-cnn, precision: fp16, device: lt-gpu}\n",
    "apiVersion: edgeplan/v1\nkind: Spec\nworkloads: [{name: a, task: llm, accuracy_floor: 1e9}]\n"
    "budgets: {power_w: 0.001, cost_usd: 0.01}\ndevices: {allow: [lt-gpu], deny: [lt-gpu]}\n",
    "\ufeffapiVersion: edgeplan/v1\nkind: Deployment\n",
]


@pytest.mark.parametrize("text", WEIRD, ids=range(len(WEIRD)))
def test_any_yaml_gets_a_finding_or_a_clean_report(tmp_path, toy, text):
    p = write(tmp_path, "x.yaml", text)
    r = lint_paths([str(p)], catalog=toy)
    assert r.exit_code in (0, 1, 2)
    for f in r.findings:
        assert f.line is not None and f.message
    assert not [n for n in r.notices if "internal error" in n.message]


def test_a_failing_rule_is_a_notice_not_a_crash(tmp_path, toy, monkeypatch):
    from planner.lint.rules.ep202 import Fp32OnAccelerator

    def boom(ctx):
        raise ZeroDivisionError("x")
        yield
    monkeypatch.setattr(Fp32OnAccelerator, "check", staticmethod(boom))
    monkeypatch.delenv("EDGEPLAN_DEBUG", raising=False)
    r = lint_paths([str(write(tmp_path, "d.yaml", BAD))], catalog=toy)
    assert rules_of(r) == ["EP101"]
    assert "internal error in rule EP202" in r.notices[0].message


def test_binary_file_is_a_finding(tmp_path, toy):
    p = tmp_path / "x.yaml"
    p.write_bytes(b"\xff\xfe\x00bin")
    r = lint_paths([str(p)], catalog=toy)
    assert rules_of(r) == ["EP001"] and "UTF-8" in r.findings[0].message


def test_random_yaml_never_raises(tmp_path, toy):
    hypothesis = pytest.importorskip("hypothesis")
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
                        st.sampled_from(["lt-gpu", "lt-cnn", "lt-llm", "fp16", "int8", "int4", "fp32",
                                         "15w", "tpu", "30 fps", "5 W", "qat", "ptq", "x"]))
    values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), c, max_size=3)),
                          max_leaves=8)
    workload = st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b"]), "model": st.sampled_from(["lt-cnn", "lt-llm", "lt-big", "zz"]),
         "precision": st.sampled_from(["fp32", "fp16", "int8", "int4", "fp8"]),
         "device": st.sampled_from(["lt-gpu", "lt-tpu", "lt-phone", "lt-hailo"])},
        optional={"unit": st.sampled_from(["gpu", "tpu", "npu", "cpu", "dla", "x"]),
                  "runtime": st.sampled_from(["tensorrt", "edgetpu", "coreml", "x"]),
                  "technique": st.sampled_from(["baseline", "ptq", "qat", "weight-only"]),
                  "batch": st.integers(-1, 64), "rate_fps": st.floats(0, 1e4),
                  "tokens_per_s": st.floats(0, 1e3), "latency_budget_ms": st.floats(0, 1e3),
                  "context_tokens": st.integers(0, 10**6), "accuracy_floor": st.floats(-10, 200),
                  "latency_critical": st.booleans(), "extra": values})
    doc = st.fixed_dictionaries(
        {"apiVersion": st.just("edgeplan/v1"), "kind": st.sampled_from(["Deployment", "Spec"]),
         "devices": st.lists(st.fixed_dictionaries(
             {"id": st.sampled_from(["lt-gpu", "lt-tpu", "lt-phone", "lt-hailo", "zz"])},
             optional={"power_mode": st.sampled_from(["7w", "15w", "boost", "x"]),
                       "count": st.integers(0, 3)}), max_size=3),
         "workloads": st.lists(workload, max_size=3)},
        optional={"budgets": st.dictionaries(
            st.sampled_from(["power_w", "cost_usd", "headroom_pct", "memory_headroom_pct"]),
            st.floats(0, 100), max_size=3)})

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(doc)
    def run(d):
        p = tmp_path / "h.yaml"
        p.write_text(yaml.safe_dump(d))
        r = lint_paths([str(p)], catalog=toy)
        assert r.exit_code in (0, 1, 2)
        assert not [n for n in r.notices if "internal error" in n.message], r.notices

    run()
    del hypothesis


# ---------------------------------------------------------------- the CLI

@pytest.fixture(autouse=True)
def only_the_toy_catalog(monkeypatch, request):
    """CLI tests lint against the toy catalog alone: the built-in one changes as sources are
    added (and may be mid-edit)."""
    if "cli" in request.node.name or "subprocess" in request.node.name:
        import planner.catalog.loader
        monkeypatch.setattr(planner.catalog.loader, "builtin_dirs", lambda: [])
        monkeypatch.setenv("EDGEPLAN_NO_CACHE", "1")


def cli(args, cwd=None, input=None, env=None):
    from planner.cli import main
    runner = CliRunner()
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return runner.invoke(main, args, input=input, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_cli_text_and_exit_codes(tmp_path):
    write(tmp_path, "deploy.yaml", BAD)
    r = cli(["lint", "deploy.yaml", "--catalog", str(TOY)], cwd=tmp_path,
            env={"EDGEPLAN_NO_CACHE": "1"})
    assert r.exit_code == exitcodes.FINDINGS
    first = r.output.splitlines()[0]
    assert first.startswith("deploy.yaml:6:5: EP101 error ")
    assert r.output.splitlines()[1].startswith("  fix: ")
    assert r.output.rstrip().endswith("1 error, 1 warning in 1 file")


def test_cli_usage_errors_exit_2(tmp_path):
    write(tmp_path, "deploy.yaml", BAD)
    r = cli(["lint", "deploy.yaml", "--select", "EP999"], cwd=tmp_path)
    assert r.exit_code == exitcodes.USAGE and "unknown rule 'EP999'" in r.output
    r = cli(["lint", "missing.yaml"], cwd=tmp_path)
    assert r.exit_code == exitcodes.USAGE and "no such file" in r.output
    r = cli(["lint", "deploy.yaml", "--fail-on", "fatal"], cwd=tmp_path)
    assert r.exit_code == exitcodes.USAGE
    write(tmp_path, ".edgeplan.yaml", "lint: {fail_on: nope}\n")
    r = cli(["lint", "deploy.yaml"], cwd=tmp_path)
    assert r.exit_code == exitcodes.USAGE and "fail-on must be one of" in r.output


def test_cli_config_applies_and_cli_overrides(tmp_path):
    write(tmp_path, "deploy.yaml", BAD)
    write(tmp_path, ".edgeplan.yaml", f"catalog: ['{TOY}']\nlint: {{ignore: [EP101], format: json}}\n")
    r = cli(["lint", "deploy.yaml"], cwd=tmp_path, env={"EDGEPLAN_NO_CACHE": "1"})
    data = json.loads(r.output)
    assert [f["rule"] for f in data["findings"]] == ["EP202"]
    assert r.exit_code == exitcodes.OK
    r = cli(["lint", "deploy.yaml", "--fail-on", "warning", "--format", "text"], cwd=tmp_path,
            env={"EDGEPLAN_NO_CACHE": "1"})
    assert r.exit_code == exitcodes.FINDINGS and "EP202 warning" in r.output


def test_cli_output_file(tmp_path):
    write(tmp_path, "deploy.yaml", BAD)
    r = cli(["lint", "deploy.yaml", "--catalog", str(TOY), "--format", "sarif", "-o", "out.sarif"],
            cwd=tmp_path, env={"EDGEPLAN_NO_CACHE": "1"})
    assert r.exit_code == exitcodes.FINDINGS
    assert json.loads((tmp_path / "out.sarif").read_text())["version"] == "2.1.0"


def test_cli_stdin(tmp_path):
    r = cli(["lint", "-", "--catalog", str(TOY)], cwd=tmp_path, input=BAD,
            env={"EDGEPLAN_NO_CACHE": "1"})
    assert r.output.startswith("-:6:5: EP101")


def test_rules_command():
    r = cli(["rules"])
    assert r.exit_code == 0
    assert [line.split()[0] for line in r.output.splitlines()] == sorted(RULES)
    r = cli(["rules", "EP202"])
    assert r.exit_code == 0
    assert r.output.startswith("# EP202 fp32-on-accelerator\n")      # the rule's page
    assert "## Anti-pattern" in r.output and "## Fix" in r.output
    r = cli(["rules", "memory-overflow", "--format", "json"])
    assert json.loads(r.output)["solver_reason"] == "memory"
    r = cli(["rules", "EP1O1"])
    assert r.exit_code == exitcodes.USAGE and "did you mean 'EP101'" in r.output


def test_commands_have_help_with_an_example():
    for args in (["lint", "--help"], ["rules", "--help"]):
        r = cli(args)
        assert r.exit_code == 0 and "Example: edgeplan" in r.output


NO_BUILTIN = "import planner.catalog.loader as c; c.builtin_dirs = lambda: []; "


def _env(tmp_path):
    env = dict(os.environ)
    env.pop("EDGEPLAN_CATALOG", None)
    env.pop("EDGEPLAN_NO_CACHE", None)
    env["EDGEPLAN_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def test_subprocess_sarif_and_exit_code(tmp_path):
    write(tmp_path, "deploy.yaml", BAD)
    p = subprocess.run([sys.executable, "-c", NO_BUILTIN + "from planner.cli import main; main()", "lint",
                        "deploy.yaml", "--catalog", str(TOY), "--format", "sarif"],
                       cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True)
    assert p.returncode == exitcodes.FINDINGS, p.stderr
    assert p.stderr == ""
    data = json.loads(p.stdout)
    assert [r["ruleId"] for r in data["runs"][0]["results"]] == ["EP101", "EP202"]


def test_subprocess_lint_imports_no_heavy_modules(tmp_path):
    """lint must start fast: not ortools, onnx, onnxruntime or jinja2, even with an ONNX file
    to read and the catalog cache both cold and warm; numpy only on a cold cache (the
    calibration's least-squares fit), never on a warm one."""
    (tmp_path / "m.onnx").write_bytes(make_onnx(["Conv", "NonMaxSuppression"], {"x": ["N", 3]}))
    write(tmp_path, "deploy.yaml", BAD.replace("devices: [{id: lt-gpu}]",
                                               "devices: [{id: lt-gpu}, {id: lt-tpu}]")
          + "  - {name: f, model: mine, model_file: m.onnx, precision: int8, device: lt-tpu,"
            " unit: tpu}\n")
    code = textwrap.dedent(f"""
        import sys
        import planner.catalog.loader as c
        c.builtin_dirs = lambda: []
        from planner.cli import main
        try:
            main(["lint", "deploy.yaml", "--catalog", {str(TOY)!r}])
        except SystemExit:
            pass
        heavy = sorted(m for m in sys.modules
                       if m.split(".")[0] in ("ortools", "onnx", "onnxruntime", "numpy", "jinja2"))
        print("HEAVY", heavy, file=sys.stderr)
    """)
    for warm in (False, True):
        p = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=tmp_path,
                           env=_env(tmp_path), capture_output=True, text=True)
        assert "EP402" in p.stdout and "EP403" in p.stdout, p.stdout + p.stderr
        heavy = ast.literal_eval(p.stderr.split("HEAVY ")[-1].strip())
        assert heavy == [] if warm else not [m for m in heavy if not m.startswith("numpy")], \
            p.stderr[-2000:]
        imported = [line.split("|")[-1].strip() for line in p.stderr.splitlines()
                    if line.startswith("import time:")]
        assert not [m for m in imported
                    if m.split(".")[0] in ("ortools", "onnx", "onnxruntime")]
    assert list((tmp_path / "cache").glob("calibration-*.json"))    # the second run used it


def test_a_planted_cache_file_is_ignored_not_run(tmp_path, monkeypatch):
    """The cache holds plain numbers: a file that is not ours is refitted over, never run."""
    from planner.catalog.loader import load_catalog
    from planner.estimate.cache import calibration_for
    monkeypatch.setenv("EDGEPLAN_CACHE_DIR", str(tmp_path))
    calibration_for(load_catalog())
    (cached,) = tmp_path.glob("calibration-*.json")
    cached.write_text('{"coef": 1}')
    assert calibration_for(load_catalog()).coef            # refitted, not the planted value
