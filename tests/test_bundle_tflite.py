"""`edgeplan bundle` for TensorFlow Lite plans (runtimes edgetpu and tflite): the bundle
carries model.tflite converted with onnx2tf, verified with the LiteRT interpreter on the host
CPU; the gates apply to it. For Coral the Edge TPU-compiled model is not built, and the
bundle says so."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest_bundle import (  # noqa: F401
    CNN,
    EXAMPLES,
    MLP,
    bundle_catalog,
    catalog_dir,
    leftovers,
    workload,
    write_manifest,
)

from planner.bundle.build import BundleOptions, build_bundle
from planner.errors import MissingExtraError, VerificationError

CNN_CAL, CNN_EVAL = EXAMPLES / "digits_cnn_cal.npz", EXAMPLES / "digits_cnn_eval.npz"
MLP_EVAL = EXAMPLES / "digits_mlp_eval.npz"
FILES = {"model.onnx", "model.tflite", "infer.py", "requirements.txt", "deployment.yaml",
         "README.md", "sample_inputs.npz", "verification.json", "SHA256SUMS",
         "calibration.npz"}

needs_tflite = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx2tf", "tensorflow", "ai_edge_litert")),
    reason="needs the tflite extra: pip install 'edgeplan[tflite]'")


def build(tmp_path, cat, *wls, out="out", **opts):
    plan = write_manifest(tmp_path / "deploy.yaml", *wls)
    opts.setdefault("benchmark_runs", 5)
    return build_bundle(plan, cat, BundleOptions(out_dir=tmp_path / out, **opts))


def coral(**kw):
    return workload(device="test-coral", model_file=str(CNN), **kw)


def run_tflite(path: Path, x: np.ndarray) -> np.ndarray:
    """model.tflite's output for NCHW `x`, computed here, independently of infer.py."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for k in range(len(x)):
        a = x[k:k + 1].transpose(0, 2, 3, 1)
        s, z = i["quantization"]
        if i["dtype"] == np.int8:
            a = np.clip(np.round(a / s + z), -128, 127).astype(np.int8)
        it.set_tensor(i["index"], a)
        it.invoke()
        r = it.get_tensor(o["index"])
        s, z = o["quantization"]
        rows.append((r.astype(np.float32) - z) * s if o["dtype"] == np.int8 else r)
    return np.concatenate(rows)


def reference(x):
    import onnxruntime as ort
    return ort.InferenceSession(str(CNN), providers=["CPUExecutionProvider"]).run(
        None, {"image": x})[0]


