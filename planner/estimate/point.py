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

from planner.catalog.loader import Catalog
from planner.catalog.schema import UNKNOWN_METRIC, ComputeUnit, Device
from planner.errors import EstimateError, UnknownIdError, did_you_mean
from planner.estimate.cache import calibration_for
from planner.estimate.calibrate import FIXED_SHARE_FLOOR
from planner.estimate.fallback import (
    Fallback,
    fallback_host_busy,
    fallback_note,
    host_side,
    split,
)
from planner.estimate.layers import partitions, shares_for
from planner.estimate.roofline import (
    DEFAULT_LLM_CONTEXT,
    MEASURED_CONTEXT,
    _bottleneck,
    _ScalarXP,
    busy_ms,
    efficiency_gops,
    math_precision,
    roofline,
    with_measurement,
)
from planner.text import accuracy_elsewhere, num
from planner.vocabulary import (
    BYTES_PER_PARAM,
    KV_CACHE_BYTES,
    LINEAR_ONLY_BITS,
    PRECISIONS,
    WEIGHT_FORMAT_BASIS,
    WEIGHT_FORMATS,
)

Z80 = 1.2816                        # two-sided 80 % interval under a log-normal error


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
    kv_cache: str = "fp16"          # an LLM's KV cache element type (vocabulary.KV_CACHE_BYTES)
    prompt_tokens: int | None = None    # an LLM's prompt: gives the time to first token
    weight_format: str | None = None    # an LLM's weights in a named format (vocabulary.WEIGHT_FORMATS)


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
    # the toolchain whose quantized model the published accuracy was measured on, where
    # this runtime runs another: {toolchain, runtimes}; the figure is then an estimate here
    accuracy_quantized_by: dict | None = None
    prefill_tokens_per_s: Quantity | None = None
    ttft_ms: Quantity | None = None         # time to first token for q.prompt_tokens
    context_tokens: int = 0                 # an LLM's context the KV cache was counted at
    decode_tokens_per_s: Quantity | None = None
    weights_on_chip: bool | None = None
    notes: list[str] = field(default_factory=list)
    layers: dict | None = None              # the per-layer roofline's summary, where used
    # a single-segment unit's fallback: the device's CPU unit that runs the other layers, and
    # the time a call holds it (ms; batch included), which also holds that unit
    host_unit: str | None = None
    host_busy_ms: float = 0.0

    @property
    def fits_memory(self) -> bool:
        return self.memory_gb.value <= self.memory_available_gb

    def unit_share(self, rate_per_s: float) -> float:
        """Share of the unit's time that serving `rate_per_s` inferences (or tokens) per
        second takes, as `solve` counts it (by occupancy: a pipelined unit's throughput)."""
        return rate_per_s / self.throughput_fps.value

    def host_share(self, rate_per_s: float) -> float:
        """Share of host_unit's time the fallback's CPU layers take at that rate (0 without
        a fallback)."""
        return rate_per_s * self.host_busy_ms / 1000.0 / self.query.batch

    def as_dict(self) -> dict:
        q = asdict(self.query)
        if self.is_llm:
            q["context"] = self.context_tokens      # the context counted, default or given
        else:
            q.pop("kv_cache")
            q.pop("prompt_tokens")
            q.pop("weight_format")
        q.update(technique=self.technique, unit=self.unit, runtime=self.runtime,
                 power_mode=self.power_mode)
        out = {"query": q, "model_name": self.model_name, "device_name": self.device_name,
               "latency_ms": self.latency_ms.as_dict(),
               "throughput_fps": self.throughput_fps.as_dict()}
        if self.is_llm:
            out["prefill_tokens_per_s"] = self.prefill_tokens_per_s.as_dict()
            if self.ttft_ms is not None:
                out["ttft_ms"] = self.ttft_ms.as_dict()
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
        if self.accuracy_metric == UNKNOWN_METRIC:
            out["accuracy"]["value"] = None     # no accuracy was given: not a 0
        if self.accuracy_quantized_by:
            out["accuracy"]["quantized_by"] = self.accuracy_quantized_by
        out["notes"] = list(self.notes)
        if self.layers is not None:
            out["layers"] = self.layers
        return out



# ---------------------------------------------------------------- resolving a query

def resolve_unit(dev: Device, unit_id: str | None, precision: str,
                 usable=None) -> ComputeUnit:
    """The unit asked for, or the device's first that runs the precision: of those, the first
    where `usable(unit)` holds where one does (a unit with a runtime for this model: an LLM on
    an RK3588 runs on the CPU, not on the NPU listed first)."""
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
    able = [u for u in dev.units if precision in u.precisions]
    if able:
        return next((u for u in able if usable is None or usable(u)), able[0])
    runs = sorted({p for u in dev.units for p in u.precisions}, key=PRECISIONS.index)
    raise EstimateError(f"{precision.upper()} is not a precision of {dev.id} "
                        f"(its units run {', '.join(p.upper() for p in runs)})", field="precision")


