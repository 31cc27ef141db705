"""`edgeplan report`: given this spec, a review that says what was picked, why, what was given
up and how close to the edge; given an impossible spec, the conflicts and their relaxations.
Both forms are deterministic, the HTML is self-contained and the Markdown tables are GFM."""
import re

import pytest
from click.testing import CliRunner
from conftest import MINI, spec_from

from planner.report.build import build_report
from planner.report.labels import plan_description
from planner.report.render import render_report
from planner.solve.pipeline import solve

ONE = """
name: camera
description: "A door camera that classifies visitors."
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 20, accuracy_floor: 74}
budgets: {power_w: 12, cost_usd: 600}
objective: [min power, max accuracy, min cost]
"""

TWO = """
name: two
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 20, accuracy_floor: 74}
  - {name: chat, models: [toy-llm-7b], tokens_per_s: 5, context_tokens: 1024}
budgets: {power_w: 30, max_devices: 2}
"""

TIGHT = """
name: tight
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 5, accuracy_floor: 79}
budgets: {power_w: 3}
devices: {allow: [toy-tpu-usb, toy-phone]}
"""

NANO = """
name: nano
workloads: [{name: chat, models: [toy-llm-7b], tokens_per_s: 5}]
devices: {allow: [toy-tpu-usb]}
"""


@pytest.fixture(scope="module")
def one(mini_catalog):
    return build_report(spec_from(ONE), mini_catalog, top=2)


@pytest.fixture(scope="module")
def two(mini_catalog):
    return build_report(spec_from(TWO), mini_catalog, top=2)


@pytest.fixture(scope="module")
def tight(mini_catalog):
    return build_report(spec_from(TIGHT), mini_catalog)


# ---------------------------------------------------------------- the data

def test_the_question_is_the_spec_in_plain_words(one):
    q = one["question"]
    w = q["workloads"][0]
    assert w["name"] == "classify" and w["what"] == "any classification model in the catalog"
    assert w["needs"] == ["30 inferences/s", "p50 latency per inference at most 20 ms",
                          "accuracy at least 74 top-1 %"]
    assert "total power of all devices at most 12 W" in q["budgets"]
    assert "device cost at most $600" in q["budgets"]
    assert q["objective"].startswith("Minimise board power, then maximise accuracy, then "
                                     "minimise device cost")


def test_a_plan_comes_with_estimates_why_runners_up_and_rejections(mini_catalog, one):
    res = solve(spec_from(ONE), mini_catalog, top=2)
    assert one["status"] == res.status == "optimal"
    assert one["plan"]["summary"] == plan_description(res.plan)
    a = one["plan"]["assignments"][0]
    assert a["latency"]["provenance"] in ("datasheet", "measured", "calibrated", "estimated")
    assert a["latency"]["interval"]
    # why: the slack on every budget, and which bind
    names = [s["budget"] for s in one["why"]["slack"]]
    assert names[:3] == ["power", "cost", "devices"]
    assert {b["budget"] for b in one["why"]["binding"]} == set(res.plan["binding"])
    for s in one["why"]["slack"]:
        assert s["status"] in ("ok", "marginal", "binding", "over")
        assert (s["status"] == "binding") == s["binding"]
    # runners-up say what they give up against the plan
    assert len(one["runners_up"]) == len(res.runners_up) == 2
    assert all(u["changes"] for u in one["runners_up"])
    # rejections: grouped by budget, counts add up, largest group first
    g = one["rejected"]["groups"]
    assert sum(x["count"] for x in g) == one["rejected"]["total"] == len(res.rejected)
    assert [x["count"] for x in g] == sorted((x["count"] for x in g), reverse=True)
    # the manifest is shown
    assert one["manifest_yaml"].startswith("# Written by")


def test_rejected_rows_per_budget_are_capped(mini_catalog):
    r = build_report(spec_from(ONE), mini_catalog, with_sensitivity=False, with_fronts=False)
    from planner.report.build import group_rejections
    rows = solve(spec_from(ONE), mini_catalog).rejected
    capped = group_rejections(rows, per_budget=1)
    assert all(len(x["rows"]) <= 1 and x["more"] == x["count"] - len(x["rows"])
               for x in capped["groups"])
    assert r["rejected"]["total"] == capped["total"]


def _nudge(name, value, toward, spec):
    """A limit a little looser or tighter than `value` for budget `name`."""
    tighter_is_up = name.startswith(("memory", "compute", "rate:")) or (
        name.startswith("accuracy:"))
    step = {"devices": 1}.get(name) or (
        0.005 if name.startswith("accuracy:") else 0.05 if name in ("memory", "compute")
        else abs(value) * 5e-4)
    if toward == "tight":
        step *= 4 if name != "devices" else 1
    up = (toward == "tight") == tighter_is_up
    return value + step if up else value - step


