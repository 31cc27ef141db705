"""Read an ONNX model's operator types and input shapes without importing onnx.

`lint` must start fast and must not import onnx or onnxruntime, yet it checks a model file's
operators against an accelerator's support table and its input shapes against a static-shape
compiler. Both facts sit near the top of the protobuf, so a small reader of the protobuf wire
format is enough:

    ModelProto        1 ir_version, 7 graph, 8 opset_import, 25 functions
    GraphProto        1 node, 5 initializer, 11 input
    NodeProto         4 op_type, 5 attribute, 7 domain
    AttributeProto    6 g (subgraph), 11 graphs (If / Loop / Scan bodies)
    ValueInfoProto    1 name, 2 type
    TypeProto         1 tensor_type -> 1 elem_type, 2 shape -> 1 dim -> 1 dim_value | 2 dim_param
    TensorProto       8 name  (initializers listed as graph inputs are not inputs)
    OperatorSetIdProto 1 domain, 2 version

The file is memory-mapped and weights are skipped by length, so a large model costs little.
Malformed input raises InputError, never anything else.
"""
from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field

from planner.errors import InputError

_DEFAULT_DOMAINS = ("", "ai.onnx")
MAX_GRAPH_DEPTH = 32


@dataclass(frozen=True)
class InputInfo:
    name: str
    elem_type: int | None
    dims: tuple | None     # per dim: int (fixed), str (dim_param: symbolic) or None (unknown);
                           # None for the whole: no shape at all (unknown rank)

    @property
    def dynamic(self) -> bool:
        return self.dims is None or any(not isinstance(d, int) or d < 0 for d in self.dims)


@dataclass
class OnnxSummary:
    ir_version: int
    ops: list[tuple[str, str]]                       # (domain, op_type), sorted, unique
    inputs: list[InputInfo]
    opsets: dict[str, int] = field(default_factory=dict)

    @property
    def op_types(self) -> list[str]:
        """Op types; ops of a non-default domain are written `domain:OpType`."""
        return sorted({op if dom in _DEFAULT_DOMAINS else f"{dom}:{op}" for dom, op in self.ops})

    @property
    def dynamic_inputs(self) -> list[InputInfo]:
        return [i for i in self.inputs if i.dynamic]


class _Bad(Exception):
    pass


def _varint(buf, i: int, end: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= end:
            raise _Bad("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise _Bad("varint too long")


def _fields(buf, start: int, end: int):
    """(field number, wire type, value): value is an int for varints and fixed-size fields,
    (start, end) for length-delimited ones."""
    i = start
    while i < end:
        key, i = _varint(buf, i, end)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise _Bad("field number 0")
        if wt == 0:
            v, i = _varint(buf, i, end)
            yield num, wt, v
        elif wt == 2:
            n, i = _varint(buf, i, end)
            if i + n > end:
                raise _Bad("length past the end of the message")
            yield num, wt, (i, i + n)
            i += n
        elif wt == 1:
            if i + 8 > end:
                raise _Bad("truncated fixed64")
            yield num, wt, int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 5:
            if i + 4 > end:
                raise _Bad("truncated fixed32")
            yield num, wt, int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise _Bad(f"unsupported wire type {wt}")


def _str(buf, span) -> str:
    a, b = span
    try:
        return bytes(buf[a:b]).decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad("string is not UTF-8") from None


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


class _Reader:
    def __init__(self, buf):
        self.buf = buf
        self.ops: set[tuple[str, str]] = set()

    def graph(self, span, depth: int, top: bool):
        if depth > MAX_GRAPH_DEPTH:
            raise _Bad("subgraphs nest too deep")
        inputs, initializers = [], set()
        for num, wt, v in _fields(self.buf, *span):
            if wt != 2:
                continue
            if num == 1:
                self.node(v, depth)
            elif num == 5 and top:
                for n2, w2, v2 in _fields(self.buf, *v):
                    if n2 == 8 and w2 == 2:
                        initializers.add(_str(self.buf, v2))
            elif num == 11 and top:
                inputs.append(self.value_info(v))
        return [x for x in inputs if x.name not in initializers]

    def node(self, span, depth: int):
        op, domain = None, ""
        for num, wt, v in _fields(self.buf, *span):
            if wt != 2:
                continue
            if num == 4:
                op = _str(self.buf, v)
            elif num == 7:
                domain = _str(self.buf, v)
            elif num == 5:
                self.attribute(v, depth)
        if op:
            self.ops.add((domain, op))

    def attribute(self, span, depth: int):
        for num, wt, v in _fields(self.buf, *span):
            if wt == 2 and num in (6, 11):
                self.graph(v, depth + 1, top=False)

    def value_info(self, span) -> InputInfo:
        name, elem, dims = "", None, None
        for num, wt, v in _fields(self.buf, *span):
            if num == 1 and wt == 2:
                name = _str(self.buf, v)
            elif num == 2 and wt == 2:
                for tn, tw, tv in _fields(self.buf, *v):
                    if tn == 1 and tw == 2:               # tensor_type
                        elem, dims = self.tensor_type(tv)
        return InputInfo(name, elem, None if dims is None else tuple(dims))

    def tensor_type(self, span):
        elem, dims = None, None
        for num, wt, v in _fields(self.buf, *span):
            if num == 1 and wt == 0:
                elem = v
            elif num == 2 and wt == 2:
                dims = []
                for sn, sw, sv in _fields(self.buf, *v):
                    if sn == 1 and sw == 2:
                        dims.append(self.dim(sv))
        return elem, dims

    def dim(self, span):
        value = None
        for num, wt, v in _fields(self.buf, *span):
            if num == 1 and wt == 0:
                value = _signed(v)
            elif num == 2 and wt == 2:
                value = _str(self.buf, v) or None
        return value

    def function(self, span):
        for num, wt, v in _fields(self.buf, *span):
            if num == 5 and wt == 2:                      # FunctionProto.node
                self.node(v, 1)


def parse_onnx_bytes(buf, file: str = "<bytes>") -> OnnxSummary:
    """Parse a serialized ModelProto (bytes, memoryview or mmap)."""
    r = _Reader(buf)
    ir_version, graph, opsets, functions = None, None, {}, []
    try:
        for num, wt, v in _fields(buf, 0, len(buf)):
            if num == 1 and wt == 0:
                ir_version = v
            elif num == 7 and wt == 2:
                graph = v
            elif num == 8 and wt == 2:
                dom, ver = "", None
                for n2, w2, v2 in _fields(buf, *v):
                    if n2 == 1 and w2 == 2:
                        dom = _str(buf, v2)
                    elif n2 == 2 and w2 == 0:
                        ver = v2
                if ver is not None:
                    opsets[dom or "ai.onnx"] = ver
            elif num == 25 and wt == 2:
                functions.append(v)
        if ir_version is None or graph is None:
            raise _Bad("no ir_version or graph")
        inputs = r.graph(graph, 0, top=True)
        for f in functions:
            r.function(f)
    except _Bad as e:
        raise InputError(f"not an ONNX model ({e})", file=file) from None
    except RecursionError:
        raise InputError("not an ONNX model (nesting too deep)", file=file) from None
    return OnnxSummary(ir_version, sorted(r.ops), inputs, opsets)


def read_onnx(path: str | os.PathLike) -> OnnxSummary:
    """Ops and inputs of an .onnx file. Raises InputError when it is missing or malformed."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise InputError("not an ONNX model (empty file)", file=path)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                return parse_onnx_bytes(m, path)
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected an .onnx file", file=path) from None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read: {getattr(e, 'strerror', None) or e}", file=path) from None
