"""The ONNX reader lint uses (planner.onnxfile.peek): op types and input shapes straight from
the protobuf wire format, checked against the onnx package where it is installed."""
from __future__ import annotations

import pytest

from planner.errors import InputError
from planner.onnxfile.peek import parse_onnx_bytes, read_onnx

try:
    from .lint_helpers import make_onnx
except ImportError:             # tests/ is not a package: pytest put it on sys.path
    from lint_helpers import make_onnx


def test_hand_written_model():
    s = parse_onnx_bytes(make_onnx(["Conv", "Relu", "Conv", "com.microsoft:FusedConv"],
                                   {"x": ["N", 3, None, 224], "w": [8, 3, 3, 3]},
                                   initializers=["w"]))
    assert s.op_types == ["Conv", "Relu", "com.microsoft:FusedConv"]
    assert [i.name for i in s.inputs] == ["x"]              # the initializer is not an input
    assert s.inputs[0].dims == ("N", 3, None, 224)
    assert [i.name for i in s.dynamic_inputs] == ["x"]
    assert s.opsets == {"ai.onnx": 17}


def test_static_inputs():
    s = parse_onnx_bytes(make_onnx(["Gemm"], {"x": [1, 3, 224, 224], "scalar": []}))
    assert s.dynamic_inputs == []


@pytest.mark.parametrize("data", [b"", b"\x00", b"not a protobuf at all", b"\x0a\xff\xff\xff",
                                  make_onnx()[:-3], b"\x08\x08", b"\x3a\x00"])
def test_garbage_is_an_input_error(data):
    with pytest.raises(InputError, match="not an ONNX model"):
        parse_onnx_bytes(data)


def test_files(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(make_onnx(["Conv"]))
    assert read_onnx(p).op_types == ["Conv"]
    with pytest.raises(InputError, match="no such file"):
        read_onnx(tmp_path / "missing.onnx")
    with pytest.raises(InputError, match="directory"):
        read_onnx(tmp_path)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_onnx(tmp_path / "empty.onnx")


def test_agrees_with_onnx_on_a_real_graph(tmp_path):
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    from onnx import TensorProto, helper, numpy_helper
    then = helper.make_graph([helper.make_node("Add", ["a", "a"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    other = helper.make_graph([helper.make_node("TopK", ["a", "k"], ["e", "i"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"]),
             helper.make_node("Relu", ["y"], ["a"]),
             helper.make_node("If", ["c"], ["o"], then_branch=then, else_branch=other),
             helper.make_node("NonMaxSuppression", ["a", "a"], ["n"])]
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 224, 224]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [8, 3, 3, 3]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    p = tmp_path / "real.onnx"
    onnx.save(model, p)
    s = read_onnx(p)
    assert s.op_types == sorted({"Conv", "Relu", "If", "Add", "TopK", "NonMaxSuppression"})
    assert [(i.name, i.dims) for i in s.inputs] == [("x", ("batch", 3, 224, 224)), ("c", ())]
    assert [i.name for i in s.dynamic_inputs] == ["x"]
    # and the hand-written writer the rule cases use produces what onnx reads
    m = onnx.load_from_string(make_onnx(["Conv", "Relu"], {"x": ["N", 3]}))
    assert [n.op_type for n in m.graph.node] == ["Conv", "Relu"]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
