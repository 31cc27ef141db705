"""The layers a single-segment compiler leaves to the host CPU, timed there.

The Edge TPU compiler maps one segment: at the first op the Edge TPU does not run, that op
and every op after it go to the CPU, even ops it supports (Coral, "TensorFlow models on the
Edge TPU", Compiling; catalog/op_support.yaml single_segment). The TFLite interpreter then
runs the unit's segment through the delegate and the rest with its own CPU kernels, one
after the other. So a network with such a layer takes

    the unit's share of its layers + the CPU's share of its layers + the crossing

where each side's share is its layers' part of the per-layer roofline on that side
(planner.estimate.layers) applied to that side's calibrated estimate of the whole network,
the unit holds (and streams) only its own segment's weights, and the segment's last
activation crosses the host link. The CPU side is the CPU of the board the accelerator is
plugged into (`host:`, calibrated on its own measurements) where the device has one. A
published measurement of exactly the combination still wins, in `estimate` and in the grid
alike. The CPU's layers also hold the device's CPU unit for their part of each call: `solve`
and lint EP302 count that share beside the workloads the CPU runs itself.

Units whose compilers partition many times (Hailo, the DLA, the ANE, Hexagon) keep the
untimed report: their op tables are coarse (the Hailo table sends a ViT's q/k/v splits to
the host, yet Hailo publishes ViT-B/16 timings, as catalog/measurements has them), and a
timed partition built on them would move measured points it cannot explain.
"""
from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.loader import Catalog
from planner.catalog.schema import ComputeUnit, Device, ModelProfile
from planner.estimate.layers import partitions, residency, shares_for
from planner.estimate.roofline import _ScalarXP, roofline, weight_streaming_ms
from planner.vocabulary import BYTES_PER_PARAM

HOST_RUNTIME = "tflite"    # the interpreter that runs the Edge TPU delegate runs the rest


@dataclass(frozen=True)
class Fallback:
    """One call's time split between the unit's segment and the host CPU."""
    unit_layers: int
    host_layers: int
    host_unit: str
    host_runtime: str
    host_precision: str
    unit_ms: float          # the unit's segment, with its transfers and fixed costs
    host_ms: float          # the CPU's layers
    crossing_ms: float      # the segment's last activation over the host link
    streaming_ms: float     # the segment's weights that do not fit on chip, per call
    streamed_mb: float
    host_ops: tuple[str, ...]   # the ops the unit does not run, in the CPU's layers
    first_ops: tuple[str, ...]  # those of them in the first layer, which ends the segment
    host_device: str            # whose CPU: the device's own, or its host's
    host_provenance: str        # the CPU estimate's: calibrated | estimated | measured
    on_unit: tuple[bool, ...] = ()  # per layer, graph order: whether the unit runs it

    @property
    def latency_ms(self) -> float:
        return self.unit_ms + self.host_ms + self.crossing_ms

    def as_dict(self) -> dict:
        def r(x):
            return round(x, 4)
        return {"unit_layers": self.unit_layers, "host_layers": self.host_layers,
                "host_device": self.host_device, "host_unit": self.host_unit,
                "host_runtime": self.host_runtime, "host_provenance": self.host_provenance,
                "host_precision": self.host_precision, "unit_ms": r(self.unit_ms),
                "host_ms": r(self.host_ms), "crossing_ms": r(self.crossing_ms),
                "streamed_mb": r(self.streamed_mb)}


def fallback_note(fb: Fallback, unit: ComputeUnit, latency_ms: float) -> str:
    """The split in words, for `estimate` and the plan's notes."""
    n = fb.unit_layers + fb.host_layers
    where = (f"{fb.host_device}'s {fb.host_unit} with {fb.host_runtime} at "
             f"{fb.host_precision.upper()} ({fb.host_provenance})")
    first = ", ".join(fb.first_ops)
    others = sorted(set(fb.host_ops) - set(fb.first_ops))
    more = f"; later layers also have {', '.join(others)}" if others else ""
    if fb.unit_layers == 0:
        return (f"the {unit.id} runs none of the {n} layers: the first has ops it does not run "
                f"({first}), which ends its one segment before it starts{more}. The whole "
                f"network runs on the host CPU, timed on {where}: {fb.host_ms:.3g} ms")
    stream = (f", {fb.streamed_mb:.3g} MB of its weights streaming on every call"
              if fb.streamed_mb > 0 else ", its weights on chip")
    return (f"{fb.host_layers} of {n} layers run on the host CPU: layer {fb.unit_layers + 1} "
            f"has ops the {unit.id} does not run ({first}) and ends its one accelerated "
            f"segment{more}. Timed on {where}: {fb.host_ms:.3g} of the {latency_ms:.3g} ms; "
            f"the {unit.id}'s {fb.unit_layers} layers {fb.unit_ms:.3g} ms{stream}; the "
            f"crossing {fb.crossing_ms:.3g} ms")


def fallback_host_busy(fb: Fallback, dev: Device, latency_ms: float) -> tuple[str | None, float]:
    """The device's CPU unit and the time a call holds it (ms): the CPU's layers' share of
    the call's latency, a measured one included. (None, 0) where the device lists no CPU
    unit, as a bare accelerator whose host is a device of its own."""
    cpu = dev.cpu_unit
    if cpu is None or fb.latency_ms <= 0:
        return None, 0.0
    return cpu.id, latency_ms * fb.host_ms / fb.latency_ms


