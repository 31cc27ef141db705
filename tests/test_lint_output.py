"""Output formats of `edgeplan lint`: text, json, SARIF 2.1.0 (validated against the OASIS
schema), GitHub workflow commands, JUnit XML (validated against the Jenkins xUnit plugin's
junit-10.xsd) and GitLab Code Quality JSON."""
from __future__ import annotations

import dataclasses
import json
import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.lint.engine import lint_paths
from planner.lint.formats import (
    FORMATS,
    INFORMATION_URI,
    github,
    gitlab,
    junit,
    render,
    sarif,
    text,
)
from planner.lint.model import Finding, LintReport
from planner.lint.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "lint_cases" / "_catalog"
SCHEMA = ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json"
JUNIT_XSD = ROOT / "tests" / "fixtures" / "junit-10.xsd"
CI = ROOT / "examples" / "ci"
BAD_CI = "examples/ci/bad-deploy.yaml"
GOOD_CI = "examples/ci/deploy.yaml"

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
    assert FORMATS == ("text", "json", "sarif", "github", "junit", "gitlab")


def test_formats_is_the_one_list_the_cli_and_config_read(tmp_path):
    from planner.cli.lint_cmd import lint
    from planner.lint.config import load_config
    choice = next(p for p in lint.params if p.name == "fmt").type
    assert tuple(choice.choices) == FORMATS
    for fmt in ("junit", "gitlab"):
        (tmp_path / ".edgeplan.yaml").write_text(f"lint:\n  format: {fmt}\n")
        assert load_config(start=str(tmp_path)).format == fmt


def test_sarif_rules_carry_help_uri(report):
    rules = json.loads(sarif(report))["runs"][0]["tool"]["driver"]["rules"]
    assert rules and all(r["helpUri"] == f"{INFORMATION_URI}/blob/main/docs/rules/{r['id']}.md"
                         for r in rules)
    assert rules[0]["helpUri"] == ("https://github.com/edgeplan/edgeplan/blob/main/docs/rules/"
                                   f"{min(RULES)}.md")


def test_sarif_rule_levels_follow_the_runs_severities(tmp_path):
    """`severity:` overrides reach each rule descriptor's defaultConfiguration, not only the
    results."""
    from planner.catalog.loader import load_catalog
    (tmp_path / "deploy.yaml").write_text(DOC)
    cat = load_catalog([TOY], builtin=False, use_env=False)
    assert RULES["EP101"].severity == "error" and RULES["EP104"].severity != "info"
    r = lint_paths([str(tmp_path / "deploy.yaml")], catalog=cat, cwd=str(tmp_path),
                   severity={"EP101": "warning", "EP104": "info"})
    run = json.loads(sarif(r))["runs"][0]
    level = {x["id"]: x["defaultConfiguration"]["level"] for x in run["tool"]["driver"]["rules"]}
    assert level["EP101"] == "warning" and level["EP104"] == "note"
    others = [rid for rid in RULES if rid not in ("EP101", "EP104")]
    assert all(level[rid] == {"error": "error", "warning": "warning", "info": "note"}
               [RULES[rid].severity] for rid in others)
    assert {x["level"] for x in run["results"] if x["ruleId"] == "EP101"} == {"warning"}
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(sarif(r)), json.loads(SCHEMA.read_text()))


# ---------------------------------------------------------------- junit

def _junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def _cases(suite) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in suite.findall("testcase")}


def test_junit_is_valid_against_the_jenkins_schema(report):
    out = junit(report)
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    _junit_schema().validate(out)
    # an invalid document is caught: the schema is really applied
    xmlschema = pytest.importorskip("xmlschema")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        _junit_schema().validate(out.replace(' name="deploy, 100%.yaml"', "", 1))


def test_junit_cases_follow_fail_on(report):
    root = ET.fromstring(junit(report))
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "deploy, 100%.yaml"
    cases = suite.findall("testcase")
    assert len(cases) == len(report.findings) + len(report.suppressed)
    assert {c.get("classname") for c in cases} == {"deploy, 100%.yaml"}
    by_rule = {c.get("name").split()[0]: c for c in cases}
    # fail-on error: the error fails, the warnings pass and say why in <system-out>
    ep101 = by_rule["EP101"]
    fail = ep101.find("failure")
    f = next(x for x in report.findings if x.rule == "EP101")
    assert ep101.get("name") == f"EP101 memory-overflow {f.path}"
    assert fail.get("message") == f.message and fail.get("type") == "EP101 error"
    assert fail.text.startswith(f"deploy, 100%.yaml:{f.line}:{f.column}: EP101 error ")
    assert f"\nfix: {f.fix}\n" in fail.text
    assert "docs/rules/EP101.md" in fail.text
    warnings = [c for c in cases if c.find("failure") is None and c.find("skipped") is None]
    assert len(warnings) == 2
    assert all(c.find("system-out").text.split(": ")[1].split()[1] == "warning" for c in warnings)
    skipped = by_rule["EP104"].find("skipped")
    assert skipped.get("message") == "suppressed in source: long documents, quality checked"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "0", "1")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "0")
    assert "suppression of EP402 suppresses nothing" in suite.find("system-out").text
    assert suite.find("properties/property").attrib == {"name": "fail-on", "value": "error"}
    # fail-on warning: the warnings fail too
    root = ET.fromstring(junit(dataclasses.replace(report, fail_on="warning")))
    assert root.get("failures") == "3"
    assert len(root.findall("testsuite/testcase/failure")) == 3


