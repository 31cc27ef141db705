"""Profiling an ONNX graph: what `edgeplan profile model.onnx` prints and what `solve` plans
with when a spec names an ONNX file as a candidate.

What is counted, and how:

* **Parameters** are the elements of the tensors that hold weights: initializers, `Constant`
  nodes and `ConstantOfShape` nodes whose shape is itself constant (the model-zoo "light"
  graphs store their weights that way), in the main graph and in subgraphs. Integer tensors
  count only where they are quantized weights (int8/uint8/int4/int16, or int32 biases fed to
  `DequantizeLinear`); int64 shape constants, quantization scales/zero points and the running
  mean/variance of BatchNormalization do not (published counts are of trainable weights).
* **MACs** (multiply-accumulates, batch 1 unless the graph fixes the batch) of the ops that do
  the arithmetic: Conv, ConvTranspose, Gemm, MatMul (batched, broadcast), Einsum, Attention
  (ONNX and com.microsoft), LSTM/GRU/RNN, and their quantized forms (ConvInteger,
  MatMulInteger, QLinearConv, QLinearMatMul, MatMulNBits). Element-wise ops, normalization and
  pooling are not MACs, as in published figures.
* **Weight bytes per precision** are parameters x bytes per element of that precision
  (scales and zero points of a quantized model are not included); `stored_weight_bytes` is
  what the file holds.
* **Peak activation memory**: shapes come from `onnx.shape_inference` (with data propagation
  where plain inference leaves shapes unknown);
  symbolic dimensions are set to 1 and listed. Each tensor lives from the node that makes it
  to the last node that reads it, in the graph's topological order; the peak is the largest
  sum of live tensors, without in-place reuse (an upper bound for a sequential runtime).
  Tensors computed from constants only are folded, as runtimes do, and are not activations.

Large models: the file is parsed once without its external data (`load_external_data=False`);
every count needs only tensor shapes, which the graph holds, so a model over 2 GB is profiled
without reading its weights. External data locations are checked to stay beside the model.

Op support: `op_support_report` splits the graph's ops, per compute unit of a catalog device,
into those the unit's operator-support table lists and those that fall back to the host CPU.

Heavy imports (onnx, numpy) live here; the CLI imports this module only for `profile` and
`bundle`.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import onnx
from onnx import TensorProto

from planner.errors import InputError, UnknownIdError
from planner.vocabulary import BYTES_PER_PARAM

# bits per element of each ONNX tensor type (by TensorProto enum value)
_BITS = {
    TensorProto.FLOAT: 32, TensorProto.UINT8: 8, TensorProto.INT8: 8, TensorProto.UINT16: 16,
    TensorProto.INT16: 16, TensorProto.INT32: 32, TensorProto.INT64: 64, TensorProto.BOOL: 8,
    TensorProto.FLOAT16: 16, TensorProto.DOUBLE: 64, TensorProto.UINT32: 32,
    TensorProto.UINT64: 64, TensorProto.COMPLEX64: 64, TensorProto.COMPLEX128: 128,
    TensorProto.BFLOAT16: 16,
}
for _name, _bits in (("FLOAT8E4M3FN", 8), ("FLOAT8E4M3FNUZ", 8), ("FLOAT8E5M2", 8),
                     ("FLOAT8E5M2FNUZ", 8), ("UINT4", 4), ("INT4", 4), ("FLOAT4E2M1", 4),
                     ("FLOAT8E8M0", 8), ("UINT2", 2), ("INT2", 2)):
    if hasattr(TensorProto, _name):
        _BITS[getattr(TensorProto, _name)] = _bits

_FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE,
                TensorProto.BFLOAT16} | {getattr(TensorProto, n) for n in (
                    "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
                    "FLOAT4E2M1") if hasattr(TensorProto, n)}
_QUANT_INT_TYPES = {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16,
                    TensorProto.UINT16} | {getattr(TensorProto, n) for n in (
                        "INT4", "UINT4", "INT2", "UINT2") if hasattr(TensorProto, n)}


# ops whose output is not a function of their inputs: never constant-folded
_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                     "Multinomial", "Bernoulli"}
# inputs that hold quantization parameters or running statistics, not trainable weights
_NOT_PARAM_INPUTS = {"BatchNormalization": (3, 4), "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2),
                  "DynamicQuantizeLinear": (), "QLinearConv": (1, 2, 4, 5, 6, 7),
                  "QLinearMatMul": (1, 2, 4, 5, 6, 7), "ConvInteger": (2, 3),
                  "MatMulInteger": (2, 3), "MatMulNBits": (2, 3)}
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
             "QLinearMatMul", "ConvInteger", "MatMulInteger", "MatMulNBits", "QAttention",
             "DynamicQuantizeMatMul", "QGemm"}
# op families whose MACs make a graph "MatMul-heavy" (dynamic INT8 suits them on CPUs)
SEQUENCE_OPS = {"MatMul", "Gemm", "Einsum", "Attention", "MultiHeadAttention", "LSTM", "GRU",
                "RNN", "MatMulInteger", "QLinearMatMul", "MatMulNBits", "FusedMatMul"}


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: list            # ints, dim names (str) for symbolic dims, None where unknown
    symbolic: bool = False

    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


@dataclass
class NodeInfo:
    name: str
    op: str                 # op type, prefixed by its domain outside the default domain
    macs: int | None        # None: shapes unknown
    constant: bool          # computed from constants only (folded by runtimes)
    kind: str = "other"     # op kind for the per-layer estimator (planner.onnxfile.layers)
    inputs: tuple = ()      # names of the activations it reads (constants left out)
    outputs: tuple = ()
    weights: int = 0        # parameters it reads (each weight tensor counted at its first reader)


@dataclass
class OnnxProfile:
    file: str
    file_bytes: int
    ir_version: int
    opsets: dict[str, int]
    producer: str
    params: int
    stored_weight_bytes: int
    weight_dtypes: dict[str, int]          # dtype -> parameters stored in it
    weight_bytes: dict[str, int]           # precision -> bytes
    macs: int
    macs_by_op: dict[str, int]
    peak_activation_bytes: int
    peak_activation_node: str | None
    op_histogram: dict[str, int]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    assumed_dims: dict[str, int]           # symbolic dim -> value assumed for the counts
    external_data: dict[str, int]          # file -> bytes referenced
    precision: str                         # fp32, fp16 or int8: what the weights are held in
    quantized: bool                        # Q/DQ or integer ops present
    notes: list[str] = field(default_factory=list)
    nodes: list[NodeInfo] = field(default_factory=list, repr=False)
    # shape of each activation tensor of the main graph (None: unknown)
    tensor_shapes: dict = field(default_factory=dict, repr=False)
    graph_outputs: tuple = field(default=(), repr=False)

    @property
    def dynamic_shapes(self) -> bool:
        return any(t.symbolic for t in self.inputs)

    @property
    def sequence_mac_share(self) -> float:
        """Share of MACs in MatMul/Gemm/attention/recurrent ops (0..1)."""
        if not self.macs:
            return 0.0
        seq = sum(v for k, v in self.macs_by_op.items() if k.split(".")[-1] in SEQUENCE_OPS)
        return seq / self.macs

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("nodes", "tensor_shapes", "graph_outputs"):
            d.pop(k)
        d["dynamic_shapes"] = self.dynamic_shapes
        d["params_m"] = round(self.params / 1e6, 6)
        d["macs_g"] = round(self.macs / 1e9, 6)
        d["peak_activation_mb"] = round(self.peak_activation_bytes / 1e6, 6)
        return d


# ---------------------------------------------------------------- helpers

def _op_key(node) -> str:
    dom = node.domain or ""
    return node.op_type if dom in ("", "ai.onnx") else f"{dom}.{node.op_type}"


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _dtype_name(elem_type: int) -> str:
    try:
        return onnx.helper.tensor_dtype_to_string(elem_type).replace("TensorProto.", "").lower()
    except Exception:
        return f"type{elem_type}"


def _tensor_bytes(elem_type: int, numel: int) -> int:
    return (numel * _BITS.get(elem_type, 32) + 7) // 8


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _subgraphs(node):
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def _all_graphs(graph):
    yield graph
    for n in graph.node:
        for g in _subgraphs(n):
            yield from _all_graphs(g)


def _names_used_in(graph) -> set[str]:
    used = set()
    for g in _all_graphs(graph):
        for n in g.node:
            used.update(i for i in n.input if i)
    return used


def _check_external(model_dir: Path, tensor, refs: dict[str, int], file: str) -> None:
    info = {e.key: e.value for e in tensor.external_data}
    loc = info.get("location", "")
    p = Path(loc)
    if not loc or p.is_absolute() or ".." in p.parts or loc.startswith(("/", "\\")) \
            or ":" in loc:
        raise InputError(f"tensor {tensor.name!r} points to external data {loc!r} outside the "
                         "model's directory", file=file, field="external_data")
    full = model_dir / p
    if not full.is_file():
        raise InputError(f"external data file {loc!r} of tensor {tensor.name!r} is missing",
                         file=file, field="external_data")
    offset = int(info.get("offset", 0) or 0)
    length = info.get("length")
    length = int(length) if length not in (None, "") else \
        _tensor_bytes(tensor.data_type, _numel(tensor.dims))
    if offset + length > full.stat().st_size:
        raise InputError(f"external data file {loc!r} is shorter than tensor {tensor.name!r} "
                         "needs", file=file, field="external_data")
    refs[loc] = refs.get(loc, 0) + length


# ---------------------------------------------------------------- loading

def load_model(path, *, with_data: bool = False) -> onnx.ModelProto:
    """Parse an ONNX file; typed errors for files that are not ONNX. Without `with_data`,
    external data stays on disk."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError("no such file or folder" if not os.path.exists(p) else "not a file", file=p)
    try:
        model = onnx.load(p, load_external_data=with_data)
    except Exception as e:  # protobuf DecodeError and friends
        raise InputError(f"not an ONNX model ({type(e).__name__}: {str(e)[:120]})",
                         file=p) from None
    if model.ir_version == 0 and not model.graph.node and not model.opset_import:
        # an empty file parses as an empty message: no model at all
        raise InputError("not an ONNX model (empty: no IR version, opsets or nodes)", file=p)
    return model


