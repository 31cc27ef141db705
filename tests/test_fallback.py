"""The layers a single-segment compiler (the Edge TPU) leaves to the host CPU are timed
there: the split adds up, each side is its calibrated estimate's share, the grid agrees
with `estimate`, and units that partition many times keep the untimed report."""
from __future__ import annotations

import pytest
from conftest import grid_cells_match_estimates

from planner.estimate.fallback import has_fallback, host_side
from planner.estimate.layers import partitions, shares_for
from planner.estimate.point import Query, estimate
from planner.estimate.roofline import roofline

CORAL = "coral-usb-on-rpi5"
PI5 = "raspberry-pi-5-8gb"          # its host: (the board the USB accelerator is plugged into)


def _split(cat, model_id, device_id=CORAL, precision="int8"):
    e = estimate(cat, Query(model_id, precision, device_id), layers=True)
    return e, e.layers["fallback"]["timed"]


def test_vit_on_an_edge_tpu_runs_on_the_cpu_and_is_timed_there(catalog):
    e, t = _split(catalog, "vit-base-16")
    # the patch embedding maps; the first LayerNormalization ends the segment
    assert t["unit_layers"] == 3 and t["host_layers"] == 339
    # the CPU of the board the accelerator is plugged into (host:), calibrated on its own
    assert (t["host_device"], t["host_unit"], t["host_runtime"], t["host_precision"]) == \
        ("raspberry-pi-5-8gb", "cpu", "tflite", "int8")
    assert t["host_provenance"] == "calibrated"
    assert e.latency_ms.value == pytest.approx(t["unit_ms"] + t["host_ms"] + t["crossing_ms"],
                                               rel=1e-3)
    assert e.latency_ms.bottleneck == "cpu-fallback"
    # the segment's 0.6 M weights fit the 8 MB on chip: no weight streaming any more
    assert t["streamed_mb"] == 0 and e.weights_on_chip is True
    assert not any("streams on every inference" in n for n in e.notes)
    # the host part is the CPU's calibrated estimate of the network, times the host
    # layers' share of the CPU's per-layer roofline
    cpu = estimate(catalog, Query("vit-base-16", "int8", PI5, technique=e.technique,
                                  unit="cpu", runtime="tflite"))
    dev = catalog.devices[PI5]
    lr = roofline(catalog.models["vit-base-16"], "int8", dev, dev.cpu_unit,
                  math_path=catalog.math_path("tflite"), layers=True).layered
    on = partitions(shares_for(catalog.models["vit-base-16"]).table,
                    set(catalog.op_support["edgetpu"].supported_ops), True).on_unit
    share = sum(x for x, o in zip(lr.layer_ms, on) if not o) / sum(lr.layer_ms)
    assert 0.99 < share < 1.0
    assert t["host_ms"] == pytest.approx(cpu.latency_ms.value * share, rel=1e-3)
    assert any("339 of 342 layers run on the host CPU: layer 4 has ops the tpu does not run "
               "(LayerNormalization)" in n and "Timed on raspberry-pi-5-8gb's cpu" in n
               for n in e.notes)
    # --layers: the unit's layers and the fixed costs, the CPU's part among them, add up
    lay = e.layers
    assert lay["unit_layers"] == 3 and len(lay["costliest"]) == 3
    assert lay["layers_ms"] + sum(lay["fixed_ms"].values()) == pytest.approx(
        e.latency_ms.value, rel=1e-3)


def test_a_network_the_edge_tpu_runs_whole_is_unchanged(catalog):
    m = catalog.models["mobilenet-v2"]
    dev = catalog.devices[CORAL]
    assert not has_fallback(catalog, m, dev.units[0])
    e = estimate(catalog, Query("mobilenet-v2", "int8", CORAL), layers=True)
    assert e.layers["fallback"] is None
    assert not any("host CPU" in n for n in e.notes)