def resolve_runtime(dev: Device, unit: ComputeUnit, runtime: str | None, catalog=None,
                    model=None) -> str:
    """The runtime asked for, or the unit's first that runs this kind of model (LLM runtimes
    run LLMs only; vision compilers run no LLM; see catalog/runtimes.yaml)."""
    fits = [r for r in unit.runtimes
            if catalog is None or model is None or catalog.runs(r, model, dev.id)]
    if runtime is None:
        if not fits:
            what = (f"{model.id} (its profile names {', '.join(model.runtimes)})"
                    if model is not None and model.runtimes is not None else
                    "an LLM" if model.llm else "a non-LLM model")
            raise EstimateError(f"no runtime on {dev.id} {unit.id} runs {what} "
                                f"(runtimes: {', '.join(unit.runtimes)})", field="runtime")
        return fits[0]
    if runtime not in unit.runtimes:
        raise EstimateError(f"runtime {runtime!r} does not run on {dev.id} {unit.id} "
                            f"(runtimes: {', '.join(unit.runtimes)})"
                            f"{did_you_mean(runtime, unit.runtimes)}", field="runtime")
    if runtime not in fits:
        if model.runtimes is not None and runtime not in model.runtimes:
            raise EstimateError(f"runtime {runtime!r} does not run {model.id}: its profile "
                                f"names only {', '.join(model.runtimes)} (its runtimes_source "
                                f"says why; runtimes here that run it: "
                                f"{', '.join(fits) or 'none'})", field="runtime")
        rt = catalog.runtimes[runtime]
        if rt.runs_model(model):   # it runs LLMs, but has no build for them on this stack
            raise EstimateError(f"runtime {runtime!r} has no LLM build for {dev.id}'s software "
                                f"stack ({rt.no_llm_source}; runtimes here that run it: "
                                f"{', '.join(fits) or 'none'})", field="runtime")
        kind = rt.runs
        raise EstimateError(f"runtime {runtime!r} runs {'LLMs' if kind == 'llm' else 'no LLM'}"
                            f"; {model.id} {'is' if model.llm else 'is not'} an LLM "
                            f"(runtimes here that run it: {', '.join(fits) or 'none'})",
                            field="runtime")
    return runtime


def vendor_prior(catalog, dev: Device, unit: ComputeUnit, runtime: str, model,
                 kv_cache: str = "fp16", weight_format: str | None = None) -> str | None:
    """The runtime an unmeasured `runtime` on this unit is estimated no faster than: the
    unit's vendor runtime (TensorRT on a Jetson GPU, QNN on a Qualcomm NPU,
    catalog/runtimes.yaml vendor_for) where it is another runtime of the unit that runs the
    model, an LLM with its KV cache type and weight format too (Core ML loads no MLX
    weights: the prior is about the combinations the vendor runtime runs); else None."""
    vendor = catalog.vendor_runtime(f"{dev.family}/{unit.kind}", unit.runtimes)
    if vendor is None or vendor == runtime or not catalog.runs(vendor, model, dev.id):
        return None
    if model.llm is not None and not catalog.math_path(vendor).handles(kv_cache, weight_format):
        return None
    return vendor


def runtime_rank(measured_runtime: bool, latency_ms: float) -> tuple:
    """How a unit's runtimes are ranked for the same option (lower is better), in `estimate`
    and in the solver's pruning alike: a runtime with measured points before one without (an
    unmeasured runtime's estimate is only the mean runtime's), then the faster."""
    return (not measured_runtime, latency_ms)


def workload_prompt(w, model) -> int | None:
    """The prompt an LLM workload's (a spec's or a manifest's) time to first token is for:
    its prompt_tokens, else its context_tokens (a prompt that fills the context), else the
    default context; None for a model that is not an LLM."""
    if model.llm is None:
        return None
    return w.prompt_tokens or w.context_tokens or min(DEFAULT_LLM_CONTEXT, model.llm.context_max)


MEASURED_SPREAD = 0.10     # a published measurement's own spread, either way