def _skeleton(model: onnx.ModelProto, assumed: dict[str, int]) -> onnx.ModelProto:
    """A copy of the graph's structure for shape inference: large initializers become typed
    graph inputs (shape inference needs their shape, not their data), small ones stay (shape
    constants feed data propagation); symbolic input dims are fixed to 1."""
    g = model.graph
    sk = onnx.ModelProto()
    sk.ir_version = max(model.ir_version, 4)
    sk.opset_import.extend(model.opset_import)
    sk.functions.extend(model.functions)
    sg = sk.graph
    sg.name = g.name or "main"
    folded = _fold_small_constants(g)
    sg.node.extend(n for n in g.node if not (n.output and n.output[0] in folded))
    sg.initializer.extend(folded.values())
    init_names = {t.name for t in g.initializer}
    for inp in g.input:
        if inp.name in init_names:
            continue
        v = sg.input.add()
        v.CopyFrom(inp)
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            for d in v.type.tensor_type.shape.dim:
                if not d.HasField("dim_value"):
                    key = d.dim_param or "?"
                    assumed.setdefault(key, 1)
                    d.Clear()
                    d.dim_value = 1
    for t in g.initializer:
        small = _numel(t.dims) <= 1024 and t.data_location != TensorProto.EXTERNAL
        if small:
            sg.initializer.append(t)
        else:
            sg.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    sg.output.extend(g.output)
    return sk


