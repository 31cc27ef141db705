"""The physics: a roofline (compute at the unit's peak for the precision the math runs at,
bytes over bandwidth) plus the fixed costs of a call, for scalars or numpy arrays.
Calibration (`calibrate.py`) and the estimator (`point.py`, `grid.py`) both build on it."""
from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.schema import ComputeUnit, Device, MathPath, ModelProfile
from planner.estimate.layers import LayeredRoofline, layered_roofline, shares_for
from planner.vocabulary import BYTES_PER_PARAM, KV_CACHE_BYTES

# The precision the math runs at when weights are stored weight-only: the unit's most
# capable 16-bit path when it has one (GPU/NPU LLM runtimes compute in fp16), else int8 dot
# products (CPU llama.cpp kernels), else fp32.
_WEIGHT_ONLY_MATH_ORDER = ("fp16", "int8", "fp32")


KV_BYTES_PER_ELEMENT = KV_CACHE_BYTES["fp16"]     # the default cache: fp16 in every LLM runtime


DEFAULT_LLM_CONTEXT = 2048          # tokens held in the KV cache when the caller gives none


MEASURED_CONTEXT = 256              # context assumed for published decode rates (short prompts)


EFF_BOUNDS = (1e-4, 1.5)            # efficiencies outside this are fitting noise, not physics


def busy_ms(xp, pipelined, core_ms, streaming_ms, latency_ms):
    """How long a call occupies its unit (ms), for scalars (xp=_ScalarXP) or numpy arrays. A
    pipelined dataflow unit (activations on chip: Hailo) streams inputs through layers held
    on chip, so in a stream its host transfers and per-call costs overlap the compute and
    only a context switch's weight reload adds to it; elsewhere a call holds the unit for its
    whole latency."""
    return xp.where(pipelined, core_ms + streaming_ms, latency_ms)


def with_measurement(value, is_busy, latency_ms, busy):
    """(latency, occupancy) with a published measurement of exactly the combination: a
    latency as such, or a pipelined unit's throughput as its occupancy; the other keeps its
    modelled difference (the costs a stream hides)."""
    if is_busy:
        return value + latency_ms - busy, value
    # a measured latency shorter than the modelled hidden costs keeps the modelled share
    return value, max(value - latency_ms + busy, value * busy / latency_ms)


def efficiency_gops(model: ModelProfile, unit: ComputeUnit, batch: int,
                    macs_scale: float = 1.0) -> float:
    """The work per call that the calibration's size slope reads (GOPs): a pipelined
    dataflow unit's utilisation is set per input (a batch streams through the same layers);
    elsewhere the batch fills the unit."""
    return 2.0 * model.size.macs_g * macs_scale * (1 if unit.activations_on_chip else batch)


def math_precision(unit: ComputeUnit, precision: str,
                   math_path: MathPath = MathPath()) -> str:
    """The precision whose peak ops the math runs at (math_path: the runtime's, which may run
    FP32 models in FP16 where the unit has it)."""
    if precision == "fp32" and math_path.fp32_math == "fp16" and "fp16" in unit.peak_tops:
        return "fp16"
    if precision in unit.peak_tops:
        return precision
    for p in _WEIGHT_ONLY_MATH_ORDER:
        if p in unit.peak_tops:
            return p
    return next(iter(unit.peak_tops))


# ---------------------------------------------------------------- the roofline

@dataclass(frozen=True)
class Roofline:
    """Ideal (100 % efficient) times for one inference of `batch` inputs, in ms."""
    compute_ms: float
    memory_ms: float
    streaming_ms: float
    transfer_ms: float
    dispatch_ms: float
    weights_on_chip: bool | None
    # layer by layer (planner.estimate.layers), where the model has a layer table: it sets
    # the core time and the regime; compute_ms and memory_ms stay the whole network's
    layered: LayeredRoofline | None = None

    @property
    def regime(self) -> str:
        # the whole network's, also where its layers set the core time: the regime picks the
        # efficiency factors, and those of the memory regime are a bandwidth-bound stream's
        # (an LLM's weights read per token), which a CNN's activation-bound layers are not
        return "compute" if self.compute_ms >= self.memory_ms else "memory"

    @property
    def core_ms(self) -> float:
        if self.layered is not None:
            return self.layered.core_ms
        return max(self.compute_ms, self.memory_ms)

    @property
    def fixed_ms(self) -> float:
        return self.streaming_ms + self.transfer_ms + self.dispatch_ms


