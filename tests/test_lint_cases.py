"""Every lint rule's pass/fail cases: tests/lint_cases/<ID>.yaml, run by one parametrized test.

A case file:

    rule: EP101
    cases:
      - id: llm-fp16-does-not-fit           # the test id is EP101-llm-fp16-does-not-fit
        doc: |                              # the manifest or spec, linted as a file
          apiVersion: edgeplan/v1
          ...
        expect:                             # the findings of THIS rule, in order
          - {line: 8, col: 5, message: "needs"}    # message: a substring (optional)
      - id: int4-fits
        doc: ...
        expect: []

Optional per case: `catalog: builtin` with `requires: [ids]` (skipped while the real catalog
lacks them; default: the made-up catalog in tests/lint_cases/_catalog, whose numbers do not
move), `catalog_extra:` (catalog YAML added on top), `files:` ({name: text} or
{name: {onnx: {ops: [...], inputs: {name: [dims]}}}} written next to the document), and
`name:` for the document's file name (default deploy.yaml).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from planner.cli.lint_cmd import spec_feasibility
from planner.lint.engine import lint_paths
from planner.lint.rules import RULES

try:
    from .lint_helpers import make_onnx
except ImportError:             # tests/ is not a package: pytest put it on sys.path
    from lint_helpers import make_onnx

CASES_DIR = Path(__file__).parent / "lint_cases"
TOY_CATALOG = CASES_DIR / "_catalog"
_catalogs: dict[str, object] = {}


def _load_cases():
    out = []
    for f in sorted(CASES_DIR.glob("EP*.yaml")):
        data = yaml.safe_load(f.read_text())
        rule = data["rule"]
        assert f.stem == rule, f"{f.name} declares rule {rule}"
        for case in data["cases"]:
            out.append(pytest.param(rule, case, id=f"{rule}-{case['id']}"))
    return out


ALL_CASES = _load_cases()


def _catalog(case, tmp_path: Path):
    from planner.catalog.loader import load_catalog
    from planner.errors import EdgeplanError
    if case.get("catalog") == "builtin":
        if "builtin" not in _catalogs:
            try:
                _catalogs["builtin"] = load_catalog(use_env=False)
            except EdgeplanError as e:      # the real catalog is being written: not our test
                _catalogs["builtin"] = e
        cat = _catalogs["builtin"]
        if isinstance(cat, Exception):
            pytest.skip(f"the built-in catalog does not load: {cat.one_line()}")
        missing = [i for i in case.get("requires", ())
                   if i not in cat.devices and i not in cat.models]
        if missing:
            pytest.skip(f"the built-in catalog has no {', '.join(missing)} yet")
        return cat
    extra = case.get("catalog_extra")
    key = hashlib.sha256(yaml.safe_dump(extra).encode()).hexdigest() if extra else "toy"
    if key not in _catalogs:
        dirs = [TOY_CATALOG]
        if extra:
            d = tmp_path / "extra-catalog"
            d.mkdir()
            (d / "extra.yaml").write_text(yaml.safe_dump(extra))
            dirs.append(d)
        _catalogs[key] = load_catalog(dirs, builtin=False, use_env=False)
    return _catalogs[key]


def lint_case(case, tmp_path: Path):
    for name, content in (case.get("files") or {}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict) and "onnx" in content:
            p.write_bytes(make_onnx(**content["onnx"]))
        else:
            p.write_text(content)
    doc = tmp_path / case.get("name", "deploy.yaml")
    doc.write_text(case["doc"])
    return lint_paths([str(doc)], catalog=_catalog(case, tmp_path), cwd=str(tmp_path),
                      feasibility=spec_feasibility if case.get("solve") else None)


@pytest.mark.parametrize("rule, case", ALL_CASES)
def test_rule_case(rule, case, tmp_path):
    report = lint_case(case, tmp_path)
    got = [f for f in report.findings + report.suppressed if f.rule == rule]
    want = case.get("expect") or []
    shown = "\n".join(f"  {f.line}:{f.column} {f.rule} {f.message}" for f in report.findings)
    assert len(got) == len(want), f"expected {len(want)} {rule} findings, got:\n{shown}"
    for f, w in zip(got, want):
        assert (f.line, f.column) == (w["line"], w.get("col", f.column)), \
            f"{rule} at {f.line}:{f.column}, expected {w}: {f.message}"
        if "message" in w:
            assert w["message"] in f.message, f"{w['message']!r} not in {f.message!r}"
        if "fix" in w:
            assert f.fix and w["fix"] in f.fix, f"{w['fix']!r} not in fix {f.fix!r}"
        assert f.file.endswith(case.get("name", "deploy.yaml"))
    for other in case.get("absent", ()):
        assert not [f for f in report.findings if f.rule == other], \
            f"{other} should not fire:\n{shown}"


def test_every_rule_has_passing_and_failing_cases():
    by_rule: dict[str, list] = {}
    for p in ALL_CASES:
        rule, case = p.values
        by_rule.setdefault(rule, []).append(case)
    for rid in RULES:
        cases = by_rule.get(rid)
        assert cases, f"no tests/lint_cases/{rid}.yaml"
        assert any(c.get("expect") for c in cases), f"{rid}: no failing case"
        assert any(not c.get("expect") for c in cases), f"{rid}: no passing case"