_DATA_PROP_MAX_1D = 1 << 16
_FOLD_MAX_ELEMENTS = 1024


def _fold_small_constants(g) -> dict:
    """Outputs of nodes computed from small constants only, evaluated (output name ->
    TensorProto), so shape inference sees their values. Exporters compute padding and
    reshape targets in the graph (PyTorch's "same" padding: Ceil, Clip and Sub over
    constants, then Pad), which onnx's data propagation does not evaluate; runtimes fold
    them, so their shapes are known before any input arrives."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    values = {t.name: t for t in g.initializer
              if _numel(t.dims) <= _FOLD_MAX_ELEMENTS and t.data_location != TensorProto.EXTERNAL}
    folded: dict = {}
    for n in g.node:
        ins = [i for i in n.input if i]
        if (n.domain or "") not in ("", "ai.onnx") or n.op_type in _NONDETERMINISTIC \
                or any(True for _ in _subgraphs(n)) or not n.output \
                or not all(i in values for i in ins) or (not ins and n.op_type != "Constant"):
            continue
        try:
            outs = ReferenceEvaluator(n).run(
                None, {i: numpy_helper.to_array(values[i]) for i in ins})
        except Exception:          # an op the reference cannot run: shape inference as before
            continue
        # a node is folded whole or not at all: the skeleton drops the nodes folded
        if len(outs) != len(n.output) or \
                any(getattr(v, "size", _FOLD_MAX_ELEMENTS + 1) > _FOLD_MAX_ELEMENTS for v in outs):
            continue
        for name, v in zip(n.output, outs):
            if name:
                values[name] = folded[name] = numpy_helper.from_array(v, name)
    return folded


def _infer(model: onnx.ModelProto, assumed: dict[str, int], notes: list[str]) -> dict:
    """name -> (elem_type, dims or None) for every value shape inference could type.

    Plain shape inference first; data propagation (shapes computed by Shape/Gather/Concat
    chains) only when that left node outputs untyped, and only when no 1-D tensor is large:
    onnx propagates 1-D values element by element, which would exhaust memory on a
    multi-gigabyte vector."""
    sk = _skeleton(model, assumed)
    types = _infer_pass(sk, False, notes)
    produced = [o for n in sk.graph.node for o in n.output if o]
    unknown = [o for o in produced if o not in types or types[o][1] is None]
    big_1d = any(d is not None and len(d) == 1 and d[0] > _DATA_PROP_MAX_1D
                 for _, d in types.values())
    if unknown and not big_1d:
        again = _infer_pass(sk, True, [])
        if again:
            types = again
    return types


def _infer_pass(sk, data_prop: bool, notes: list[str]) -> dict:
    try:
        inferred = onnx.shape_inference.infer_shapes(sk, check_type=False, strict_mode=False,
                                                     data_prop=data_prop)
    except Exception as e:
        notes.append(f"shape inference failed ({type(e).__name__}: {str(e)[:100]}); "
                     "MACs and activations are partial")
        inferred = sk
    types: dict[str, tuple[int, list | None]] = {}
    for g in _all_graphs(inferred.graph):
        for v in list(g.input) + list(g.value_info) + list(g.output):
            tt = v.type.tensor_type if v.type.HasField("tensor_type") else None
            if tt is None:
                continue
            dims = None
            if tt.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
                if any(d is None for d in dims):
                    dims = None
            if v.name not in types or types[v.name][1] is None:
                types[v.name] = (tt.elem_type, dims)
        for t in g.initializer:
            types[t.name] = (t.data_type, list(t.dims))
    return types


# ---------------------------------------------------------------- MACs

def _einsum_macs(eq: str, shapes: list[list[int]]) -> int | None:
    eq = eq.replace(" ", "")
    lhs = eq.split("->")[0]
    terms = lhs.split(",")
    if "..." in eq or len(terms) != len(shapes):
        return None
    size: dict[str, int] = {}
    for term, shp in zip(terms, shapes):
        if len(term) != len(shp):
            return None
        for c, d in zip(term, shp):
            size[c] = max(size.get(c, 1), d)
    return _numel(size.values())


def _node_macs(node, shape) -> int | None:
    """MACs of one node, or 0 for ops that are not MAC-bound; None if shapes are unknown."""
    op = node.op_type
    ins = list(node.input)

    def s(i):
        return shape(ins[i]) if i < len(ins) and ins[i] else None

    out = shape(node.output[0]) if node.output and node.output[0] else None
    if op in ("Conv", "ConvInteger", "DeformConv", "FusedConv", "NhwcConv"):
        w = s(1)
        if out is None or w is None:
            return None
        if op == "NhwcConv":
            return _numel(out) * _numel(w[1:])
        return _numel(out) * _numel(w[1:])
    if op == "QLinearConv":
        w = s(3)
        return None if out is None or w is None else _numel(out) * _numel(w[1:])
    if op == "ConvTranspose":
        x, w = s(0), s(1)
        return None if x is None or w is None else _numel(x) * _numel(w[1:])
    if op in ("Gemm", "QGemm", "FusedGemm"):
        a = s(0)
        if out is None or a is None or len(a) != 2:
            return None
        k = a[0] if _attr(node, "transA", 0) else a[1]
        return _numel(out) * k
    if op in ("MatMul", "MatMulInteger", "FusedMatMul", "DynamicQuantizeMatMul"):
        a = s(0)
        if out is None or a is None or not a:
            return None
        return _numel(out) * a[-1]
    if op == "QLinearMatMul":
        a = s(0)
        return None if out is None or a is None or not a else _numel(out) * a[-1]
    if op == "MatMulNBits":
        k = _attr(node, "K")
        return None if out is None or k is None else _numel(out) * int(k)
    if op == "Einsum":
        shapes = [s(i) for i in range(len(ins))]
        if any(x is None for x in shapes):
            return None
        return _einsum_macs(_attr(node, "equation", b"").decode() if isinstance(
            _attr(node, "equation", b""), bytes) else str(_attr(node, "equation", "")), shapes)
    if op in ("LSTM", "GRU", "RNN"):
        x, w, r = s(0), s(1), s(2)
        if x is None or w is None or r is None or len(x) != 3:
            return None
        seq, batch = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
        return seq * batch * (_numel(w) + _numel(r))
    if op == "Attention" and (node.domain or "") in ("", "ai.onnx"):
        q, k, v = s(0), s(1), s(2)
        if q is None or k is None or v is None:
            return None
        if len(q) == 4:   # [B, H, S, dh]
            b, h, sq, dh = q
            return b * h * sq * k[2] * (dh + v[3])
        if len(q) == 3:   # [B, S, H*dh]
            return q[0] * q[1] * k[1] * (q[2] + v[2])
        return None
    if op == "Attention":   # com.microsoft: input [B,S,hidden], packed QKV weights
        x, w = s(0), s(1)
        if x is None or w is None or len(x) != 3:
            return None
        b, sq, hidden = x
        return b * sq * _numel(w) + 2 * b * sq * sq * hidden
    if op in ("MultiHeadAttention", "GroupQueryAttention"):
        q, k = s(0), s(1)
        if q is None or k is None or len(q) != 3 or len(k) not in (3, 4):
            return None
        sk = k[1] if len(k) == 3 else k[2]
        return 2 * q[0] * q[1] * sk * q[2]
    return 0


# ---------------------------------------------------------------- op kinds

# what a node does, for the per-layer estimator: the kinds run at very different efficiencies
# on one unit (a depthwise convolution reads as many bytes per MAC as an element-wise op)
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid",
                "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "FastGelu", "Pow", "Sqrt",
                "Exp", "Log", "Neg", "Abs", "Elu", "Selu", "Celu", "Mish", "Softplus",
                "Softsign", "Min", "Max", "Sum", "Mean", "Where", "Not", "And", "Or", "Equal",
                "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Reciprocal", "Floor",
                "Ceil", "Round", "Sign", "Cast", "QuantizeLinear", "DequantizeLinear",
                "BiasGelu", "QuickGelu", "Sin", "Cos", "Mod", "BitShift", "IsNaN", "IsInf"}
_NORMALIZATION = {"BatchNormalization", "LayerNormalization", "InstanceNormalization",
                  "GroupNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization",
                  "RMSNormalization", "LpNormalization", "MeanVarianceNormalization", "Softmax",
                  "LogSoftmax", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
                  "ReduceL2", "ReduceProd", "ReduceSumSquare", "ArgMax", "ArgMin", "TopK",
                  "CumSum", "LRN"}
_POOLING = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
            "GlobalLpPool", "MaxRoiPool", "RoiAlign", "MaxUnpool"}
_RESIZE = {"Resize", "Upsample", "DepthToSpace", "SpaceToDepth", "GridSample"}
_DATA_MOVEMENT = {"Concat", "Split", "Slice", "Transpose", "Gather", "GatherElements",
                  "GatherND", "Pad", "Expand", "Tile", "ScatterND", "ScatterElements",
                  "NonZero", "NonMaxSuppression", "OneHot", "Range", "Trilu", "ReverseSequence",
                  "Compress", "SplitToSequence", "ConcatFromSequence"}
# no arithmetic and, in every runtime we plan for, no copy: a view of their input
_FREE = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape", "Size",
         "Constant", "ConstantOfShape", "EyeLike"}
_RECURRENT = {"LSTM", "GRU", "RNN"}
_CONTROL_FLOW = {"Scan", "Loop", "If"}
OP_KINDS = ("conv", "depthwise-conv", "grouped-conv", "matmul", "attention", "recurrent",
            "control-flow", "elementwise", "normalization", "pooling", "resize",
            "data-movement", "free", "other")


def _op_kind(node, shape, const: set[str]) -> str:
    op = node.op_type
    if op in ("Conv", "ConvInteger", "QLinearConv", "NhwcConv", "FusedConv", "ConvTranspose",
              "DeformConv"):
        group = int(_attr(node, "group", 1) or 1)
        if group == 1:
            return "conv"
        w = shape(node.input[3 if op == "QLinearConv" else 1])
        # depthwise: one input channel per group (the weight's second dim is 1)
        return "depthwise-conv" if w is not None and len(w) > 1 and w[1] == 1 \
            else "grouped-conv"
    if op in ("Gemm", "QGemm", "FusedGemm", "MatMul", "MatMulInteger", "QLinearMatMul",
              "FusedMatMul", "DynamicQuantizeMatMul", "MatMulNBits", "Einsum"):
        ins = [i for i in node.input if i]
        # a product of two activations (queries x keys, scores x values) is attention's;
        # one with a weight operand is a fully connected layer
        b = ins[3 if op == "QLinearMatMul" else 1] if len(ins) > 1 else None
        return "matmul" if op in ("Gemm", "QGemm", "FusedGemm", "MatMulNBits") or b in const \
            else "attention"
    if op in ("Attention", "MultiHeadAttention", "GroupQueryAttention", "QAttention"):
        return "attention"
    for kinds, name in ((_RECURRENT, "recurrent"), (_CONTROL_FLOW, "control-flow"),
                        (_ELEMENTWISE, "elementwise"),
                        (_NORMALIZATION, "normalization"), (_POOLING, "pooling"),
                        (_RESIZE, "resize"), (_DATA_MOVEMENT, "data-movement"),
                        (_FREE, "free")):
        if op in kinds:
            return name
    return "other"


# ---------------------------------------------------------------- the profile

def profile_onnx(path) -> OnnxProfile:
    """Profile an ONNX file. Raises InputError for files that are missing, are not ONNX, or
    reference external data outside their directory."""
    p = Path(os.fspath(path))
    model = load_model(p)
    return _profile_model(model, p)


def _profile_model(model: onnx.ModelProto, p: Path) -> OnnxProfile:
    file = str(p)
    g = model.graph
    notes: list[str] = []
    assumed: dict[str, int] = {}
    types = _infer(model, assumed, notes)

    def shape(name: str):
        t = types.get(name)
        return t[1] if t else None

    # ---- constants: which values are known before any input arrives
    const: set[str] = set()
    for gr in _all_graphs(g):
        const.update(t.name for t in gr.initializer)
        const.update(t.name for t in gr.sparse_initializer) if hasattr(gr, "sparse_initializer") \
            else None
    init_names_main = {t.name for t in g.initializer}
    # ir<4 graphs list initializers among the inputs; those are not real inputs
    real_inputs = [i for i in g.input if i.name not in init_names_main]

    # ---- consumers, for weight classification
    qparam: set[str] = set()       # quantization scales/zero points, BN running statistics
    dq_input0: set[str] = set()
    for gr in _all_graphs(g):
        for n in gr.node:
            for idx in _NOT_PARAM_INPUTS.get(n.op_type, ()):
                if idx < len(n.input) and n.input[idx]:
                    qparam.add(n.input[idx])
            if n.op_type == "DequantizeLinear" and n.input:
                dq_input0.add(n.input[0])

    def counts_as_param(name: str, elem_type: int) -> bool:
        if elem_type in _FLOAT_TYPES:
            return name not in qparam
        if elem_type in _QUANT_INT_TYPES:
            return name not in qparam
        if elem_type == TensorProto.INT32:
            return name in dq_input0
        return False

    params = 0
    stored = 0
    dtypes: Counter = Counter()
    ext_refs: dict[str, int] = {}

    param_numel: dict[str, int] = {}    # weight tensor -> parameters it holds
    origin: dict[str, set] = {t.name: {t.name} for t in g.initializer}
    claimed: set[str] = set()

    def add_weight(name, elem_type, numel):
        nonlocal params, stored
        stored += _tensor_bytes(elem_type, numel)
        if counts_as_param(name, elem_type):
            params += numel
            dtypes[_dtype_name(elem_type)] += numel
            param_numel[name] = param_numel.get(name, 0) + numel

    for gr in _all_graphs(g):
        for t in gr.initializer:
            if t.data_location == TensorProto.EXTERNAL:
                _check_external(p.parent, t, ext_refs, file)
            add_weight(t.name, t.data_type, _numel(t.dims))

    # ---- nodes: constant folding, weights in Constant/ConstantOfShape, MACs, histogram
    hist: Counter = Counter()
    macs_by_op: Counter = Counter()
    nodes: list[NodeInfo] = []
    unknown_macs: Counter = Counter()

    def walk(gr, top: bool):
        for idx, n in enumerate(gr.node):
            key = _op_key(n)
            hist[key] += 1
            ins = [i for i in n.input if i]
            is_const = n.op_type not in _NONDETERMINISTIC and all(i in const for i in ins) \
                and not any(True for _ in _subgraphs(n))
            if n.op_type == "Constant":
                is_const = True
                t = _attr(n, "value")
                if isinstance(t, TensorProto):
                    if t.data_location == TensorProto.EXTERNAL:
                        _check_external(p.parent, t, ext_refs, file)
                    add_weight(n.output[0], t.data_type, _numel(t.dims))
                else:
                    for a in n.attribute:
                        if a.name in ("value_floats", "value_float"):
                            v = onnx.helper.get_attribute_value(a)
                            add_weight(n.output[0], TensorProto.FLOAT,
                                       len(v) if isinstance(v, list) else 1)
            elif n.op_type == "ConstantOfShape" and is_const:
                t = _attr(n, "value")
                et = t.data_type if isinstance(t, TensorProto) else TensorProto.FLOAT
                shp = shape(n.output[0])
                if shp is not None:
                    add_weight(n.output[0], et, _numel(shp))
                else:
                    notes.append(f"ConstantOfShape {n.name or n.output[0]!r}: shape unknown, "
                                 "its weights are not counted")
            if is_const:
                const.update(o for o in n.output if o)
                if top:     # a folded node hands its weights on to what reads its output
                    src = set().union(*(origin.get(i, ()) for i in ins)) if ins else set()
                    if n.op_type in ("Constant", "ConstantOfShape"):
                        src = src | {n.output[0]}
                    for o in n.output:
                        if o:
                            origin[o] = src
            m = 0 if is_const else _node_macs(n, shape)
            if m is None:
                unknown_macs[key] += 1
            elif m:
                macs_by_op[key] += m
            if top:
                w = 0
                if not is_const:
                    for i in ins:
                        for t in origin.get(i, ()):
                            if t not in claimed:
                                claimed.add(t)
                                w += param_numel.get(t, 0)
                nodes.append(NodeInfo(
                    n.name or f"{n.op_type}_{idx}", key, m, is_const,
                    kind=_op_kind(n, shape, const),
                    inputs=tuple(i for i in ins if i not in const),
                    outputs=tuple(o for o in n.output if o), weights=w))
            before = sum(macs_by_op.values())
            for sg in _subgraphs(n):
                walk(sg, False)
            if top and sum(macs_by_op.values()) > before:
                # a control-flow node's layer carries its branches' (or body's) MACs
                nodes[-1].macs = (nodes[-1].macs or 0) + sum(macs_by_op.values()) - before

    walk(g, True)
    if any(True for n in g.node for _ in _subgraphs(n)):
        notes.append("the graph has control flow (If/Loop/Scan): subgraph MACs are counted "
                     "once, whatever the trip count")
    for key, cnt in sorted(unknown_macs.items()):
        notes.append(f"{cnt} {key} node(s): shapes not inferred, MACs not counted")

    # ---- liveness-based peak activation memory over the main graph
    peak, peak_node = _peak_activation(g, real_inputs, types, const, notes)

    def tinfo(v, assumed_ok: bool) -> TensorInfo:
        tt = v.type.tensor_type
        dims: list = []
        sym = False
        if tt.HasField("shape"):
            for d in tt.shape.dim:
                if d.HasField("dim_value"):
                    dims.append(d.dim_value)
                else:
                    dims.append(d.dim_param or None)
                    sym = True
        return TensorInfo(v.name, _dtype_name(tt.elem_type), dims, sym)

    inputs = [tinfo(v, True) for v in real_inputs]
    outputs = [tinfo(v, False) for v in g.output]
    if assumed:
        notes.append("symbolic dimensions set to 1 for the counts: " +
                     ", ".join(f"{k}=1" for k in sorted(assumed)))

    quantized = any(k.split(".")[-1] in QUANT_OPS for k in hist)
    if quantized:
        precision = "int8"
    elif dtypes and max(dtypes, key=lambda k: (dtypes[k], k)) in ("float16", "bfloat16"):
        precision = "fp16"
    else:
        precision = "fp32"

    return OnnxProfile(
        file=p.name, file_bytes=p.stat().st_size if p.exists() else 0,
        ir_version=model.ir_version,
        opsets={(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        producer=" ".join(x for x in (model.producer_name, model.producer_version) if x),
        params=params, stored_weight_bytes=stored,
        weight_dtypes=dict(sorted(dtypes.items())),
        weight_bytes={k: int(round(params * v)) for k, v in BYTES_PER_PARAM.items()},
        macs=sum(macs_by_op.values()), macs_by_op=dict(sorted(macs_by_op.items(),
                                                             key=lambda kv: (-kv[1], kv[0]))),
        peak_activation_bytes=peak, peak_activation_node=peak_node,
        op_histogram=dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        inputs=inputs, outputs=outputs, assumed_dims=dict(sorted(assumed.items())),
        external_data=dict(sorted(ext_refs.items())), precision=precision,
        quantized=quantized, notes=notes, nodes=nodes,
        tensor_shapes={name: t[1] for name, t in types.items() if name not in const},
        graph_outputs=tuple(o.name for o in g.output))


def _peak_activation(g, real_inputs, types, const, notes) -> tuple[int, str | None]:
    def size(name):
        t = types.get(name)
        if not t or t[1] is None:
            return None
        return _tensor_bytes(t[0], _numel(t[1]))

    n_nodes = len(g.node)
    last_use: dict[str, int] = {}
    for i, n in enumerate(g.node):
        used = {x for x in n.input if x}
        for sg in _subgraphs(n):
            used |= _names_used_in(sg)
        for x in used:
            last_use[x] = i
    for o in g.output:
        last_use[o.name] = n_nodes
    unknown = 0
    sizes: dict[str, int] = {}
    live = 0
    for v in real_inputs:
        s = size(v.name)
        if s is None:
            unknown += 1
            continue
        sizes[v.name] = s
        live += s
    peak, peak_node = live, None
    for i, n in enumerate(g.node):
        for o in n.output:
            if not o or o in const:
                continue
            s = size(o)
            if s is None:
                if o in last_use:       # unused optional outputs (Dropout masks) don't count
                    unknown += 1
                continue
            sizes[o] = s
            live += s
        if live > peak:
            peak, peak_node = live, n.name or f"{n.op_type}_{i}"
        for x in list(sizes):
            if last_use.get(x, -1) <= i:
                live -= sizes.pop(x)
    if unknown:
        notes.append(f"{unknown} activation tensor(s) of unknown shape are not in the peak "
                     "activation memory")
    return peak, peak_node


# ---------------------------------------------------------------- op support per device

def op_support_report(prof: OnnxProfile, catalog, device_id: str,
                      unit_id: str | None = None) -> dict:
    """For each compute unit of the device (or the one named), the ops its operator-support
    table runs and the nodes that fall back to the host CPU. Constant-folded nodes are left
    out: runtimes fold them before partitioning."""
    dev = catalog.device(device_id)
    if unit_id is not None:
        try:
            units = [dev.unit(unit_id)]
        except KeyError:
            raise UnknownIdError(f"device {dev.id!r} has no unit {unit_id!r} (units: "
                                 f"{', '.join(u.id for u in dev.units)})", field="unit") from None
    else:
        units = list(dev.units)
    live_nodes = [n for n in prof.nodes if not n.constant]
    total_macs = sum(n.macs or 0 for n in live_nodes)
    out_units = []
    for u in units:
        table = None if u.op_support == "full" else catalog.op_support.get(u.op_support)
        supported = None if table is None else set(table.supported_ops)
        fallback: dict[str, list[str]] = {}
        acc_macs = 0
        segments = 0
        prev = None
        for n in live_nodes:
            ok = supported is None or n.op in supported
            if ok:
                acc_macs += n.macs or 0
            else:
                fallback.setdefault(n.op, []).append(n.name)
            if ok != prev:
                segments += 1
                prev = ok
        out_units.append({
            "unit": u.id, "kind": u.kind, "op_support": u.op_support,
            "source": table.source if table is not None else "runs any ONNX op",
            "fallback_to": table.fallback_to if table is not None else "the host CPU",
            "ops_supported": sorted({n.op for n in live_nodes} - set(fallback)),
            "fallback_ops": {op: {"count": len(names), "nodes": names[:5]}
                             for op, names in sorted(fallback.items())},
            "fallback_nodes": sum(len(v) for v in fallback.values()),
            "accelerated_macs_pct": round(100.0 * acc_macs / total_macs, 2) if total_macs
            else 100.0,
            "partitions": segments,
        })
    return {"device": dev.id, "device_name": dev.name, "family": dev.family, "units": out_units}


# ---------------------------------------------------------------- as a catalog model

_SAFE_ID = re.compile(r"[^a-z0-9._+-]+")


@lru_cache(maxsize=32)
def _cached_profile(path: str, mtime_ns: int, size: int) -> OnnxProfile:
    return profile_onnx(path)


def cached_profile(path) -> OnnxProfile:
    """`profile_onnx`, memoized on (path, mtime, size) for the solver's repeated look-ups."""
    p = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(p)
    except OSError:
        return profile_onnx(p)      # raises the typed error
    return _cached_profile(p, st.st_mtime_ns, st.st_size)


