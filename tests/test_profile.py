"""`edgeplan profile`: counts on real graphs, MACs per op kind, activations, external data,
op support per device, and the ONNX file as a catalog model."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from conftest_bundle import (  # noqa: F401
    CNN,
    MLP,
    bundle_catalog,
    catalog_dir,
    only_test_catalog,
    zoo,
)
from onnx import TensorProto, helper, numpy_helper

from planner.cli import main
from planner.errors import InputError, UnknownIdError
from planner.onnxfile.profile import op_support_report, profile_as_model, profile_onnx

# Published figures: torchvision model docs (params; "GFLOPS" there are multiply-adds), and
# Caffe's bvlc_alexnet (grouped convolutions) for AlexNet.
PUBLISHED = [
    ("resnet50", 25_557_032, 4.09e9),
    ("vgg19", 143_667_240, 19.63e9),
    ("densenet121", 7_978_856, 2.83e9),
    ("squeezenet", 1_235_496, 0.35e9),     # SqueezeNet 1.1
    ("bvlc_alexnet", 60_965_224, None),
]


@pytest.mark.parametrize("name,params,macs", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_zoo_graphs_match_published_counts(name, params, macs):
    p = profile_onnx(zoo(name))
    assert abs(p.params - params) / params < 0.02
    if macs is not None:
        assert abs(p.macs - macs) / macs < 0.02
    assert p.notes == []                  # every shape inferred, every weight counted


def test_resnet50_weights_held_in_constantofshape_nodes():
    p = profile_onnx(zoo("resnet50"))
    assert p.op_histogram["ConstantOfShape"] == 239
    assert p.weight_bytes["fp32"] == p.params * 4 and p.weight_bytes["int8"] == p.params
    assert p.inputs[0].name == "gpu_0/data_0" and len(p.inputs) == 1   # IR3 weight inputs
    assert p.outputs[0].shape == [1, 1000] and not p.dynamic_shapes
    assert 5e6 < p.peak_activation_bytes < 20e6
    assert set(p.macs_by_op) == {"Conv", "Gemm"}


def test_example_models():
    cnn = profile_onnx(CNN)
    assert cnn.params == 32 * 9 + 32 + 64 * 288 + 64 + 128 * 1024 + 128 + 10 * 128 + 10
    # conv1 64*32*9, conv2 64*64*288, fc1 1024*128, fc2 128*10
    assert cnn.macs == 64 * 32 * 9 + 64 * 64 * 288 + 1024 * 128 + 128 * 10
    assert cnn.inputs[0].symbolic and cnn.inputs[0].shape == ["N", 1, 8, 8]
    assert cnn.assumed_dims == {"N": 1}
    mlp = profile_onnx(MLP)
    assert mlp.macs_by_op == {"MatMul": 64 * 256 + 256 * 128 + 128 * 10}
    assert mlp.sequence_mac_share == 1.0 and cnn.sequence_mac_share < 0.2


def _model(nodes, inputs, outputs, inits=(), opset=17, **kw):
    g = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], **kw)
    m.ir_version = 8 if opset <= 17 else 10
    return m


def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def _w(name, *shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def _save(tmp_path, m, name="m.onnx"):
    p = tmp_path / name
    onnx.save(m, p)
    return p


def test_macs_per_op_kind(tmp_path):
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "wc"], ["c"], group=2, pads=[1, 1, 1, 1]),                 # 8->8, g2
        n("ConvTranspose", ["c", "wt"], ["t"], strides=[2, 2]),                      # 8->4
        n("Flatten", ["t"], ["f"]),
        n("Gemm", ["f", "wg"], ["g"], transB=1),
        n("MatMul", ["q", "k"], ["s"]),                                             # batched
        n("Einsum", ["a", "b"], ["e"], equation="bij,bjk->bik"),
        n("LSTM", ["seq", "wl", "rl"], ["h"], hidden_size=16),
    ]
    m = _model(nodes,
               [_vi("x", [1, 8, 4, 4]), _vi("q", [2, 4, 16, 8]), _vi("k", [2, 4, 8, 16]),
                _vi("a", [3, 5, 7]), _vi("b", [3, 7, 2]), _vi("seq", [10, 1, 12])],
               [_vi("g", None), _vi("s", None), _vi("e", None), _vi("h", None)],
               [_w("wc", 8, 4, 3, 3), _w("wt", 8, 4, 2, 2), _w("wg", 6, 4 * 8 * 8),
                _w("wl", 1, 64, 12), _w("rl", 1, 64, 16)])
    p = profile_onnx(_save(tmp_path, m))
    assert p.macs_by_op["Conv"] == (8 * 4 * 4) * (4 * 3 * 3)
    assert p.macs_by_op["ConvTranspose"] == (8 * 4 * 4) * (4 * 2 * 2)
    assert p.macs_by_op["Gemm"] == 6 * 256
    assert p.macs_by_op["MatMul"] == 2 * 4 * 16 * 16 * 8
    assert p.macs_by_op["Einsum"] == 3 * 5 * 7 * 2
    assert p.macs_by_op["LSTM"] == 10 * 1 * (64 * 12 + 64 * 16)
    assert p.sequence_mac_share > 0.5


def test_attention_op_macs(tmp_path):
    n = helper.make_node("Attention", ["q", "k", "v"], ["o"])
    m = _model([n], [_vi("q", [2, 4, 16, 8]), _vi("k", [2, 4, 32, 8]), _vi("v", [2, 4, 32, 8])],
               [_vi("o", None)], opset=23)
    p = profile_onnx(_save(tmp_path, m))
    assert p.macs_by_op == {"Attention": 2 * 4 * 16 * 32 * (8 + 8)}


def test_weights_in_constant_nodes_and_quantization_params_not_counted(tmp_path):
    n = helper.make_node
    w8 = numpy_helper.from_array(np.zeros((4, 4), np.int8), "w8")
    nodes = [n("Constant", [], ["wc"], value=numpy_helper.from_array(np.ones((4, 4), np.float32))),
             n("MatMul", ["x", "wc"], ["y"]),
             n("DequantizeLinear", ["w8", "scale", "zp"], ["wd"]),
             n("MatMul", ["y", "wd"], ["z"]),
             n("Reshape", ["z", "shape"], ["out"])]
    m = _model(nodes, [_vi("x", [1, 4])], [_vi("out", None)],
               [w8, numpy_helper.from_array(np.float32(0.1), "scale"),
                numpy_helper.from_array(np.int8(0), "zp"),
                numpy_helper.from_array(np.array([1, 4], np.int64), "shape")])
    p = profile_onnx(_save(tmp_path, m))
    assert p.params == 16 + 16                     # the Constant's and the int8 weight
    assert p.weight_dtypes == {"float": 16, "int8": 16}
    assert p.quantized and p.precision == "int8"


def test_peak_activation_follows_liveness(tmp_path):
    n = helper.make_node
    # x -> a, x -> b, a + b -> c, relu(c) -> d: x, a and b are live together
    nodes = [n("Relu", ["x"], ["a"]), n("Neg", ["x"], ["b"]), n("Add", ["a", "b"], ["c"]),
             n("Relu", ["c"], ["d"])]
    m = _model(nodes, [_vi("x", [1, 1000])], [_vi("d", [1, 1000])])
    p = profile_onnx(_save(tmp_path, m))
    assert p.peak_activation_bytes == 3 * 4000
    chain = _model([n("Relu", ["x"], ["a"]), n("Relu", ["a"], ["b"]), n("Relu", ["b"], ["c"])],
                   [_vi("x", [1, 1000])], [_vi("c", [1, 1000])])
    assert profile_onnx(_save(tmp_path, chain, "chain.onnx")).peak_activation_bytes == 2 * 4000


def test_symbolic_dims_flagged(tmp_path):
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"])],
               [_vi("x", ["batch", "seq", 8])], [_vi("y", ["batch", "seq", 4])], [_w("w", 8, 4)])
    p = profile_onnx(_save(tmp_path, m))
    assert p.dynamic_shapes and p.inputs[0].symbolic
    assert p.assumed_dims == {"batch": 1, "seq": 1}
    assert p.macs == 8 * 4
    assert any("symbolic" in note for note in p.notes)


def test_external_data_is_not_read(tmp_path):
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [1, 256])],
               [_vi("y", [1, 512])], [numpy_helper.from_array(
                   np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32), "w")])
    path = tmp_path / "ext.onnx"
    onnx.save(m, path, save_as_external_data=True, location="ext.bin", size_threshold=0)
    p = profile_onnx(path)
    assert p.params == 256 * 512 and p.external_data == {"ext.bin": 256 * 512 * 4}
    (tmp_path / "ext.bin").unlink()
    with pytest.raises(InputError, match="missing"):
        profile_onnx(path)


def _external_tensor(name, n, location, offset=0):
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[n])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(n * 4))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def test_model_over_2gb_profiled_from_its_graph(tmp_path):
    n = 600_000_000                                   # 2.4 GB of float32 weights
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(n * 4)                             # sparse: nothing written
    m = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [n])], [_vi("y", [n])],
               [_external_tensor("w", n, "big.bin")])
    path = _save(tmp_path, m, "big.onnx")
    t0 = time.perf_counter()
    p = profile_onnx(path)
    assert time.perf_counter() - t0 < 10
    assert p.params == n and p.weight_bytes["fp32"] == 4 * n > 2**31
    assert p.external_data == {"big.bin": 4 * n}


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../x.bin"])
def test_external_data_outside_the_model_directory_refused(tmp_path, location):
    m = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [4])], [_vi("y", [4])],
               [_external_tensor("w", 4, location)])
    with pytest.raises(InputError, match="outside"):
        profile_onnx(_save(tmp_path, m))


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\xfe not protobuf \x00" * 10)
    with pytest.raises(InputError, match="not an ONNX model"):
        profile_onnx(bad)
    with pytest.raises(InputError, match="no such"):
        profile_onnx(tmp_path / "missing.onnx")


def test_op_support_lists_cpu_fallback(bundle_catalog):
    p = profile_onnx(CNN)
    r = op_support_report(p, bundle_catalog, "test-coral")
    tpu = r["units"][0]
    assert tpu["fallback_ops"] == {"Flatten": {"count": 1, "nodes": ["flatten"]}}
    assert tpu["partitions"] == 3 and tpu["accelerated_macs_pct"] == 100.0
    dla = op_support_report(p, bundle_catalog, "test-jetson", "dla0")["units"]
    assert [u["unit"] for u in dla] == ["dla0"]
    assert set(dla[0]["fallback_ops"]) == {"Flatten", "Gemm"}
    assert dla[0]["accelerated_macs_pct"] < 100
    gpu = op_support_report(p, bundle_catalog, "test-jetson", "gpu")["units"][0]
    assert gpu["fallback_ops"] == {} and gpu["op_support"] == "full"
    with pytest.raises(UnknownIdError):
        op_support_report(p, bundle_catalog, "test-jetson", "npu")


def test_profile_as_model_plans_like_a_catalog_model():
    m = profile_as_model(CNN, "digits-cnn", task="classification")
    assert m.id == "digits-cnn" and m.task == "classification"
    assert {(o.precision, o.technique) for o in m.options} == {
        ("fp32", "baseline"), ("fp16", "baseline"), ("int8", "ptq")}
    assert all(o.accuracy == 0.0 and "accuracy" in o.estimated for o in m.options)
    assert m.metric == "unknown" and m.dynamic_shapes
    assert m.size.macs_g == pytest.approx(profile_onnx(CNN).macs / 1e9)
    assert "Conv" in m.onnx_ops and m.size.input == "[N, 1, 8, 8]"
    given = profile_as_model(MLP, "Digits MLP", accuracy={"fp32": 98.6, "int8": 98.3},
                             metric="digits top-1 %")
    assert given.id == "digits-mlp"
    assert given.option("fp32").accuracy == 98.6 and not given.option("fp32").estimated
    assert given.option("int8").accuracy == 98.3
    assert given.option("fp16").accuracy == 98.6 and "accuracy" in given.option("fp16").estimated


def test_cli_profile_text_and_json(only_test_catalog):
    catalog_dir = only_test_catalog
    r = CliRunner().invoke(main, ["profile", str(CNN)])
    assert r.exit_code == 0, r.output
    assert "params        151,306" in r.output and "symbolic dims" in r.output
    r = CliRunner().invoke(main, ["profile", str(CNN), "--format", "json", "--device",
                                  "test-coral", "--catalog", str(catalog_dir)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["params"] == 151306 and d["op_support"]["units"][0]["fallback_nodes"] == 1
    r = CliRunner().invoke(main, ["profile", str(CNN), "--device", "test-coral",
                                  "--catalog", str(catalog_dir)])
    assert "Flatten x1" in r.output


def test_cli_profile_bad_input_one_line(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_text("hello")
    r = CliRunner().invoke(main, ["profile", str(bad)])
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "x.onnx" in r.output


def test_lint_and_catalog_do_not_import_onnx():
    code = ("import sys, planner.cli; "
            "bad = [m for m in ('onnx', 'onnxruntime', 'numpy', 'jinja2', 'planner.onnxfile.profile')"
            " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
