"""The estimator: what a model at a precision does on a device's compute unit.

One module feeds every verb (solve, lint, report, bundle). For (model, precision, technique,
device, unit, runtime, batch, context, power mode) it gives latency (p50 with a low-high
interval), throughput, LLM prefill/decode tokens/s, memory (weights + activations + KV cache +
the OS/runtime reserve), power and energy, and expected accuracy. Every number carries its
provenance (datasheet, measured, calibrated, estimated) and the bottleneck that set it.

The physics is a roofline plus overheads (DESIGN.md):

    ideal   = max(ops / peak_ops, bytes / bandwidth)          # per inference, at 100 %
    latency = ideal / efficiency + dispatch + host transfer + weight streaming

`efficiency` is not a constant in code: it is fitted on the catalog's measured points
(`calibrate.py`), per device family and regime (compute- or bandwidth-bound), per model family,
runtime, precision path and network-on-device, so adding measurements improves it. A measured
point for exactly the asked combination is used as such. A pipelined dataflow unit (Hailo)
also has an occupancy per call shorter than its latency: a stream hides transfers and per-call
costs, and throughput follows the occupancy.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from .catalog import Catalog, did_you_mean
from .errors import EstimateError, UnknownIdError
from .schema import BYTES_PER_PARAM, PRECISIONS, ComputeUnit, Device, MathPath, ModelProfile

# The precision the math runs at when weights are stored weight-only: the unit's most
# capable 16-bit path when it has one (GPU/NPU LLM runtimes compute in fp16), else int8 dot
# products (CPU llama.cpp kernels), else fp32.
_WEIGHT_ONLY_MATH_ORDER = ("fp16", "int8", "fp32")
KV_BYTES_PER_ELEMENT = 2.0          # KV cache kept in fp16 by the LLM runtimes we plan for
DEFAULT_LLM_CONTEXT = 2048          # tokens held in the KV cache when the caller gives none
MEASURED_CONTEXT = 256              # context assumed for published decode rates (short prompts)
Z80 = 1.2816                        # two-sided 80 % interval under a log-normal error
EFF_BOUNDS = (1e-4, 1.5)            # efficiencies outside this are fitting noise, not physics


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str
    provenance: str                 # datasheet | measured | calibrated | estimated
    low: float | None = None
    high: float | None = None
    bottleneck: str | None = None   # compute | memory-bandwidth | host-transfer | weight-streaming | dispatch

    def as_dict(self) -> dict:
        d = {"value": _r(self.value), "unit": self.unit, "provenance": self.provenance}
        if self.low is not None:
            d["low"] = _r(self.low)
            d["high"] = _r(self.high)
        if self.bottleneck:
            d["bottleneck"] = self.bottleneck
        return d


def _r(x: float) -> float:
    """Round to 4 significant digits: estimates are not more precise, and output stays stable."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.4g}")


@dataclass(frozen=True)
class Query:
    model: str
    precision: str
    device: str
    technique: str | None = None
    unit: str | None = None
    runtime: str | None = None
    batch: int = 1
    context: int | None = None
    power_mode: str | None = None


