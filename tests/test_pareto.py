"""Pareto fronts: the dominance test against brute force on random points; the per-workload
fronts against brute force over every option the workload could run; the whole-plan fronts
(epsilon-constraint over the solver) against brute force over every complete plan."""
import itertools

import pytest
from conftest import TWO_WORKLOADS, spec_from
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.estimate.point import Query, estimate
from planner.report.pareto import (
    front_mask,
    pareto_layers,
    plan_fronts,
    plan_key,
    plan_totals,
    workload_fronts,
)
from planner.solve.candidates import build_candidates
from planner.solve.check import validate_plan
from planner.solve.pipeline import solve


def brute_force_front(pts, senses=("min", "min")):
    """Indices of points that no other point dominates, by the definition, O(n^2)."""
    sign = [1 if s == "min" else -1 for s in senses]
    q = [(sign[0] * x, sign[1] * y) for x, y in pts]
    out = []
    for i, (a, b) in enumerate(q):
        dominated = any(c <= a and d <= b and (c < a or d < b)
                        for j, (c, d) in enumerate(q) if j != i)
        if not dominated:
            out.append(i)
    return out


coords = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=0, max_size=40)


@settings(max_examples=300, deadline=None)
@given(coords, st.sampled_from(["min", "max"]), st.sampled_from(["min", "max"]))
def test_front_mask_is_brute_force(pts, sx, sy):
    xs = [float(p[0]) for p in pts]
    ys = [float(p[1]) for p in pts]
    mask = front_mask(xs, ys, x_sense=sx, y_sense=sy)
    assert [i for i, m in enumerate(mask) if m] == brute_force_front(pts, (sx, sy))


@settings(max_examples=100, deadline=None)
@given(coords)
def test_layers_peel_fronts(pts):
    xs = [float(p[0]) for p in pts]
    ys = [float(p[1]) for p in pts]
    layers = pareto_layers(xs, ys, x_sense="min", y_sense="max")
    assert [i for i, k in enumerate(layers) if k == 0] == brute_force_front(pts, ("min", "max"))
    for i, k in enumerate(layers):
        if k > 0:   # every later point is dominated by one a layer before it
            assert any(layers[j] == k - 1 and xs[j] <= xs[i] and ys[j] >= ys[i]
                       and (xs[j] < xs[i] or ys[j] > ys[i]) for j in range(len(pts)))


def test_identical_points_stay_on_the_front_together():
    assert front_mask([1, 1, 2], [5, 5, 9], x_sense="min", y_sense="max") == [True, True, True]
    assert front_mask([1, 1, 2], [5, 5, 4], x_sense="min", y_sense="max") == [True, True, False]


ONE = """
name: one
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 20, accuracy_floor: 74}
budgets: {power_w: 12, cost_usd: 600}
"""

TWO = TWO_WORKLOADS


def _r(v):
    return float(f"{v:.5g}")


def _coord_set(points):
    return {(_r(p["x"]), _r(p["y"])) for p in points}


@pytest.mark.parametrize("text", [ONE, TWO], ids=["one-workload", "two-workloads"])
def test_workload_fronts_are_the_brute_force_fronts_over_every_option(mini_catalog, text):
    spec = spec_from(text)
    plan = solve(spec, mini_catalog, binding=False).plan
    fronts = {f.id: f for f in workload_fronts(spec, mini_catalog, plan)}
    cs = build_candidates(spec, mini_catalog, prune=False)
    for wi, w in enumerate(spec.workloads):
        opts = cs.per_workload[wi]
        assert opts, "every workload has options that pass its own budgets"
        for axis, yfun, ysense in (("accuracy", lambda c: c.accuracy, "max"),
                                   ("power", lambda c: c.dtype.power_w, "min")):
            f = fronts[f"{w.name}-{axis}-latency"]
            pts = [(c.latency_ms, yfun(c)) for c in opts]
            want = {(round(pts[i][0], 9), round(pts[i][1], 9))
                    for i in brute_force_front(pts, ("min", ysense))}
            assert {(round(p.x, 9), round(p.y, 9)) for p in f.front_points} == want, f.id
            # the chosen option is marked, once, and at its own coordinates
            chosen = [p for p in f.points if p.chosen]
            a = next(a for a in plan["assignments"] if a["workload"] == w.name)
            assert len(chosen) == 1
            assert all(chosen[0].option[k] == a[k] for k in
                       ("model", "precision", "technique", "device", "power_mode", "unit",
                        "runtime"))
            assert not f.all_options and f.hidden == 0


def test_a_workload_with_no_fitting_option_shows_every_option_and_what_it_breaks(mini_catalog):
    spec = spec_from("""
name: nano
workloads: [{name: chat, models: [toy-llm-7b], tokens_per_s: 5}]
devices: {allow: [toy-tpu-usb]}
""")
    fronts = workload_fronts(spec, mini_catalog, None)
    assert fronts and all(f.all_options for f in fronts)
    for f in fronts:
        assert all(p.breaks for p in f.points), "nothing fits, so every option breaks something"
        assert not any(p.chosen for p in f.points)
    # shown: what the spec's lists allow (the allowed device), and it all breaks memory
    acc = next(f for f in fronts if f.id == "chat-accuracy-latency")
    assert {p.option["device"] for p in acc.points} == {"toy-tpu-usb"}
    assert all("memory" in p.breaks for p in acc.points)