def test_junit_is_deterministic_without_times_or_hosts(report):
    out = junit(report)
    assert out == junit(report)
    for el in ET.fromstring(out).iter():
        assert not {"timestamp", "hostname", "time"} & set(el.attrib), el.tag


def test_junit_unreadable_document_is_an_error_and_clean_file_passes(tmp_path):
    from planner.catalog.loader import load_catalog
    (tmp_path / "broken.yaml").write_text("apiVersion: edgeplan/v1\nkind: Deployment\n"
                                          "workloads: [\n")
    (tmp_path / "clean.yaml").write_text(textwrap.dedent("""\
        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: lt-gpu}]
        workloads:
          - {name: det, model: lt-cnn, precision: fp16, device: lt-gpu}
        """))
    cat = load_catalog([TOY], builtin=False, use_env=False)
    r = lint_paths([str(tmp_path / "broken.yaml"), str(tmp_path / "clean.yaml")], catalog=cat,
                   cwd=str(tmp_path))
    assert [f.rule for f in r.findings] == ["EP001"]
    out = junit(r)
    _junit_schema().validate(out)
    root = ET.fromstring(out)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"broken.yaml", "clean.yaml"}
    [case] = suites["broken.yaml"].findall("testcase")
    assert case.find("error").get("type") == "EP001 error" and case.find("failure") is None
    assert suites["broken.yaml"].get("errors") == "1"
    assert _cases(suites["clean.yaml"]).keys() == {"edgeplan lint"}
    assert list(_cases(suites["clean.yaml"])["edgeplan lint"]) == []          # passes
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "0", "1")
    issues = json.loads(gitlab(r))
    assert [(i["check_name"], i["severity"]) for i in issues] == [("EP001", "critical")]


def test_junit_escapes_what_xml_cannot_carry():
    f = Finding("EP101", "memory-overflow", "error", 'a <b> & "c"\x01\x1b[0m', "fix \x00 it",
                "dir/a&b.yaml", 3, 7, "workloads[x\x02].model", "f" * 32)
    r = LintReport([f], [], [], ["dir/a&b.yaml"], ["EP101"])
    out = junit(r)
    _junit_schema().validate(out)
    fail = ET.fromstring(out).find("testsuite/testcase/failure")
    assert fail.get("message") == 'a <b> & "c"\ufffd\ufffd[0m'
    assert "fix: fix \ufffd it" in fail.text
    assert json.loads(gitlab(r))[0]["description"] == 'a <b> & "c"\x01\x1b[0m Fix: fix \x00 it'


# ---------------------------------------------------------------- gitlab

def test_gitlab_fields_and_severity_mapping(tmp_path, report):
    issues = json.loads(gitlab(report))
    assert len(issues) == len(report.findings)                       # suppressed left out
    assert "EP104" not in {i["check_name"] for i in issues}
    for i, f in zip(issues, report.findings):
        assert set(i) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert i["check_name"] == f.rule and i["fingerprint"] == f.fingerprint
        assert i["description"] == f.message + (f" Fix: {f.fix}" if f.fix else "")
        assert i["location"] == {"path": "deploy, 100%.yaml", "lines": {"begin": f.line}}
        assert i["severity"] == {"error": "major", "warning": "minor"}[f.severity]
    assert [i["severity"] for i in issues] == ["major", "minor", "minor"]
    # info -> info, through a severity override
    from planner.catalog.loader import load_catalog
    (tmp_path / "deploy.yaml").write_text(DOC)
    cat = load_catalog([TOY], builtin=False, use_env=False)
    warned = {f.rule for f in report.findings if f.severity == "warning"}
    r = lint_paths([str(tmp_path / "deploy.yaml")], catalog=cat, cwd=str(tmp_path),
                   severity={rid: "info" for rid in warned})
    assert sorted(i["severity"] for i in json.loads(gitlab(r))) == ["info", "info", "major"]
    assert len({i["fingerprint"] for i in issues}) == len(issues)     # GitLab merges equal ones


def test_gitlab_is_sorted_and_deterministic(report):
    out = gitlab(report)
    assert out == gitlab(report) and out.endswith("]\n")
    issues = json.loads(out)
    keys = [(i["location"]["path"], i["location"]["lines"]["begin"], i["check_name"])
            for i in issues]
    assert keys == sorted(keys)
    clean = LintReport([], [], [], ["a.yaml"], [])
    assert json.loads(gitlab(clean)) == []


# ---------------------------------------------------------------- the CLI on the CI examples