@dataclass
class Estimate:
    query: Query
    model_name: str
    device_name: str
    technique: str
    unit: str
    runtime: str
    power_mode: str
    is_llm: bool
    latency_ms: Quantity
    throughput_fps: Quantity
    memory_gb: Quantity
    memory_breakdown_gb: dict[str, float]
    memory_available_gb: float
    power_w: Quantity
    energy_mj: Quantity
    accuracy: Quantity
    accuracy_metric: str
    prefill_tokens_per_s: Quantity | None = None
    decode_tokens_per_s: Quantity | None = None
    weights_on_chip: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def fits_memory(self) -> bool:
        return self.memory_gb.value <= self.memory_available_gb

    def unit_share(self, rate_per_s: float) -> float:
        """Share of the unit's time that serving `rate_per_s` inferences (or tokens) per
        second takes, as `solve` counts it (by occupancy: a pipelined unit's throughput)."""
        return rate_per_s / self.throughput_fps.value

    def power_at_rate(self, rate_per_s: float) -> float:
        """Average power (W) when serving `rate_per_s` inferences (or tokens) per second."""
        busy = min(1.0, self.unit_share(rate_per_s))
        return self._idle_w + busy * (self._mode_w - self._idle_w)

    def as_dict(self) -> dict:
        q = asdict(self.query)
        q.update(technique=self.technique, unit=self.unit, runtime=self.runtime,
                 power_mode=self.power_mode)
        out = {"query": q, "model_name": self.model_name, "device_name": self.device_name,
               "latency_ms": self.latency_ms.as_dict(),
               "throughput_fps": self.throughput_fps.as_dict()}
        if self.is_llm:
            out["prefill_tokens_per_s"] = self.prefill_tokens_per_s.as_dict()
            out["decode_tokens_per_s"] = self.decode_tokens_per_s.as_dict()
        out["memory_gb"] = self.memory_gb.as_dict()
        out["memory_breakdown_gb"] = {k: _r(v) for k, v in self.memory_breakdown_gb.items()}
        out["memory_available_gb"] = _r(self.memory_available_gb)
        out["fits_memory"] = self.fits_memory
        if self.weights_on_chip is not None:
            out["weights_on_chip"] = self.weights_on_chip
        out["power_w"] = self.power_w.as_dict()
        out["energy_mj"] = self.energy_mj.as_dict()
        out["accuracy"] = {**self.accuracy.as_dict(), "metric": self.accuracy_metric}
        out["notes"] = list(self.notes)
        return out

    # filled by estimate(); kept out of the dataclass fields shown to users
    _idle_w: float = 0.0
    _mode_w: float = 0.0


# ---------------------------------------------------------------- resolving a query

def resolve_unit(dev: Device, unit_id: str | None, precision: str) -> ComputeUnit:
    if unit_id is not None:
        try:
            unit = dev.unit(unit_id)
        except KeyError:
            raise UnknownIdError(f"device {dev.id!r} has no unit {unit_id!r}"
                                 f"{did_you_mean(unit_id, [u.id for u in dev.units])} "
                                 f"(units: {', '.join(u.id for u in dev.units)})",
                                 field="unit") from None
        if precision not in unit.precisions:
            raise EstimateError(f"{precision.upper()} is not a precision of {dev.id} {unit.id} "
                                f"(it runs {', '.join(p.upper() for p in unit.precisions)})",
                                field="precision")
        return unit
    for u in dev.units:
        if precision in u.precisions:
            return u
    runs = sorted({p for u in dev.units for p in u.precisions}, key=PRECISIONS.index)
    raise EstimateError(f"{precision.upper()} is not a precision of {dev.id} "
                        f"(its units run {', '.join(p.upper() for p in runs)})", field="precision")


def resolve_runtime(dev: Device, unit: ComputeUnit, runtime: str | None, catalog=None,
                    model=None) -> str:
    """The runtime asked for, or the unit's first that runs this kind of model (LLM runtimes
    run LLMs only; vision compilers run no LLM; see catalog/runtimes.yaml)."""
    fits = [r for r in unit.runtimes
            if catalog is None or model is None or catalog.runs(r, model)]
    if runtime is None:
        if not fits:
            raise EstimateError(f"no runtime on {dev.id} {unit.id} runs "
                                f"{'an LLM' if model.llm else 'a non-LLM model'} "
                                f"(runtimes: {', '.join(unit.runtimes)})", field="runtime")
        return fits[0]
    if runtime not in unit.runtimes:
        raise EstimateError(f"runtime {runtime!r} does not run on {dev.id} {unit.id} "
                            f"(runtimes: {', '.join(unit.runtimes)})"
                            f"{did_you_mean(runtime, unit.runtimes)}", field="runtime")
    if runtime not in fits:
        kind = catalog.runtimes[runtime].runs
        raise EstimateError(f"runtime {runtime!r} runs {'LLMs' if kind == 'llm' else 'no LLM'}"
                            f"; {model.id} {'is' if model.llm else 'is not'} an LLM "
                            f"(runtimes here that run it: {', '.join(fits) or 'none'})",
                            field="runtime")
    return runtime


