"""The command line as a user meets it: help, exit codes, one-line errors, fast start."""
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import MINI, ROOT

from planner import exitcodes
from planner.cli import main


def run(*args, input=None):
    r = CliRunner().invoke(main, list(args), input=input)
    return r.exit_code, r.output, r.stderr if hasattr(r, "stderr") else ""


def _commands(group=main, prefix=()):
    import click
    for name, cmd in sorted(group.commands.items()):
        path = prefix + (name,)
        if isinstance(cmd, click.Group):
            yield path, cmd
            yield from _commands(cmd, path)
        else:
            yield path, cmd


@pytest.mark.parametrize("path,cmd", list(_commands()), ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_every_command_has_help_with_an_example_and_is_in_the_readme(path, cmd):
    code, out, _ = run(*path, "--help")
    assert code == 0
    assert "Example:" in (cmd.help or ""), f"{' '.join(path)}: docstring must end with an example"
    readme = (ROOT / "README.md").read_text()
    assert f"edgeplan {' '.join(path)}" in readme, f"README does not mention edgeplan {' '.join(path)}"


def test_bad_spec_is_one_line_with_file_line_field_and_exit_2(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nworkloads:\n  - name: a\n    task: classification\n"
                    "    rate_fps: 30 W\n")
    r = subprocess.run([sys.executable, "-m", "planner.cli", "solve", str(spec)],
                       capture_output=True, text=True)
    assert r.returncode == exitcodes.USAGE
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{spec}:5:" in lines[0] and "workloads[0].rate_fps" in lines[0]


@pytest.mark.parametrize("text,needle", [
    ("- just\n- a list\n", "expected a YAML mapping"),
    ("", "expected a YAML mapping"),
    ("name: x\nworkloads: []\n", "workloads"),
    ("name: x\nworkloads:\n  - {name: a, task: clasification}\n", "did you mean 'classification'"),
    ("name: x\nworkloads:\n  - {name: a, models: [mobilenet-v9]}\n", "unknown model"),
    ("name: x\nworkloads:\n  - {name: a, task: classification}\nbudgets: {power_w: -5}\n",
     "negative"),
    ("name: x\nworkloads:\n  - {name: a, task: classification}\nbogus: 1\n", "unknown field"),
    ("name: x\nworkloads:\n  - {name: a, task: classification}\nobjective: [min speed]\n",
     "objective"),
    ("a: &a [*a]\n", "deeper"),
    ("name: x\n\tbad\n", "not valid YAML"),
])
def test_bad_input_never_gives_a_traceback(tmp_path, text, needle):
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    code, out, _ = run("solve", str(spec), "--catalog", str(MINI), "--no-builtin")
    assert code == exitcodes.USAGE, out
    assert needle in out
    assert "Traceback" not in out


def test_missing_file_and_directory_arguments(tmp_path):
    code, out, _ = run("solve", str(tmp_path / "nope.yaml"))
    assert code == exitcodes.USAGE and "nope.yaml" in out
    code, out, _ = run("catalog", "validate", str(tmp_path / "nodir"))
    assert code == exitcodes.USAGE


SPEC = """
name: cli
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 20, accuracy_floor: 74}
budgets: {power_w: 30}
devices: {allow: [toy-gpu-8gb, toy-tpu-usb, toy-phone]}
"""


def test_solve_json_is_deterministic_and_writes_a_manifest(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out1 = run("solve", str(spec), "--catalog", str(MINI), "--no-builtin", "--format", "json", "--top", "1",
               "-o", str(tmp_path / "deploy.yaml"))
    out2 = run("solve", str(spec), "--catalog", str(MINI), "--no-builtin", "--format", "json", "--top", "1")
    assert out1[0] == 0 and out2[0] == 0
    d1 = json.loads(out1[1].split("\nedgeplan: wrote")[0])
    assert out1[1].split("\nedgeplan: wrote")[0].strip() == out2[1].strip()
    assert d1["status"] == "optimal"
    from planner.manifest import load_manifest
    m, _ = load_manifest(tmp_path / "deploy.yaml")
    assert m.apiVersion == "edgeplan/v1"
    assert m.workloads[0].model == d1["plan"]["assignments"][0]["model"]


def test_infeasible_exits_3(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("power_w: 30", "power_w: 1"))
    code, out, _ = run("solve", str(spec), "--catalog", str(MINI), "--no-builtin")
    assert code == exitcodes.INFEASIBLE
    assert "status: infeasible" in out and "power 1 W ->" in out


def test_estimate_text_and_json():
    code, out, _ = run("estimate", "--catalog", str(MINI), "--no-builtin", "--no-builtin", "-d", "toy-phone", "-m", "toy-cnn",
                       "-p", "int8")
    assert code == 0 and "latency" in out and "provenance" not in out
    code, out, _ = run("estimate", "--catalog", str(MINI), "--no-builtin", "--no-builtin", "-d", "toy-phone", "-m", "toy-cnn",
                       "-p", "int8", "--format", "json")
    assert json.loads(out)["latency_ms"]["unit"] == "ms"


@pytest.mark.parametrize("verb,flags,needle", [
    ("estimate", ["--weight-format", "q8_0"], "--weight-format: q8_0 stores INT8 weights, not INT4"),
    ("fit", ["--weight-format", "q8_0"], "--weight-format: q8_0 stores INT8 weights, not INT4"),
    ("estimate", ["--power-mode", "turbo"], "--power-mode: device 'jetson-orin-nano-8gb' has no "
                                           "power mode 'turbo'"),
])
def test_estimator_errors_name_the_flag_not_the_query_field(verb, flags, needle):
    code, out, _ = run(verb, "-d", "jetson-orin-nano-8gb", "-m", "llama-3.1-8b", "-p", "int4",
                       *flags)
    assert code == exitcodes.USAGE and f"edgeplan: error: {needle}" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("args,needle", [
    (["estimate", "-d", "x", "-m", "y", "-p", "int9"],
     "Invalid value for '--precision' / '-p': 'int9' is not one of"),
    (["fit", "-d", "x", "-m", "y", "-p", "int4", "--kv-cache", "q5_0"],
     "Invalid value for '--kv-cache': 'q5_0'"),
    (["estimate", "-d", "x"], "Missing option '--model'"),
    (["estimate", "-d", "jetson-orin-nano-8gb", "-m", "mobilenet-v2", "-p", "int8",
      "--weight-format", "q4_0"], "--weight-format: for LLMs"),
    (["nosuch"], "No such command 'nosuch'"),
])
def test_usage_errors_are_one_line_naming_the_flag_and_the_help(args, needle):
    r = subprocess.run([sys.executable, "-m", "planner.cli", *args], capture_output=True,
                       text=True)
    assert r.returncode == exitcodes.USAGE
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeplan: error: ") and needle in lines[0]
    assert "--help')" in lines[0] and "Traceback" not in r.stderr


def test_catalog_and_estimate_do_not_import_heavy_packages():
    code = ("import sys\nfrom planner.cli import main\n"
            "try:\n    main(['estimate','--no-builtin','--catalog','%s','-d','toy-phone','-m','toy-cnn','-p','int8'])\n"
            "except SystemExit:\n    pass\n"
            "try:\n    main(['catalog','list','devices','--no-builtin','--catalog','%s'])\nexcept SystemExit:\n    pass\n"
            "bad=[m for m in ('ortools','onnx','onnxruntime') if m in sys.modules]\n"
            "print('HEAVY', bad)\n") % (MINI, MINI)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


def test_schema_spec_is_draft07_and_the_committed_copy_is_current():
    import jsonschema
    code, out, _ = run("schema", "spec")
    schema = json.loads(out)
    jsonschema.Draft7Validator.check_schema(schema)
    committed = json.loads((ROOT / "docs" / "edgeplan-spec.schema.json").read_text())
    assert committed == schema, "run: edgeplan schema spec > docs/edgeplan-spec.schema.json"