@pytest.fixture(scope="module")
def ci_lint(tmp_path_factory):
    """`edgeplan lint` through click, from the repository root, with the built-in catalog and
    the examples' own config; skipped while the built-in catalog cannot lint the examples."""
    from planner.catalog.loader import load_catalog
    from planner.errors import EdgeplanError
    try:
        cat = load_catalog(use_env=False)
    except EdgeplanError as e:
        pytest.skip(f"the built-in catalog does not load: {e.one_line()}")
    for name in (BAD_CI, GOOD_CI):
        data = yaml.safe_load((ROOT / name).read_text())
        ids = [d["id"] for d in data["devices"]] + [w["model"] for w in data["workloads"]]
        missing = [i for i in ids if i not in cat.devices and i not in cat.models]
        if missing:
            pytest.skip(f"the built-in catalog has no {', '.join(missing)} yet")
    env = {"EDGEPLAN_CATALOG": None}

    def run(*args, cwd=ROOT):
        from planner.cli import main
        old = os.getcwd()
        try:
            os.chdir(cwd)
            return CliRunner().invoke(main, ["lint", *args, "--config",
                                             str(CI / ".edgeplan.yaml")],
                                      env=env, catch_exceptions=False)
        finally:
            os.chdir(old)
    return run


def test_cli_junit_on_the_ci_examples(ci_lint):
    r = ci_lint(BAD_CI, GOOD_CI, "--format", "junit")
    assert r.exit_code == 1, r.output
    findings = json.loads(ci_lint(BAD_CI, GOOD_CI, "--format", "json").stdout)["findings"]
    assert {"EP101", "EP201"} <= {f["rule"] for f in findings}
    _junit_schema().validate(r.stdout)
    root = ET.fromstring(r.stdout)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == [BAD_CI, GOOD_CI]
    bad = suites[BAD_CI]
    errors = [f for f in findings if f["severity"] == "error"]
    assert bad.get("failures") == str(len(errors)) == root.get("failures")
    assert bad.get("tests") == str(len(findings))
    for f in errors:
        [case] = [c for c in bad.findall("testcase")
                  if c.get("name") == f"{f['rule']} {f['name']} {f['path']}"]
        assert case.get("classname") == BAD_CI
        fail = case.find("failure")
        assert fail.get("message") == f["message"]
        assert fail.get("type") == f"{f['rule']} error"
        assert fail.text.startswith(f"{BAD_CI}:{f['line']}:{f['column']}: {f['rule']} error ")
        assert f"fix: {f['fix']}" in fail.text
    good = suites[GOOD_CI]
    assert (good.get("tests"), good.get("failures"), good.get("errors")) == ("1", "0", "0")
    assert [c.get("classname") for c in good.findall("testcase")] == [GOOD_CI]
    assert good.find("testcase/failure") is None
    assert ci_lint(BAD_CI, GOOD_CI, "--format", "junit").stdout == r.stdout


def test_cli_gitlab_on_the_ci_examples(ci_lint):
    r = ci_lint(BAD_CI, GOOD_CI, "--format", "gitlab")
    assert r.exit_code == 1, r.output
    issues = json.loads(r.stdout)
    findings = json.loads(ci_lint(BAD_CI, GOOD_CI, "--format", "json").stdout)["findings"]
    assert len(issues) == len(findings) >= 2
    assert {i["location"]["path"] for i in issues} == {BAD_CI}             # deploy.yaml is clean
    by_fp = {i["fingerprint"]: i for i in issues}
    for f in findings:
        i = by_fp[f["fingerprint"]]
        assert i["check_name"] == f["rule"]
        assert i["severity"] == {"error": "major", "warning": "minor", "info": "info"}[
            f["severity"]]
        assert i["location"]["lines"] == {"begin": f["line"]}
        assert i["description"].startswith(f["message"])
    assert ci_lint(BAD_CI, GOOD_CI, "--format", "gitlab").stdout == r.stdout   # stable


def test_cli_gitlab_fingerprints_survive_moved_lines(ci_lint, tmp_path):
    """A finding keeps its fingerprint when lines above it change, so GitLab's merge request
    widget does not report it as fixed and new again."""
    src = (ROOT / BAD_CI).read_text()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "bad-deploy.yaml").write_text(src)
    (tmp_path / "b" / "bad-deploy.yaml").write_text("# moved down\n# by two lines\n" + src)
    a = json.loads(ci_lint("bad-deploy.yaml", "--format", "gitlab", cwd=tmp_path / "a").stdout)
    b = json.loads(ci_lint("bad-deploy.yaml", "--format", "gitlab", cwd=tmp_path / "b").stdout)
    assert a and [i["fingerprint"] for i in a] == [i["fingerprint"] for i in b]
    assert [i["location"]["lines"]["begin"] + 2 for i in a] == \
        [i["location"]["lines"]["begin"] for i in b]


def test_cli_sarif_rules_carry_help_uri(ci_lint):
    r = ci_lint(BAD_CI, "--format", "sarif")
    rules = json.loads(r.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert {x["id"]: x["helpUri"] for x in rules} == {
        rid: f"https://github.com/edgeplan/edgeplan/blob/main/docs/rules/{rid}.md"
        for rid in RULES}
