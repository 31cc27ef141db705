"""The rule pages (docs/rules/<ID>.md, what `edgeplan rules <ID>` prints and SARIF's helpUri
points at): generated from each registered rule's docstring and checked in current, each with
the anti-pattern, why it matters (with a source), the fix and a passing example that really
passes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.lint.engine import lint_paths
from planner.lint.pages import (INDEX, REGENERATE, SECTIONS, passing_example, rule_doc,
                                rule_page, rule_pages, write_rule_pages)
from planner.lint.select import registry

try:
    from .lint_helpers import make_onnx
except ImportError:             # tests/ is not a package: pytest put it on sys.path
    from lint_helpers import make_onnx

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "docs" / "rules"
RULE_IDS = sorted(registry())
STALE = f"regenerate the rule pages: {REGENERATE}"
_catalog: list = []


def builtin_catalog():
    from planner.catalog.loader import load_catalog
    from planner.errors import EdgeplanError
    if not _catalog:
        try:
            _catalog.append(load_catalog(use_env=False))
        except EdgeplanError as e:          # the real catalog is being written: not our test
            _catalog.append(e)
    if isinstance(_catalog[0], Exception):
        pytest.skip(f"the built-in catalog does not load: {_catalog[0].one_line()}")
    return _catalog[0]


@pytest.mark.parametrize("rid", RULE_IDS)
def test_page_is_current(rid):
    page = PAGES / f"{rid}.md"
    assert page.exists(), f"no docs/rules/{rid}.md: {STALE}"
    assert page.read_text(encoding="utf-8") == rule_page(registry()[rid]), \
        f"docs/rules/{rid}.md is not what {rid}'s docstring renders to: {STALE}"


def test_index_is_current_and_every_page_is_a_rule():
    want = rule_pages()
    assert sorted(p.name for p in PAGES.glob("*.md")) == sorted(want), STALE
    assert (PAGES / INDEX).read_text(encoding="utf-8") == want[INDEX], STALE
    index = want[INDEX]
    assert all(f"[{rid}]({rid}.md)" in index for rid in RULE_IDS)


def test_writing_the_pages_is_deterministic(tmp_path):
    (tmp_path / "EP999.md").write_text("a rule that is gone")
    first = write_rule_pages(tmp_path / "rules")
    assert sorted(p.name for p in first) == sorted(rule_pages())
    assert write_rule_pages(tmp_path / "rules") == []          # nothing changed: nothing written
    (tmp_path / "rules" / "EP999.md").write_text("a rule that is gone")
    assert [p.name for p in write_rule_pages(tmp_path / "rules")] == ["EP999.md"]
    assert not (tmp_path / "rules" / "EP999.md").exists()
    assert {p.name: p.read_text() for p in (tmp_path / "rules").iterdir()} == rule_pages()


@pytest.mark.parametrize("rid", RULE_IDS)
def test_page_has_the_four_parts(rid):
    cls = registry()[rid]
    page, doc = rule_page(cls), rule_doc(cls)
    assert page.startswith(f"# {rid} {cls.name}\n\n{cls.short()}\n")
    assert f"- **Severity:** {cls.severity}" in page
    headings = [line[3:] for line in page.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS), f"{rid}: the docstring needs {', '.join(SECTIONS)}"
    assert doc.code("Anti-pattern"), f"{rid}: the anti-pattern shows a YAML block"
    assert doc.code("Passing example"), f"{rid}: the passing example is a YAML block"
    assert any(kind == "text" for kind, _ in doc.blocks["Fix"]), f"{rid}: the fix is prose"
    why = page.split("## Why it matters", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"https://[^\s)>]+", why), \
        f"{rid}: 'Why it matters' names a checkable source: `Source: title <https://...>`"
    for s in doc.sources:
        assert s.url.startswith("https://") and s.title, s
        assert f"]({s.url})" in why
    assert any(kind == "text" for kind, _ in doc.blocks["Why it matters"]), \
        f"{rid}: 'Why it matters' explains, not only cites"


def _stand_ins(data, where: Path):
    """Files a passing example names, as stand-ins: a static-shaped ONNX model of Conv and
    Relu for `model_file`/`model_files`, a directory with one input for `calibration_data`."""
    for w in (data.get("workloads") or []) if isinstance(data, dict) else []:
        if not isinstance(w, dict):
            continue
        for name in ([w["model_file"]] if "model_file" in w else []) + list(
                w.get("model_files") or []):
            p = where / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(make_onnx(ops=("Conv", "Relu"), inputs={"images": [1, 3, 640, 640]}))
        if "calibration_data" in w:
            d = where / w["calibration_data"]
            d.mkdir(parents=True, exist_ok=True)
            (d / "0001.npy").write_bytes(b"\x93NUMPY")


@pytest.mark.parametrize("rid", RULE_IDS)
def test_passing_example_lints_clean(rid, tmp_path):
    """The passing example of every page, linted against the built-in catalog as a file of
    its own, draws no finding (of its rule or any other) when it is a complete document;
    a snippet is at least there."""
    cls = registry()[rid]
    example = passing_example(cls)
    assert example, f"{rid}: no passing example"
    data = yaml.safe_load(example)
    if not (isinstance(data, dict) and data.get("apiVersion") and data.get("kind")):
        return                          # a snippet, not a document: nothing to lint
    name = "spec.yaml" if data["kind"] == "Spec" else "deploy.yaml"
    _stand_ins(data, tmp_path)
    (tmp_path / name).write_text(example)
    report = lint_paths([str(tmp_path / name)], catalog=builtin_catalog(), cwd=str(tmp_path))
    shown = "\n".join(f"  {f.line}:{f.column} {f.rule} {f.message}" for f in report.findings)
    assert not [f for f in report.findings if f.rule == rid], \
        f"{rid}'s passing example draws {rid}:\n{shown}"
    assert not report.findings, f"{rid}'s passing example is not clean:\n{shown}"


def _cli(args):
    from planner.cli import main
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_rules_command_prints_the_page():
    cls = registry()["EP202"]
    r = _cli(["rules", "EP202"])
    assert r.exit_code == 0
    assert r.output == rule_page(cls)
    assert (PAGES / "EP202.md").read_text(encoding="utf-8") == r.output
    assert _cli(["rules", "fp32-on-accelerator", "--format", "markdown"]).output == r.output
    data = json.loads(_cli(["rules", "EP202", "--format", "json"]).output)
    assert data["id"] == "EP202" and data["severity"] == "warning"
    assert data["doc"] == cls.doc() and data["page"] == r.output
    listing = _cli(["rules"])
    assert [line.split()[0] for line in listing.output.splitlines()] == RULE_IDS


def test_help_ends_with_an_example():
    r = _cli(["rules", "--help"])
    assert r.exit_code == 0 and "Example: edgeplan rules EP202" in r.output