def _with(spec, name, value):
    field = {"power": "power_w", "cost": "cost_usd", "devices": "max_devices",
             "memory": "memory_headroom_pct", "compute": "compute_headroom_pct"}.get(name)
    if field:
        return spec.model_copy(update={"budgets": spec.budgets.model_copy(update={field: value})})
    kind, wname = name.split(":")
    w0 = next(w for w in spec.workloads if w.name == wname)
    fld = {"latency": "latency_budget_ms", "accuracy": "accuracy_floor"}.get(kind) or (
        "tokens_per_s" if w0.tokens_per_s is not None else "rate_fps")
    ws = [w.model_copy(update={fld: value}) if w.name == wname else w for w in spec.workloads]
    return spec.model_copy(update={"workloads": ws})


@pytest.mark.parametrize("text", [ONE, TWO], ids=["one", "two"])
def test_sensitivity_names_where_the_plan_changes_and_to_what(mini_catalog, text, request):
    spec = spec_from(text)
    rep = request.getfixturevalue("one" if text is ONE else "two")
    base = solve(spec, mini_catalog, binding=False).plan
    rows = rep["sensitivity"]
    assert {r["budget"] for r in rows} >= {"power", "cost", "devices", "memory", "compute"}
    assert any(r["loose_at"] is not None for r in rows), "a binding budget moves the plan"

    def summary(s):
        p = solve(s, mini_catalog, binding=False, explain=False).plan
        return plan_description(p) if p else None

    for r in rows:
        name = r["budget"]
        if r["tight_at"] is not None and not (name == "devices" and r["tight_at"] <= 1):
            at = r["tight_at"]
            assert summary(_with(spec, name, _nudge(name, at, "loose", spec))) == \
                plan_description(base), f"{name}: the plan holds up to its edge"
            assert summary(_with(spec, name, _nudge(name, at, "tight", spec))) == \
                r["tight_plan"], f"{name}: past the edge the plan becomes tight_plan"
        if r["loose_at"] is not None:
            at = r["loose_at"]
            assert summary(_with(spec, name, _nudge(name, at, "loose", spec))) == \
                r["loose_plan"], f"{name}: loosened to loose_at the plan changes"
            assert summary(_with(spec, name, _nudge(name, at, "tight", spec))) == \
                plan_description(base), f"{name}: just short of loose_at nothing changes"
        if not r["binding"]:
            assert r["loose_at"] is None


def test_infeasible_report_has_conflicts_relaxations_and_all_options(tight):
    assert tight["status"] == "infeasible" and tight["plan"] is None
    c = {x["budget"]: x for x in tight["conflicts"]}
    assert c["power"]["limit"] == 3 and c["power"]["relax_to"] == 4.0
    assert "toy-phone" in c["power"]["plan"]
    assert "total power" in tight["verdict"] and "3 W → 4 W" in tight["verdict"]
    assert tight["fronts"] and all(f["all_options"] for f in tight["fronts"])
    html = render_report(tight, "html")
    assert "Nothing fits." in html and 'class="chart relax"' in html
    md = render_report(tight, "md")
    assert "| total power (`power`) | 3 W | 4 W |" in md


def test_a_conflict_without_a_single_relaxation_is_said_so(mini_catalog):
    r = build_report(spec_from(NANO), mini_catalog)
    c = {x["budget"]: x for x in r["conflicts"]}
    # the device's memory is physics, not a budget: the verdict names it as such
    assert set(c) == {"devices.allow"}
    assert c["devices.allow"]["relax_text"] == "add toy-gpu-8gb"
    assert "Physics: no device allowed (toy-tpu-usb) leaves more than" in r["verdict"]


# ---------------------------------------------------------------- rendering

def test_same_spec_gives_byte_identical_html_and_markdown(mini_catalog, two):
    again = build_report(spec_from(TWO), mini_catalog, top=2)
    for fmt in ("html", "md"):
        assert render_report(two, fmt) == render_report(again, fmt)


def test_html_is_one_self_contained_file(one, two, tight):
    for rep in (one, two, tight):
        html = render_report(rep, "html")
        assert html.startswith("<!DOCTYPE html>")
        assert "Content-Security-Policy" in html and "default-src 'none'" in html
        assert "<script" not in html.lower()
        assert not re.search(r"\b(src|href)=\"(?!#)", html), "no external resources or links"
        assert "@import" not in html and "@font-face" not in html
        urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
        assert urls <= {"http://www.w3.org/2000/svg"}, urls
        assert "@media print" in html


def test_html_draws_the_charts_with_the_plan_marked(one, two):
    html = render_report(one, "html")
    assert html.count('class="chart"') == len(one["fronts"]) == 2
    assert 'class="chosen"' in html and "chosen: toy-cnn INT8-qat" in html
    assert 'class="chart bars"' in html and 'class="chart ranges"' in html
    html2 = render_report(two, "html")
    assert html2.count('class="chart"') == len(two["fronts"]) + len(two["plan_fronts"]) == 6
    assert 'id="plan-power-accuracy"' in html2


