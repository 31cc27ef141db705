"""Output formats of `edgeplan lint`: text, json, SARIF 2.1.0 (validated against the OASIS
schema) and GitHub workflow commands."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from planner.lint.engine import lint_paths
from planner.lint.formats import FORMATS, github, render, sarif, text
from planner.lint.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "lint_cases" / "_catalog"
SCHEMA = ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json"

DOC = textwrap.dedent("""\
    apiVersion: edgeplan/v1
    kind: Deployment
    devices: [{id: lt-gpu}]
    workloads:
      - name: chat   # edgeplan: disable=EP104 -- long documents, quality checked
        model: lt-llm
        precision: fp16
        device: lt-gpu
        context_tokens: 9000
      - name: cls
        model: lt-cnn
        precision: fp32
        device: lt-gpu
        accuracy_floor: 74
      - name: det    # edgeplan: disable=EP402 -- nothing to suppress here
        model: lt-cnn
        precision: int8
        technique: ptq
        device: lt-gpu
    """)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from planner.catalog.loader import load_catalog
    d = tmp_path_factory.mktemp("out")
    (d / "deploy, 100%.yaml").write_text(DOC)
    cat = load_catalog([TOY], builtin=False, use_env=False)
    return lint_paths([str(d / "deploy, 100%.yaml")], catalog=cat, cwd=str(d))


def test_report_has_all_kinds(report):
    assert {f.severity for f in report.findings} == {"error", "warning"}
    assert [f.rule for f in report.suppressed] == ["EP104"]
    assert [n.message for n in report.notices] == ["suppression of EP402 suppresses nothing"]


def test_text(report):
    out = text(report)
    lines = out.splitlines()
    assert lines[0].startswith("deploy, 100%.yaml:6:5: EP101 error lt-llm at FP16 needs")
    assert lines[1].startswith("  fix: ")
    assert "deploy, 100%.yaml:15:18: note: suppression of EP402 suppresses nothing" in lines
    assert lines[-1] == "1 error, 2 warnings in 1 file (1 suppressed)"


def test_json(report):
    data = json.loads(render(report, "json"))
    assert data["counts"] == {"error": 1, "warning": 2, "info": 0}
    assert data["exit_code"] == 1
    f = data["findings"][0]
    assert set(f) >= {"rule", "name", "severity", "message", "fix", "file", "line", "column",
                      "path", "fingerprint"}
    assert data["suppressed"][0]["suppressed"] == "long documents, quality checked"


def test_sarif_is_valid_against_the_oasis_schema(report):
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(sarif(report))
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def test_sarif_rules_results_and_fingerprints(report):
    run = json.loads(sarif(report))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(RULES)            # one rule per registry entry
    for r in rules:
        cls = RULES[r["id"]]
        assert r["shortDescription"]["text"] == cls.short()
        assert r["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning",
                                                      "info": "note"}[cls.severity]
    results = run["results"]
    assert len(results) == len(report.findings) + len(report.suppressed)   # one per finding
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": "deploy%2C%20100%25.yaml",
                                           "uriBaseId": "%SRCROOT%"}
        assert loc["region"]["startLine"] >= 1
        assert len(res["partialFingerprints"]["edgeplan/v1"]) == 32
    suppressed = [r for r in results if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == ["EP104"]
    assert suppressed[0]["suppressions"][0]["justification"] == "long documents, quality checked"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"] == "suppression of EP402 suppresses nothing"


def test_sarif_is_deterministic(report):
    assert sarif(report) == sarif(report)


def test_github_annotations_then_text(report):
    out = github(report)
    lines = out.splitlines()
    assert lines[0].startswith("::error file=deploy%2C 100%25.yaml,line=6,col=5,"
                               "title=EP101 memory-overflow::lt-llm at FP16 needs")
    assert "%0Afix: " in lines[0]
    assert lines[2].startswith("::warning file=")
    assert not any(line.startswith("::") and "EP104" in line for line in lines)
    assert out.endswith(text(report))


def test_unknown_format_is_an_error(report):
    from planner.errors import InputError
    with pytest.raises(InputError):
        render(report, "xml")
    assert FORMATS == ("text", "json", "sarif", "github")
