"""Per-layer tables and the per-layer roofline: the tables add up to their profiles, the
ONNX reader fuses as runtimes do, the physics holds its bounds, the grid agrees with the
scalar path, and the CLI shows it."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import grid_cells_match_estimates
from conftest_bundle import zoo

from planner.catalog.layers import (
    LAYERS_DIR,
    Layer,
    LayerTable,
    read_table,
    write_table,
)
from planner.cli import main
from planner.errors import CatalogError
from planner.estimate import roofline as roofline_mod
from planner.estimate.layers import (
    MATCH_TOLERANCE,
    _shares,
    layered_grid,
    layered_roofline,
    residency,
    shares_for,
)
from planner.onnxfile.layers import layers_of
from planner.onnxfile.profile import profile_onnx

TABLES = sorted(LAYERS_DIR.glob("*.csv"))


def test_tables_are_shipped():
    assert len(TABLES) >= 30


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_table_adds_up_to_its_profile(path, catalog):
    """Per-layer sums equal the profile's published params and MACs within 2 %, and the
    header says how the table was made."""
    model = catalog.models[path.stem]
    t = read_table(path, path.stem)
    assert abs(t.macs / (model.size.macs_g * 1e9) - 1) <= MATCH_TOLERANCE
    assert abs(t.weights / (model.size.params_m * 1e6) - 1) <= MATCH_TOLERANCE
    assert any("export_onnx.py" in line and "torch" in line for line in t.header)
    assert shares_for(model) is not None
    assert all(x.macs >= 0 and x.weights >= 0 for x in t.layers)


@pytest.mark.parametrize("name", ["resnet50", "shufflenet", "densenet121", "squeezenet",
                                  "inception_v1", "vgg19"])
def test_layers_keep_every_weight_and_mac(name):
    prof = profile_onnx(zoo(name))
    layers = layers_of(prof)
    assert sum(x.macs for x in layers) == prof.macs
    assert abs(sum(x.weights for x in layers) - prof.params) <= 1
    assert len(layers) < len([n for n in prof.nodes if not n.constant])


def test_resnet_fuses_as_runtimes_do():
    layers = layers_of(profile_onnx(zoo("resnet50")))
    first = layers[0]
    assert (first.kind, first.ops, first.out_shape) == (
        "conv", "Conv+BatchNormalization+Relu", "1x64x112x112")
    assert first.in_elements == 3 * 224 * 224 and first.out_elements == 64 * 112 * 112
    # the residual adds join two layers' outputs: each stands alone, with the ReLU after it
    adds = [x for x in layers if x.kind == "elementwise"]
    assert len(adds) == 16 and {x.ops for x in adds} == {"Sum+Relu"}
    assert all(x.in_elements == 2 * x.out_elements for x in adds)


def test_shufflenet_depthwise_and_grouped():
    kinds = {x.kind for x in layers_of(profile_onnx(zoo("shufflenet")))}
    assert {"depthwise-conv", "grouped-conv", "conv", "matmul"} <= kinds


def test_table_round_trips(tmp_path):
    t = LayerTable("x", tuple(layers_of(profile_onnx(zoo("squeezenet")))), ("made here",))
    p = tmp_path / "x.csv"
    p.write_text(write_table(t))
    back = read_table(p, "x")
    assert (back.layers, back.header, back.source) == (t.layers, t.header, str(p))


def test_damaged_table_names_its_line(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("# h\nname,kind,ops,macs,weights,in_elements,out_elements,out_shape\n"
                 "a,conv,Conv,1,2,3,4,1x1\nb,conv,Conv,many,2,3,4,1x1\n")
    with pytest.raises(CatalogError) as e:
        read_table(p, "x")
    assert e.value.line == 4 and "integer" in e.value.message


def _table(rows) -> LayerTable:
    return LayerTable("t", tuple(Layer(f"l{i}", k, k, m, w, a, a, "?")
                                 for i, (k, m, w, a) in enumerate(rows)))


def test_layered_core_bounds_the_whole_model_roofline():
    """Layers run one after another: the per-layer sum is never below max(compute, memory),
    and equals it for a network of one layer."""
    rng = random.Random(3)
    for _ in range(50):
        t = _table([(rng.choice(["conv", "depthwise-conv", "elementwise"]),
                     rng.randint(0, 10**8), rng.randint(0, 10**6), rng.randint(1, 10**6))
                    for _ in range(rng.randint(1, 30))])
        sh = _shares(t)
        kw = {"ops": 2e9, "weight_bytes": 4e6, "act_bytes_per_element": 1.0, "batch": 1,
              "peak_ops": 1e12, "dram_gbs": 10.0, "onchip_bytes": -1.0, "has_link": False,
              "act_on_chip": False, "context_switch": False}
        lr = layered_roofline(sh, **kw)
        compute = 2e9 / 1e12 * 1e3
        memory = (4e6 + sum(sh.act_elements)) / 10e9 * 1e3
        assert lr.core_ms >= max(compute, memory) * (1 - 1e-9)
        assert lr.core_ms <= (compute + memory) * (1 + 1e-9)
    one = _shares(_table([("conv", 10**6, 10**3, 10**3)]))
    lr = layered_roofline(one, ops=2e6, weight_bytes=1e3, act_bytes_per_element=1.0, batch=1,
                          peak_ops=1e12, dram_gbs=10.0, onchip_bytes=-1.0, has_link=False,
                          act_on_chip=False, context_switch=False)
    assert lr.core_ms == pytest.approx(max(2e6 / 1e12, (1e3 + 2e3) / 10e9) * 1e3)


def test_residency_fills_in_graph_order():
    resident, contexts = residency([3, 3, 3, 1], 7, context_switch=False)
    assert resident == [True, True, False, False] and contexts == 1
    resident, contexts = residency([3, 3, 3, 1], 7, context_switch=True)
    assert contexts == 2
    assert residency([1, 1], 7, context_switch=True) == ([True, True], 1)


def test_grid_agrees_with_the_scalar_path():
    rng = random.Random(7)
    t = _table([(rng.choice(["conv", "depthwise-conv", "attention", "pooling"]),
                 rng.randint(0, 10**8), rng.randint(0, 10**6), rng.randint(1, 10**6))
                for _ in range(40)])
    sh = _shares(t)
    n = 12
    peak = np.array([rng.uniform(1e11, 1e14) for _ in range(n)])
    dram = np.array([rng.uniform(2, 200) for _ in range(n)])
    onchip = np.array([-1.0] * 8 + [8e6, 8e6, 2e6, 2e6])
    link = np.array([False] * 8 + [True, True, True, False])
    act_chip = np.array([False] * 10 + [True, True])
    ctx = np.array([False] * 10 + [True, True])
    bpe = np.array([1.0, 2.0, 4.0, 1.0] * 3)
    c, m, streamed, contexts, sh_grid = layered_grid(
        sh, ops=3e9, weight_bytes=2e7, act_bpe=bpe, batch=2, peak_ops=peak, dram_gbs=dram,
        onchip_bytes=onchip, has_link=link, act_on_chip=act_chip, context_switch=ctx)
    for j in range(n):
        lr = layered_roofline(sh, ops=3e9, weight_bytes=2e7, act_bytes_per_element=bpe[j],
                              batch=2, peak_ops=peak[j], dram_gbs=dram[j],
                              onchip_bytes=onchip[j], has_link=link[j],
                              act_on_chip=act_chip[j], context_switch=ctx[j])
        assert c[j] == pytest.approx(lr.compute_ms, rel=1e-9, abs=1e-12)
        assert m[j] == pytest.approx(lr.memory_ms, rel=1e-9, abs=1e-12)
        assert streamed[j] == pytest.approx(lr.streamed_bytes)
        assert contexts[j] == lr.contexts
        for k, v in lr.shares().items():
            assert sh_grid[k][j] == pytest.approx(v, rel=1e-9, abs=1e-12)


def test_a_model_under_another_networks_id_gets_no_table(catalog):
    model = catalog.models["resnet-50"]
    other = model.model_copy(update={"size": model.size.model_copy(update={"macs_g": 2.0})})
    assert shares_for(model) is not None and shares_for(other) is None
    assert shares_for(catalog.models["llama-3.2-1b"]) is None


def test_the_switch_changes_only_layered_models(catalog):
    from planner.estimate.roofline import roofline
    dev = catalog.devices["raspberry-pi-5-8gb"]
    unit = dev.units[0]
    m = catalog.models["mobilenet-v2"]
    whole = roofline(m, "fp32", dev, unit)                 # the default: whole-model
    layered = roofline(m, "fp32", dev, unit, layers=True)
    assert roofline_mod.LAYERED is False
    assert whole.layered is None and layered.layered is not None
    assert layered.core_ms >= whole.core_ms
    # totals stay the network's: what a measurement may not beat (calibrate add) is unchanged
    assert (layered.compute_ms, layered.memory_ms) == (whole.compute_ms, whole.memory_ms)
    llm = catalog.models["llama-3.2-1b"]
    assert roofline(llm, "int4", dev, unit, layers=True).layered is None


@pytest.mark.parametrize("device", ["coral-usb-on-rpi4", "hailo-8l-on-x86",
                                    "jetson-orin-nx-16gb", "raspberry-pi-5-8gb"])
def test_per_layer_grid_agrees_with_the_estimator(device, monkeypatch):
    """With the per-layer roofline on (as the benchmark scores it): a calibration with
    per-class factors, and `solve`'s grid equal to `estimate` cell by cell."""
    from planner.catalog.loader import load_catalog
    from planner.estimate.cache import calibration_for
    monkeypatch.setattr(roofline_mod, "LAYERED", True)
    cat = load_catalog(use_env=False)
    assert any(f.startswith("layer:depthwise:") for f in calibration_for(cat).coef)
    models = [cat.models[i] for i in ("mobilenet-v2", "resnet-50", "yolov8n", "bert-base")]
    compared = grid_cells_match_estimates(cat, device, models)
    assert len(compared) >= 4 and all(e.layers["sets_estimate"] for e in compared)