def profile_as_model(path, model_id: str, *, task: str = "custom", family: str = "onnx",
                     accuracy: dict[str, float] | float | None = None,
                     metric: str | None = None, higher_is_better: bool = True):
    """A `planner.catalog.schema.ModelProfile` for an ONNX file, so the solver can plan with it like a
    catalog model. Size facts are measured from the graph (provenance `measured`, source the
    file). Accuracy is not in an ONNX file:

    * `accuracy={"fp32": 97.8, "int8": 97.5}` (or a float for FP32): given figures are used
      as they are; precisions not given get the FP32 figure, listed under `estimated` as
      "assumed equal to FP32 until edgeplan bundle --eval-data measures it";
    * `accuracy=None`: every option gets accuracy 0 in metric "unknown", marked estimated, so
      an accuracy floor never accepts an unmeasured model and a plan never claims a number.

    Options: FP32 and FP16 (baseline) and INT8 (ptq) for a float graph; INT8 only for a graph
    that is already quantized; FP16 and INT8 for an FP16 graph.
    """
    from planner.catalog.schema import ModelProfile

    prof = cached_profile(path)
    mid = model_id if re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", model_id or "") else \
        (_SAFE_ID.sub("-", (model_id or Path(os.fspath(path)).stem).lower()).strip("-.") or "onnx-model")
    if prof.quantized:
        precisions = [("int8", "ptq")]
    elif prof.precision == "fp16":
        precisions = [("fp16", "baseline"), ("int8", "ptq")]
    else:
        precisions = [("fp32", "baseline"), ("fp16", "baseline"), ("int8", "ptq")]
    if isinstance(accuracy, (int, float)):
        accuracy = {"fp32": float(accuracy)}
    src = f"measured from {prof.file} by edgeplan profile"
    options = []
    for prec, tech in precisions:
        if accuracy is None:
            options.append({"precision": prec, "technique": tech, "accuracy": 0.0,
                            "source": f"{prof.file}: no accuracy given",
                            "estimated": {"accuracy": "unknown: give the model's accuracy, or "
                                          "measure it with edgeplan bundle --eval-data"}})
        elif prec in accuracy:
            options.append({"precision": prec, "technique": tech,
                            "accuracy": float(accuracy[prec]), "source": "given by the user"})
        else:
            base = accuracy.get("fp32", next(iter(accuracy.values())))
            options.append({"precision": prec, "technique": tech, "accuracy": float(base),
                            "source": "given by the user for another precision",
                            "estimated": {"accuracy": "assumed equal to the given accuracy "
                                          "until edgeplan bundle --eval-data measures it"}})
    first_in = prof.inputs[0] if prof.inputs else None

    def elems(ts):
        return sum(_numel([d if isinstance(d, int) else 1 for d in t.shape]) for t in ts) or 1

    data = {
        "id": mid, "name": f"{prof.file} (ONNX)", "family": family, "task": task,
        "size": {
            "params_m": max(prof.params, 1) / 1e6,
            "macs_g": max(prof.macs, 1) / 1e9,
            "activation_mb": prof.peak_activation_bytes / 1e6,
            "input": first_in.shape_text() if first_in else "none",
            "input_elements": elems(prof.inputs),
            "output_elements": elems(prof.outputs),
            "source": src,
        },
        "onnx_ops": sorted(prof.op_histogram) or ["Identity"],
        "dynamic_shapes": prof.dynamic_shapes,
        "metric": metric or ("unknown" if accuracy is None else "accuracy %"),
        "higher_is_better": higher_is_better,
        "options": options,
    }
    from planner.catalog.layers import LayerTable
    from planner.onnxfile.layers import layers_of
    m = ModelProfile.model_validate(data)
    # the graph's own layers: a user's model gets the per-layer estimator as catalog ones do
    m._layer_table = LayerTable(mid, tuple(layers_of(prof)), source=prof.file)
    return m


