"""Bad input is refused before the heavy work starts (issue 20, section 5): `solve` and
`report` parse and validate the spec before they load the catalog or import the solver, so a
65-workload spec or a duplicate key is refused in the time Python takes to start, not after
the 1-2 s that loading everything took."""
from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from planner import exitcodes
from planner.cli import main

HEAVY = ("ortools", "onnx", "onnxruntime", "numpy", "jinja2")


def too_many_workloads(tmp_path):
    lines = ["apiVersion: edgeplan/v1", "kind: Spec", "workloads:"]
    for i in range(65):
        lines += [f"  - name: w{i}", "    task: classification", "    rate_fps: 10"]
    p = tmp_path / "w65.yaml"
    p.write_text("\n".join(lines) + "\n")
    return p, "3:1", "at most 64"


def duplicate_key(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("apiVersion: edgeplan/v1\nkind: Spec\nkind: Spec\nworkloads:\n"
                 "  - {name: a, task: classification}\n")
    return p, "3:1", "duplicate key 'kind'"


def bad_quantity(tmp_path):
    p = tmp_path / "unit.yaml"
    p.write_text("kind: Spec\nworkloads:\n  - name: a\n    task: detection\n"
                 "    rate_fps: 30 W\n")
    return p, "5:", "rate_fps"


CASES = [too_many_workloads, duplicate_key, bad_quantity]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_bad_spec_imports_no_heavy_package(tmp_path, make):
    path, _, _ = make(tmp_path)
    code = ("import sys\nfrom planner.cli import main\n"
            f"try:\n    main(['solve', {str(path)!r}])\nexcept SystemExit as e:\n"
            "    code = e.code\n"
            f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}),"
            " code)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert p.stdout.strip() == "HEAVY [] 2", p.stdout + p.stderr
