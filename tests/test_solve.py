"""The planner: given this spec, this plan (re-checked by the solver-free validator); given
an impossible spec, this minimal conflict and these relaxations."""
import itertools
import json
from pathlib import Path

import pytest
from conftest import (
    TWO_WORKLOADS,
    builtin_device,
    catalog_with_devices,
    dynamic_power_w,
    spec_from,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.estimate.point import Query, estimate
from planner.solve.candidates import build_candidates
from planner.solve.check import validate_plan
from planner.solve.pipeline import solve

TWO = TWO_WORKLOADS


def test_plan_meets_every_budget(mini_catalog):
    spec = spec_from(TWO)
    r = solve(spec, mini_catalog, top=2)
    assert r.status == "optimal"
    assert validate_plan(spec, mini_catalog, r.plan) == []
    for p in r.runners_up:
        assert validate_plan(spec, mini_catalog, p) == []
    # runners-up are distinct plans, and no better than the plan
    seen = {tuple((a["model"], a["precision"], a["technique"], a["device"], a["power_mode"])
                  for a in p["assignments"]) for p in [r.plan] + r.runners_up}
    assert len(seen) == 1 + len(r.runners_up)
    assert all(p["totals"]["power_w"] >= r.plan["totals"]["power_w"] for p in r.runners_up)


def test_same_spec_gives_byte_identical_output(mini_catalog):
    spec = spec_from(TWO)
    a = solve(spec, mini_catalog, top=1).as_dict()
    b = solve(spec, mini_catalog, top=1).as_dict()
    a.pop("stats"), b.pop("stats")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_json_contract_field_names(mini_catalog):
    d = solve(spec_from(TWO), mini_catalog, top=1).as_dict()
    assert d["status"] in ("optimal", "feasible", "infeasible")
    assert set(d["plan"]["devices"][0]) >= {"id", "power_mode", "count"}
    assert set(d["plan"]["assignments"][0]) >= {"workload", "model", "precision", "technique",
                                                "device", "unit", "runtime", "estimates"}
    for key in ("totals",):
        assert key in d["plan"]
    for key in ("conflicts", "runners_up", "rejected"):
        assert key in d


def test_rejections_name_the_budget_and_the_amount(mini_catalog):
    spec = spec_from(TWO)
    r = solve(spec, mini_catalog)
    assert r.rejected
    for row in r.rejected:
        assert row["budget"] in {"memory", "latency", "rate", "accuracy", "power", "cost"}
        if row["budget"] in ("memory", "latency", "rate", "power", "cost"):
            assert row["value"] > row["limit"]
    # the 7B model at fp16 (14 GB) cannot fit any toy device
    assert any(x["model"] == "toy-llm-7b" and x["precision"] == "fp16"
               and x["budget"] == "memory" for x in r.rejected)


def test_power_budget_conflict_is_explained_with_its_relaxation(mini_catalog):
    spec = spec_from("""
name: tight
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 5, accuracy_floor: 79}
budgets: {power_w: 3}
devices: {allow: [toy-tpu-usb, toy-phone]}
""")
    r = solve(spec, mini_catalog)
    assert r.status == "infeasible" and r.plan is None
    conflicts = {c["budget"]: c for c in r.conflicts}
    assert "power" in conflicts
    c = conflicts["power"]
    assert c["limit"] == 3 and c["relax_to"] == 4.0
    assert "toy-phone" in c["plan"]
    # the relaxation really restores a plan, and nothing less does
    relaxed = spec.model_copy(update={"budgets": spec.budgets.model_copy(update={"power_w": 4.0})})
    assert solve(relaxed, mini_catalog).status == "optimal"
    less = spec.model_copy(update={"budgets": spec.budgets.model_copy(update={"power_w": 3.99})})
    assert solve(less, mini_catalog, explain=False).status == "infeasible"


def test_llm_that_does_not_fit_names_memory_and_the_device_list(mini_catalog):
    spec = spec_from("""
name: nano
workloads: [{name: chat, models: [toy-llm-7b], tokens_per_s: 5}]
devices: {allow: [toy-tpu-usb]}
""")
    r = solve(spec, mini_catalog)
    assert r.status == "infeasible"
    names = [c["budget"] for c in r.conflicts]
    # the device's memory is physics, not a budget: named as the fact behind the conflict
    assert set(names) == {"devices.allow"}
    (conflict,) = r.explanation["conflict_sets"]
    assert any(f.startswith("physics: no device allowed (toy-tpu-usb) leaves more than")
               for f in conflict["facts"])
    dev = next(c for c in r.conflicts if c["budget"] == "devices.allow")
    assert dev["relax_to"] == {"add": ["toy-gpu-8gb"]}


def test_conflict_set_is_minimal(mini_catalog):
    # latency 1 ms and accuracy 79 each alone are satisfiable; together they are not
    spec = spec_from("""
name: pair
workloads:
  - {name: c, task: classification, rate_fps: 1, latency_budget_ms: 1.5, accuracy_floor: 79}
devices: {allow: [toy-gpu-8gb]}
budgets: {power_w: 100}
""")
    r = solve(spec, mini_catalog)
    assert r.status == "infeasible"
    names = {c["budget"] for c in r.conflicts}
    assert names == {"latency:c", "accuracy:c"} or names <= {"latency:c", "accuracy:c", "devices.allow"}
    for c in r.conflicts:
        assert c["relax_to"] is not None and c["plan"]


@pytest.mark.parametrize("budget,value,ok", [
    ("power_w", 10, True), ("power_w", 1, False),
    ("cost_usd", 500, True), ("cost_usd", 100, False),
])
def test_each_global_budget_feasible_and_infeasible(mini_catalog, budget, value, ok):
    spec = spec_from(f"""
name: g
workloads: [{{name: c, task: classification, rate_fps: 10}}]
budgets: {{{budget}: {value}}}
devices: {{allow: [toy-gpu-8gb]}}
""")
    r = solve(spec, mini_catalog, binding=False)
    assert (r.status == "optimal") is ok
    if ok:
        assert validate_plan(spec, mini_catalog, r.plan) == []


def test_two_heavy_workloads_need_two_devices(mini_catalog):
    base = """
name: d
workloads:
  - {name: a, models: [toy-big-cnn], precisions: [fp32], rate_fps: 60}
  - {name: b, models: [toy-big-cnn], precisions: [fp32], rate_fps: 60}
devices: {allow: [toy-gpu-8gb]}
"""
    one = solve(spec_from(base + "budgets: {max_devices: 1}\n"), mini_catalog)
    assert one.status == "infeasible"
    assert "devices" in {c["budget"] for c in one.conflicts}
    two = solve(spec_from(base + "budgets: {max_devices: 2}\n"), mini_catalog)
    assert two.status == "optimal"
    assert two.plan["totals"]["devices"] == 2


def test_weighted_objective(mini_catalog):
    spec = spec_from("""
name: w
workloads: [{name: c, task: classification, rate_fps: 10}]
objective: {weights: {power: 1.0, cost: 0.01}}
""")
    r = solve(spec, mini_catalog)
    assert r.status == "optimal"
    assert validate_plan(spec, mini_catalog, r.plan) == []


# ------------------------------------------------------------ brute force on random instances

def _brute_force(spec, catalog):
    """Enumerate every candidate per workload and every grouping of workloads onto devices;
    return the best lexicographic (power, -accuracy, cost) or None."""
    cs = build_candidates(spec, catalog, prune=False)
    if not all(cs.per_workload):
        return None
    b = spec.budgets
    cap_u = 1 - b.compute_headroom_pct / 100
    best = None
    W = len(spec.workloads)
    for combo in itertools.product(*cs.per_workload):
        for groups in _partitions(list(range(W))):
            if len(groups) > b.max_devices:
                continue
            ok, power, cost = True, 0.0, 0.0
            for g in groups:
                types = {combo[w].dtype.index for w in g}
                if len(types) != 1:
                    ok = False
                    break
                t = combo[g[0]].dtype
                if sum(combo[w].memory_gb for w in g) > t.memory_cap_gb + 1e-9:
                    ok = False
                    break
                for u in {combo[w].unit for w in g}:
                    if sum(combo[w].util for w in g if combo[w].unit == u) > cap_u + 1e-9:
                        ok = False
                if not ok:
                    break
                power += t.power_w
                cost += t.price_usd
            if not ok or (b.power_w is not None and power > b.power_w + 1e-9) or \
                    (b.cost_usd is not None and cost > b.cost_usd + 1e-9):
                continue
            acc = sum(c.accuracy for c in combo)
            key = (round(power, 6), -round(acc, 6), round(cost, 6))
            if best is None or key < best:
                best = key
    return best


def _partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in _partitions(rest):
        yield [[first]] + p
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1:]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(rates=st.lists(st.sampled_from([5, 20, 60, 120]), min_size=1, max_size=3),
       power=st.sampled_from([None, 5, 9, 12, 25]),
       cost=st.sampled_from([None, 200, 700, 1200]),
       max_devices=st.integers(1, 3),
       floor=st.sampled_from([None, 70, 75, 79]))
