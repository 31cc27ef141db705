"""The roofline layer by layer, for networks with a layer table (`planner.catalog.layers`).

A whole-model roofline takes max(all compute at peak, all bytes over bandwidth): it lets a
network's dense convolutions hide its depthwise layers' memory traffic, which no runtime
can do, since layers run one after another. Here each layer is bound by its own regime,

    core = sum over layers of max(ops_l / peak, bytes_l / bandwidth)

with bytes_l the weights it reads from DRAM and the activations it reads and writes (none on
a dataflow unit that keeps activations on chip). The whole-model figure is a lower bound of
this one; they agree for a network whose every layer is in the same regime.

On-chip weight memory is filled in graph order, as the Edge TPU compiler caches parameters
(Coral, "Edge TPU Compiler": parameter data caching, "the rest ... fetched from external
memory") and the Hailo Dataflow Compiler allocates contexts: the layers whose weights fit
stay resident, the rest stream every call; a context-switching unit splits the network into
as many contexts as it takes to hold every layer's weights.

The table gives each layer's share of the network's MACs and weights; totals stay the
profile's (a table is used only when its MACs match the profile's within 2 %, so a user's
model under a catalog id gets no other network's table). The time split by op class feeds
the calibration's per-class efficiency factors (depthwise layers run at a very different
efficiency from dense ones, and differently on a GPU and an Edge TPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from planner.catalog.layers import LayerTable, shipped_table

MATCH_TOLERANCE = 0.02      # a table is the model's when their MACs agree this closely

# op kinds by how a unit runs them: dense arithmetic (the baseline of the efficiency fit),
# depthwise and grouped convolutions (few MACs per byte, hard on wide MAC arrays), products
# of two activations (attention), and ops with no MACs (element-wise, pooling, resize, data
# movement), which stream their bytes
OP_CLASS = {"conv": "dense", "matmul": "dense", "recurrent": "dense",
            "depthwise-conv": "depthwise", "grouped-conv": "depthwise",
            "attention": "attention"}
CLASSES = ("dense", "depthwise", "attention", "no-mac")
FITTED_CLASSES = CLASSES[1:]        # dense is the baseline every other class departs from


def op_class(kind: str) -> str:
    return OP_CLASS.get(kind, "no-mac")


def _read(layer) -> int:
    """Weights a layer reads per call: a lookup (an embedding's Gather) reads the rows it
    returns, not its whole table."""
    if layer.ops.split("+")[0] == "Gather":
        return min(layer.weights, layer.out_elements)
    return layer.weights


@dataclass(frozen=True)
class Shares:
    """A table as shares of its model's totals, in graph order."""
    macs: tuple[float, ...]
    weights: tuple[float, ...]        # held (on-chip residency)
    read: tuple[float, ...]           # read per call
    act_elements: tuple[int, ...]      # in + out activation elements per input
    classes: tuple[str, ...]
    table: LayerTable


def _shares(table: LayerTable) -> Shares:
    m = table.macs or 1
    w = table.weights or 1
    return Shares(tuple(x.macs / m for x in table.layers),
                  tuple(x.weights / w for x in table.layers),
                  tuple(_read(x) / w for x in table.layers),
                  tuple(x.in_elements + x.out_elements for x in table.layers),
                  tuple(op_class(x.kind) for x in table.layers), table)


@cache
def _shipped_shares(model_id: str) -> Shares | None:
    t = shipped_table(model_id)
    return None if t is None else _shares(t)


def table_for(model) -> LayerTable | None:
    """The model's own table (a model file's) or the shipped one of its id, matching or not."""
    own = getattr(model, "_layer_table", None)
    return own if own is not None else shipped_table(model.id)


def shares_for(model) -> Shares | None:
    """The layer shares of a (non-LLM) model, or None where it has no matching table."""
    if model.llm is not None:
        return None
    own = getattr(model, "_layer_table", None)
    if own is not None:
        if model._layer_shares is None:
            model._layer_shares = _shares(own)
        s = model._layer_shares
    else:
        s = _shipped_shares(model.id)
    if s is None:
        return None
    macs = model.size.macs_g * 1e9
    if macs <= 0 or abs(s.table.macs - macs) > MATCH_TOLERANCE * macs:
        return None
    return s


@dataclass(frozen=True)
class LayeredRoofline:
    compute_ms: float                 # ideal time of the compute-bound layers
    memory_ms: float                  # ideal time of the memory-bound layers
    class_ms: dict                    # ideal time per op class
    streamed_bytes: float             # weights that do not stay on chip, per call
    contexts: int                     # on a context-switching unit: contexts it takes
    layer_ms: tuple[float, ...]       # ideal time per layer, graph order
    layer_bound: tuple[str, ...]      # compute | memory, per layer

    @property
    def core_ms(self) -> float:
        return self.compute_ms + self.memory_ms

    def shares(self) -> dict[str, float]:
        total = self.core_ms or 1.0
        return {c: self.class_ms.get(c, 0.0) / total for c in FITTED_CLASSES}


def residency(weight_bytes: list[float], onchip_bytes: float,
              context_switch: bool) -> tuple[list[bool], int]:
    """Which layers' weights stay on chip (graph order), and the contexts a
    context-switching unit needs (1 when everything fits)."""
    resident, used, contexts, ctx_used = [], 0.0, 1, 0.0
    for w in weight_bytes:
        used += w
        resident.append(used <= onchip_bytes)
        if context_switch:
            if ctx_used + w > onchip_bytes and ctx_used > 0:
                contexts += 1
                ctx_used = 0.0
            ctx_used += w
    return resident, contexts


def layered_roofline(shares: Shares, *, ops: float, weight_bytes: float,
                     act_bytes_per_element: float, batch: int, peak_ops: float,
                     dram_gbs: float, onchip_bytes: float, has_link: bool,
                     act_on_chip: bool, context_switch: bool) -> LayeredRoofline:
    """The per-layer roofline of one call (ops: the whole call's, batch included;
    onchip_bytes < 0: no on-chip weight memory)."""
    w = [weight_bytes * s for s in shares.weights]
    read = [weight_bytes * s for s in shares.read]
    if onchip_bytes >= 0:
        resident, contexts = residency(w, onchip_bytes, context_switch)
        if context_switch and contexts > 1:
            resident = [False] * len(w)     # each call loads every context in turn
    else:
        resident, contexts = [False] * len(w), 1
    streamed = sum(x for x, r in zip(read, resident) if not r) if onchip_bytes >= 0 else 0.0
    compute = memory = 0.0
    class_ms: dict[str, float] = {}
    layer_ms, bound = [], []
    for m, wl, r, a, c in zip(shares.macs, read, resident, shares.act_elements,
                              shares.classes):
        # a streamed weight crosses the host link (streaming_ms), not the DRAM bus
        dram_w = 0.0 if (r or (onchip_bytes >= 0 and has_link)) else wl
        act = 0.0 if act_on_chip else a * act_bytes_per_element * batch
        c_ms = ops * m / peak_ops * 1e3
        m_ms = (dram_w + act) / (dram_gbs * 1e9) * 1e3
        if c_ms >= m_ms:
            compute += c_ms
        else:
            memory += m_ms
        t = max(c_ms, m_ms)
        class_ms[c] = class_ms.get(c, 0.0) + t
        layer_ms.append(t)
        bound.append("compute" if c_ms >= m_ms else "memory")
    return LayeredRoofline(compute, memory, class_ms, streamed, contexts, tuple(layer_ms),
                           tuple(bound))


def layered_grid(shares: Shares, *, ops: float, weight_bytes: float, act_bpe, batch: int,
                 peak_ops, dram_gbs, onchip_bytes, has_link, act_on_chip, context_switch):
    """`layered_roofline` for one option over many units at once (numpy arrays over units;
    act_bpe: bytes per activation element at each unit's math precision). Returns
    (compute_ms, memory_ms, streamed_bytes, contexts, {class: share of the core time})."""
    import numpy as np

    n_u = len(peak_ops)
    macs = np.array(shares.macs)
    w = weight_bytes * np.array(shares.read)        # the plain units hold nothing on chip
    act = np.array(shares.act_elements, dtype=float) * batch
    cls = np.array(shares.classes)
    ops_l = ops * macs
    compute = np.zeros(n_u)
    memory = np.zeros(n_u)
    streamed = np.zeros(n_u)
    contexts = np.ones(n_u, dtype=int)
    class_ms = {c: np.zeros(n_u) for c in CLASSES}
    onchip_bytes = np.asarray(onchip_bytes, dtype=float)
    plain = (onchip_bytes < 0) & ~np.asarray(act_on_chip, dtype=bool)
    # units with no on-chip weight memory and activations in DRAM: every layer reads its
    # weights and activations from DRAM, so a layer is compute-bound where its ops per byte
    # reach the unit's peak over its bandwidth; with layers sorted by that intensity, one
    # search per unit splits them (per bytes-per-activation, which sets the intensity)
    for bpe in np.unique(np.asarray(act_bpe)[plain]):
        cols = np.nonzero(plain & (np.asarray(act_bpe) == bpe))[0]
        b = w + act * bpe
        inten = np.divide(ops_l, b, out=np.full_like(ops_l, np.inf), where=b > 0)
        order = np.argsort(inten, kind="stable")
        inten_s = inten[order]
        ops_cum = np.concatenate([[0.0], np.cumsum(ops_l[order])])
        b_cum = np.concatenate([[0.0], np.cumsum(b[order])])
        p_ms = peak_ops[cols] / 1e3                # ops per ms
        bw_ms = dram_gbs[cols] * 1e6               # bytes per ms
        k = np.searchsorted(inten_s, p_ms / bw_ms, side="left")
        compute[cols] = (ops_cum[-1] - ops_cum[k]) / p_ms
        memory[cols] = b_cum[k] / bw_ms
        for c in CLASSES:
            mask = (cls[order] == c)
            oc = np.concatenate([[0.0], np.cumsum(np.where(mask, ops_l[order], 0.0))])
            bc = np.concatenate([[0.0], np.cumsum(np.where(mask, b[order], 0.0))])
            class_ms[c][cols] = (oc[-1] - oc[k]) / p_ms + bc[k] / bw_ms
    # the rest (on-chip weights, on-chip activations: Edge TPU, Hailo) layer by layer
    for j in np.nonzero(~plain)[0]:
        lr = layered_roofline(shares, ops=ops, weight_bytes=weight_bytes,
                              act_bytes_per_element=float(act_bpe[j]), batch=batch,
                              peak_ops=float(peak_ops[j]), dram_gbs=float(dram_gbs[j]),
                              onchip_bytes=float(onchip_bytes[j]), has_link=bool(has_link[j]),
                              act_on_chip=bool(act_on_chip[j]),
                              context_switch=bool(context_switch[j]))
        compute[j], memory[j] = lr.compute_ms, lr.memory_ms
        streamed[j], contexts[j] = lr.streamed_bytes, lr.contexts
        for c in CLASSES:
            class_ms[c][j] = lr.class_ms.get(c, 0.0)
    total = np.maximum(compute + memory, 1e-300)
    return compute, memory, streamed, contexts, {c: class_ms[c] / total for c in FITTED_CLASSES}


@dataclass(frozen=True)
class Partitions:
    """How a unit's operator-support table splits a network's layers."""
    host_layers: int                  # layers with an op the unit does not run
    host_macs_share: float
    partitions: int                   # runs of consecutive layers on one side
    boundary_elements: int            # activation elements crossing between the sides
    host_ops: tuple[str, ...]
    on_unit: tuple[bool, ...] = ()    # per layer, graph order: whether it runs on the unit


def partitions(table: LayerTable, supported: set[str] | None,
               single_segment: bool = False) -> Partitions:
    """Layers whose every op the unit's table lists run on the unit, the rest off it, in
    graph order (supported None: the unit runs any op). single_segment: the compiler
    accelerates only what comes before the first unsupported layer (the Edge TPU's)."""
    on_unit = [supported is None or all(op in supported for op in x.ops.split("+"))
               for x in table.layers]
    if single_segment and False in on_unit:
        first = on_unit.index(False)
        on_unit = on_unit[:first] + [False] * (len(on_unit) - first)
    runs = sum(1 for i, ok in enumerate(on_unit) if i == 0 or ok != on_unit[i - 1])
    crossing = sum(x.out_elements for i, x in enumerate(table.layers[:-1])
                   if on_unit[i] != on_unit[i + 1])
    macs = table.macs or 1
    host = [x for x, ok in zip(table.layers, on_unit) if not ok]
    ops = sorted({op for x in host for op in x.ops.split("+")
                  if supported is not None and op not in supported})
    return Partitions(len(host), sum(x.macs for x in host) / macs, runs, crossing, tuple(ops),
                      tuple(on_unit))