def measured_spread(shift_share: float, fit: tuple[float, float]) -> tuple[float, float]:
    """(low, high) as factors of a measured value: the measurement's own spread; where a
    share of the value is a modelled shift (a decode rate moved to another context), that
    share spreads as the fit does (`fit`: its low and high factors)."""
    lo_f, hi_f = fit if shift_share >= 0 else fit[::-1]
    measured = 1.0 - shift_share
    return ((1.0 - MEASURED_SPREAD) * measured + shift_share * lo_f,
            (1.0 + MEASURED_SPREAD) * measured + shift_share * hi_f)


def decode_context_shift_ms(catalog: Catalog, cal, model, precision: str, dev: Device,
                            unit: ComputeUnit, runtime: str, call: dict,
                            measured_context: int = MEASURED_CONTEXT) -> tuple[float, float]:
    """(shift, modelled): how much longer one decode step is at `call`'s context than at
    MEASURED_CONTEXT, the context a measured step is kept at (Calibration.measured_point),
    and how much longer than at `measured_context`, the one it was measured at: the part
    nobody measured. Each is the modelled step at the two contexts, at the calibrated
    efficiency. A step reads the whole KV cache, which grows with the context (negative:
    a shorter context). (0, 0) for a model that is not an LLM."""
    contexts = {call["context"], MEASURED_CONTEXT, measured_context}
    if model.llm is None or len(contexts) == 1:
        return 0.0, 0.0
    cdev, cunit, _ = catalog.calibrated_as(dev, unit, call["mode"])
    mp = math_precision(unit, precision, call["math_path"])
    gops = efficiency_gops(model, unit, call["batch"], call["macs_scale"])

    def step_ms(context: int) -> float:
        r = roofline(model, precision, dev, unit, **{**call, "context": context})
        eff = cal.efficiency(cdev, cunit, model, runtime, r.regime, mp, gops)[0]
        return r.core_ms / eff + r.fixed_ms

    step = {c: step_ms(c) for c in sorted(contexts)}
    asked = step[call["context"]]
    return asked - step[MEASURED_CONTEXT], asked - step[measured_context]


# ---------------------------------------------------------------- the estimate

LAYERS_SHOWN = 10


def _layer_summary(model, r, latency_ms: float, fixed: dict, used: bool,
                   op_support=None, on_unit: tuple[bool, ...] | None = None) -> dict:
    """The per-layer roofline for people: what the layers take of the estimate's latency
    (the latency less its fixed costs: weight streaming, host transfer, dispatch, per-call
    overhead), split as the layers' ideal times split, the costliest layers, and which
    layers the unit's op-support table sends off the unit (used: whether the per-layer
    roofline set the estimate, or only shows where the time goes). on_unit: where a timed
    fallback runs the other layers on the host CPU (among the fixed costs), the unit's
    layers, which alone share what is left."""
    lr = r.layered
    table = shares_for(model).table
    mine = [i for i in range(len(lr.layer_ms)) if on_unit is None or on_unit[i]]
    order = sorted(mine, key=lambda i: (-lr.layer_ms[i], i))
    ideal = sum(lr.layer_ms[i] for i in mine) or 1.0
    # a measured latency replaces the model's: the layers share what it leaves after the
    # fixed costs (at least the share the calibration keeps, unless a timed fallback's CPU
    # side is among the fixed costs)
    floor = 0.0 if on_unit is not None else FIXED_SHARE_FLOOR * latency_ms
    layers_ms = max(latency_ms - sum(fixed.values()), floor)
    parts = None if op_support is None else partitions(
        table, set(op_support.supported_ops), op_support.single_segment)
    fallback = None if parts is None or not parts.host_layers else {
        "layers": parts.host_layers, "macs_share": _r(parts.host_macs_share),
        "partitions": parts.partitions, "boundary_elements": parts.boundary_elements,
        "ops": list(parts.host_ops), "to": op_support.fallback_to,
        "single_segment": op_support.single_segment,
        "source": op_support.fallback_source or op_support.source}
    return {
        "table": table.source, "count": len(lr.layer_ms), "sets_estimate": used,
        "latency_ms": _r(latency_ms), "layers_ms": _r(layers_ms),
        "fixed_ms": {k: _r(v) for k, v in fixed.items()},
        "memory_bound": lr.layer_bound.count("memory"),
        "unit_layers": None if on_unit is None else len(mine),
        "streamed_weights_mb": _r(lr.streamed_bytes / 1e6),
        "contexts": lr.contexts,
        "fallback": fallback,
        "costliest": [{"index": i, "name": table.layers[i].name, "kind": table.layers[i].kind,
                       "ops": table.layers[i].ops, "ms": _r(layers_ms * lr.layer_ms[i] / ideal),
                       "share": _r(lr.layer_ms[i] / ideal), "bound": lr.layer_bound[i]}
                      for i in order[:LAYERS_SHOWN]]}