# ---------------------------------------------------------------- text output

def _human(n: float, unit: str = "") -> str:
    for div, suf in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suf}{unit}"
    return f"{n:.3g} {unit}".rstrip() if unit else f"{n:g}"


def _bytes(n: float) -> str:
    for div, suf in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= div:
            return f"{n / div:.3g} {suf}"
    return f"{int(n)} B"


def format_profile_text(d: dict, support: dict | None = None) -> str:
    """The text form of `OnnxProfile.as_dict()` (and of `op_support_report`), for the CLI."""
    lines = [f"{d['file']}  (ONNX IR {d['ir_version']}, opsets "
             + ", ".join(f"{k} {v}" for k, v in d["opsets"].items())
             + (f", from {d['producer']}" if d["producer"] else "") + ")"]
    lines.append(f"  params        {d['params']:,} ({_human(d['params'])})"
                 f"   held as {', '.join(f'{k} {_human(v)}' for k, v in d['weight_dtypes'].items()) or 'nothing'}")
    macs = ", ".join(f"{k} {_human(v)}" for k, v in list(d["macs_by_op"].items())[:6])
    lines.append(f"  MACs          {d['macs']:,} ({_human(d['macs'])})" + (f"   {macs}" if macs else ""))
    wb = "  ".join(f"{k} {_bytes(v)}" for k, v in d["weight_bytes"].items())
    lines.append(f"  weights       {wb}   (held as {_bytes(d['stored_weight_bytes'])}; "
                 f"file {_bytes(d['file_bytes'])})")
    lines.append(f"  activations   peak {_bytes(d['peak_activation_bytes'])}"
                 + (f" at {d['peak_activation_node']}" if d["peak_activation_node"] else "")
                 + " (liveness over the graph order, no in-place reuse)")
    for label, ts in (("input", d["inputs"]), ("output", d["outputs"])):
        for t in ts:
            dims = "[" + ", ".join("?" if x is None else str(x) for x in t["shape"]) + "]"
            flag = "   symbolic dims" if t["symbolic"] else ""
            lines.append(f"  {label:<13} {t['name']}  {t['dtype']} {dims}{flag}")
    lines.append(f"  precision     {d['precision']}" + ("  (quantized graph)" if d["quantized"] else ""))
    ops = ", ".join(f"{k} {v}" for k, v in d["op_histogram"].items())
    lines.append(f"  ops           {ops}")
    if d["external_data"]:
        lines.append("  external data " + ", ".join(f"{k} ({_bytes(v)})"
                                                   for k, v in d["external_data"].items()))
    for n in d["notes"]:
        lines.append(f"  note: {n}")
    if support:
        lines.append(f"op support on {support['device_name']} ({support['device']}):")
        for u in support["units"]:
            if not u["fallback_ops"]:
                lines.append(f"  {u['unit']} ({u['kind']}, {u['op_support']}): runs every op")
                if u["op_support"] != "full":
                    lines.append(f"    source: {u['source']}")
                continue
            fb = ", ".join(f"{op} x{v['count']}" for op, v in u["fallback_ops"].items())
            lines.append(f"  {u['unit']} ({u['kind']}, {u['op_support']}): "
                         f"{u['fallback_nodes']} node(s) fall back to the CPU: {fb}; "
                         f"{u['accelerated_macs_pct']:g}% of MACs on the unit, "
                         f"{u['partitions']} partition(s)")
            lines.append(f"    source: {u['source']}")
    return "\n".join(lines)


