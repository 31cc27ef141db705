"""Helpers for the lint tests: a tiny ONNX writer (protobuf wire format by hand), so that the
rule cases can name ONNX files without the onnx package."""
from __future__ import annotations


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _int(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(v)


def _dim(d) -> bytes:
    if d is None:
        return b""
    if isinstance(d, int):
        return _int(1, d)
    return _len(2, str(d).encode())


def make_onnx(ops=("Conv", "Relu"), inputs=None, initializers=()) -> bytes:
    """A serialized ModelProto: one node per op type (`domain:Op` for other domains), graph
    inputs {name: [dims]} (int, symbolic str, or None for unknown), and initializer names that
    are also listed as inputs (old exporters do that)."""
    inputs = {"input": [1, 3, 224, 224]} if inputs is None else inputs
    nodes = b""
    for op in ops:
        domain, _, name = op.rpartition(":")
        node = _len(4, name.encode()) + (_len(7, domain.encode()) if domain else b"")
        nodes += _len(1, node)
    graph = nodes + _len(2, b"g")
    for name in initializers:
        graph += _len(5, _len(8, name.encode()) + _int(2, 1))
    for name, dims in inputs.items():
        shape = b"".join(_len(1, _dim(d)) for d in dims)
        tensor = _int(1, 1) + _len(2, shape)
        graph += _len(11, _len(1, name.encode()) + _len(2, _len(1, tensor)))
    return _int(1, 8) + _len(7, graph) + _len(8, _len(1, b"") + _int(2, 17))
