"""One estimator, two verbs: every plan `solve` emits lints clean (no error findings), and an
option `solve` rejects for a budget is flagged by the lint rule for that budget."""
import pytest
import yaml
from conftest import ROOT

from planner.lint.engine import lint_paths
from planner.lint.rules import RULES
from planner.solve.pipeline import solve
from planner.solve.plan import manifest_yaml
from planner.spec import load_spec

EXAMPLES = [p for p in sorted((ROOT / "examples").glob("*.yaml"))
            if not p.name.startswith("infeasible")]


def _lint(path, catalog):
    return lint_paths([str(path)], catalog=catalog, fail_on="error")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_plan_lints_without_errors(catalog, tmp_path, path):
    spec, _ = load_spec(path)
    r = solve(spec, catalog, top=1, binding=False)
    assert r.manifest is not None
    out = tmp_path / "deploy.yaml"
    out.write_text(manifest_yaml(r.manifest))
    rep = _lint(out, catalog)
    errors = [f for d in rep.documents for f in d.findings if f.severity == "error"] \
        if hasattr(rep, "documents") else [f for f in rep.findings if f.severity == "error"]
    assert errors == [], [f"{f.rule} {f.message}" for f in errors]


def _rules_for(reason):
    ids = {i for i, cls in RULES.items() if cls.solver_reason == reason}
    if reason == "memory":      # lint splits memory: weights+activations, or the KV cache
        ids |= {i for i, cls in RULES.items() if cls.solver_reason == "context"}
    return ids


@pytest.mark.parametrize("path", [ROOT / "examples" / "camera-classifier.yaml",
                                  ROOT / "examples" / "robot-jetson.yaml",
                                  ROOT / "examples" / "drone-detect-pose.yaml"],
                         ids=lambda p: p.name)
def test_rejected_options_are_flagged_by_the_rule_for_their_reason(catalog, tmp_path, path):
    spec, _ = load_spec(path)
    r = solve(spec, catalog, binding=False)
    assert r.rejected
    seen = set()
    # one rejected option per (workload, budget), written as a one-device manifest
    for row in r.rejected:
        key = (row["workload"], row["budget"])
        if key in seen or row["budget"] in ("power", "cost") and len(spec.workloads) > 1:
            continue
        seen.add(key)
        w = next(x for x in spec.workloads if x.name == row["workload"])
        dev = catalog.devices[row["device"]]
        unit = next(u for u in dev.units if row["precision"] in u.precisions)
        # the unit's first runtime that runs the model (Gemma 3n: llama.cpp, not TensorRT)
        runtime = next(rt for rt in unit.runtimes if catalog.runs(rt, catalog.models[row["model"]]))
        wl = {"name": w.name, "model": row["model"], "precision": row["precision"],
              "technique": row["technique"], "device": dev.id, "unit": unit.id,
              "runtime": runtime, "batch": w.batch}
        for k in ("rate_fps", "tokens_per_s", "latency_budget_ms", "accuracy_floor",
                  "context_tokens"):
            if getattr(w, k) is not None:
                wl[k] = getattr(w, k)
        budgets = {k: v for k, v in {"power_w": spec.budgets.power_w,
                                     "cost_usd": spec.budgets.cost_usd}.items() if v is not None}
        manifest = {"apiVersion": "edgeplan/v1", "kind": "Deployment", "name": "probe",
                    "devices": [{"id": dev.id, "power_mode": dev.power.modes[0].id}],
                    "workloads": [wl], "budgets": budgets}
        # the rejection holds for every way to run on the device; probe the first mode/unit
        f = tmp_path / f"{len(seen)}.yaml"
        f.write_text(yaml.safe_dump(manifest, sort_keys=False))
        rep = _lint(f, catalog)
        found = {x.rule for d in rep.documents for x in d.findings} \
            if hasattr(rep, "documents") else {x.rule for x in rep.findings}
        want = _rules_for(row["budget"])
        assert found & want, (row, found, want)
    assert seen


# candidates listed so that a model scored in another metric comes first: solve used to read
# the floor in the first listed model's metric and lint in the task's, so the plan solve
# emitted failed lint with EP204 (issue 20, section 4)
@pytest.mark.parametrize("workload", [
    {"name": "det", "models": ["retinanet-resnext50-fpn", "yolov8s", "yolov8n"],
     "accuracy_floor": 30, "rate_fps": 5},
    {"name": "det", "models": ["retinanet-resnext50-fpn"], "accuracy_floor": 30,
     "rate_fps": 5},
    {"name": "det", "task": "detection", "accuracy_floor": 35, "rate_fps": 10},
    {"name": "chat", "models": ["deepseek-r1-distill-qwen-14b", "llama-3-8b"],
     "accuracy_floor": 50, "tokens_per_s": 2},
], ids=["other-metric-first", "other-metric-only", "task", "llm-other-metric-first"])
def test_solve_never_emits_a_plan_lint_rejects_for_its_metric(catalog, tmp_path, workload):
    from planner.spec import parse_spec
    from planner.yamlio import Positions
    spec = parse_spec({"kind": "Spec", "workloads": [workload],
                       "budgets": {"max_devices": 1}}, Positions("test"))
    r = solve(spec, catalog, binding=False)
    if r.manifest is None:      # nothing scored in the task's metric among the candidates
        assert workload["models"] == ["retinanet-resnext50-fpn"], r.status
        return
    for a in r.manifest.workloads:
        m = catalog.models[a.model]
        assert m.metric == catalog.task_metric(m.task), a
    out = tmp_path / "deploy.yaml"
    out.write_text(manifest_yaml(r.manifest))
    found = [f"{f.rule} {f.message}" for f in _lint(out, catalog).findings
             if f.severity == "error"]
    assert found == []
