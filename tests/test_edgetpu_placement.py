"""Where the Edge TPU compiler puts each op of a TFLite graph, by Coral's documented rules
(`tflite_artifact.edgetpu_placement`), on small graphs written here; the bundle tests run it
on real onnx2tf output."""
from __future__ import annotations

import pytest

from planner.bundle.tflite_artifact import (
    compare_placement,
    edgetpu_placement,
    placement_warnings,
)
from planner.catalog.loader import load_catalog
from planner.catalog.schema import OpSupport

OPS = {"CONV_2D": ["Conv"], "MAX_POOL_2D": ["MaxPool"], "FULLY_CONNECTED": ["Gemm"],
       "RESHAPE": ["Reshape", "Flatten"], "SOFTMAX": ["Softmax"]}


def graph(*ops, dtype="int8", shape=(1, 8, 8, 4), signature=None, weight_shape=(4, 3, 3, 4)):
    """A chain: tensor 0 is the input, op k reads tensor k (and a constant weight) and writes
    tensor k + 1."""
    n = len(ops)
    tensors = {k: {"name": f"t{k}", "dtype": dtype, "shape": list(shape),
                   "shape_signature": list(signature or shape)} for k in range(n + 1)}
    tensors[100] = {"name": "w", "dtype": "int8", "shape": list(weight_shape),
                    "shape_signature": list(weight_shape)}
    return {"ops": [{"op": op, "inputs": [k, 100], "outputs": [k + 1]}
                    for k, op in enumerate(ops)],
            "tensors": tensors, "inputs": [0]}


def test_all_ops_map():
    p = edgetpu_placement(graph("CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"), OPS)
    assert p["unit_ops"] == 4 and p["cpu_ops"] == {} and p["first_cpu_op"] is None
    # a 4-D constant (the conv weights) is not held to the 3-dimension rule: only activations


def test_one_segment_the_first_unmapped_op_and_all_after_on_the_cpu():
    p = edgetpu_placement(graph("CONV_2D", "GATHER", "CONV_2D", "SOFTMAX"), OPS)
    assert p["unit_ops"] == 1 and p["unit_op_types"] == {"CONV_2D": 1}
    assert p["cpu_ops"] == {"CONV_2D": 1, "GATHER": 1, "SOFTMAX": 1}
    assert p["first_cpu_op"] == {"index": 1, "op": "GATHER",
                                 "reason": "GATHER is not an Edge TPU operation"}
    assert [c["index"] for c in p["cpu_layers"]] == [1, 2, 3]
    assert all("one Edge TPU segment" in c["reason"] for c in p["cpu_layers"][1:])


@pytest.mark.parametrize("kw, reason", [
    ({"dtype": "float32"}, "tensor t0 is float32, not 8-bit quantized"),
    ({"signature": (-1, 8, 8, 4)}, "tensor t0 has a dynamic size [-1, 8, 8, 4]"),
    ({"shape": (4, 8, 8, 4)}, "tensor t0 is [4, 8, 8, 4]: more than the 3 innermost "
                              "dimensions are larger than 1"),
])
def test_documented_tensor_rules(kw, reason):
    p = edgetpu_placement(graph("CONV_2D", "MAX_POOL_2D", **kw), OPS)
    assert p["unit_ops"] == 0 and p["first_cpu_op"]["reason"] == reason


def test_comparison_with_the_onnx_table():
    p = edgetpu_placement(graph("CONV_2D", "GATHER", "FULLY_CONNECTED"), OPS)
    got = compare_placement(p, {"Gather": {"count": 1}, "MaxPool": {"count": 1}}, OPS)
    # the table runs Gemm, the one-segment rule put FULLY_CONNECTED on the CPU
    assert got["cpu_but_table_supported"] == ["FULLY_CONNECTED"]
    assert got["table_fallback_but_unit"] == []
    p = edgetpu_placement(graph("MAX_POOL_2D"), OPS)
    assert compare_placement(p, {"MaxPool": {"count": 1}}, OPS)["table_fallback_but_unit"] == \
        ["MaxPool"]


def test_shipped_tflite_list_is_the_onnx_list_in_tflite_names():
    table = load_catalog(use_env=False).op_support["edgetpu"]
    assert table.tflite_ops["DEPTHWISE_CONV_2D"] == ["Conv"]
    assert {o for ops in table.tflite_ops.values() for o in ops} <= set(table.supported_ops)
    with pytest.raises(ValueError, match="tflite_ops names ONNX ops not in supported_ops: Gather"):
        OpSupport(id="x", name="x", supported_ops=["Conv"], source="test",
                  tflite_ops={"GATHER": ["Gather"]})


def test_a_float_island_is_named_and_warned_about():
    """onnx2tf leaves an op it cannot quantize in float between DEQUANTIZE and QUANTIZE
    (ResNet-50's ADD_N): the first CPU op is the DEQUANTIZE, and the reason names the op
    after it; the float op is counted, and both facts become warnings."""
    g = graph("CONV_2D", "DEQUANTIZE", "ADD_N", "QUANTIZE", "CONV_2D")
    for k in (2, 3):                    # DEQUANTIZE's output and ADD_N's are float
        g["tensors"][k]["dtype"] = "float32"
    p = edgetpu_placement(g, {**OPS, "QUANTIZE": ["QuantizeLinear"]})
    assert p["unit_ops"] == 1 and p["float_ops"] == {"ADD_N": 1}
    assert p["first_cpu_op"]["reason"].startswith("DEQUANTIZE hands ADD_N a float tensor")
    assert p["cpu_layers_shown"] == "4 of 4"
    w = placement_warnings(p)
    assert w[0].startswith("the Edge TPU compiler will run 4 of 5 ops of model.tflite on the "
                           "CPU, from DEQUANTIZE (op 1)")
    assert w[1] == "onnx2tf left 1 ops of model.tflite in float (ADD_N x1): it is not fully " \
        "integer there"
    assert placement_warnings(edgetpu_placement(graph("CONV_2D"), OPS)) == []


def test_long_cpu_lists_say_how_many_are_shown():
    p = edgetpu_placement(graph("GATHER", *["CONV_2D"] * 30), OPS)
    assert len(p["cpu_layers"]) == 20 and p["cpu_layers_shown"] == "20 of 31"
    assert sum(p["cpu_ops"].values()) == 31