def test_solver_matches_brute_force(mini_catalog, rates, power, cost, max_devices, floor):
    lines = ["name: rnd", "workloads:"]
    for i, r in enumerate(rates):
        f = f", accuracy_floor: {floor}" if floor is not None else ""
        lines.append(f"  - {{name: w{i}, task: classification, rate_fps: {r}{f}}}")
    lines.append("budgets:")
    lines.append(f"  max_devices: {max_devices}")
    if power:
        lines.append(f"  power_w: {power}")
    if cost:
        lines.append(f"  cost_usd: {cost}")
    spec = spec_from("\n".join(lines) + "\n")
    r = solve(spec, mini_catalog, explain=False, binding=False)
    brute = _brute_force(spec, mini_catalog)
    if brute is None:
        assert r.status == "infeasible"
        return
    assert r.status == "optimal"
    assert validate_plan(spec, mini_catalog, r.plan) == []
    t = r.plan["totals"]
    got = (round(t["power_w"], 6), -round(sum(t["accuracy"].values()), 6), round(t["cost_usd"], 6))
    assert got == brute


def test_asking_for_runners_up_does_not_change_the_plan(catalog):

    from planner.spec import load_spec
    for name in ("assistant-llm.yaml", "drone-detect-pose.yaml", "robot-jetson.yaml"):
        spec, _ = load_spec(Path(__file__).resolve().parent.parent / "examples" / name)
        a = solve(spec, catalog, binding=False).plan["assignments"]
        b = solve(spec, catalog, top=2, binding=False).plan["assignments"]
        assert a == b, name