class _ScalarXP:
    """The array operations the roofline needs, for plain floats (numpy for grids)."""
    maximum = staticmethod(max)

    @staticmethod
    def where(cond, a, b):
        return a if cond else b


def weight_streaming_ms(xp, streamed_bytes, link_gbs, switching, context_switch_ms):
    """Weights that do not stay on chip, over the host link (streamed_bytes: 0 where they
    do not cross one), plus a context-switching unit's reload cost when it switches."""
    safe_link = xp.where(link_gbs > 0, link_gbs, 1.0)
    return streamed_bytes / (safe_link * 1e9) * 1e3 + xp.where(switching, context_switch_ms,
                                                               0.0)


def roofline_terms(xp, *, weight_bytes, act_bytes, kv_bytes, ops, peak_ops, dram_gbs,
                   onchip_bytes, link_gbs, io_bytes, link_overhead_ms, dispatch_ms,
                   act_on_chip=False, context_switch=False, context_switch_ms=0.0, reads=1.0):
    """The roofline, once, for scalars (xp=_ScalarXP) or numpy arrays (xp=numpy).

    onchip_bytes: on-chip weight memory, or -1 where the unit has none.
    link_gbs: host-link bandwidth for an accelerator on a host, or 0 where there is none
    (then io_bytes and link_overhead_ms are ignored).
    context_switch: weights beyond on-chip memory split the network into contexts, and every
    call loads all of them (Hailo), instead of streaming only the excess (Edge TPU).
    reads: how many times a call reads its weights, on average (an encoder-decoder reads
    its decoder once per decoded token: Size.reads_params_m / params_m); what stays on chip
    is read from there, the rest that many times.
    Returns (compute_ms, memory_ms, streaming_ms, transfer_ms, dispatch_ms)."""
    compute_ms = ops / peak_ops * 1e3
    has_chip = onchip_bytes >= 0
    has_link = link_gbs > 0
    # weights held on chip are not re-read from DRAM; the excess streams every call, over the
    # host link for an accelerator on a host, else from DRAM. A context-switching unit holds
    # one context at a time, so a network that does not fit reloads all its weights per call
    # (batching amortises it: one pass through the contexts serves the whole batch).
    chip = xp.maximum(onchip_bytes, 0.0)
    excess = xp.maximum(weight_bytes - chip, 0.0)
    switching = has_chip & context_switch & (excess > 0)
    excess = xp.where(switching, weight_bytes, excess) * reads
    streamed = xp.where(has_chip & has_link, excess, 0.0)
    dram_weights = xp.where(has_chip, xp.where(has_link, 0.0, excess), weight_bytes * reads)
    safe_link = xp.where(has_link, link_gbs, 1.0)
    streaming_ms = weight_streaming_ms(xp, streamed, link_gbs, switching, context_switch_ms)
    # dataflow accelerators (Hailo) keep activations on chip; elsewhere they are written and
    # read back once (the Edge TPU's SRAM caches parameters, per Coral's documentation)
    act_dram = xp.where(act_on_chip, 0.0, 2.0 * act_bytes)
    memory_ms = (dram_weights + act_dram + kv_bytes) / (dram_gbs * 1e9) * 1e3
    transfer_ms = xp.where(has_link, io_bytes / (safe_link * 1e9) * 1e3 + link_overhead_ms, 0.0)
    return compute_ms, memory_ms, streaming_ms, transfer_ms, dispatch_ms