@needs_tflite
def test_coral_bundle_is_full_integer_tflite_verified_with_litert(tmp_path, bundle_catalog):
    before = hashlib.sha256(CNN.read_bytes()).hexdigest()
    res = build(tmp_path, bundle_catalog, coral(accuracy_floor=95), calibration_data=CNN_CAL,
                eval_data=CNN_EVAL)
    out, v = res.out_dir, res.verification
    # onnx2tf rewrites the file it converts: the user's model must be untouched
    assert hashlib.sha256(CNN.read_bytes()).hexdigest() == before
    assert {p.name for p in out.iterdir()} == FILES
    import ai_edge_litert
    assert v["runtime"] == {"name": "ai-edge-litert", "version": ai_edge_litert.__version__,
                            "device": "CPU", "delegate": "none (CPU kernels)",
                            "artifact": "model.tflite"}
    va = v["vendor_artifact"]
    assert va["built"] is True and va["format"] == "TensorFlow Lite"
    assert "full-integer INT8" in va["method"] and "per-tensor" in va["method"]
    assert va["not_built"]["artifact"] == "Edge TPU-compiled model (model_edgetpu.tflite)"
    assert "edgetpu_compiler" in va["not_built"]["reason"]
    # full integer: INT8 in and out, one scale per tensor (what the Edge TPU needs)
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(out / "model.tflite"))
    assert it.get_input_details()[0]["dtype"] == np.int8
    assert it.get_output_details()[0]["dtype"] == np.int8
    assert list(it.get_input_details()[0]["shape"]) == [1, 8, 8, 1]      # NHWC, static
    for t in it.get_tensor_details():
        if t["dtype"] == np.int8:
            assert len(t["quantization_parameters"]["scales"]) <= 1, t["name"]
    # the figures are model.tflite's: recompute them here
    with np.load(out / "sample_inputs.npz") as z:
        x = z["image"]
    got, ref = run_tflite(out / "model.tflite", x), reference(x)
    assert v["comparison"]["top1_agreement_pct"] == pytest.approx(
        float((got.argmax(1) == ref.argmax(1)).mean() * 100))
    assert v["comparison"]["max_abs_error"] == pytest.approx(float(np.abs(got - ref).max()),
                                                             rel=1e-4, abs=1e-5)
    with np.load(CNN_EVAL) as z:
        ex, ey = z["image"], z["labels"]
    acc = float((run_tflite(out / "model.tflite", ex).argmax(1) == ey).mean() * 100)
    assert v["accuracy"]["artifact"] == "model.tflite"
    assert v["accuracy"]["converted_pct"] == pytest.approx(acc, abs=1e-3)
    assert v["accuracy"]["drop_points"] <= 1.0
    assert v["comparison"]["top1_agreement_pct"] >= 95
    assert v["sizes"]["converted_bytes"] == (out / "model.tflite").stat().st_size
    assert v["sizes"]["ratio"] <= 0.30
    assert v["fallback"]["runtime"]["name"] == "onnxruntime"
    readme = (out / "README.md").read_text()
    assert "The device loads the **TensorFlow Lite** model `model.tflite`" in readme
    assert "is NOT in this bundle**" in readme and "edgetpu_compiler -s -o . model.tflite" \
        in readme
    assert "ai-edge-litert==" in (out / "requirements.txt").read_text()
    # where the Edge TPU compiler would put the ops of the converted graph, by the fixture's
    # table (no TRANSPOSE, no RESHAPE): the convolutions and the pooling map; the Transpose
    # onnx2tf put before the flatten starts the CPU part, and the one-segment rule sends the
    # fully-connected layers the table supports after it
    pl = v["vendor_artifact"]["placement"]
    assert pl["unit"] == "Edge TPU" and pl["unit_ops"] == 3
    assert pl["unit_op_types"] == {"CONV_2D": 2, "MAX_POOL_2D": 1}
    assert pl["cpu_ops"] == {"FULLY_CONNECTED": 2, "RESHAPE": 1, "TRANSPOSE": 1}
    assert pl["first_cpu_op"] == {"index": 3, "op": "TRANSPOSE",
                                  "reason": "TRANSPOSE is not an Edge TPU operation"}
    assert [c["op"] for c in pl["cpu_layers"]] == ["TRANSPOSE", "RESHAPE", "FULLY_CONNECTED",
                                                   "FULLY_CONNECTED"]
    assert "one Edge TPU segment" in pl["cpu_layers"][-1]["reason"]
    assert pl["cpu_but_table_supported"] == ["FULLY_CONNECTED"]
    assert pl["table_fallback_but_unit"] == []
    # with the shipped catalog's Edge TPU list, every op of this graph maps
    from planner.bundle.tflite_artifact import _graph, edgetpu_placement
    from planner.catalog.loader import load_catalog
    shipped = load_catalog(use_env=False).op_support["edgetpu"].tflite_ops
    full = edgetpu_placement(_graph(out / "model.tflite"), shipped)
    assert full["unit_ops"] == 7 and full["cpu_ops"] == {} and full["first_cpu_op"] is None
    # the bundle runs on its own and says what it loaded
    p = subprocess.run([sys.executable, str(out / "infer.py"), "--input",
                        str(out / "sample_inputs.npz"), "--top-k", "3"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "sample 0: top-3" in p.stdout and "model model.tflite" in p.stderr
    # no interpreter on the device: the ONNX fallback, said on stderr
    code = ("import sys, runpy; [sys.modules.__setitem__(m, None) for m in "
            "('ai_edge_litert', 'tflite_runtime', 'tensorflow')]; "
            "sys.argv = ['infer.py', '--input', 'sample_inputs.npz', '--json']; "
            "runpy.run_path('infer.py', run_name='__main__')")
    p = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "no TFLite interpreter is installed: running model.onnx with onnxruntime" in p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["model"] == "model.onnx"
    assert not leftovers(tmp_path)


@needs_tflite
def test_rebuild_is_byte_identical_tflite(tmp_path, bundle_catalog):
    a = build(tmp_path, bundle_catalog, coral(), out="a", calibration_data=CNN_CAL)
    b = build(tmp_path, bundle_catalog, coral(), out="b", calibration_data=CNN_CAL)
    for name in FILES - {"verification.json", "SHA256SUMS"}:
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name


PI_YAML = """\
devices:
  - id: test-pi-tflite
    name: Test Pi board with TFLite
    vendor: Test
    family: raspberry-pi
    form_factor: sbc
    memory: {total_gb: 8, available_gb: 6, bandwidth_gbs: 17, source: test fixture}
    units:
      - {id: cpu, kind: cpu, peak_tops: {fp32: 0.05, fp16: 0.05, int8: 0.1},
         runtimes: [tflite, onnxruntime], source: test fixture}
    power: {idle_w: 3, modes: [{id: default, power_w: 8}], source: test fixture}
    price: {usd: 80, source: test fixture}
"""


@pytest.fixture(scope="module")
def pi_catalog(tmp_path_factory):
    from planner.catalog.loader import load_catalog
    d = tmp_path_factory.mktemp("pi-tflite-catalog")
    (d / "devices.yaml").write_text(PI_YAML)
    return load_catalog([d], builtin=False, use_env=False)


@needs_tflite
@pytest.mark.parametrize("model,precision,eval_data,variant", [
    (MLP, "int8", MLP_EVAL, "dynamic-range INT8"),
    (CNN, "int8", CNN_EVAL, "INT8 weights and activations, float inputs"),
    (CNN, "fp16", CNN_EVAL, "FP16 weights"),
])
def test_cpu_tflite_bundles(tmp_path, pi_catalog, model, precision, eval_data, variant):
    wl = workload(model="digits-mlp" if model == MLP else "digits-cnn", model_file=str(model),
                  precision=precision, runtime="tflite", device="test-pi-tflite")
    res = build(tmp_path, pi_catalog, wl, eval_data=eval_data,
                calibration_data=CNN_CAL if model == CNN else None)
    v = res.verification
    assert v["target"]["runtime"] == "tflite" and v["runtime"]["name"] == "ai-edge-litert"
    assert variant in v["vendor_artifact"]["method"]
    assert "not_built" not in v["vendor_artifact"]
    assert v["accuracy"]["drop_points"] <= 1.0


# ---------------------------------------------------------------- gates, missing extra

@needs_tflite
def test_agreement_gate_applies_to_the_tflite(tmp_path, bundle_catalog, monkeypatch):
    import onnx
    from onnx import numpy_helper

    from planner.bundle import tflite_artifact
    m = onnx.load(str(CNN))
    rng = np.random.default_rng(0)
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 1:
            flat = a.reshape(-1).copy()
            rng.shuffle(flat)
            t.CopyFrom(numpy_helper.from_array(flat.reshape(a.shape), t.name))
    bad = tmp_path / "spoiled" / "digits_cnn.onnx"
    bad.parent.mkdir()
    onnx.save(m, str(bad))
    real = tflite_artifact.build_tflite
    monkeypatch.setattr(tflite_artifact, "build_tflite",
                        lambda src, bdir, **kw: real(bad, bdir, **kw))
    with pytest.raises(VerificationError, match="disagree with the FP32 reference"):
        build(tmp_path, bundle_catalog, coral(), calibration_data=CNN_CAL)
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("missing", ["onnx2tf", "tensorflow", "ai_edge_litert"])
def test_missing_tflite_extra_names_it_and_writes_nothing(tmp_path, bundle_catalog,
                                                          monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(MissingExtraError) as e:
        build(tmp_path, bundle_catalog, coral(), calibration_data=CNN_CAL)
    assert "pip install 'edgeplan[tflite]'" in e.value.message and e.value.extra == "tflite"
    assert missing.replace("_", "-") in e.value.message or missing in e.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy.yaml"]


@needs_tflite
def test_zoo_shufflenet_edgetpu_placement_from_the_converted_graph(tmp_path):
    """The onnx wheel's light ShuffleNet (IR 3: initializers listed as inputs, weights made by
    ConstantOfShape) converts, and the Edge TPU rules applied to its model.tflite find what the
    ONNX op table cannot see: the channel shuffle reshapes to 5-D, more than the 3 innermost
    dimensions the Edge TPU takes, so the compiler's one segment ends there."""
    from planner.catalog.loader import load_catalog
    from conftest_bundle import zoo
    res = build(tmp_path, load_catalog(use_env=False),
                workload(model="shufflenet", device="coral-usb-on-rpi5", unit="tpu",
                         runtime="edgetpu", model_file=str(zoo("shufflenet"))), samples=4,
                benchmark_runs=2)
    v = res.verification
    pl = v["vendor_artifact"]["placement"]
    assert pl["first_cpu_op"]["op"] == "RESHAPE"
    assert "more than the 3 innermost dimensions are larger than 1" in \
        pl["first_cpu_op"]["reason"]
    assert 0 < pl["unit_ops"] < sum(pl["cpu_ops"].values())
    # the table sends only the residual Sums to the CPU; the converted graph puts far more
    # there, convolutions included
    assert v["op_support"]["fallback_ops"] == {"Sum": 13}
    assert "CONV_2D" in pl["cpu_but_table_supported"]
    # onnx2tf left the residual Sums (ADD_N) in float, between DEQUANTIZE and QUANTIZE
    assert pl["float_ops"] == {"ADD_N": 13}
    assert pl["cpu_layers_shown"] == f"20 of {sum(pl['cpu_ops'].values())}"
    assert any(w.startswith("the Edge TPU compiler will run ") for w in v["warnings"])
    assert "onnx2tf left 13 ops of model.tflite in float (ADD_N x13): it is not fully " \
        "integer there" in v["warnings"]
    readme = (res.out_dir / "README.md").read_text()
    assert "map to the Edge TPU; the first that does not is\n`RESHAPE`" in readme


def test_constant_subgraphs_are_folded_into_initializers(tmp_path):
    """The light zoo graphs' weights, ConstantOfShape and then Reshape (Inception v1's
    classifier) or Unsqueeze (Inception v2's, DenseNet's batch-norm factors), reach onnx2tf as
    plain initializers, which it takes; the graph computes the same, and a node that reads a
    graph input, or draws random numbers, stays."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from planner.bundle.tflite_artifact import _prepare_copy
    shape = numpy_helper.from_array(np.array([8, 3], np.int64), "shape")
    new_shape = numpy_helper.from_array(np.array([3, 8], np.int64), "new_shape")
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["w0"],
                         value=numpy_helper.from_array(np.array([0.5], np.float32))),
        helper.make_node("Reshape", ["w0", "new_shape"], ["w"]),
        helper.make_node("Gemm", ["x", "w"], ["y0"]),
        helper.make_node("RandomNormalLike", ["y0"], ["noise"]),
        helper.make_node("Mul", ["noise", "y0"], ["unused"]),
        helper.make_node("Relu", ["y0"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
        initializer=[shape, new_shape])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    def run():
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            ["y"], {"x": x})[0]
    before = run()
    _prepare_copy(path)
    m = onnx.load(path)
    assert [n.op_type for n in m.graph.node] == ["Gemm", "RandomNormalLike", "Mul", "Relu"]
    w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    assert set(w) == {"w"} and w["w"].shape == (3, 8) and (w["w"] == 0.5).all()
    np.testing.assert_array_equal(run(), before)


def test_an_ir3_copy_is_marked_ir4_so_shape_inference_sees_its_weights(tmp_path):
    """The light Inception v2 (IR 3) lists its weights as graph inputs. Once the copy drops
    that listing it is an IR 4 graph: under IR 3 shape inference (onnx2tf's too) ignores an
    initializer that is not an input, leaves every activation shapeless, and onnx2tf then
    multiplies the NHWC activations by the batch-norm factors as they stand ("Dimensions must
    be equal, but are 112 and 64")."""
    import shutil

    import onnx
    from conftest_bundle import zoo

    from planner.bundle.tflite_artifact import _prepare_copy
    path = tmp_path / "inception_v2.onnx"
    shutil.copyfile(zoo("inception_v2"), path)
    assert onnx.load(path).ir_version == 3
    _prepare_copy(path)
    m = onnx.load(path)
    assert m.ir_version == 4 and not {i.name for i in m.graph.input} & {
        t.name for t in m.graph.initializer}
    first = onnx.shape_inference.infer_shapes(m).graph.value_info[0]
    assert [d.dim_value for d in first.type.tensor_type.shape.dim] == [1, 64, 112, 112]


@needs_tflite
def test_zoo_inception_v1_converts_and_agrees(tmp_path):
    """The light Inception v1, whose classifier weights come out of a Reshape of a
    ConstantOfShape, converts to an INT8 model.tflite once the copy's constants are folded,
    and the LiteRT interpreter's top-1 agrees with the FP32 graph on the samples."""
    from planner.catalog.loader import load_catalog
    from conftest_bundle import zoo
    res = build(tmp_path, load_catalog(use_env=False),
                workload(model="googlenet", device="raspberry-pi-5-8gb", unit="cpu",
                         runtime="tflite", model_file=str(zoo("inception_v1"))), samples=4,
                benchmark_runs=2)
    v = res.verification
    assert v["vendor_artifact"]["built"] and v["vendor_artifact"]["files"] == ["model.tflite"]
    assert v["vendor_artifact"]["verified_with"]["name"] == "ai-edge-litert"
    assert (res.out_dir / "model.tflite").stat().st_size > 1e6
    assert v["comparison"]["top1_agreement_pct"] == 100.0


def test_folding_keeps_what_the_graph_still_needs(tmp_path):
    """What stays: a value a subgraph reads from outside it, a node that makes a graph output
    (onnx2tf drops an output that is a constant), a node whose value is a sequence, not a
    tensor; and an IR 3 graph whose weights were Constant nodes is marked IR 4, since its new
    initializers are not graph inputs."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from planner.bundle.tflite_artifact import _prepare_copy

    def vi(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [2])
    c = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "c")
    inner = numpy_helper.from_array(np.array([5.0, 6.0], np.float32), "inner")
    then_g = helper.make_graph([helper.make_node("Add", ["x", "inner"], ["t"])], "then", [],
                               [vi("t")])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [vi("e")])
    nodes = [helper.make_node("Neg", ["c"], ["w"]),                       # folded
             helper.make_node("Abs", ["c"], ["const_out"]),               # a graph output
             helper.make_node("SplitToSequence", ["c"], ["seq"], axis=0),  # a sequence
             helper.make_node("SequenceAt", ["seq", "zero"], ["first"]),
             helper.make_node("Add", ["x", "w"], ["x2"]),
             helper.make_node("Add", ["x2", "first"], ["x3"]),
             helper.make_node("ReduceSum", ["x3"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "floor"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    graph = helper.make_graph(nodes, "g", [vi("x")], [vi("y"), vi("const_out")], initializer=[
        c, inner, numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array(-9.0, np.float32), "floor")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = np.array([3.0, 4.0], np.float32)

    def run():
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"x": x})
    before = run()
    _prepare_copy(path)
    m = onnx.load(path)
    ops = [n.op_type for n in m.graph.node]
    assert "Neg" not in ops and {"Abs", "SplitToSequence", "If"} <= set(ops)
    assert "inner" in {t.name for t in m.graph.initializer}
    for a, b in zip(run(), before):
        np.testing.assert_array_equal(a, b)
    # an IR 3 graph with a Constant node for its weight
    ir3 = tmp_path / "ir3.onnx"
    onnx.save(helper.make_model(helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=c),
         helper.make_node("Mul", ["x", "k"], ["y"])], "g", [vi("x")], [vi("y")]),
        opset_imports=[helper.make_opsetid("", 8)], ir_version=3), ir3)
    _prepare_copy(ir3)
    m = onnx.load(ir3)
    assert m.ir_version == 4 and [t.name for t in m.graph.initializer] == ["k"]
    onnx.checker.check_model(m)