@pytest.mark.parametrize("task,floor,objective", [
    # three phones tie on power, accuracy and cost for the same model; before the tie-break
    # ordered the pruning, --top 2 picked the S25 and --top 0 the S23
    ("classification", 80, "[min power, max accuracy, min cost]"),
    ("detection", 40, "[max accuracy, min power, min cost]"),
    ("detection", 30, "[min cost, max accuracy, min power]"),
])
def test_the_plan_is_the_same_whatever_pruning_keeps(catalog, monkeypatch, task, floor,
                                                      objective):
    """The tie-break ranks an option's dominators first and pruning keeps exact duplicates in
    that order, so the optimum does not depend on how many Pareto layers pruning keeps
    (`--top`) or whether it prunes at all."""
    import functools

    from planner.solve import cpsat
    spec = spec_from(f"""
name: ties
workloads: [{{name: w, task: {task}, rate_fps: 15, accuracy_floor: {floor}}}]
budgets: {{power_w: 30, cost_usd: 1000}}
objective: {objective}
""")
    def chosen(**kw):
        r = solve(spec, catalog, binding=False, explain=False, **kw)
        return [(a["model"], a["precision"], a["technique"], a["device"], a["runtime"],
                 a["unit"]) for a in r.plan["assignments"]]
    plain, with_runners_up = chosen(), chosen(top=2)
    monkeypatch.setattr(cpsat, "build_candidates",
                        functools.partial(build_candidates, prune=False))
    assert plain == with_runners_up == chosen()


def test_pareto_mask_matches_brute_force():
    import numpy as np

    from planner.solve.candidates import pareto_mask
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, k = int(rng.integers(1, 40)), int(rng.integers(1, 4))
        g = rng.integers(0, 3, size=(n, 3))
        c = rng.integers(0, 5, size=(n, k)).astype(float)
        got = pareto_mask(g, c)
        want = np.ones(n, bool)
        for a in range(n):
            for b in range(n):
                if a != b and (g[a] == g[b]).all() and (c[b] <= c[a]).all() \
                        and ((c[b] < c[a]).any() or b < a):
                    want[a] = False
        assert (got == want).all()


def test_time_limit_returns_a_plan_with_its_status(mini_catalog):
    r = solve(spec_from(TWO), mini_catalog, time_limit=5.0, binding=False)
    assert r.status in ("optimal", "feasible")
    assert validate_plan(spec_from(TWO), mini_catalog, r.plan) == []


def test_a_floor_is_read_in_one_metric(catalog):
    """RetinaNet reports OpenImages mAP among COCO detectors: a COCO floor cannot be said to
    be reached by it, so it is rejected for accuracy, whatever its number."""
    spec = spec_from("""
name: det
workloads: [{name: d, task: detection, rate_fps: 1, accuracy_floor: 20}]
""")
    r = solve(spec, catalog, binding=False)
    assert r.status == "optimal"
    assert catalog.models[r.plan["assignments"][0]["model"]].metric == "COCO mAP50-95"
    rows = [x for x in r.rejected if x["model"] == "retinanet-resnext50-fpn"]
    assert rows and all(any(v["budget"] == "accuracy" for v in x["violations"]) for x in rows)


