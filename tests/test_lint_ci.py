"""The CI integration lint ships: the pre-commit hook, the GitHub Actions workflow that uploads
SARIF, and the example manifests and config in examples/ci/."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from planner import exitcodes

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
TOY = ROOT / "tests" / "lint_cases" / "_catalog"
SCHEMA = ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json"

MANIFEST = textwrap.dedent("""\
    apiVersion: edgeplan/v1
    kind: Deployment
    devices: [{id: lt-gpu}]
    workloads:
      - {name: chat, model: lt-llm, precision: fp16, device: lt-gpu}
    """)


@pytest.fixture
def toy_edgeplan(tmp_path):
    """An `edgeplan` on PATH that sees only the toy catalog, and an environment for it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "edgeplan"
    exe.write_text("#!/bin/sh\nexec " + shlex.quote(sys.executable) + " -c "
                   + shlex.quote("import planner.catalog.loader as c; c.builtin_dirs = lambda: []; "
                                 "from planner.cli import main; main()") + ' "$@"\n')
    exe.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    env["EDGEPLAN_CATALOG"] = str(TOY)
    env["EDGEPLAN_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def test_pre_commit_hook(tmp_path, toy_edgeplan):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "edgeplan-lint")
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python" and hook["entry"].startswith("edgeplan lint")
    assert "yaml" in hook["types"]
    # pre-commit runs `entry` with the changed files: other YAML is skipped, manifests linted
    (tmp_path / "deploy.yaml").write_text(MANIFEST)
    (tmp_path / "workflow.yml").write_text((CI / "github-workflow.yml").read_text())
    cmd = shlex.split(hook["entry"]) + hook.get("args", [])
    p = subprocess.run(cmd + ["workflow.yml"], cwd=tmp_path, env=toy_edgeplan,
                       capture_output=True, text=True)
    assert p.returncode == exitcodes.OK, p.stderr
    p = subprocess.run(cmd + ["workflow.yml", "deploy.yaml"], cwd=tmp_path, env=toy_edgeplan,
                       capture_output=True, text=True)
    assert p.returncode == exitcodes.FINDINGS, p.stderr
    assert "deploy.yaml:5:" in p.stdout and "EP101" in p.stdout


def test_github_workflow_uploads_sarif(tmp_path, toy_edgeplan):
    wf = yaml.safe_load((CI / "github-workflow.yml").read_text())
    assert wf["permissions"]["security-events"] == "write"
    steps = wf["jobs"]["lint"]["steps"]
    runs = [s["run"] for s in steps if "edgeplan lint" in s.get("run", "")]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    sarif_step = next(r for r in runs if "--format sarif" in r)
    assert f"--output {upload['with']['sarif_file']}" in sarif_step
    assert upload.get("if") == "always()"
    # the adoption flow: findings already in the repository are baselined, then a new manifest
    # with findings arrives; run the workflow's commands as its bash would
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "old.yaml").write_text(MANIFEST)
    env = {**toy_edgeplan, **wf["env"]}
    p = subprocess.run(["edgeplan", "lint", "--write-baseline", wf["env"]["BASELINE"], "deploy/"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "wrote 1 finding(s)" in p.stderr, p.stderr
    (tmp_path / "deploy" / "deploy.yaml").write_text(MANIFEST)
    results = [subprocess.run(["bash", "-e", "-c", r], cwd=tmp_path, env=env,
                              capture_output=True, text=True) for r in runs]
    assert results[0].returncode == 0, results[0].stderr     # findings do not stop the upload
    doc = json.loads((tmp_path / upload["with"]["sarif_file"]).read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert [r["ruleId"] for r in doc["runs"][0]["results"]] == ["EP101"]
    assert doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] \
        == "deploy/deploy.yaml"
    assert results[1].returncode == exitcodes.FINDINGS      # the last step fails the job
    assert results[1].stdout.startswith("::error file=deploy/deploy.yaml,line=5,")


def test_example_config_loads():
    from planner.lint.config import load_config
    cfg = load_config(str(CI / ".edgeplan.yaml"))
    assert cfg.fail_on == "error" and cfg.ignore == ["EP304"]


@pytest.fixture(scope="module")
def real():
    from planner.catalog.loader import load_catalog
    from planner.errors import EdgeplanError
    try:
        return load_catalog(use_env=False)
    except EdgeplanError as e:
        pytest.skip(f"the built-in catalog does not load: {e.one_line()}")


def _needs(cat, path: Path):
    data = yaml.safe_load(path.read_text())
    ids = [d["id"] for d in data["devices"]] + [w["model"] for w in data["workloads"]]
    missing = [i for i in ids if i not in cat.devices and i not in cat.models]
    if missing:
        pytest.skip(f"the built-in catalog has no {', '.join(missing)} yet")


def test_example_manifest_lints_clean(real):
    from planner.lint.engine import lint_paths
    _needs(real, CI / "deploy.yaml")
    r = lint_paths([str(CI / "deploy.yaml")], catalog=real, fail_on="info")
    assert r.findings == [], "\n".join(f"{f.line}: {f.rule} {f.message}" for f in r.findings)


def test_bad_example_shows_the_seed_anti_patterns(real):
    from planner.lint.engine import lint_paths
    _needs(real, CI / "bad-deploy.yaml")
    r = lint_paths([str(CI / "bad-deploy.yaml")], catalog=real)
    assert {"EP101", "EP201"} <= {f.rule for f in r.findings}