def no_table_reason(model) -> str:
    """Why a model has no per-layer view, for `estimate --layers`."""
    from planner.estimate.layers import table_for
    if model.llm is not None:
        return "an LLM: its layers are the analytic attention, MLP and KV cache of its shape"
    t = table_for(model)
    if t is None:
        return (f"profiles/layers/ has no table for {model.id} (the shipped tables are of "
                "networks built from a public architecture definition; edgeplan profile "
                "--layers makes one from an ONNX file)")
    return (f"{t.source} counts {t.macs / 1e9:.4g} GMACs, the profile "
            f"{model.size.macs_g:.4g}: more than 2 % apart, so it describes another network")


def timed_fallback(catalog: Catalog, cal, model, precision: str, option, dev: Device,
                   unit: ComputeUnit, mode, *, batch: int, math_path, core_ms: float,
                   transfer_ms: float, dispatch_ms: float) -> Fallback | None:
    """Where a single-segment unit (the Edge TPU) leaves layers to the host CPU, the call
    split between the two (planner.estimate.fallback), the CPU side from its own calibrated
    estimate; None where the unit runs every layer. `estimate` and the grid both take it."""
    host = host_side(catalog, model, precision, option.technique, dev, unit)
    if host is None:
        return None
    cpu = estimate(catalog, Query(model=model.id, precision=host.precision,
                                  device=host.device.id, technique=host.technique,
                                  unit=host.unit.id, runtime=host.runtime, batch=batch,
                                  power_mode=mode.id if host.device is dev else None),
                   calibration=cal)
    return split(catalog, model, precision, dev, unit, mode, host,
                 host_latency_ms=cpu.latency_ms.value, host_runtime=cpu.runtime,
                 host_provenance=cpu.latency_ms.provenance, batch=batch,
                 params_scale=option.params_scale, macs_scale=option.macs_scale,
                 math_path=math_path, core_ms=core_ms, transfer_ms=transfer_ms,
                 dispatch_ms=dispatch_ms, overhead_ms=cal.overhead_ms(dev.family, llm=False))