def test_when_the_lists_allow_nothing_every_option_is_shown(mini_catalog):
    spec = spec_from("""
name: none
workloads: [{name: chat, models: [toy-llm-7b], tokens_per_s: 5, precisions: [fp32]}]
""")
    fronts = workload_fronts(spec, mini_catalog, None)
    assert fronts and all(f.all_options for f in fronts)
    assert all("precisions:chat" in p.breaks for f in fronts for p in f.points)


def test_points_past_the_cap_are_counted_not_drawn(mini_catalog):
    spec = spec_from(ONE)
    f = next(f for f in workload_fronts(spec, mini_catalog, None, max_points=3)
             if f.id == "classify-accuracy-latency")
    full = next(f for f in workload_fronts(spec, mini_catalog, None)
                if f.id == "classify-accuracy-latency")
    assert len(f.points) + f.hidden == len(full.points)
    assert _coord_set(f.as_dict()["front"]) <= _coord_set(full.as_dict()["front"])


# ---------------------------------------------------------------- whole plans

def _every_plan(spec, catalog):
    """Brute force: every pair of options of the two workloads, on one shared device or on
    two devices, kept when the solver-free validator accepts it."""
    cs = build_candidates(spec, catalog, prune=False)
    (w1, w2) = spec.workloads
    out = []
    for c1, c2 in itertools.product(*cs.per_workload):
        t1, t2 = c1.dtype, c2.dtype
        placements = []
        if (t1.device.id, t1.mode_id) == (t2.device.id, t2.mode_id):
            placements.append(([(t1, 1)], 0, 0))
            if spec.budgets.max_devices >= 2:
                placements.append(([(t1, 2)], 0, 1))
        elif spec.budgets.max_devices >= 2:
            placements.append(([(t1, 1), (t2, 1)], 0, 0))
        for bill, i1, i2 in placements:
            plan = {"devices": [{"id": t.device.id, "power_mode": t.mode_id, "count": n}
                                for t, n in bill],
                    "assignments": []}
            for w, c, inst in ((w1, c1, i1), (w2, c2, i2)):
                e = estimate(catalog, Query(model=c.model.id, precision=c.precision,
                                            technique=c.technique, device=c.dtype.device.id,
                                            unit=c.unit, runtime=c.runtime, batch=w.batch,
                                            context=w.context_tokens,
                                            power_mode=c.dtype.mode_id))
                plan["assignments"].append({
                    "workload": w.name, "model": c.model.id, "precision": c.precision,
                    "technique": c.technique, "device": c.dtype.device.id,
                    "power_mode": c.dtype.mode_id, "instance": inst, "unit": c.unit,
                    "runtime": c.runtime,
                    "estimates": {k: v for k, v in e.as_dict().items() if k != "query"}})
            if validate_plan(spec, catalog, plan):
                continue
            power = sum(t.power_w * n for t, n in bill)
            acc = sum(a["estimates"]["accuracy"]["value"] for a in plan["assignments"])
            lat = sum(a["estimates"]["latency_ms"]["value"] for a in plan["assignments"])
            out.append((power, acc, lat))
    return out


@pytest.mark.parametrize("max_devices", [1, 2])
def test_whole_plan_fronts_are_the_brute_force_fronts_over_every_plan(mini_catalog, max_devices):
    spec = spec_from(TWO.replace("max_devices: 2", f"max_devices: {max_devices}"))
    res = solve(spec, mini_catalog, top=1, binding=False).as_dict()
    fronts = {f.id: f.as_dict() for f in plan_fronts(spec, mini_catalog, res)}
    plans = _every_plan(spec, mini_catalog)
    assert plans
    # power vs accuracy: both exact (mode watts, profile accuracies)
    want = {(_r(plans[i][0]), _r(plans[i][1]))
            for i in brute_force_front([(p[0], p[1]) for p in plans], ("min", "max"))}
    assert _coord_set(fronts["plan-power-accuracy"]["front"]) == want
    # power vs latency: latencies are estimates rounded to 4 digits; compare the power
    # levels exactly and the latencies within that rounding
    # (plans that differ only in runtime can tie exactly: one point on the chart)
    brute = sorted({(plans[i][0], round(plans[i][2], 9)) for i in
                    brute_force_front([(p[0], p[2]) for p in plans], ("min", "min"))})
    got = sorted((p["x"], p["y"]) for p in fronts["plan-power-latency"]["front"])
    assert [p for p, _ in got] == [p for p, _ in brute]
    for (_, a), (_, b) in zip(got, brute):
        assert a == pytest.approx(b, rel=2e-3)


def test_the_chosen_plan_is_marked_on_the_whole_plan_fronts(mini_catalog):
    spec = spec_from(TWO)
    res = solve(spec, mini_catalog, top=2, binding=False).as_dict()
    t = plan_totals(res["plan"], mini_catalog)
    for f in plan_fronts(spec, mini_catalog, res):
        chosen = [p for p in f.points if p.chosen]
        assert len(chosen) == 1
        assert chosen[0].x == t["power_w"]
        # the spec minimises power first, so the chosen plan is on the power-accuracy front
        if f.id == "plan-power-accuracy":
            assert chosen[0].front
    assert plan_key(res["plan"]) != plan_key(res["runners_up"][0])


def test_single_workload_specs_have_no_whole_plan_front(mini_catalog):
    spec = spec_from(ONE)
    assert plan_fronts(spec, mini_catalog, solve(spec, mini_catalog).as_dict()) == []