def has_fallback(catalog: Catalog, model: ModelProfile, unit: ComputeUnit) -> bool:
    """Whether a single-segment unit leaves some of the network's layers to the CPU (a model
    with a matching layer table: planner.estimate.layers)."""
    ops = catalog.op_support.get(unit.op_support)
    if ops is None or not ops.single_segment:
        return False
    s = shares_for(model)
    return s is not None and not all(_on_unit(catalog, s.table, unit))


def _on_unit(catalog: Catalog, table, unit: ComputeUnit) -> tuple[bool, ...]:
    ops = catalog.op_support[unit.op_support]
    return partitions(table, set(ops.supported_ops), ops.single_segment).on_unit


@dataclass(frozen=True)
class HostSide:
    """Where the layers after the segment run: the CPU unit of the accelerator's host device
    (`host:`, the board it is plugged into, whose own measurements calibrate it) or of the
    device itself, at what precision, with which runtime, at which of the model's techniques
    (None: its default)."""
    device: Device
    unit: ComputeUnit
    precision: str
    runtime: str | None
    technique: str | None


def host_side(catalog: Catalog, model: ModelProfile, precision: str, technique: str,
              dev: Device, unit: ComputeUnit) -> HostSide | None:
    """The CPU side of a single-segment unit's fallback, or None where the unit runs every
    layer (or there is no CPU unit to name)."""
    if model.llm is not None or not has_fallback(catalog, model, unit):
        return None
    host = catalog.devices.get(dev.host, dev) if dev.host else dev
    cpu = host.cpu_unit
    if cpu is None:
        return None
    host_prec = precision if precision in cpu.precisions else "fp32"
    tech = technique if any(o.precision == host_prec and o.technique == technique
                            for o in model.options) else None
    return HostSide(host, cpu, host_prec,
                    HOST_RUNTIME if HOST_RUNTIME in cpu.runtimes else None, tech)


def split(catalog: Catalog, model: ModelProfile, precision: str, dev: Device,
          unit: ComputeUnit, mode, host: HostSide, *, host_latency_ms: float,
          host_runtime: str, host_provenance: str, batch: int, params_scale: float, macs_scale: float, math_path,
          core_ms: float, transfer_ms: float, dispatch_ms: float,
          overhead_ms: float) -> Fallback:
    """The call's time with the layers after the segment on the host CPU. host_latency_ms:
    the CPU's calibrated estimate of the whole network (with host_runtime); core_ms: the
    unit's calibrated core time for the whole network; transfer_ms, dispatch_ms,
    overhead_ms: its fixed costs per call, as the roofline and calibration give them."""
    shares = shares_for(model)
    ops = catalog.op_support[unit.op_support]
    parts = partitions(shares.table, set(ops.supported_ops), ops.single_segment)
    on_unit = parts.on_unit
    n_unit = sum(on_unit)
    call = {"batch": batch, "params_scale": params_scale, "macs_scale": macs_scale}
    host_mode = mode if host.device is dev else host.device.max_mode
    cpu_lr = roofline(model, host.precision, host.device, host.unit,
                      math_path=catalog.math_path(host_runtime), layers=True,
                      compute_scale=host_mode.compute_scale, mode=host_mode.id, **call).layered
    host_ms = host_latency_ms * _share(cpu_lr.layer_ms, [not x for x in on_unit])
    first = shares.table.layers[n_unit]         # the segment ends before it (a prefix)
    first_ops = tuple(sorted({o for o in first.ops.split("+") if o not in ops.supported_ops}))
    said = (first_ops, host.device.id, host_provenance)
    if n_unit == 0:     # the first layer ends the segment: the unit runs nothing
        return Fallback(0, len(on_unit), host.unit.id, host_runtime, host.precision, 0.0,
                        host_ms, 0.0, 0.0, 0.0, parts.host_ops, *said, on_unit)
    unit_lr = roofline(model, precision, dev, unit, math_path=math_path, layers=True,
                       compute_scale=mode.compute_scale, mode=mode.id, **call).layered
    unit_core = core_ms * _share(unit_lr.layer_ms, on_unit)
    # the segment is a prefix of the graph: its weights fill on-chip memory first, in order
    w = model.size.params_m * 1e6 * params_scale * model.bytes_per_param(precision)
    seg = [w * x for x, on in zip(shares.weights, on_unit) if on]
    link = dev.host_interface
    streamed = 0.0
    if unit.on_chip_memory_mb is not None:
        resident, _ = residency(seg, unit.on_chip_memory_mb * 1e6, False)
        streamed = sum(x for x, r in zip(seg, resident) if not r)
    streaming_ms = weight_streaming_ms(_ScalarXP, streamed if link else 0.0,
                                       link.bandwidth_gbs if link else 0.0, False, 0.0)
    last = max(i for i, on in enumerate(on_unit) if on)
    crossing_bytes = shares.table.layers[last].out_elements * batch * BYTES_PER_PARAM[precision]
    crossing_ms = crossing_bytes / (link.bandwidth_gbs * 1e9) * 1e3 if link else 0.0
    unit_ms = unit_core + streaming_ms + transfer_ms + dispatch_ms + overhead_ms
    return Fallback(n_unit, len(on_unit) - n_unit, host.unit.id, host_runtime,
                    host.precision, unit_ms, host_ms, crossing_ms, streaming_ms,
                    streamed / 1e6, parts.host_ops, *said, on_unit)


def _share(layer_ms, mask) -> float:
    total = sum(layer_ms)
    return sum(t for t, m in zip(layer_ms, mask) if m) / total if total > 0 else 0.0