def roofline(model: ModelProfile, precision: str, dev: Device, unit: ComputeUnit, *,
             batch: int = 1, context: int = 0, params_scale: float = 1.0,
             macs_scale: float = 1.0, compute_scale: float = 1.0,
             math_path: MathPath = MathPath(), mode: str | None = None,
             kv_cache: str = "fp16", weight_format: str | None = None,
             layers: bool | None = None) -> Roofline:
    """layers: use the model's layer table (planner.estimate.layers) where it has one;
    None: as LAYERED says."""
    s = model.size
    bpp = model.bytes_per_param(precision, weight_format)
    mp = math_precision(unit, precision, math_path)
    weight_bytes = s.params_m * 1e6 * params_scale * bpp
    # a mixture of experts reads only the experts a token routes to (memory holds them all),
    # and no LLM reads an untied input embedding table beyond one row per token
    read_bytes = (model.decode_read_bytes(precision, weight_format, batch, params_scale)
                  if model.llm else weight_bytes)
    link = dev.host_interface if unit.kind != "cpu" else None
    ops = 2.0 * s.macs_g * 1e9 * macs_scale * batch
    peak_ops = unit.call_peak_tops(mp, math_path.matrix_units) * 1e12 * compute_scale
    dram_gbs = dev.bandwidth_gbs(mode)
    onchip = unit.on_chip_memory_mb * 1e6 if unit.on_chip_memory_mb is not None else -1.0
    link_gbs = link.bandwidth_gbs if link else 0.0
    terms = roofline_terms(
        _ScalarXP,
        weight_bytes=read_bytes,
        act_bytes=s.activation_mb * 1e6 * (BYTES_PER_PARAM[mp] / 4.0) * batch,
        kv_bytes=(model.llm.kv_bytes(context, KV_CACHE_BYTES[kv_cache], math_path.windowed_kv)
                  * batch if model.llm else 0.0),
        ops=ops, peak_ops=peak_ops, dram_gbs=dram_gbs, onchip_bytes=onchip,
        link_gbs=link_gbs,
        io_bytes=(s.input_elements + s.output_elements) * batch * BYTES_PER_PARAM[precision],
        link_overhead_ms=link.per_call_overhead_ms if link else 0.0,
        dispatch_ms=unit.dispatch_overhead_ms, act_on_chip=unit.activations_on_chip,
        context_switch=unit.weight_loading == "context-switch",
        context_switch_ms=unit.context_switch_ms,
        reads=1.0 if model.llm else s.reads_params_m() / s.params_m)
    on_chip = None if unit.on_chip_memory_mb is None else \
        weight_bytes <= unit.on_chip_memory_mb * 1e6
    shares = shares_for(model) if (LAYERED if layers is None else layers) else None
    if shares is None:
        return Roofline(*terms, weights_on_chip=on_chip)
    lr = layered_roofline(
        shares, ops=ops, weight_bytes=weight_bytes, act_bytes_per_element=BYTES_PER_PARAM[mp],
        batch=batch, peak_ops=peak_ops, dram_gbs=dram_gbs, onchip_bytes=onchip,
        has_link=link is not None, act_on_chip=unit.activations_on_chip,
        context_switch=unit.weight_loading == "context-switch")
    streaming_ms = weight_streaming_ms(
        _ScalarXP, lr.streamed_bytes if link is not None and onchip >= 0 else 0.0, link_gbs,
        lr.contexts > 1, unit.context_switch_ms)
    compute_ms, memory_ms, _, transfer_ms, dispatch_ms = terms
    return Roofline(compute_ms, memory_ms, streaming_ms, transfer_ms, dispatch_ms,
                    weights_on_chip=None if onchip < 0 else lr.streamed_bytes == 0,
                    layered=lr)


# Whether the per-layer roofline sets the estimate for models with a layer table. Off: on
# the blind split it scored worse than the whole-model roofline (README, "Layer by layer";
# `python benchmarks/estimator_accuracy.py --compare-layers` scores both in one run), so it
# only explains where the time goes (`edgeplan estimate --layers`).
LAYERED = False


def _bottleneck(r: Roofline, core_ms: float) -> str:
    parts = {"compute" if r.regime == "compute" else "memory-bandwidth": core_ms,
             "weight-streaming": r.streaming_ms, "host-transfer": r.transfer_ms,
             "dispatch": r.dispatch_ms}
    return max(parts, key=parts.get)