def test_a_first_layer_the_unit_does_not_run_puts_everything_on_the_cpu(catalog):
    """A table without the network's first op: the segment ends before it starts, and the
    call is the CPU's estimate of the whole network, its fixed costs included."""
    ops = catalog.op_support["edgetpu"]
    no_conv = ops.model_copy(update={"supported_ops": [o for o in ops.supported_ops
                                                       if o != "Conv"]})
    catalog.op_support["edgetpu"] = no_conv
    try:
        m = catalog.models["resnet-50"]
        dev = catalog.devices[CORAL]
        tpu = dev.units[0]
        assert has_fallback(catalog, m, tpu)
        e = estimate(catalog, Query("resnet-50", "int8", CORAL), layers=True)
        t = e.layers["fallback"]["timed"]
        assert t["unit_layers"] == 0 and t["unit_ms"] == 0 and t["crossing_ms"] == 0
        cpu = estimate(catalog, Query("resnet-50", "int8", PI5, technique=e.technique,
                                      unit="cpu", runtime="tflite"))
        assert e.latency_ms.value == pytest.approx(cpu.latency_ms.value, rel=1e-9)
        assert any("runs none of the" in n for n in e.notes)
        assert e.layers["layers_ms"] == 0 and e.layers["fixed_ms"]["host_transfer"] == 0
    finally:
        catalog.op_support["edgetpu"] = ops
        catalog.__dict__.pop("_grid_cache", None)


def test_the_split_is_physical(catalog):
    """Each side no faster than its own ideal: the unit's segment costs at least its fixed
    costs, the host part at most the CPU's whole-network estimate; a fallback network is
    never faster on the TPU than its host share on the CPU alone."""
    for mid in ("vit-base-16", "bert-base", "convnext-tiny", "yolov8n", "yolo11s"):
        e, t = _split(catalog, mid)
        cpu = estimate(catalog, Query(mid, "int8", PI5, technique=e.technique, unit="cpu",
                                      runtime="tflite"))
        assert 0 < t["host_ms"] <= cpu.latency_ms.value * (1 + 1e-6)
        if t["unit_layers"]:
            assert t["unit_ms"] > 0 and t["crossing_ms"] > 0
        else:       # BERT's first layer, the embedding Gather, ends the segment at once
            assert mid == "bert-base" and t["unit_ms"] == t["crossing_ms"] == 0
        assert e.latency_ms.value >= t["host_ms"] * (1 - 1e-6)


def test_the_grid_times_the_fallback_as_estimate_does(catalog):
    models = [catalog.models[m] for m in ("vit-base-16", "yolov8n", "mobilenet-v2")]
    compared = grid_cells_match_estimates(catalog, CORAL, models)
    timed = [e for e in compared if any("Timed on raspberry-pi-5-8gb's cpu" in n
                                        for n in e.notes)]
    assert len(timed) >= 4


def test_fallback_needs_a_cpu_unit_and_a_single_segment_compiler(catalog):
    dev = catalog.devices["hailo-8-on-x86"]
    npu = dev.units[0]
    assert not has_fallback(catalog, catalog.models["vit-base-16"], npu)
    coral = catalog.devices[CORAL]
    no_cpu = coral.model_copy(update={"units": [coral.units[0]]})
    vit = catalog.models["vit-base-16"]
    host = host_side(catalog, vit, "int8", "qat", coral, coral.units[0])
    assert (host.device.id, host.unit.id) == (PI5, "cpu")
    # an accelerator with no host device and no CPU unit of its own: nothing to time it on
    alone = no_cpu.model_copy(update={"host": None})
    assert host_side(catalog, vit, "int8", "qat", alone, coral.units[0]) is None