def test_user_text_is_escaped(mini_catalog):
    spec = spec_from(ONE.replace('"A door camera that classifies visitors."',
                                 "'<script>alert(1)</script> & a | pipe'"))
    rep = build_report(spec, mini_catalog, with_sensitivity=False, with_fronts=False)
    html = render_report(rep, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; a | pipe" in html
    md = render_report(rep, "md")
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt; & a \\| pipe" in md


def _cells(line):
    inner = line.strip()
    assert inner.startswith("|") and inner.endswith("|"), line
    return re.split(r"(?<!\\)\|", inner[1:-1])


def check_gfm_tables(md):
    """Every table: a blank line before it, a header, a delimiter row, rows of the same width."""
    lines = md.splitlines()
    tables = 0
    i = 0
    while i < len(lines):
        if lines[i].startswith("|"):
            assert i == 0 or lines[i - 1].strip() == "", f"no blank line before: {lines[i]}"
            head = _cells(lines[i])
            delim = _cells(lines[i + 1])
            assert all(re.fullmatch(r":?-{3,}:?", c.strip()) for c in delim), lines[i + 1]
            assert len(delim) == len(head)
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                assert len(_cells(lines[j])) == len(head), lines[j]
                j += 1
            tables += 1
            i = j
        else:
            i += 1
    return tables


def test_markdown_is_github_flavoured_tables(one, two, tight):
    for rep in (one, two, tight):
        md = render_report(rep, "md")
        assert check_gfm_tables(md) >= 4
        assert "<svg" not in md
        assert "\n\n\n" not in md
    md = render_report(one, "md")
    assert md.startswith("## camera: design review — **optimal**")
    assert "| classify | toy-cnn · INT8 / qat | toy-tpu-usb [default] · tpu / edgetpu |" in md


def test_lint_findings_are_shown(one):
    lint = one["lint"]
    assert set(lint) >= {"available", "findings", "counts", "reason"}
    assert lint["available"] is True
    assert all(f["rule"] and f["severity"] for f in lint["findings"])
    # a plan solve emits lints clean of errors (the one-estimator invariant)
    assert not [f for f in lint["findings"] if f["severity"] == "error"]


def test_unknown_format_is_an_input_error(one):
    from planner.errors import InputError
    with pytest.raises(InputError):
        render_report(one, "pdf")


# ---------------------------------------------------------------- the command

@pytest.fixture
def cli():
    """The command line, on the test catalog only (the real catalog's numbers change)."""
    from planner.cli import main

    def run(*args):
        r = CliRunner().invoke(main, ["report", "--no-builtin", "--catalog", str(MINI),
                                      *map(str, args)])
        return r.exit_code, r.stdout, r.stderr
    return run


def _spec(tmp_path, text, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_cli_writes_html_and_markdown(cli, tmp_path):
    spec = _spec(tmp_path, ONE)
    code, out, err = cli(spec, "-o", tmp_path / "review.html")
    assert code == 0 and "wrote" in err
    html = (tmp_path / "review.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "toy-tpu-usb" in html
    code, out, err = cli(spec, "-o", tmp_path / "review.md", "--no-sensitivity")
    assert code == 0
    md = (tmp_path / "review.md").read_text()
    assert md.startswith("## camera") and "Not computed (`--no-sensitivity`)" in md
    code, out, _ = cli(spec, "--format", "md", "--top", "0")
    assert code == 0 and out.startswith("## camera")


def test_cli_infeasible_still_writes_the_report(cli, tmp_path):
    spec = _spec(tmp_path, TIGHT)
    code, _, err = cli(spec, "-o", tmp_path / "r.html")
    assert code == 0 and "(infeasible)" in err
    assert "Nothing fits." in (tmp_path / "r.html").read_text()
    code, _, _ = cli(spec, "-o", tmp_path / "r2.html", "--fail-on-infeasible")
    assert code == 3 and (tmp_path / "r2.html").exists()


def test_cli_bad_input_is_one_line_and_exit_2(cli, tmp_path):
    spec = _spec(tmp_path, "name: x\nworkloads: [{name: a, task: classification, "
                           "rate_fps: -3}]\n")
    code, out, err = cli(spec, "-o", tmp_path / "r.html")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "spec.yaml:2" in err and not (tmp_path / "r.html").exists()
    code, _, err = cli(tmp_path / "missing.yaml")
    assert code == 2 and "Traceback" not in err
    code, _, err = cli(_spec(tmp_path, ONE), "--format", "pdf")
    assert code == 2


def test_cli_help_ends_with_an_example():
    from planner.cli import main
    r = CliRunner().invoke(main, ["report", "--help"])
    assert r.exit_code == 0
    assert "Example: edgeplan report" in r.output
