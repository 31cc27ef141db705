"""Explanations of infeasible specs are true and useful (issue 15 §1): each conflict is a
minimal set (checked here by re-solving), the smallest corrections of one then two budgets
each restore the plan they name, the physics behind a conflict is named from the
candidates, device relaxations stay near what the user allowed, and an accuracy in another
metric is never compared with the floor as a percentage."""
import itertools
import json
import subprocess
import sys

import pytest
from conftest import ROOT, spec_from

from planner.solve.explain import (
    Oracle,
    _apply,
    _relax,
    _Ctx,
    device_closeness,
    explain,
    relaxed,
)
from planner.solve.pipeline import solve
from planner.solve.render import render_plan_text
from planner.spec import load_spec

# the first reproduction: only microcontrollers draw 2 W or less, and no image
# classifier fits in their memory; the old answer put latency (not needed for that
# conflict) under "a minimal set: relax any one of them"
CLASSIFY_2W = """
name: classify-2w
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 1, accuracy_floor: 80}
budgets: {power_w: 2}
"""

# the doorbell: a 5 fps detector within 3 W; the old answer blamed the rate
DOORBELL = """
name: doorbell
workloads:
  - {name: detect, task: detection, rate_fps: 5}
budgets: {power_w: 3}
"""

TWO_CONFLICTS = ROOT / "examples" / "infeasible-coral-30fps.yaml"
NANO = ROOT / "examples" / "infeasible-7b-on-nano.yaml"


def all_minimal_conflicts(oracle: Oracle) -> list[list[str]]:
    """Brute force: every subset of the budgets that is infeasible while each subset with one
    member removed is feasible."""
    out = []
    for k in range(1, len(oracle.names) + 1):
        for sub in itertools.combinations(oracle.names, k):
            if not oracle.feasible(set(sub)) and all(
                    oracle.feasible(set(sub) - {b}) for b in sub):
                out.append(list(sub))
    return sorted(out, key=lambda c: (len(c), c))


def apply_correction(spec, catalog, fix):
    """The spec with a correction's values (each budget at its relax_to; a list extended)."""
    from planner.solve.explain import _extend_list, _with_budget, _with_workload
    new = spec
    for ch in fix["changes"]:
        b, to = ch["budget"], ch["relax_to"]
        assert to is not None, ch
        if isinstance(to, dict):
            new = _extend_list(new, b, to.get("add") or to.get("remove"))
        elif b in ("power", "cost", "devices", "memory"):
            field = {"power": "power_w", "cost": "cost_usd", "devices": "max_devices",
                     "memory": "memory_headroom_pct"}[b]
            new = _with_budget(new, **{field: to})
        else:
            kind, wname = b.split(":", 1)
            w = next(x for x in new.workloads if x.name == wname)
            field = {"latency": "latency_budget_ms", "accuracy": "accuracy_floor"}.get(kind) or (
                "tokens_per_s" if w.tokens_per_s is not None else "rate_fps")
            new = _with_workload(new, wname, **{field: to})
    return new


def check_explanation(spec, catalog, r):
    """Everything the explanation claims, re-checked by independent solves."""
    e = r.explanation
    oracle = Oracle(spec, catalog, 2, None)
    names = set(oracle.names)
    sets = [[b["budget"] for b in c["budgets"]] for c in e["conflict_sets"]]
    assert sets, "an infeasible spec with budgets names a conflict"
    for c in sets:
        # minimal: infeasible, and every subset with one member removed (others kept) is not
        assert not oracle.feasible(set(c)), c
        for b in c:
            assert oracle.feasible(set(c) - {b}), (c, b)
    if e["complete"]:
        assert sets == all_minimal_conflicts(oracle)
    for fix in e["corrections"]:
        relax = set(fix["relax"])
        # the relaxation restores a plan, with the other budgets kept ...
        assert oracle.feasible(names - relax), fix
        # ... and is smallest: no budget of it is a correction alone
        if len(relax) == 2:
            assert all(not oracle.feasible(names - {b}) for b in relax), fix
        # the values it names give the plan it names
        fixed = solve(apply_correction(spec, catalog, fix), catalog, explain=False,
                      binding=False)
        assert fixed.status == "optimal", fix
        from planner.solve.plan import plan_summary
        assert plan_summary(fixed.plan) == fix["plan"]
    # every single-budget correction is listed (the spec is small enough for all of them)
    singles = sorted(b for b in names if oracle.feasible(names - {b}))
    assert sorted(f["relax"][0] for f in e["corrections"] if len(f["relax"]) == 1) == singles
    # the legacy list: relax_to only where relaxing that budget alone restores a plan
    for c in r.conflicts:
        assert (c["relax_to"] is not None) == (c["budget"] in singles), c
    return sets