def estimate(catalog: Catalog, q: Query, *, calibration=None, layers: bool = False) -> Estimate:
    """Estimate one combination. Raises UnknownIdError / EstimateError on what cannot run.
    layers: also where the time goes layer by layer (`Estimate.layers`) and which layers run
    off the unit, for a network with a layer table; a second, per-layer roofline when the
    whole-model one sets the estimate, so only `edgeplan estimate` asks for it."""

    model = catalog.model(q.model)
    dev = catalog.device(q.device)
    if q.precision not in PRECISIONS:
        raise EstimateError(f"unknown precision {q.precision!r}; expected one of "
                            f"{', '.join(PRECISIONS)}", field="precision")
    if q.batch < 1:
        raise EstimateError("batch must be at least 1", field="batch")
    unit = resolve_unit(dev, q.unit, q.precision, usable=lambda u: (
        q.runtime in u.runtimes if q.runtime is not None else
        any(catalog.runs(r, model, dev.id) for r in u.runtimes)))
    runtime = resolve_runtime(dev, unit, q.runtime, catalog, model)
    cal = calibration if calibration is not None else calibration_for(catalog)
    if q.kv_cache not in KV_CACHE_BYTES:
        raise EstimateError(f"unknown KV cache type {q.kv_cache!r}; expected one of "
                            f"{', '.join(KV_CACHE_BYTES)}", field="kv_cache")
    fmt = q.weight_format if model.llm is not None else None
    if fmt is not None:
        if fmt not in WEIGHT_FORMATS:
            raise EstimateError(f"unknown weight format {fmt!r}; expected one of "
                                f"{', '.join(WEIGHT_FORMATS)}", field="weight_format")
        if WEIGHT_FORMATS[fmt][0] != q.precision:
            raise EstimateError(f"{fmt} stores {WEIGHT_FORMATS[fmt][0].upper()} weights, not "
                                f"{q.precision.upper()}", field="weight_format")
        loads = [r for r in unit.runtimes if catalog.runs(r, model, dev.id)
                 and fmt in catalog.math_path(r).weight_formats]
        if q.runtime is None and not loads or q.runtime is not None and q.runtime not in loads:
            who = f"{q.runtime} does not load" if q.runtime else \
                f"no runtime on {dev.id} {unit.id} loads"
            raise EstimateError(f"{who} {fmt} weights (runtimes.yaml weight_formats; "
                                + (f"runtimes that load it on {dev.id} {unit.id}: "
                                   f"{', '.join(loads)}" if loads else
                                   f"none on {dev.id} {unit.id} does")
                                + ")", field="weight_format")
    if model.llm is not None and q.kv_cache != "fp16":
        keeps = [r for r in unit.runtimes if catalog.runs(r, model, dev.id)
                 and q.kv_cache in catalog.math_path(r).kv_cache_types]
        anywhere = sorted(r.id for r in catalog.runtimes.values()
                          if q.kv_cache in r.kv_cache_types)
        if q.runtime is None and not keeps:
            raise EstimateError(f"no runtime on {dev.id} {unit.id} keeps a {q.kv_cache} KV "
                                f"cache (runtimes.yaml kv_cache_types: "
                                f"{', '.join(anywhere) or 'none'} do)", field="kv_cache")
        if q.runtime is not None and q.runtime not in keeps:
            types = ", ".join(catalog.math_path(q.runtime).kv_cache_types)
            raise EstimateError(f"{q.runtime} keeps its KV cache in {types}, not {q.kv_cache} "
                                f"(runtimes.yaml kv_cache_types; runtimes on {dev.id} {unit.id} "
                                f"that do: {', '.join(keeps) or 'none'})", field="kv_cache")
    if q.runtime is None:
        # every runtime that runs it, estimated in full (measured points included); the best
        fits = [r for r in unit.runtimes if catalog.runs(r, model, dev.id)
                and (model.llm is None or catalog.math_path(r).handles(q.kv_cache, fmt))]
        ests = [estimate(catalog, replace(q, unit=unit.id, runtime=r), calibration=cal,
                         layers=layers) for r in fits]
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
    if is_llm and q.prompt_tokens is not None:
        # the KV cache holds the prompt: a default context grows to it, a given one must
        if q.context is not None and q.prompt_tokens > q.context:
            raise EstimateError(f"prompt_tokens {q.prompt_tokens} is more than the context "
                                f"{q.context}: the KV cache holds the prompt", field="prompt_tokens")
        context = max(context, q.prompt_tokens)
    if is_llm and context > model.llm.context_max:
        notes.append(f"context {context} exceeds the model's trained context "
                     f"{model.llm.context_max}")

    math_path = catalog.math_path(runtime)
    mp = math_precision(unit, q.precision, math_path)
    call = {"batch": q.batch, "context": context, "params_scale": option.params_scale,
            "macs_scale": option.macs_scale, "compute_scale": mode.compute_scale,
            "math_path": math_path, "mode": mode.id, "kv_cache": q.kv_cache,
            "weight_format": fmt}
    r = roofline(model, q.precision, dev, unit, **call)
    gops = efficiency_gops(model, unit, q.batch, option.macs_scale)
    # whose calibration: a hosted accelerator's CPU unit is its host board's CPU
    cdev, cunit, cmode = catalog.calibrated_as(dev, unit, mode.id)
    if cdev is not dev:
        notes.append(f"{unit.id} is {cdev.id}'s CPU: calibrated, and measurements looked up, "
                     f"as there")
    eff, sigma, n_support = cal.efficiency(cdev, cunit, model, runtime, r.regime, mp, gops,
                                           r.layered.shares() if r.layered else None)
    core_ms = r.core_ms / eff
    lat = core_ms + r.fixed_ms + cal.overhead_ms(cdev.family, llm=is_llm)
    busy = busy_ms(_ScalarXP, unit.activations_on_chip, core_ms, r.streaming_ms, lat)
    # calibrated when measured points of this device family and regime set the efficiency
    # (they also absorb an estimated peak); otherwise the prior alone: estimated
    provenance = "calibrated" if n_support else "estimated"
    bottleneck = _bottleneck(r, core_ms)
    # a single-segment compiler (the Edge TPU) leaves the layers after its first unsupported
    # op to the host CPU: they are timed there (planner.estimate.fallback)
    fb = timed_fallback(catalog, cal, model, q.precision, option, dev, unit, mode,
                        batch=q.batch, math_path=math_path, core_ms=core_ms,
                        transfer_ms=r.transfer_ms, dispatch_ms=r.dispatch_ms)
    if fb is not None:
        busy *= fb.latency_ms / lat
        lat = fb.latency_ms
        if fb.host_provenance == "estimated":   # the split is as sure as its weaker side
            provenance = "estimated"
        if fb.host_ms > fb.unit_ms + fb.crossing_ms:
            bottleneck = "cpu-fallback"
        elif bottleneck == "weight-streaming" and fb.streaming_ms == 0:
            bottleneck = "compute" if r.regime == "compute" else "memory-bandwidth"

    measured = cal.measured_point(cdev.id, model.id, q.precision, cunit.id, runtime, q.batch,
                                  cmode)
    modelled_ms = 0.0
    if measured is not None:
        # a measured decode step is kept as at MEASURED_CONTEXT: at the asked context a step
        # reads the KV cache's extra (or fewer) tokens too. The part nobody measured runs
        # from the context it was measured at to the asked one.
        short_step, is_busy, measured_context = measured
        shift_ms, modelled_ms = decode_context_shift_ms(
            catalog, cal, model, q.precision, dev, unit, runtime, call, measured_context)
        measured_step = short_step + shift_ms - modelled_ms    # as it was measured
        measured = (short_step + shift_ms, is_busy)
    # a shift past the measurement's own spread leaves more model than measurement in it
    shifted_past_spread = bool(modelled_ms) and abs(modelled_ms) > MEASURED_SPREAD * measured_step
    # latency and occupancy each carry their own provenance: a measured throughput of a
    # pipelined unit says nothing exact about one call's latency, and the reverse
    lat_prov = busy_prov = provenance
    if fb is not None:
        # the split's own numbers; a measurement of exactly this combination replaces them
        notes.append(fallback_note(fb, unit, lat) if measured is None else
                     f"{fb.host_layers} of {fb.unit_layers + fb.host_layers} layers run on the "
                     f"host CPU (ops the {unit.id} does not run: {', '.join(fb.host_ops)}); "
                     "the measurement includes them")
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
        if modelled_ms:
            sign = "+" if modelled_ms > 0 else "-"
            where = ("decode rates are measured at a short context (taken as "
                     f"{MEASURED_CONTEXT} tokens)" if measured_context == MEASURED_CONTEXT
                     else f"this decode rate was measured at {measured_context} tokens of "
                     "context")
            notes.append(f"{where}: at {context} tokens each step reads a "
                         f"{'longer' if modelled_ms > 0 else 'shorter'} KV cache, {sign}"
                         f"{num(abs(modelled_ms))} ms per token ({sign}"
                         f"{num(100 * abs(modelled_ms) / measured_step, 2)} % on the measured "
                         "step), modelled at the calibrated efficiency"
                         + (f"; more than the measurement's own {MEASURED_SPREAD * 100:.0f} "
                            "%, so the rate is calibrated, not measured"
                            if shifted_past_spread else ", not measured"))

    vendor = None
    if measured is None and not cal.measured_runtime(runtime, unit.kind):
        vendor = vendor_prior(catalog, dev, unit, runtime, model, q.kv_cache, fmt)
    if vendor is not None:
        # the prior (runtimes.yaml vendor_for): an unmeasured runtime is no faster than the
        # unit's vendor runtime, whose estimate includes its measurements
        v = estimate(catalog, replace(q, unit=unit.id, runtime=vendor), calibration=cal)
        v_lat = v.latency_ms.value
        if v_lat > lat:
            busy *= v_lat / lat
            lat = v_lat
            lat_prov = busy_prov = "estimated"
            notes.append(f"unmeasured runtime: {runtime} is estimated no faster than {vendor}, "
                         f"the vendor runtime on {dev.family} {unit.kind}s (runtimes.yaml)")

    def spread(prov, fit_sigma=sigma, shift_share=0.0):
        # (low, high) as factors of the value: a measurement's own spread, else the fit's
        fit = math.exp(-Z80 * fit_sigma), math.exp(Z80 * fit_sigma)
        return measured_spread(shift_share, fit) if prov == "measured" else fit

    lat_lo, lat_hi = spread(lat_prov, shift_share=modelled_ms / lat)
    busy_lo, busy_hi = spread(busy_prov, shift_share=modelled_ms / busy)
    if shifted_past_spread:
        lat_prov, busy_prov = ("calibrated" if p == "measured" else p
                               for p in (lat_prov, busy_prov))
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

    prefill = decode = ttft = None
    if is_llm:
        # decode: one token per step, latency above is per token; prefill is compute-bound
        decode = Quantity(1000.0 / lat, "tokens/s", lat_prov, 1000.0 / high, 1000.0 / low,
                          bottleneck)
        ceff, csigma, cn = cal.efficiency(cdev, cunit, model, runtime, "prefill", mp, gops)
        per_tok_ms = r.compute_ms / q.batch / ceff   # the roofline's compute time per token
        pf_prov = "calibrated" if cn else "estimated"
        pf_measured = cal.measured_prefill_ms(cdev.id, model.id, q.precision, cunit.id,
                                              runtime, q.batch, cmode)
        if pf_measured is not None:
            per_tok_ms, pf_prov = pf_measured, "measured"
            notes.append("prefill is a published measurement of exactly this combination")
        pv = 1000.0 / per_tok_ms
        pf_lo, pf_hi = spread(pf_prov, csigma)
        prefill = Quantity(pv, "tokens/s", pf_prov, pv * pf_lo, pv * pf_hi, "compute")
        if q.prompt_tokens is not None:
            # the first token comes with the prompt's last logits: the whole prefill
            n = q.prompt_tokens
            ttft = Quantity(n * 1000.0 / pv, "ms", pf_prov, n * 1000.0 / prefill.high,
                            n * 1000.0 / prefill.low, "compute")

    # memory: weights + activations + KV cache, plus what the OS and runtime keep
    s = model.size
    bpp = model.bytes_per_param(q.precision, fmt)
    weights_gb = s.params_m * 1e6 * option.params_scale * bpp / 1e9
    if fmt is not None:
        share = model.embedding_share()
        basis = (f"over the whole model: the linear layers at {LINEAR_ONLY_BITS[fmt]:.2f} "
                 f"bits, the embedding and output head ({100 * share:.3g} % of the "
                 "parameters) in 16 bits" if fmt in LINEAR_ONLY_BITS and share is not None
                 else WEIGHT_FORMAT_BASIS[fmt])
        notes.append(f"weights in {fmt} ({bpp * 8:.2f} bits per weight {basis}); accuracy "
                     f"is the {q.precision.upper()} option's")
    act_gb = s.activation_mb * 1e-3 * (BYTES_PER_PARAM[mp] / 4.0) * q.batch
    kv_gb = (model.llm.kv_bytes(context, KV_CACHE_BYTES[q.kv_cache], math_path.windowed_kv)
             * q.batch / 1e9 if is_llm else 0.0)
    if is_llm and q.kv_cache != "fp16":
        notes.append(f"KV cache {q.kv_cache} in {runtime} ({KV_CACHE_BYTES[q.kv_cache] * 8:g} "
                     "bits per element): accuracy is the fp16 cache's, not measured with the "
                     "quantized one")
    if is_llm and model.llm.sliding_window_layers and context > model.llm.sliding_window_tokens:
        swa, win = model.llm.sliding_window_layers, model.llm.sliding_window_tokens
        notes.append(f"KV cache: {swa} of {model.llm.layers} layers hold a {win}-token window "
                     f"({runtime} keeps a windowed cache)" if math_path.windowed_kv else
                     f"KV cache: {runtime} keeps the whole context in all {model.llm.layers} "
                     f"layers, also the {swa} sliding-window ones (no windowed cache, "
                     "runtimes.yaml)")
    if is_llm and model.llm.state_layers:
        notes.append(f"KV cache: {model.llm.state_layers} of {model.llm.layers} layers keep a "
                     f"constant state ({model.llm.state_kb_per_layer:,.1f} kB per sequence) "
                     "instead of a cache that grows with the context")
    if not is_llm and s.decode_steps:
        notes.append(f"encoder-decoder: the decoder's {s.decoder_params_m:g} M parameters are "
                     f"read again for each of the {s.decode_steps} decoded tokens "
                     f"({s.reads_params_m() * 1e6 * option.params_scale * bpp / 1e9:.3g} GB "
                     "of weights per call)")
    if is_llm and model.llm.kv_shared_layers:
        notes.append(f"KV cache: {model.llm.kv_shared_layers} of {model.llm.layers} layers "
                     "reuse an earlier layer's keys and values and keep no cache of their own")
    if is_llm and model.llm.per_layer_input_vocab:
        notes.append(f"per-layer embeddings: {model.llm.per_layer_embedding_params() / 1e6:,.0f}"
                     f" M parameters that decode looks up one row of per token; memory holds "
                     "them all (runtimes that cache them in storage, as Google's LiteRT-LM, "
                     "need less)")
    if is_llm and model.llm.active_params_m:
        notes.append(f"mixture of experts: decode reads {model.llm.active_params_m:g} M of "
                     f"{s.params_m:g} M parameters per token; memory holds them all")
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

    acc_prov = "measured" if option.accuracy_measured_on(runtime) else "estimated"
    # an estimated accuracy carries the range its evidence allows (profiles' accuracy_range,
    # or for another toolchain's model the quantizer's elsewhere_range)
    bounds = option.accuracy_bounds_on(runtime)
    acc_lo, acc_hi = bounds if bounds is not None else (None, None)
    accuracy = Quantity(option.accuracy, model.metric, acc_prov, acc_lo, acc_hi)
    quantized_by = None
    if option.quantizer is not None and acc_prov == "estimated":
        quantized_by = {"toolchain": option.quantizer.name,
                        "runtimes": list(option.quantizer.runtimes)}
        notes.append(accuracy_elsewhere(f"{option.accuracy:g}", model.metric, q.precision,
                                        quantized_by, runtime, bounds=bounds))

    est = Estimate(query=q, model_name=model.name, device_name=dev.name,
                   technique=option.technique, unit=unit.id, runtime=runtime,
                   power_mode=mode.id, is_llm=is_llm, latency_ms=latency,
                   throughput_fps=throughput, memory_gb=memory, memory_breakdown_gb=breakdown,
                   memory_available_gb=dev.memory.available_gb, power_w=power,
                   energy_mj=energy, accuracy=accuracy, accuracy_metric=model.metric,
                   accuracy_quantized_by=quantized_by,
                   prefill_tokens_per_s=prefill, decode_tokens_per_s=decode, ttft_ms=ttft,
                   context_tokens=context,
                   weights_on_chip=r.weights_on_chip if fb is None else fb.streamed_mb == 0,
                   notes=notes)
    if fb is not None:
        est.host_unit, est.host_busy_ms = fallback_host_busy(fb, dev, lat)
    # the per-layer roofline: where the time goes, and the estimate itself where it is on
    lay = r if r.layered is not None else (
        roofline(model, q.precision, dev, unit, **call, layers=True)
        if layers and shares_for(model) is not None else None)
    if lay is not None:
        fixed = {"weight_streaming": r.streaming_ms, "host_transfer": r.transfer_ms,
                 "dispatch": r.dispatch_ms, "overhead": cal.overhead_ms(cdev.family, llm=is_llm)}
        on_unit = None
        if fb is not None:
            # the unit's segment pays its own fixed costs (none where it runs no layer); the
            # CPU's layers and the crossing are timed apart
            runs = fb.unit_layers > 0
            fixed = {"weight_streaming": fb.streaming_ms,
                     **{k: v if runs else 0.0 for k, v in fixed.items()
                        if k != "weight_streaming"},
                     "crossing": fb.crossing_ms, "host_cpu": fb.host_ms}
            on_unit = fb.on_unit
        est.layers = _layer_summary(model, lay, latency.value, fixed,
                                    used=r.layered is not None,
                                    op_support=catalog.op_support.get(unit.op_support),
                                    on_unit=on_unit)
        untimed = est.layers.get("fallback")
        if untimed and fb is not None:
            untimed["timed"] = fb.as_dict()
        elif untimed:
            why = (f"the first of them has ops the {unit.id} does not run "
                   f"({', '.join(untimed['ops'])}) and ends its one accelerated segment"
                   if untimed["single_segment"] else
                   f"they have ops the {unit.id} does not run ({', '.join(untimed['ops'])})")
            notes.append(f"{untimed['layers']} of {len(lay.layered.layer_ms)} layers "
                         f"({100 * untimed['macs_share']:.3g} % of MACs) run off the "
                         f"{unit.id}, on {untimed['to']}, in {untimed['partitions']} "
                         f"partition(s): {why}; the estimate counts the whole network on the "
                         "unit (a partition is timed only for a single-segment compiler on "
                         "a device with a CPU unit: planner/estimate/fallback.py says why)")
    if r.layered is not None:
        lr = r.layered
        notes.append(f"per-layer roofline over {len(lr.layer_ms)} layers "
                     f"({shares_for(model).table.source}): {lr.layer_bound.count('memory')} "
                     "bound by memory bandwidth, the rest by compute")
    # with a fallback, its note says what of the segment's weights streams
    if fb is None and r.weights_on_chip is False and r.layered is not None:
        lr = r.layered
        notes.append(
            f"weights exceed the {unit.id}'s {unit.on_chip_memory_mb:g} MB on-chip memory: "
            + (f"the network runs in {lr.contexts} contexts, all {lr.streamed_bytes / 1e6:.3g} "
               "MB reloaded on every call (a larger batch amortises the reload)"
               if lr.contexts > 1 else
               f"the layers that fit stay on chip in graph order, the other "
               f"{lr.streamed_bytes / 1e6:.3g} MB stream on every inference"))
    elif fb is None and r.weights_on_chip is False:
        if unit.weight_loading == "context-switch":
            notes.append(f"weights exceed the {unit.id}'s {unit.on_chip_memory_mb:g} MB on-chip "
                         "memory: the network runs in contexts, all reloaded on every call "
                         "(a larger batch amortises the reload)")
        else:
            notes.append(f"weights exceed the {unit.id}'s {unit.on_chip_memory_mb:g} MB on-chip "
                         "memory: the rest streams on every inference")
    return est