def test_a_measurement_of_a_fallback_combination_wins_and_is_said(tmp_path):
    """A published latency of exactly the combination replaces the split: the note says the
    layers run on the CPU and that the measurement includes them, not the split's own
    numbers."""
    from planner.catalog.loader import load_catalog
    (tmp_path / "m.yaml").write_text(
        "measurements:\n  - {device: coral-usb-on-rpi5, model: vit-base-16, precision: int8,"
        " unit: tpu, runtime: edgetpu, metric: latency_ms, value: 300,"
        " source: test}\n")
    cat = load_catalog([tmp_path], use_env=False)
    e = estimate(cat, Query("vit-base-16", "int8", CORAL, unit="tpu", runtime="edgetpu"))
    assert e.latency_ms.value == pytest.approx(300, rel=0.05)
    assert e.latency_ms.provenance == "measured"
    assert any("the measurement includes them" in n for n in e.notes)
    assert not any("Timed on cpu" in n for n in e.notes)


FALLBACK_SPEC = """
name: cpu-contention
workloads:
  - {{name: vit, task: classification, models: [vit-base-16], precisions: [int8],
     latency_budget_ms: 400 ms, rate_fps: 3.5 fps}}
  - {{name: conv, task: classification, models: [convnext-tiny], precisions: [int8],
     latency_budget_ms: 400 ms, rate_fps: {conv_fps} fps}}
devices:
  allow: [coral-usb-on-rpi5]
runtimes:
  allow: [edgetpu, ncnn]
objective: [min power]
"""


def test_the_grid_says_how_long_a_fallback_holds_the_cpu(catalog):
    from planner.estimate.grid import OptionRow, UnitRow, estimate_grid
    m = catalog.models["vit-base-16"]
    dev = catalog.devices[CORAL]
    opts = [OptionRow(m, o.precision, o.technique, o.accuracy, o.params_scale, o.macs_scale)
            for o in m.options if o.precision == "int8"]
    g = estimate_grid(catalog, opts, [UnitRow(dev, dev.units[0], "default", 1.0, "edgetpu")])
    for i, o in enumerate(opts):
        e = estimate(catalog, Query("vit-base-16", "int8", CORAL, technique=o.technique))
        assert e.host_unit == "cpu" and e.host_busy_ms > 0.99 * e.latency_ms.value
        assert g["host_busy_ms"][i, 0] == pytest.approx(e.host_busy_ms, rel=1e-9)


def test_solve_counts_a_fallback_against_the_cpu_it_runs_on(catalog, tmp_path):
    """ViT-B on the Coral's TPU runs 339 of its 342 layers on the Pi 5's CPU: at 3.5 fps that
    is most of the CPU, so ConvNeXt-T beside it at 15 fps fits on neither side (counted
    against the TPU alone, the plan fitted); at 1 fps it fits, and the plan's CPU share and
    the solver-free checker count what runs on the CPU, fallback included."""
    from planner.solve.check import validate_plan
    from planner.solve.pipeline import solve_spec_file
    from planner.spec import load_spec
    tight = tmp_path / "tight.yaml"
    tight.write_text(FALLBACK_SPEC.format(conv_fps=15))
    assert solve_spec_file(tight, catalog).status == "infeasible"
    room = tmp_path / "room.yaml"
    room.write_text(FALLBACK_SPEC.format(conv_fps=1))
    r = solve_spec_file(room, catalog)
    assert r.status == "optimal"
    cpu = tpu = 0.0
    for a in r.plan["assignments"]:
        w = {"vit": 3.5, "conv": 1.0}[a["workload"]]
        e = estimate(catalog, Query(a["model"], "int8", CORAL, technique=a["technique"],
                                    unit=a["unit"], runtime=a["runtime"]))
        if a["unit"] == "tpu":
            tpu += e.unit_share(w)
            cpu += e.host_share(w)
        else:
            cpu += e.unit_share(w)
    shares = r.plan["totals"]["per_device"][0]["unit_share"]
    assert shares["cpu"] == pytest.approx(cpu, abs=1e-3)
    assert shares.get("tpu", 0.0) == pytest.approx(tpu, abs=1e-3)
    assert validate_plan(load_spec(room)[0], catalog, r.plan) == []