def runtime_rank(measured_runtime: bool, latency_ms: float) -> tuple:
    """How a unit's runtimes are ranked for the same option (lower is better), in `estimate`
    and in the solver's pruning alike: a runtime with measured points before one without (an
    unmeasured runtime's estimate is only the mean runtime's), then the faster."""
    return (not measured_runtime, latency_ms)


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

    @property
    def regime(self) -> str:
        return "compute" if self.compute_ms >= self.memory_ms else "memory"

    @property
    def core_ms(self) -> float:
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


def roofline_terms(xp, *, weight_bytes, act_bytes, kv_bytes, ops, peak_ops, dram_gbs,
                   onchip_bytes, link_gbs, io_bytes, link_overhead_ms, dispatch_ms,
                   act_on_chip=False, context_switch=False, context_switch_ms=0.0):
    """The roofline, once, for scalars (xp=_ScalarXP) or numpy arrays (xp=numpy).

    onchip_bytes: on-chip weight memory, or -1 where the unit has none.
    link_gbs: host-link bandwidth for an accelerator on a host, or 0 where there is none
    (then io_bytes and link_overhead_ms are ignored).
    context_switch: weights beyond on-chip memory split the network into contexts, and every
    call loads all of them (Hailo), instead of streaming only the excess (Edge TPU).
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
    excess = xp.where(switching, weight_bytes, excess)
    streamed = xp.where(has_chip & has_link, excess, 0.0)
    dram_weights = xp.where(has_chip, xp.where(has_link, 0.0, excess), weight_bytes)
    safe_link = xp.where(has_link, link_gbs, 1.0)
    streaming_ms = streamed / (safe_link * 1e9) * 1e3 + xp.where(switching, context_switch_ms,
                                                                  0.0)
    # dataflow accelerators (Hailo) keep activations on chip; elsewhere they are written and
    # read back once (the Edge TPU's SRAM caches parameters, per Coral's documentation)
    act_dram = xp.where(act_on_chip, 0.0, 2.0 * act_bytes)
    memory_ms = (dram_weights + act_dram + kv_bytes) / (dram_gbs * 1e9) * 1e3
    transfer_ms = xp.where(has_link, io_bytes / (safe_link * 1e9) * 1e3 + link_overhead_ms, 0.0)
    return compute_ms, memory_ms, streaming_ms, transfer_ms, dispatch_ms


def roofline(model: ModelProfile, precision: str, dev: Device, unit: ComputeUnit, *,
             batch: int = 1, context: int = 0, params_scale: float = 1.0,
             macs_scale: float = 1.0, compute_scale: float = 1.0,
             math_path: MathPath = MathPath()) -> Roofline:
    s = model.size
    bpp = BYTES_PER_PARAM[precision]
    mp = math_precision(unit, precision, math_path)
    weight_bytes = s.params_m * 1e6 * params_scale * bpp
    link = dev.host_interface if unit.kind != "cpu" else None
    terms = roofline_terms(
        _ScalarXP,
        weight_bytes=weight_bytes,
        act_bytes=s.activation_mb * 1e6 * (BYTES_PER_PARAM[mp] / 4.0) * batch,
        kv_bytes=(model.llm.kv_bytes_per_token(KV_BYTES_PER_ELEMENT) * context * batch
                  if model.llm else 0.0),
        ops=2.0 * s.macs_g * 1e9 * macs_scale * batch,
        peak_ops=unit.call_peak_tops(mp, math_path.matrix_units) * 1e12 * compute_scale,
        dram_gbs=dev.memory.bandwidth_gbs,
        onchip_bytes=unit.on_chip_memory_mb * 1e6 if unit.on_chip_memory_mb is not None else -1.0,
        link_gbs=link.bandwidth_gbs if link else 0.0,
        io_bytes=(s.input_elements + s.output_elements) * batch * bpp,
        link_overhead_ms=link.per_call_overhead_ms if link else 0.0,
        dispatch_ms=unit.dispatch_overhead_ms, act_on_chip=unit.activations_on_chip,
        context_switch=unit.weight_loading == "context-switch",
        context_switch_ms=unit.context_switch_ms)
    on_chip = None if unit.on_chip_memory_mb is None else \
        weight_bytes <= unit.on_chip_memory_mb * 1e6
    return Roofline(*terms, weights_on_chip=on_chip)


def _bottleneck(r: Roofline, core_ms: float) -> str:
    parts = {"compute" if r.regime == "compute" else "memory-bandwidth": core_ms,
             "weight-streaming": r.streaming_ms, "host-transfer": r.transfer_ms,
             "dispatch": r.dispatch_ms}
    return max(parts, key=parts.get)


# ---------------------------------------------------------------- the estimate

def estimate(catalog: Catalog, q: Query, *, calibration=None) -> Estimate:
    """Estimate one combination. Raises UnknownIdError / EstimateError on what cannot run."""
    from .calibrate import calibration_for  # local: calibration imports this module

    model = catalog.model(q.model)
    dev = catalog.device(q.device)
    if q.precision not in PRECISIONS:
        raise EstimateError(f"unknown precision {q.precision!r}; expected one of "
                            f"{', '.join(PRECISIONS)}", field="precision")
    if q.batch < 1:
        raise EstimateError("batch must be at least 1", field="batch")
    unit = resolve_unit(dev, q.unit, q.precision)
    runtime = resolve_runtime(dev, unit, q.runtime, catalog, model)
    cal = calibration if calibration is not None else calibration_for(catalog)
    if q.runtime is None:
        # every runtime that runs it, estimated in full (measured points included); the best
        fits = [r for r in unit.runtimes if catalog.runs(r, model)]
        ests = [estimate(catalog, replace(q, unit=unit.id, runtime=r), calibration=cal)
                for r in fits]
        return min(ests, key=lambda e: runtime_rank(cal.measured_runtime(e.runtime, unit.kind),
                                                     e.latency_ms.value))
    try:
        mode = dev.mode(q.power_mode)
    except KeyError:
        raise UnknownIdError(f"device {dev.id!r} has no power mode {q.power_mode!r}"
                             f"{did_you_mean(q.power_mode, [m.id for m in dev.power.modes])} "
                             f"(modes: {', '.join(m.id for m in dev.power.modes)})",
                             field="power_mode") from None
    try:
        option = model.option(q.precision, q.technique)
    except KeyError:
        have = ", ".join(f"{o.precision}/{o.technique}" for o in model.options)
        raise EstimateError(f"{model.id} has no {q.precision}"
                            f"{'/' + q.technique if q.technique else ''} option (it has {have})",
                            field="technique" if q.technique else "precision") from None

    is_llm = model.llm is not None
    context = 0
    if is_llm:
        context = q.context if q.context is not None else min(DEFAULT_LLM_CONTEXT,
                                                                model.llm.context_max)
    notes: list[str] = []
    if is_llm and context > model.llm.context_max:
        notes.append(f"context {context} exceeds the model's trained context "
                     f"{model.llm.context_max}")

    math_path = catalog.math_path(runtime)
    mp = math_precision(unit, q.precision, math_path)
    r = roofline(model, q.precision, dev, unit, batch=q.batch, context=context,
                 params_scale=option.params_scale, macs_scale=option.macs_scale,
                 compute_scale=mode.compute_scale, math_path=math_path)
    gops = efficiency_gops(model, unit, q.batch, option.macs_scale)
    eff, sigma, n_support = cal.efficiency(dev, unit, model, runtime, r.regime, mp, gops)
    core_ms = r.core_ms / eff
    lat = core_ms + r.fixed_ms + cal.overhead_ms(dev.family, llm=is_llm)
    busy = busy_ms(_ScalarXP, unit.activations_on_chip, core_ms, r.streaming_ms, lat)
    # calibrated when measured points of this device family and regime set the efficiency
    # (they also absorb an estimated peak); otherwise the prior alone: estimated
    provenance = "calibrated" if n_support else "estimated"
    bottleneck = _bottleneck(r, core_ms)

    measured = cal.measured_point(dev.id, model.id, q.precision, unit.id, runtime, q.batch,
                                  mode.id)
    # latency and occupancy each carry their own provenance: a measured throughput of a
    # pipelined unit says nothing exact about one call's latency, and the reverse
    lat_prov = busy_prov = provenance
    if measured is not None:
        value, is_busy = measured
        lat, busy = with_measurement(value, is_busy, lat, busy)
        if is_busy:
            busy_prov = "measured"
            notes.append("throughput is a published measurement of exactly this combination")
        else:
            lat_prov = "measured"
            if not unit.activations_on_chip:   # a call holds the unit for its latency
                busy_prov = "measured"
                what = "latency and throughput follow"
            else:
                what = "latency is"
            notes.append(f"{what} a published measurement of exactly this combination "
                         "(model execution; a fitted pre/post-processing share taken out "
                         "where the timing included it)")

    def spread(prov, fit_sigma=sigma):
        # (low, high) as factors of the value: a measurement's own spread, else the fit's
        if prov == "measured":
            return 0.9, 1.1
        return math.exp(-Z80 * fit_sigma), math.exp(Z80 * fit_sigma)

    lat_lo, lat_hi = spread(lat_prov)
    busy_lo, busy_hi = spread(busy_prov)
    low, high = lat * lat_lo, lat * lat_hi

    if measured is None and not cal.measured_runtime(runtime, unit.kind):
        notes.append(f"no published measurement uses {runtime} on a {unit.kind}: its "
                     "efficiency there is the fit's guess (its other units' and the mean "
                     "runtime's)")
    if unit.activations_on_chip and busy < lat:
        notes.append(f"{unit.id} pipelines a stream of inputs: throughput is set by its "
                     "steady state, which hides host transfers and per-call costs")
    if unit.cores > 1:
        # a call runs on one core (latency above); the unit runs `cores` calls side by side
        busy /= unit.cores
        notes.append(f"{unit.id} has {unit.cores} cores that each run one call: throughput is "
                     f"{unit.cores} streams', {unit.cores} x one call's rate")
    latency = Quantity(lat, "ms", lat_prov, low, high, bottleneck)
    throughput = Quantity(q.batch * 1000.0 / busy, "fps", busy_prov,
                          q.batch * 1000.0 / (busy * busy_hi),
                          q.batch * 1000.0 / (busy * busy_lo), bottleneck)

    prefill = decode = None
    if is_llm:
        # decode: one token per step, latency above is per token; prefill is compute-bound
        decode = Quantity(1000.0 / lat, "tokens/s", lat_prov, 1000.0 / high, 1000.0 / low,
                          bottleneck)
        ceff, csigma, cn = cal.efficiency(dev, unit, model, runtime, "prefill", mp, gops)
        per_tok_ms = r.compute_ms / q.batch / ceff   # the roofline's compute time per token
        pf_prov = "calibrated" if cn else "estimated"
        pf_measured = cal.measured_prefill_ms(dev.id, model.id, q.precision, unit.id, runtime,
                                              q.batch, mode.id)
        if pf_measured is not None:
            per_tok_ms, pf_prov = pf_measured, "measured"
            notes.append("prefill is a published measurement of exactly this combination")
        pv = 1000.0 / per_tok_ms
        pf_lo, pf_hi = spread(pf_prov, csigma)
        prefill = Quantity(pv, "tokens/s", pf_prov, pv * pf_lo, pv * pf_hi, "compute")

    # memory: weights + activations + KV cache, plus what the OS and runtime keep
    s = model.size
    weights_gb = s.params_m * 1e6 * option.params_scale * BYTES_PER_PARAM[q.precision] / 1e9
    act_gb = s.activation_mb * 1e-3 * (BYTES_PER_PARAM[mp] / 4.0) * q.batch
    kv_gb = (model.llm.kv_bytes_per_token(KV_BYTES_PER_ELEMENT) * context * q.batch / 1e9
             if is_llm else 0.0)
    reserve_gb = dev.memory.total_gb - dev.memory.available_gb
    breakdown = {"weights": weights_gb, "activations": act_gb, "kv_cache": kv_gb,
                 "os_and_runtime_reserve": reserve_gb}
    need = weights_gb + act_gb + kv_gb
    mem_prov = "estimated" if ("activation_mb" in s.estimated or "params_m" in s.estimated) \
        else "datasheet"
    memory = Quantity(need, "GB", mem_prov, bottleneck=None)

    # power: the mode's budget while busy; energy per inference at that power
    idle = dev.power.idle_w
    pw_prov = "estimated" if dev.power.estimated else "datasheet"
    power = Quantity(mode.power_w, "W", pw_prov, idle, mode.power_w)
    energy = Quantity(mode.power_w * busy / q.batch, "mJ",
                      "estimated" if busy_prov == "estimated" or pw_prov == "estimated"
                      else busy_prov,
                      idle * busy * busy_lo / q.batch, mode.power_w * busy * busy_hi / q.batch)

    acc_prov = "estimated" if "accuracy" in option.estimated else "measured"
    accuracy = Quantity(option.accuracy, model.metric, acc_prov)

    est = Estimate(query=q, model_name=model.name, device_name=dev.name,
                   technique=option.technique, unit=unit.id, runtime=runtime,
                   power_mode=mode.id, is_llm=is_llm, latency_ms=latency,
                   throughput_fps=throughput, memory_gb=memory, memory_breakdown_gb=breakdown,
                   memory_available_gb=dev.memory.available_gb, power_w=power,
                   energy_mj=energy, accuracy=accuracy, accuracy_metric=model.metric,
                   prefill_tokens_per_s=prefill, decode_tokens_per_s=decode,
                   weights_on_chip=r.weights_on_chip, notes=notes)
    est._idle_w, est._mode_w = idle, mode.power_w
    if r.weights_on_chip is False:
        if unit.weight_loading == "context-switch":
            notes.append(f"weights exceed the {unit.id}'s {unit.on_chip_memory_mb:g} MB on-chip "
                         "memory: the network runs in contexts, all reloaded on every call "
                         "(a larger batch amortises the reload)")
        else:
            notes.append(f"weights exceed the {unit.id}'s {unit.on_chip_memory_mb:g} MB on-chip "
                         "memory: the rest streams on every inference")
    return est


# ---------------------------------------------------------------- many combinations at once

@dataclass(frozen=True)
class UnitRow:
    """One way to run on a device: (device, unit, power mode, runtime)."""
    device: Device
    unit: ComputeUnit
    mode_id: str
    compute_scale: float
    runtime: str


@dataclass(frozen=True)
class OptionRow:
    """One model at one precision and technique."""
    model: ModelProfile
    precision: str
    technique: str
    accuracy: float
    params_scale: float
    macs_scale: float


def estimate_grid(catalog: Catalog, options: list[OptionRow], units: list[UnitRow], *,
                  batch: int = 1, context: int | None = None, calibration=None) -> dict:
    """Latency and memory of every option on every unit row, as numpy arrays of shape
    (len(options), len(units)); the same physics and calibration as `estimate`, which the
    tests check cell by cell. `runs` is False where the unit cannot run the precision."""
    from .calibrate import calibration_for
    cal = calibration if calibration is not None else calibration_for(catalog)
    # explanations ask many variants of one spec: the estimates do not change, so keep them
    key = (id(cal), batch, context,
           tuple((o.model.id, o.precision, o.technique, o.params_scale, o.macs_scale)
                 for o in options),
           tuple((u.device.id, u.unit.id, u.mode_id, u.runtime) for u in units))
    cache = catalog.__dict__.setdefault("_grid_cache", {})
    if key not in cache:
        if len(cache) >= GRID_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        g = _estimate_grid(cal, options, units, batch, context,
                           [catalog.math_path(u.runtime) for u in units])
        # a runtime runs only its kind of model (catalog/runtimes.yaml)
        for j, u in enumerate(units):
            rt = catalog.runtimes.get(u.runtime)
            if rt is not None and rt.runs != "any":
                g["runs"][:, j] &= [rt.runs_model(o.model) for o in options]
        cache[key] = g
    return cache[key]


GRID_CACHE_SIZE = 8

GRID_CHUNK_CELLS = 1 << 18   # rows are processed in chunks of ~2 MB arrays, cache-sized


def _estimate_grid(cal, options, units, batch, context, math_paths) -> dict:
    import numpy as np
    n_o, n_u = len(options), len(units)
    f = np.float64
    prec_idx = {p: i for i, p in enumerate(PRECISIONS)}
    bpp = np.array([BYTES_PER_PARAM[p] for p in PRECISIONS])
    o_prec = np.array([prec_idx[o.precision] for o in options], dtype=int)

    # unit rows: per precision whether it runs, at which math precision, at what peak
    ok_p = np.zeros((len(PRECISIONS), n_u), dtype=bool)
    mi_p = np.zeros((len(PRECISIONS), n_u), dtype=int)
    pk_p = np.ones((len(PRECISIONS), n_u))
    for p in PRECISIONS:
        k = prec_idx[p]
        for j, u in enumerate(units):
            if p in u.unit.precisions:
                mp = math_precision(u.unit, p, math_paths[j])
                ok_p[k, j] = True
                mi_p[k, j] = prec_idx[mp]
                pk_p[k, j] = (u.unit.call_peak_tops(mp, math_paths[j].matrix_units) * 1e12
                              * u.compute_scale)
            else:
                mi_p[k, j] = k

    def row(values):
        return np.asarray(values, dtype=f).reshape(1, n_u)

    links = [u.device.host_interface if u.unit.kind != "cpu" else None for u in units]
    dram = row([u.device.memory.bandwidth_gbs for u in units])
    onchip = row([u.unit.on_chip_memory_mb * 1e6 if u.unit.on_chip_memory_mb is not None
                  else -1.0 for u in units])
    link_gbs = row([l.bandwidth_gbs if l else 0.0 for l in links])
    link_ms = row([l.per_call_overhead_ms if l else 0.0 for l in links])
    dispatch = row([u.unit.dispatch_overhead_ms for u in units])
    act_chip = np.array([u.unit.activations_on_chip for u in units]).reshape(1, n_u)
    ctx_switch = np.array([u.unit.weight_loading == "context-switch"
                           for u in units]).reshape(1, n_u)
    ctx_ms = row([u.unit.context_switch_ms for u in units])

    # log efficiency: the factors of calibrate._features (unit rows here; model family,
    # precision path and device x model per option below)
    coef = cal.coef_of
    lu = {regime: row([coef(f"regime:{regime}")
                       + coef(f"dev:{u.device.family}:{u.unit.kind}:{regime}")
                       + coef(f"device:{u.device.id}:{u.unit.kind}")
                       + coef(f"kind:{u.unit.kind}:{regime}") + coef(f"runtime:{u.runtime}")
                       for u in units])
          for regime in ("compute", "memory")}
    # the unit's precision path, by the precision the math runs at
    lp = np.array([[coef(f"precision:{u.device.family}:{u.unit.kind}:{p}") for u in units]
                   for p in PRECISIONS])
    # device x model: rows of the models that have such factors, indexed per option
    pair_models = sorted({n.split(":")[2] for n in cal.coef if n.startswith("pair:")})
    pair_row = {m: r for r, m in enumerate(pair_models)}
    lpair = np.array([[coef(f"pair:{u.device.id}:{m}") for u in units] for m in pair_models]
                     ).reshape(len(pair_models), n_u)
    o_pair = np.array([pair_row.get(o.model.id, -1) for o in options], dtype=int)
    is_llm = np.array([o.model.llm is not None for o in options])
    overhead = {llm: row([cal.overhead_ms(u.device.family, llm=llm) for u in units])
                for llm in (False, True)}
    lo_all = np.array([coef(f"model:{o.model.family}") for o in options])
    # model family x unit kind, per family row
    families = sorted({o.model.family for o in options})
    fam_row = {fm: r for r, fm in enumerate(families)}
    lmk = np.array([[coef(f"model-on:{fm}:{u.unit.kind}") for u in units] for fm in families]
                   ).reshape(len(families), n_u)
    o_fam = np.array([fam_row[o.model.family] for o in options], dtype=int)

    ctx = np.array([0 if o.model.llm is None else
                    (context if context is not None else
                     min(DEFAULT_LLM_CONTEXT, o.model.llm.context_max)) for o in options], f)
    kv_all = np.array([o.model.llm.kv_bytes_per_token(KV_BYTES_PER_ELEMENT) if o.model.llm
                       else 0.0 for o in options]) * ctx * batch
    w_all = np.array([o.model.size.params_m * 1e6 * o.params_scale for o in options]) \
        * bpp[o_prec]
    act_all = np.array([o.model.size.activation_mb * 1e6 for o in options])
    ops_all = np.array([2.0 * o.model.size.macs_g * 1e9 * o.macs_scale * batch for o in options])
    # as efficiency_gops: a pipelined unit's size term reads one input's work
    per_batch = np.where(act_chip, 1.0 / batch, 1.0)
    io_all = np.array([o.model.size.input_elements + o.model.size.output_elements
                       for o in options], f) * batch * bpp[o_prec]

    runs = np.empty((n_o, n_u), dtype=bool)
    latency = np.empty((n_o, n_u))
    busy = np.empty((n_o, n_u))
    memory_gb = np.empty((n_o, n_u))
    lo_clip, hi_clip = np.log(EFF_BOUNDS[0]), np.log(EFF_BOUNDS[1])
    step = max(1, GRID_CHUNK_CELLS // max(1, n_u))
    for a in range(0, n_o, step):
        sl = slice(a, min(n_o, a + step))
        pr = o_prec[sl]
        runs[sl] = ok_p[pr]
        math_idx = mi_p[pr]
        act_bytes = act_all[sl, None] * (bpp[math_idx] / 4.0) * batch
        compute_ms, memory_ms, streaming_ms, transfer_ms, dispatch_ms = roofline_terms(
            np, weight_bytes=w_all[sl, None], act_bytes=act_bytes, kv_bytes=kv_all[sl, None],
            ops=ops_all[sl, None], peak_ops=pk_p[pr], dram_gbs=dram, onchip_bytes=onchip,
            link_gbs=link_gbs, io_bytes=io_all[sl, None], link_overhead_ms=link_ms,
            dispatch_ms=dispatch, act_on_chip=act_chip, context_switch=ctx_switch,
            context_switch_ms=ctx_ms)
        lo = lo_all[sl, None] + lmk[o_fam[sl]] + np.take_along_axis(lp, math_idx, axis=0)
        rows_pair = o_pair[sl]
        has_pair = rows_pair >= 0
        if has_pair.any():
            lo = np.broadcast_to(lo, (len(pr), n_u)).copy()
            lo[has_pair] += lpair[rows_pair[has_pair]]
        size = coef("size:compute") * np.log10(
            np.maximum(ops_all[sl, None] * per_batch / 1e9, 1e-6))
        logeff = np.where(compute_ms >= memory_ms, lu["compute"] + lo + size, lu["memory"] + lo)
        eff = np.exp(np.clip(logeff, lo_clip, hi_clip))
        core_ms = np.maximum(compute_ms, memory_ms) / eff
        latency[sl] = core_ms + streaming_ms + transfer_ms + dispatch_ms \
            + np.where(is_llm[sl, None], overhead[True], overhead[False])
        busy[sl] = busy_ms(np, act_chip, core_ms, streaming_ms, latency[sl])
        memory_gb[sl] = (w_all[sl, None] + act_bytes + kv_all[sl, None]) / 1e9

    # a published measurement of exactly the combination wins, as in `estimate`
    if cal.measured:
        o_at: dict[tuple, list[int]] = {}
        for i, o in enumerate(options):
            o_at.setdefault((o.model.id, o.precision), []).append(i)
        u_at: dict[tuple, list[int]] = {}
        for j, u in enumerate(units):
            u_at.setdefault((u.device.id, u.unit.id, u.runtime, u.mode_id), []).append(j)
        for (dev, model, prec, unit, runtime, b, mode, _) in cal.measured:
            if b != batch:
                continue
            value, is_busy = cal.measured_point(dev, model, prec, unit, runtime, b, mode)
            for i in o_at.get((model, prec), ()):
                for j in u_at.get((dev, unit, runtime, mode), ()):
                    latency[i, j], busy[i, j] = with_measurement(value, is_busy, latency[i, j],
                                                                 busy[i, j])
    # a unit of several cores runs that many calls side by side: each holds a share
    busy /= row([u.unit.cores for u in units])
    return {"runs": runs, "latency_ms": latency, "busy_ms": busy, "memory_gb": memory_gb,
            "runtime_measured": np.array([cal.measured_runtime(u.runtime, u.unit.kind)
                                          for u in units],
                                         dtype=bool)}