def test_classify_2w_conflict_is_minimal_and_names_the_physics(catalog):
    spec = spec_from(CLASSIFY_2W)
    r = solve(spec, catalog)
    assert r.status == "infeasible"
    sets = check_explanation(spec, catalog, r)
    assert sets == [["power"]]
    (fact,) = r.explanation["conflict_sets"][0]["facts"]
    assert fact.startswith("physics: no device within 2 W leaves more than")
    assert "every classification option for classify needs at least" in fact
    text = render_plan_text(r.as_dict())
    assert "relax any one of them" not in text
    assert "cannot be relaxed alone" not in text
    assert "power 2 W -> 5 W" in text


def test_doorbell_blames_power_and_memory_not_the_rate(catalog):
    spec = spec_from(DOORBELL)
    r = solve(spec, catalog)
    sets = check_explanation(spec, catalog, r)
    assert sets == [["power"]]
    assert all(not c["budget"].startswith("rate:") for c in r.conflicts)
    fact = r.explanation["conflict_sets"][0]["facts"][0]
    assert fact.startswith("physics: no device within 3 W leaves more than")
    assert "every detection option for detect needs at least" in fact


def test_two_conflicts_are_said_and_the_smallest_corrections_listed(catalog):
    spec, _ = load_spec(TWO_CONFLICTS)
    r = solve(spec, catalog)
    sets = check_explanation(spec, catalog, r)
    assert len(sets) == 2 and r.explanation["complete"]
    fixes = [f["relax"] for f in r.explanation["corrections"]]
    assert ["latency:detect", "rate:detect"] in fixes      # one pair: no single one of them
    sizes = [len(f) for f in fixes]
    assert sizes == sorted(sizes)                            # one budget first, then two
    text = render_plan_text(r.as_dict())
    assert "2 conflicts:" in text and "1. accuracy:detect 48" in text and "2. accuracy:detect" in text
    head = next(ln for ln in text.splitlines() if ln.startswith("smallest corrections"))
    assert "one budget alone, else two relaxed together" in head
    assert "cannot be relaxed alone" not in text


def test_a_single_correction_heading_never_holds_a_budget_that_cannot_be_relaxed(catalog):
    for text in (CLASSIFY_2W, DOORBELL):
        spec = spec_from(text)
        out = render_plan_text(solve(spec, catalog).as_dict())
        block = out.split("smallest corrections")[1].split("rejected options")[0]
        assert "lift it" not in block and "no plan found" not in block and "cannot" not in block


def test_nano_device_relaxation_stays_with_jetsons(catalog):
    spec, _ = load_spec(NANO)
    r = solve(spec, catalog)
    check_explanation(spec, catalog, r)
    dev = next(c for c in r.conflicts if c["budget"] == "devices.allow")
    first = dev["relax_to"]["add"]
    alts = [a["add"][0] for a in dev.get("alternatives", [])]
    shown = first + alts
    assert 2 <= len(shown) <= 3
    assert all(catalog.devices[d].family == "jetson" for d in shown), shown
    assert "galaxy-s25-8elite" not in shown
    # nearest first: the same family and form factor, then the price gap
    allowed = [catalog.devices["jetson-nano-4gb"]]
    keys = [device_closeness(allowed, catalog.devices[d]) for d in shown]
    assert keys == sorted(keys)
    fact = r.explanation["conflict_sets"][0]["facts"][0]
    assert "jetson-nano-4gb" in fact and "2.5 GB free" in fact and "4.79 GB" in fact


def test_device_closeness_orders_family_then_form_then_price(catalog):
    allowed = [catalog.devices["jetson-nano-4gb"]]
    order = sorted(["galaxy-s25-8elite", "jetson-agx-orin-32gb", "jetson-orin-nano-super-8gb",
                    "raspberry-pi-5-8gb"],
                   key=lambda d: device_closeness(allowed, catalog.devices[d]))
    # the Jetson dev kit, then the Jetson module, then the other families (the SBC's price
    # is nearer the Nano's than the phone's)
    assert order == ["jetson-orin-nano-super-8gb", "jetson-agx-orin-32gb",
                     "raspberry-pi-5-8gb", "galaxy-s25-8elite"]


def test_precision_support_is_named_as_physics(mini_catalog):
    spec = spec_from("""
name: p
workloads: [{name: c, task: classification, rate_fps: 1, precisions: [fp32]}]
devices: {allow: [toy-phone]}
""")
    r = solve(spec, mini_catalog)
    assert r.status == "infeasible"
    (c,) = r.explanation["conflict_sets"]
    assert sorted(b["budget"] for b in c["budgets"]) == ["devices.allow", "precisions:c"]
    assert c["facts"] == ["physics: no device allowed (toy-phone) runs FP32 for c; they run "
                          "FP16, INT8"]