def test_a_pipelined_unit_is_occupied_by_its_stream_not_its_latency(tmp_path):
    """On a dataflow unit a stream of inputs hides transfers and per-call costs: a rate
    beyond 1 / latency still fits when the occupancy allows it, in solve and in the
    solver-free checker alike."""
    from conftest import MINI

    from planner.catalog.loader import load_catalog
    from planner.estimate.point import Query, estimate
    cat = load_catalog([MINI, MINI.parent / "dataflow"], builtin=False, use_env=False)
    e = estimate(cat, Query("toy-cnn", "int8", "toy-dataflow-m2", technique="ptq"))
    rate = round(0.7 * e.throughput_fps.value)
    assert rate * e.latency_ms.value / 1000.0 > 1.0       # by latency it would not fit
    spec = spec_from(f"""
name: stream
workloads: [{{name: c, models: [toy-cnn], precisions: [int8], techniques: [ptq], rate_fps: {rate}}}]
devices: {{allow: [toy-dataflow-m2]}}
""")
    r = solve(spec, cat)
    assert r.status == "optimal"
    assert validate_plan(spec, cat, r.plan) == []
    a = r.plan["assignments"][0]
    assert a["unit_share"] == pytest.approx(e.unit_share(rate), rel=1e-3)
    # the design review's rate limit reads the same occupancy
    from planner.report.sensitivity import _rate_capacity
    cap = 1.0 - spec.budgets.compute_headroom_pct / 100.0
    assert _rate_capacity(spec, r.plan, "c") == pytest.approx(
        cap * e.throughput_fps.value, rel=1e-3)


def test_energy_counts_power_above_idle(tmp_path):
    """Two boards alike but for their power: one idles at 9.5 of its 10 W, the other at 0.5
    of 6 W. Energy above idle is the first's to win although it draws more in total."""
    base = builtin_device("raspberry-pi", "raspberry-pi-5-8gb")
    cat = catalog_with_devices(tmp_path, [
        {**base, "id": name, "power": {**base["power"], "idle_w": idle,
                                       "modes": [{"id": "default", "power_w": power}]}}
        for name, idle, power in (("hot-idle", "9.5 W", "10 W"), ("cool-idle", "0.5 W", "6 W"))])
    spec = spec_from("""
name: energy
workloads: [{name: w, task: classification, rate_fps: 30}]
devices: {allow: [hot-idle, cool-idle]}
objective: [min energy]
""")
    r = solve(spec, cat, explain=False, binding=False)
    assert r.status == "optimal"
    assert r.plan["assignments"][0]["device"] == "hot-idle"


def test_min_energy_finds_the_least_draw_over_two_workloads(catalog):
    """Two workloads, up to two boards and no other budget: the least energy is each
    workload's least-drawing candidate, on its own board if need be. The CP-SAT energy term
    (not pruning alone: with two workloads pruning keeps options for shared units) must find
    it."""
    spec = spec_from("""
name: two-cameras
workloads:
  - {name: a, task: detection, rate_fps: 15}
  - {name: b, task: classification, rate_fps: 30}
budgets: {max_devices: 2}
objective: [min energy]
""")
    every = build_candidates(spec, catalog, prune=False).per_workload
    r = solve(spec, catalog, explain=False, binding=False)
    assert r.status == "optimal"
    assert validate_plan(spec, catalog, r.plan) == []
    assert dynamic_power_w(catalog, r.plan) == pytest.approx(sum(min(c.dyn_power_w for c in cl) for cl in every),
                                  rel=1e-3, abs=1e-3)


def test_three_models_share_the_rk3588_npu_cores(catalog):
    """Three detectors on one Orange Pi 5: each call takes a core, the three cores share the
    NPU's time, and the board never draws more than its power mode."""
    spec = spec_from("""
name: three-cameras
workloads:
  - {name: a, models: [yolov8n], precisions: [int8], rate_fps: 30}
  - {name: b, models: [yolov8n], precisions: [int8], rate_fps: 30}
  - {name: c, models: [yolov8n], precisions: [int8], rate_fps: 30}
devices: {allow: [rk3588-orange-pi-5-8gb]}
""")
    r = solve(spec, catalog, explain=False, binding=False)
    assert r.status == "optimal"
    assert validate_plan(spec, catalog, r.plan) == []
    assert {a["unit"] for a in r.plan["assignments"]} == {"npu"}
    (dev,) = r.plan["totals"]["per_device"]
    e = estimate(catalog, Query("yolov8n", "int8", "rk3588-orange-pi-5-8gb", unit="npu",
                                runtime="rknn"))
    # by latency alone three streams would need more than the whole unit
    assert 90 * e.latency_ms.value / 1000.0 > 1.0
    assert dev["unit_share"]["npu"] == pytest.approx(90 / e.throughput_fps.value, rel=1e-3)
    assert r.plan["totals"]["average_power_w"] <= r.plan["totals"]["power_w"] + 1e-9


