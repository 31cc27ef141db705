"""Time to first token: an LLM's prefill of its prompt, estimated by the grid as by the point
estimate, budgeted by solve (ttft_budget_ms at prompt_tokens), explained, and linted (EP306)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import spec_from

from planner.cli import main
from planner.estimate.grid import OptionRow, UnitRow, estimate_grid, prefill_high_factors
from planner.estimate.point import Query, estimate
from planner.solve.check import validate_plan
from planner.solve.pipeline import solve

SPEC = """
name: voice-assistant
workloads:
  - name: chat
    models: [llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, gemma-2-2b]
    tokens_per_s: 5
    context_tokens: 2048
    prompt_tokens: 512
    ttft_budget_ms: {ttft}
devices: {{allow: [raspberry-pi-5-8gb, jetson-orin-nano-8gb, jetson-agx-orin-64gb]}}
objective: [max accuracy, min cost]
"""


def _grid(catalog):
    opts = [OptionRow(m, o.precision, o.technique, o.accuracy, o.params_scale, o.macs_scale)
            for m in (catalog.models[i] for i in ("llama-3.2-1b", "llama-3.1-8b"))
            for o in m.options]
    units = [UnitRow(d, u, d.power.modes[0].id, d.power.modes[0].compute_scale, rt)
             for d in (catalog.devices[i] for i in ("raspberry-pi-5-8gb",
                                                    "jetson-agx-orin-64gb"))
             for u in d.units for rt in u.runtimes]
    return opts, units, estimate_grid(catalog, opts, units)


def test_the_grids_prefill_is_the_point_estimates(catalog):
    """Cell by cell: the prompt's prefill and its interval's high end, as `estimate` gives
    them for a 300-token prompt."""
    opts, units, g = _grid(catalog)
    hi = prefill_high_factors(catalog, opts, units, g)
    n = 0
    for i, o in enumerate(opts):
        for j, u in enumerate(units):
            if not g["runs"][i, j]:
                continue
            try:
                e = estimate(catalog, Query(model=o.model.id, precision=o.precision,
                                            technique=o.technique, device=u.device.id,
                                            unit=u.unit.id, runtime=u.runtime,
                                            power_mode=u.mode_id, prompt_tokens=300))
            except Exception:      # a cell the grid marks runnable but estimate refuses
                continue
            n += 1
            assert e.ttft_ms.value == pytest.approx(300 * g["prefill_ms"][i, j], rel=1e-9)
            assert e.ttft_ms.value == pytest.approx(300 * 1000 / e.prefill_tokens_per_s.value)
            assert e.ttft_ms.high / e.ttft_ms.value == pytest.approx(hi[i, j], rel=1e-9)
    assert n > 20


def test_a_ttft_budget_holds_and_binds(catalog):
    loose = solve(spec_from(SPEC.format(ttft="60 s")), catalog)
    assert loose.plan is not None
    (a,) = loose.plan["assignments"]
    t_loose = a["estimates"]["ttft_ms"]["value"]
    assert a["prompt_tokens"] == 512 and t_loose <= 60000
    # a budget just under the chosen plan's first token: another plan, within it
    spec = spec_from(SPEC.format(ttft=f"{t_loose * 0.9:.0f} ms"))
    tight = solve(spec, catalog)
    assert tight.plan is not None, "some faster option exists in this catalog"
    (b,) = tight.plan["assignments"]
    assert b["estimates"]["ttft_ms"]["value"] <= t_loose * 0.9
    assert validate_plan(spec, catalog, tight.plan) == []
    assert any(r["budget"] == "ttft:chat" for r in tight.plan["slack"])
    assert tight.manifest.workloads[0].ttft_budget_ms == pytest.approx(round(t_loose * 0.9))


def test_an_impossible_ttft_is_explained_with_the_value_that_works(catalog):
    r = solve(spec_from(SPEC.format(ttft="1 ms")), catalog)
    assert r.status == "infeasible"
    e = r.as_dict()["explanation"]
    # every conflict holds the budget (a faster device or model outside the lists may be
    # another way out)
    assert all("ttft:chat" in [b["budget"] for b in s["budgets"]] for s in e["conflict_sets"])
    (fix,) = [f for f in e["corrections"] if f["relax"] == ["ttft:chat"]]
    (change,) = fix["changes"]
    # the value it names restores a plan, the one it names, and nothing below it does
    again = solve(spec_from(SPEC.format(ttft=f"{change['relax_to']} ms")), catalog)
    assert again.plan is not None
    (a,) = again.plan["assignments"]
    assert a["estimates"]["ttft_ms"]["value"] <= change["relax_to"] * 1.001   # 4 digits shown
    below = solve(spec_from(SPEC.format(ttft=f"{change['relax_to'] * 0.999} ms")), catalog)
    assert below.status == "infeasible"


def test_robust_checks_the_pessimistic_first_token(catalog):
    from planner.solve import robust
    spec = spec_from(SPEC.format(ttft="60 s"))
    with robust.running(True):
        r = solve(spec, catalog)
    (a,) = r.plan["assignments"]
    row = next(x for x in r.plan["slack"] if x["budget"] == "ttft:chat")
    assert row["used"] == pytest.approx(a["estimates"]["ttft_ms"]["high"], rel=1e-3)
    assert row["used"] <= 60000


def test_a_prompt_longer_than_the_context_is_refused_at_its_line(tmp_path):
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(ttft="1 s").replace("prompt_tokens: 512", "prompt_tokens: 4096"))
    r = CliRunner().invoke(main, ["solve", str(f)])
    assert r.exit_code == 2, r.output
    assert f"{f}:" in r.output and "prompt_tokens 4096 is more than context_tokens 2048" \
        in r.output and "Traceback" not in r.output


def test_estimate_prints_the_first_token():
    r = CliRunner().invoke(main, ["estimate", "-d", "raspberry-pi-5-8gb", "-m", "llama-3.2-1b",
                                  "-p", "int4", "-r", "llama.cpp", "--prompt", "512",
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["ttft_ms"]["value"] == pytest.approx(512 * 1000 / d["prefill_tokens_per_s"]["value"],
                                                  rel=1e-3)
    r = CliRunner().invoke(main, ["estimate", "-d", "raspberry-pi-5-8gb", "-m", "llama-3.2-1b",
                                  "-p", "int4", "--prompt", "512"])
    assert "first token" in r.output and "after a 512-token prompt" in r.output


def test_llm_options_on_a_workload_without_an_llm_are_refused_at_their_line(tmp_path):
    f = tmp_path / "spec.yaml"
    f.write_text("name: cls\nworkloads:\n  - name: cls\n    task: classification\n"
                 "    rate_fps: 10\n    ttft_budget_ms: 100 ms\n")
    r = CliRunner().invoke(main, ["solve", str(f)])
    assert r.exit_code == 2, r.output
    assert f"{f}:6:5: workloads[0].ttft_budget_ms: ttft_budget_ms is for LLM workloads; " \
        "the classification task has no LLM" in r.output
    r = CliRunner().invoke(main, ["lint", str(f)])
    assert "EP507" in r.output and "internal error" not in r.output