def test_pair_corrections_relax_the_second_budget_from_the_users_value(catalog):
    """_apply puts a budget back as the user set it before the second relaxation."""
    spec, _ = load_spec(TWO_CONFLICTS)
    lifted = relaxed(spec, catalog, ["rate:detect"])
    assert lifted.workloads[0].rate_fps is None
    back = _apply(lifted, "rate:detect", spec)
    assert back.workloads[0].rate_fps == spec.workloads[0].rate_fps
    row, new = _relax("rate:detect", back, _Ctx(spec, catalog, 2, None))
    assert row["limit"] == 30 and row["relax_to"] is None and new is None


def test_rejected_option_in_another_metric_is_not_compared(catalog):
    spec = spec_from("""
name: det
workloads: [{name: detect, task: detection, rate_fps: 5, accuracy_floor: 25}]
devices: {allow: [coral-dev-board]}
""")
    r = solve(spec, catalog, explain=False, binding=False)
    rows = [v for row in r.rejected if row["model"] == "retinanet-resnext50-fpn"
            for v in row["violations"] if v["budget"] == "accuracy"]
    assert rows
    for v in rows:
        assert v["by"] is None
        assert v["note"].startswith("scored in another metric (OpenImages")
        assert v["note"].endswith("), not comparable")


def test_explanation_is_bounded_and_says_when_it_stopped(catalog):
    spec, _ = load_spec(TWO_CONFLICTS)
    e = explain(spec, catalog, max_checks=4)
    assert e["checks"] <= 4 and not e["complete"]
    full = explain(spec, catalog)
    assert full["complete"] and full["checks"] < 100


def test_explanation_runs_under_the_deadline(catalog):
    from planner.errors import SolveTimeout
    from planner.solve.deadline import Deadline
    spec = spec_from(DOORBELL)
    d = Deadline(0.01, clock=iter([0.0] + [1.0] * 1000).__next__)
    with pytest.raises(SolveTimeout):
        explain(spec, catalog, deadline=d)


def test_json_explanation_is_byte_identical_across_runs(tmp_path):
    outs = []
    for _ in range(2):
        p = subprocess.run([sys.executable, "-m", "planner.cli", "solve", str(TWO_CONFLICTS),
                            "--format", "json"], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 3, p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1]
    d = json.loads(outs[0])
    assert len(d["explanation"]["conflict_sets"]) == 2


def test_report_of_two_conflicts_does_not_claim_any_one_budget_fixes_it(catalog):
    from planner.report.build import build_report
    from planner.report.render import render_report
    spec, _ = load_spec(TWO_CONFLICTS)
    rep = build_report(spec, catalog, with_sensitivity=False, with_fronts=False,
                       with_lint=False)
    assert rep["verdict"].startswith("2 separate conflicts among the budgets")
    assert "detect: latency (15 ms → " in rep["verdict"] and " with detect: rate (30 fps → " \
        in rep["verdict"]
    md = render_report(rep, "md")
    assert "2 separate conflicts" in md
    assert "Relaxing any one of them" not in md


def test_lint_names_each_conflict_a_budget_is_in_and_its_own_correction(catalog, tmp_path):
    """EP105 used to lump both conflicts into one list ('budgets a, b, c, d conflict') and
    told latency and rate 'relaxing this budget alone does not restore a plan'."""
    from planner.cli.lint_cmd import spec_feasibility
    from planner.lint.engine import lint_paths
    rep = lint_paths([str(TWO_CONFLICTS)], catalog=catalog, feasibility=spec_feasibility)
    by = {f.path: f for f in rep.findings if f.rule == "EP105"}
    lat = next(f for k, f in by.items() if k.endswith("latency_budget_ms"))
    rate = next(f for k, f in by.items() if k.endswith("rate_fps"))
    acc = next(f for k, f in by.items() if k.endswith("accuracy_floor"))
    assert "(conflict 1 of 2)" in lat.message and "rate" not in lat.message
    assert "(conflict 2 of 2)" in rate.message and "latency" not in rate.message
    assert "(conflict 1 of 2); and with" in acc.message       # in both sets, said once
    for f in (lat, rate):                 # the pair that fixes both, with its plan
        assert f.fix.startswith("relax together: latency:detect 15 ms -> ") and "gives detect:" in f.fix
    assert "->" in acc.fix and "relax together" not in acc.fix
    assert not any("alone does not restore" in f.fix for f in by.values())