@pytest.mark.parametrize("task,rate", [("classification", 30), ("detection", 10),
                                       ("classification", 400)])
def test_pruning_keeps_the_least_energy_plan(catalog, task, rate):
    """Energy is a unit share times the device's dynamic power: pruning must compare that
    across devices (a pipelined Hailo on a 3 W Pi host against the same chip in a 25 W PC),
    so the solve finds the same least energy as the unpruned candidates."""
    spec = spec_from(f"""
name: energy
workloads: [{{name: w, task: {task}, rate_fps: {rate}}}]
objective: [min energy]
""")
    every = build_candidates(spec, catalog, prune=False).per_workload[0]
    r = solve(spec, catalog, explain=False, binding=False)
    assert r.status == "optimal"
    assert validate_plan(spec, catalog, r.plan) == []
    assert dynamic_power_w(catalog, r.plan) == pytest.approx(min(c.dyn_power_w for c in every), rel=1e-3, abs=1e-4)


@pytest.mark.parametrize("name", ["drone-detect-pose.yaml", "camera-classifier.yaml",
                                  "robot-jetson.yaml", "coral-smart-camera.yaml"])
def test_binding_budgets_agree_with_full_re_optimisation(name, catalog):
    """binding_budgets asks one feasibility question per budget ("is there a plan
    lexicographically better than the optimum with this budget lifted?"); the answer must be
    what re-optimising the lifted spec and comparing the objectives gives."""
    from planner.solve.cpsat import solve_plain
    from planner.solve.explain import _scale, binding_budgets, budget_names, relaxed
    from planner.spec import load_spec
    spec, _ = load_spec(Path(__file__).resolve().parent.parent / "examples" / name)
    base = solve_plain(spec, catalog)
    assert base.status == "optimal"
    order = spec.objective_order()
    key = (lambda obj: tuple((-1 if s == "max" else 1) * obj[t] for t, s in order))
    expected = []
    for b in budget_names(spec):
        if b.startswith(("models:", "precisions:", "techniques:", "devices.", "families.",
                         "runtimes.")) or b == "memory":
            continue
        r = solve_plain(relaxed(spec, catalog, [b]), catalog)
        if r.plan is not None:
            raw = {k: round(v * _scale(k)) for k, v in r.plan["objective"].items()}
            if key(raw) < key(base.solution.objective):
                expected.append(b)
    got = binding_budgets(spec, catalog, base.solution.objective)
    assert sorted(set(got) - {"memory"}) == sorted(expected)


def test_a_units_runtime_is_dropped_only_when_another_is_as_fast_and_as_small():
    """_fastest_runtime, vectorised over column offsets, against the pairwise definition on
    random grids: runtime b drops a (same unit) when it passes, is no slower (measured
    runtimes first) and needs no more memory, and is better in one or comes first."""
    from types import SimpleNamespace

    import numpy as np

    from planner.solve.candidates import _fastest_runtime
    rng = np.random.default_rng(0)
    for _ in range(200):
        keys = np.sort(rng.integers(0, 6, size=12))
        g = SimpleNamespace(runtime_measured=rng.random(12) < 0.5,
                            lat=rng.choice([1.0, 2.0, 3.0], size=(5, 12)),
                            mem=rng.choice([1.0, 2.0], size=(5, 12)),
                            t_index=keys // 3, unit_code=keys % 3)
        keep = rng.random((5, 12)) < 0.8
        rank = np.where(g.runtime_measured, g.lat, g.lat * 1e6 + 1e12)
        want = keep.copy()
        for a in range(12):
            for b in range(12):
                if a != b and keys[a] == keys[b]:
                    want[:, a] &= ~(keep[:, b] & (rank[:, b] <= rank[:, a])
                                    & (g.mem[:, b] <= g.mem[:, a])
                                    & ((rank[:, b] < rank[:, a]) | (g.mem[:, b] < g.mem[:, a])
                                       | (b < a)))
        assert (_fastest_runtime(g, keep) == want).all()