# ---------------------------------------------------------------- CLI

def test_profile_layers_text_json_csv():
    r = CliRunner()
    path = str(zoo("resnet50"))
    out = r.invoke(main, ["profile", path, "--layers"])
    assert out.exit_code == 0, out.output
    assert "layers: 73" in out.output and "Conv+BatchNormalization+Relu" in out.output
    js = json.loads(r.invoke(main, ["profile", path, "--layers", "--format", "json"]).output)
    assert len(js["layers"]) == 73 and js["layers"][0]["kind"] == "conv"
    csv = r.invoke(main, ["profile", path, "--layers", "--format", "csv"]).output
    assert csv.splitlines()[0] == "name,kind,ops,macs,weights,in_elements,out_elements,out_shape"
    assert len(csv.splitlines()) == 74
    bad = r.invoke(main, ["profile", path, "--format", "csv"])
    assert bad.exit_code == 2 and "--layers" in bad.output


def test_estimate_layers_prints_the_costliest():
    r = CliRunner()
    out = r.invoke(main, ["estimate", "-d", "coral-usb-on-rpi4", "-m", "mobilenet-v2", "-p",
                          "int8", "--layers"])
    assert out.exit_code == 0, out.output
    assert "the 10 costliest of" in out.output and "whole-model roofline sets" in out.output
    assert "layers: " in out.output and "of the " in out.output
    js = json.loads(r.invoke(main, ["estimate", "-d", "coral-usb-on-rpi4", "-m", "mobilenet-v2",
                                    "-p", "int8", "--format", "json"]).output)
    lay = js["layers"]
    assert len(lay["costliest"]) == 10 and lay["sets_estimate"] is False
    # the costliest layers' times are their share of the estimate's core time
    assert sum(x["ms"] for x in lay["costliest"]) <= js["latency_ms"]["value"]
    shares = [x["share"] for x in lay["costliest"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 1.0 + 1e-6
    llm = r.invoke(main, ["estimate", "-d", "raspberry-pi-5-8gb", "-m", "llama-3.2-1b", "-p",
                          "int4", "--layers"])
    assert llm.exit_code == 0 and "layers: none shown: an LLM" in llm.output


def test_model_files_get_their_own_layers():
    from planner.onnxfile.profile import profile_as_model
    m = profile_as_model(zoo("squeezenet"), "my-squeezenet")
    s = shares_for(m)
    assert s is not None and s.table.source == "light_squeezenet.onnx"
    assert len(s.macs) == len(layers_of(profile_onnx(zoo("squeezenet"))))
    assert shares_for(m.model_copy()) is not None      # the solver copies models


def test_padding_computed_from_constants_is_folded(tmp_path):
    """PyTorch's "same" padding computes the pads in the graph (Ceil over constants, a Cast):
    onnx's data propagation does not evaluate those, so the profile folds them first."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    pads_f = numpy_helper.from_array(np.array([0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5], np.float32), "pf")
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Constant", [], ["p0"], value=pads_f),
             helper.make_node("Ceil", ["p0"], ["p1"]),
             helper.make_node("Cast", ["p1"], ["pads"], to=TensorProto.INT64),
             helper.make_node("Pad", ["x", "pads"], ["xp"]),
             helper.make_node("Conv", ["xp", "w"], ["y"])]
    g = helper.make_graph(nodes, "same", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3, 8, 8])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "same.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    prof = profile_onnx(path)
    assert prof.macs == 4 * 8 * 8 * 27            # padded 10x10 input, 3x3 kernel: 8x8 out
    assert not [n for n in prof.notes if "not counted" in n]


def test_partitions_follow_the_op_support_table():
    from planner.estimate.layers import partitions
    t = _table([("conv", 10, 1, 5), ("elementwise", 0, 0, 5), ("conv", 30, 1, 5)])
    t = LayerTable("t", (t.layers[0], Layer("l1", "elementwise", "Erf", 0, 0, 5, 5, "?"),
                         t.layers[2]))
    every = partitions(t, None)
    assert (every.host_layers, every.partitions) == (0, 1)
    p = partitions(t, {"conv"})
    assert (p.host_layers, p.partitions, p.host_ops) == (1, 3, ("Erf",))
    assert p.boundary_elements == 10 and p.host_macs_share == 0
    assert partitions(t, {"conv", "Erf"}).host_layers == 0


def test_estimate_says_which_layers_fall_back(catalog):
    from planner.estimate.point import Query, estimate
    e = estimate(catalog, Query("vit-base-16", "int8", "coral-usb-on-rpi4"), layers=True)
    fb = e.layers["fallback"]
    assert fb["layers"] > 0 and "LayerNormalization" in fb["ops"]
    # the Edge TPU compiler accelerates one segment: everything from the first unsupported
    # layer on runs on the CPU
    assert fb["single_segment"] and fb["partitions"] == 2 and fb["macs_share"] > 0.99
    assert any("run on the host CPU" in n and "Timed on raspberry-pi-4b-4gb's cpu" in n
               for n in e.notes)
    assert fb["timed"]["host_layers"] == fb["layers"]
    dla = estimate(catalog, Query("yolov8n", "int8", "jetson-orin-nx-16gb", unit="dla0"),
                   layers=True)
    assert dla.layers["fallback"]["to"] == "the GPU" and "timed" not in dla.layers["fallback"]
    # a compiler that partitions many times: reported, not timed
    assert any("run off the dla0, on the GPU" in n and "counts the whole network" in n
               for n in dla.notes)


def test_the_layers_share_the_latency_less_its_fixed_costs(catalog):
    """Measured or not, the layers' times add up to the latency less weight streaming, host
    transfer, dispatch and the per-call overhead."""
    from planner.estimate.point import Query, estimate
    for q in (Query("resnet-50", "int8", "coral-usb-on-rpi4"),
              Query("yolov8n", "fp32", "raspberry-pi-4b-4gb", runtime="ncnn")):
        lay = estimate(catalog, q, layers=True).layers
        assert lay["layers_ms"] + sum(lay["fixed_ms"].values()) == pytest.approx(
            lay["latency_ms"], rel=1e-3)
    coral = estimate(catalog, Query("resnet-50", "int8", "coral-usb-on-rpi4"), layers=True).layers
    # only asked for: plans, lint and reports skip the second roofline
    assert estimate(catalog, Query("resnet-50", "int8", "coral-usb-on-rpi4")).layers is None
    assert coral["fixed_ms"]["weight_streaming"] > coral["layers_ms"]


def test_a_lookup_reads_its_rows_not_its_table():
    from planner.estimate.layers import _read
    gather = Layer("emb", "data-movement", "Gather", 0, 23_440_896, 128, 98_304, "1x128x768")
    assert _read(gather) == 98_304
    assert _read(Layer("fc", "matmul", "MatMul+Add", 10, 590_592, 768, 768, "?")) == 590_592


def test_control_flow_carries_its_branches_macs(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w")

    def branch(name):
        return helper.make_graph([helper.make_node("Conv", ["x", "w"], [f"y_{name}"])], name,
                                 [], [helper.make_tensor_value_info(f"y_{name}",
                                                                    TensorProto.FLOAT, None)])
    g = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch("a"), else_branch=branch("b"))],
        "iff", [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "iff.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    prof = profile_onnx(path)
    (only,) = layers_of(prof)
    assert only.kind == "control-flow" and only.macs == prof.macs > 0


def test_bad_profile_inputs_are_usage_errors(tmp_path):
    r = CliRunner()
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    out = r.invoke(main, ["profile", str(empty)])
    assert out.exit_code == 2 and "not an ONNX model" in out.output
    out = r.invoke(main, ["profile", str(zoo("squeezenet")), "--layers", "--format", "csv",
                          "--device", "nope"])
    assert out.exit_code == 2 and "--device" in out.output


def test_estimate_says_why_it_shows_no_layers(catalog):
    from planner.estimate.point import no_table_reason
    assert "no table for yolox-s" in no_table_reason(catalog.models["yolox-s"])
    assert "an LLM" in no_table_reason(catalog.models["llama-3.2-1b"])
    m = catalog.models["mobilenet-v2"]
    other = m.model_copy(update={"size": m.size.model_copy(update={"macs_g": 0.6})})
    assert "more than 2 % apart" in no_table_reason(other)


def test_short_names_keep_the_block_and_the_op():
    from planner.catalog.layers import short_name
    assert short_name("/features/features.2/conv/conv.1/conv.1.0/Conv") == \
        "features.2/conv.1.0/Conv"
    long = short_name("/bert/encoder/layer.11/attention/self/attention.self.query/MatMul")
    assert len(long) <= 30 and long.endswith("MatMul") and long.startswith(".../")
    assert short_name("conv1") == "conv1"
