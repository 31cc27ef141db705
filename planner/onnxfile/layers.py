"""An ONNX graph as the layers a runtime runs (`planner.catalog.layers.Layer`).

Nodes are grouped as edge compilers fuse them (TensorRT's "vertical fusion" of a convolution
with its bias, batch norm and activation; the TFLite and Edge TPU converters' fused
activations): an element-wise or batch-norm node whose activation inputs all come from one
layer joins that layer. A node that joins two layers' outputs (a residual add, a concat)
starts its own. Views (Reshape, Flatten, Squeeze...) start none: their output is their
input's. Constant-folded nodes are not layers (runtimes fold them), but the weights they
produce count at the layer that reads them, so the layers' weights add up to the profile's
parameters and their MACs to its MACs (a test).
"""
from __future__ import annotations

from planner.catalog.layers import Layer

# kinds that join the layer that produces their input (BatchNormalization too, below)
_FUSES = {"elementwise"}


def _elements(shape) -> int:
    if shape is None:
        return 0
    n = 1
    for d in shape:
        n *= d if isinstance(d, int) and d >= 0 else 1     # unknown dims count as 1
    return n


def layers_of(prof) -> list[Layer]:
    """The main graph of a `planner.onnxfile.profile.OnnxProfile` as layers, in graph
    order."""
    members: list[list] = []        # per layer, its nodes
    layer_of: dict[str, int] = {}   # tensor -> the layer that writes it (views followed)
    root: dict[str, str] = {}       # a view's output -> the tensor it views
    for n in prof.nodes:
        if n.constant:
            continue
        srcs = {layer_of[i] for i in n.inputs if i in layer_of}
        if n.kind == "free":
            if n.inputs:
                base = root.get(n.inputs[0], n.inputs[0])
                for o in n.outputs:
                    root[o] = base
                    if base in layer_of:
                        layer_of[o] = layer_of[base]
            if n.weights and srcs:      # a weight read through a view counts where it is used
                members[min(srcs)].append(n)
            continue
        fuses = (n.kind in _FUSES or n.op == "BatchNormalization") and len(srcs) == 1 \
            and all(i in layer_of for i in n.inputs)
        if fuses:
            idx = srcs.pop()
        else:
            idx = len(members)
            members.append([])
        members[idx].append(n)
        for o in n.outputs:
            layer_of[o] = idx
    # which tensors other layers (or the graph's outputs) read
    wanted: dict[str, set] = {}
    for idx, nodes in enumerate(members):
        for n in nodes:
            for i in n.inputs:
                wanted.setdefault(root.get(i, i), set()).add(idx)
    for o in prof.graph_outputs:
        wanted.setdefault(root.get(o, o), set()).add(-1)
    shapes = prof.tensor_shapes
    out = []
    for idx, nodes in enumerate(members):
        if not nodes:
            continue
        made = {o for n in nodes for o in n.outputs}
        reads = []
        for n in nodes:
            for i in n.inputs:
                r = root.get(i, i)
                if r not in made and r not in reads:
                    reads.append(r)
        writes = [o for n in nodes for o in n.outputs
                  if o in wanted and wanted[o] - {idx}]
        anchor = next((n for n in nodes if n.kind != "free"), nodes[0])
        ops: list[str] = []
        for n in nodes:
            if n.kind != "free" and (not ops or ops[-1] != n.op):
                ops.append(n.op)
        last = writes[-1] if writes else (nodes[-1].outputs[0] if nodes[-1].outputs else "")
        shape = shapes.get(last)
        out.append(Layer(
            name=anchor.name, kind=anchor.kind, ops="+".join(ops),
            macs=sum(n.macs or 0 for n in nodes), weights=sum(n.weights for n in nodes),
            in_elements=sum(_elements(shapes.get(r)) for r in reads),
            out_elements=sum(_elements(shapes.get(o)) for o in writes),
            out_shape="x".join(str(d) for d in shape) if shape else "?"))
    return out

