"""Per-layer tables: a network as the layers a runtime runs, for the per-layer estimator.

A layer is what an edge compiler schedules as one kernel: an op that does the arithmetic
(convolution, matrix product, attention product) with the element-wise ops that follow it
fused in (bias, batch norm, activation), or an op that stands alone (a residual add, pooling,
resize, concat). Views (Reshape, Flatten, Squeeze) are no layer. Rows hold element counts,
not bytes, so one table serves every precision.

The catalog ships tables under `profiles/layers/<model id>.csv`, made offline by
`profiles/layers/build_tables.py` from ONNX graphs of the public architecture definitions;
`edgeplan profile --layers model.onnx` makes the same table from any ONNX file
(`planner.onnxfile.layers`). This module only reads and writes them: no onnx import.
"""
from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass, fields
from functools import cache
from pathlib import Path

from planner.errors import CatalogError


def _layers_dir() -> Path:
    """profiles/layers/ of the built-in catalog: in a wheel under planner/_data."""
    root = Path(__file__).resolve().parent.parent
    packaged = root / "_data" / "profiles" / "layers"
    return packaged if packaged.is_dir() else root.parent / "profiles" / "layers"


LAYERS_DIR = _layers_dir()


@dataclass(frozen=True)
class Layer:
    name: str              # the first ONNX node of the layer
    kind: str              # planner.onnxfile.profile.OP_KINDS
    ops: str               # the ONNX ops fused into it, '+'-joined
    macs: int
    weights: int           # parameters it reads
    in_elements: int       # activation elements it reads from other layers or the inputs
    out_elements: int      # activation elements it writes for other layers or the outputs
    out_shape: str


COLUMNS = tuple(f.name for f in fields(Layer))
_INTS = {"macs", "weights", "in_elements", "out_elements"}


@dataclass(frozen=True)
class LayerTable:
    model: str
    layers: tuple[Layer, ...]
    header: tuple[str, ...] = ()     # the '# ' lines: how and from what the table was made
    source: str = ""                 # where it was read or measured from, for messages

    @property
    def macs(self) -> int:
        return sum(x.macs for x in self.layers)

    @property
    def weights(self) -> int:
        return sum(x.weights for x in self.layers)


def write_table(table: LayerTable) -> str:
    """The table as CSV text, its header lines first as '# ' comments."""
    out = io.StringIO()
    for line in table.header:
        out.write(f"# {line}\n")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for x in table.layers:
        w.writerow(astuple(x))
    return out.getvalue()


def read_table(path: Path, model: str) -> LayerTable:
    text = path.read_text(encoding="utf-8")
    header = tuple(line[2:] for line in text.splitlines() if line.startswith("# "))
    rows = csv.reader(line for line in text.splitlines() if not line.startswith("#"))
    try:
        head = next(rows)
    except StopIteration:
        raise CatalogError("empty layer table", file=str(path)) from None
    if tuple(head) != COLUMNS:
        raise CatalogError(f"layer table columns are {', '.join(head)}; expected "
                           f"{', '.join(COLUMNS)}", file=str(path))
    layers = []
    for lineno, row in enumerate(rows, start=len(header) + 2):
        if len(row) != len(COLUMNS):
            raise CatalogError(f"{len(row)} fields, expected {len(COLUMNS)}", file=str(path),
                               line=lineno)
        d = dict(zip(COLUMNS, row))
        try:
            for k in _INTS:
                d[k] = int(d[k])
        except ValueError:
            raise CatalogError("a count that is not an integer", file=str(path),
                               line=lineno) from None
        layers.append(Layer(**d))
    return LayerTable(model, tuple(layers), header, source=f"profiles/layers/{path.name}"
                      if path.parent == LAYERS_DIR else str(path))


@cache
def shipped_table(model_id: str) -> LayerTable | None:
    """The shipped table of a catalog model, or None where none was made."""
    p = LAYERS_DIR / f"{model_id}.csv"
    return read_table(p, model_id) if p.is_file() else None


def short_name(name: str, width: int = 30) -> str:
    """A layer name for a column: exporters' scope paths repeat themselves
    ("/features/features.2/conv/conv.1/conv.1.0/Conv"), so a part the next one extends is
    dropped ("features.2/conv.1.0/Conv"); what is still too long loses its leading parts
    (the block and op are at the end), or its middle if one part alone is too long."""
    parts = [p for p in name.split("/") if p]
    kept = [p for i, p in enumerate(parts)
            if not (i + 1 < len(parts) and parts[i + 1].startswith(p + "."))] or [name]
    s = "/".join(kept)
    while len(s) > width and len(kept) > 1:
        kept = kept[1:]
        s = ".../" + "/".join(kept)
    if len(s) <= width:
        return s
    keep = width - 3
    return s[:keep // 2] + "..." + s[-(keep - keep // 2):]