def format_layers_text(table) -> str:
    """A `planner.catalog.layers.LayerTable` for a terminal: totals per op kind, then every
    layer."""
    from planner.catalog.layers import short_name
    macs = table.macs or 1
    weights = table.weights or 1
    by_kind: dict[str, list] = {}
    for x in table.layers:
        k = by_kind.setdefault(x.kind, [0, 0, 0])
        k[0] += 1
        k[1] += x.macs
        k[2] += x.weights
    lines = [f"layers: {len(table.layers)} (element-wise ops fused into the layer they follow)"]
    for kind, (n, m, w) in sorted(by_kind.items(), key=lambda kv: (-kv[1][1], kv[0])):
        lines.append(f"  {kind:<15} {n:>4} layer{'s' if n != 1 else ' '}  "
                     f"{100 * m / macs:5.1f} % of MACs  "
                     f"{100 * w / weights:5.1f} % of weights")
    lines.append(f"  {'#':>4}  {'name':<30} {'kind':<15} {'MACs':>8} {'weights':>8} "
                 f"{'in':>8} {'out':>8}  {'out shape':<13} ops")
    for i, x in enumerate(table.layers):
        lines.append(f"  {i:>4}  {short_name(x.name):<30} {x.kind:<15} {_human(x.macs):>8} "
                     f"{_human(x.weights):>8} {_human(x.in_elements):>8} "
                     f"{_human(x.out_elements):>8}  {x.out_shape:<13} {x.ops}")
    return "\n".join(lines)
