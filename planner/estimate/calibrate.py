"""Calibration of the estimator's efficiencies on measured points.

For each measured point the roofline gives the ideal time; the observed efficiency is
ideal / (measured - fixed costs). Its logarithm is fitted by ridge regression on one-hot
factors (DESIGN.md: least squares in log space per device family and model family):

    log efficiency = regime + unit kind x regime + device family x unit kind x regime
                     + device x unit kind
                     + model family + model family x unit kind   (depthwise convolutions
                                      suit CPUs better than GPUs; attention, few NPUs)
                     + runtime
                     + device family x unit kind x math precision   (a unit's FP16 path is
                                      not always half its INT8 peak, as catalogs assume)
                     + device x model   (a network's own fit to a device, learnt from its
                                         other measurements there: other batches,
                                         precisions or runtimes)
                     + slope x log10(GOPs per call)   (compute-bound only: small networks
                                                       leave wide units idle)

A model family's factors are fitted only where a unit it was measured on (device x unit kind)
also has other families' points (identifiable_factors). LLM prefill (a whole prompt's large
matrix products) is a regime of its own with its own factors: regime, unit kind, device
family and device x unit kind, and runtime, each x prefill; without prefill points it is
estimated as compute-bound work.

Fixed costs: a per-call overhead per device family (launch, synchronisation; and, for
timings that include them, pre/post-processing; per token for LLM decode, kept apart; none
for prefill), for families with three or more points whose networks' ideal times span 10x
(only sizes tell a fixed cost from a slow unit), chosen from a grid as the value that best
predicts each point from the others (exact leave-one-out residuals of the ridge fit). The
ridge pulls every factor toward zero, so a family with one point moves only part of the way
and a family with none falls back to its unit kind's and regime's mean.

Throughput measured on a pipelined dataflow unit (`activations_on_chip`: Hailo) is the
steady state of a stream: inputs follow each other through the layers, so host transfers and
per-call costs overlap the compute and only a context-switching network's weight reload
adds to it; its efficiency does not depend on the batch.

Prediction intervals use held-out residuals of the ridge fit, exact in closed form, at
four depths: each point left out alone (e_i / (1 - h_ii)), with every point of its model on
its device, with every point of its device, with every point of its runtime on its unit.
An estimate takes the widest sigma of the depths that match what the calibration does not
know of it (its network on the device, the device, its runtime on the unit), per device
family x unit kind x regime where three or more points score a depth. The overheads stay as
fitted on all points: only the ridge factors are refitted.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from planner.catalog.loader import Catalog
from planner.catalog.schema import Measurement
from planner.estimate.roofline import (
    EFF_BOUNDS,
    MEASURED_CONTEXT,
    efficiency_gops,
    math_precision,
    Roofline,
    roofline,
)

RIDGE = 0.25             # penalty on each factor, in units of one point's squared log error
PAIR_RIDGE = 0.5         # device x model factors lean on fewer points: pulled harder to zero
INTERCEPT_RIDGE = 1e-6
FIXED_SHARE_FLOOR = 0.1  # measured time minus fixed costs is kept >= 10 % of the time
MIN_GROUP_FOR_SIGMA = 3
DEFAULT_SIGMA = 0.7      # log error with no points at all: one sigma is a factor of 2
MIN_POINTS_FOR_OVERHEAD = 3
OVERHEAD_MIN_SPREAD = 10.0   # the largest network's ideal time over the smallest's, at least
OVERHEAD_GRID_MS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
                    15.0, 20.0, 30.0, 50.0)
ALTERNATIONS = 3
MODEL_FACTORS = ("model:", "model-on:")


@dataclass(frozen=True)
class Point:
    index: int
    measurement: Measurement
    features: tuple[str, ...]
    ideal_ms: float          # roofline core at 100 % efficiency
    fixed_ms: float          # transfers, streaming, dispatch from the catalog
    group: str               # device family x regime, for intervals
    family: str
    key: tuple               # (device, model, precision, unit, runtime, batch, mode)
    per_call_ms: float       # measured time of one call (batch inputs or one token)
    kind: str = ""           # the unit's kind
    llm: bool = False
    pipelined: bool = False  # steady-state throughput of a dataflow unit: no per-call overhead
    short_ideal_ms: float | None = None   # a decode step's ideal at MEASURED_CONTEXT

    @property
    def overhead_key(self) -> tuple | None:
        """The fixed per-call cost this point pays, if any: not a pipelined stream's, nor a
        prompt's prefill, whose per-token time is the whole prompt's divided out."""
        if self.pipelined or self.measurement.metric == "prefill_tokens_per_s":
            return None
        return (self.family, self.measurement.includes_prepost, self.llm)

    def y(self, overhead_ms: float) -> float:
        net = max(self.per_call_ms - self.fixed_ms - overhead_ms,
                  FIXED_SHARE_FLOOR * self.per_call_ms)
        return math.log(self.ideal_ms / net)


# what else a left-out point takes with it: nothing; every measurement of its model on its
# device (a network never run there); every measurement on its device (a device never
# measured); every measurement of its runtime on its unit (a runtime never run there)
LEAVE_OUT = {"point": lambda p: p.index,
             "pair": lambda p: p.key[:2],
             "device": lambda p: p.key[0],
             "runtime": lambda p: _runtime_on_unit(p.key[0], p.key[3], p.key[4])}
NESTED_DEPTHS = ("point", "pair", "device")


def _runtime_on_unit(device: str, unit: str, runtime: str) -> str:
    return f"{device}:{unit}:{runtime}"


def depth_scope(points) -> dict:
    """For each depth, which points it serves once their block is left out (what `sigma`
    would pick for them then): a point alone where its model keeps other points on its
    device; a pair where its device keeps other points on that kind of unit; a device,
    always; a runtime where its unit keeps other runtimes' points."""
    n: dict = {}

    def keys(p):
        return {"pair": p.key[:2], "kind": (p.key[0], p.kind),
                "pair_kind": p.key[:2] + (p.kind,), "unit": (p.key[0], p.key[3]),
                "runtime": LEAVE_OUT["runtime"](p)}
    for p in points:
        for k in keys(p).items():
            n[k] = n.get(k, 0) + 1

    def count(p, what):
        return n[(what, keys(p)[what])]
    return {"point": lambda p: count(p, "pair") > 1,
            "pair": lambda p: count(p, "kind") > count(p, "pair_kind"),
            "device": lambda p: True,
            "runtime": lambda p: count(p, "unit") > count(p, "runtime")}


def _features(dev, kind: str, model, runtime: str, regime: str, math_prec: str,
              gops: float = 1.0, layer_shares: dict | None = None
              ) -> tuple[tuple[str, float], ...]:
    """(name, value) pairs: one-hot factors, and the network size for compute-bound work.
    Device factors nest in family factors: a device with its own points departs from its
    family (a Hailo-8L is not a Hailo-8). LLM prefill is one large matrix product per layer
    over the whole prompt, unlike a network's batch-1 layers or a decode step's weight
    streaming, so its factors are its own (regime, kind, family, device, runtime) and share
    nothing with theirs."""
    if regime == "prefill":
        return ((f"regime:{regime}", 1.0), (f"kind:{kind}:{regime}", 1.0),
                (f"dev:{dev.family}:{kind}:{regime}", 1.0),
                (f"device:{dev.id}:{kind}:{regime}", 1.0), (f"runtime:{runtime}:{regime}", 1.0))
    f = [(f"regime:{regime}", 1.0), (f"kind:{kind}:{regime}", 1.0),
         (f"dev:{dev.family}:{kind}:{regime}", 1.0), (f"device:{dev.id}:{kind}", 1.0),
         (f"model:{model.calibration_family}", 1.0),
         (f"model-on:{model.calibration_family}:{kind}", 1.0),
         (f"runtime:{runtime}", 1.0),
         (f"precision:{dev.family}:{kind}:{math_prec}", 1.0),
         (f"pair:{dev.id}:{model.id}", 1.0)]
    if regime == "compute":
        f.append(("size:compute", math.log10(max(gops, 1e-6))))
    # per-layer roofline: the share of the ideal time in each op class other than dense
    # arithmetic, per unit kind (an Edge TPU runs depthwise layers well, a GPU does not)
    for cls, share in sorted((layer_shares or {}).items()):
        if share > 0:
            f.append((f"layer:{cls}:{kind}", share))
    return tuple(f)


def identifiable_factors(points) -> list[str]:
    """The factors the fit can tell apart: all, except a model family's factors where no unit
    it was measured on (a device's kind of unit) has another family's points. There the
    device's factors explain the same points equally well, and the ridge would split one
    device's quirk (a runtime that leaves most of a network on the CPU) between the device
    and the network, then carry the network's share to every other device it runs on."""
    families: dict[tuple, set] = {}
    units: dict[str, set] = {}
    for p in points:
        unit = (p.key[0], p.kind)   # as the device factor is: device x unit kind
        for f, _ in p.features:
            units.setdefault(f, set()).add(unit)
            if f.startswith("model:"):
                families.setdefault(unit, set()).add(f)
    return sorted(f for f, us in units.items()
                  if not f.startswith(MODEL_FACTORS) or any(len(families[u]) > 1 for u in us))


def held_out_residuals(a, inv, e, blocks):
    """Each row's residual under the ridge fit refitted without its block (rows left out
    together), from the full fit alone: (I - H_SS)^-1 e_S, with H = a inv a^T the hat matrix
    and e the full fit's residuals."""
    import numpy as np
    res = np.empty(len(e))
    for rows in blocks:
        a_s = a[rows]
        res[rows] = np.linalg.solve(np.eye(len(rows)) - a_s @ inv @ a_s.T, e[rows])
    return res


@dataclass(frozen=True)
class MeasuredCall:
    """One measurement read against the roofline: the time of one call it gives, and the
    ideal (100 % efficient) time of that call on the unit."""
    per_call_ms: float       # one call: batch inputs, or one token
    ideal_ms: float          # the roofline's core time at the unit's peak and bandwidth
    fixed_ms: float
    regime: str              # compute | memory | prefill
    pipelined: bool
    roofline: Roofline
    short_ideal_ms: float    # a decode step's ideal at MEASURED_CONTEXT (ideal_ms elsewhere)


def measured_call(catalog: Catalog, m: Measurement) -> MeasuredCall:
    """Where a measurement sits against the roofline of its device, unit and power mode (the
    calibration fits its efficiency; `edgeplan calibrate add` refuses one faster than the
    ideal, which no runtime can beat)."""
    dev = catalog.devices[m.device]
    model = catalog.models[m.model]
    unit = dev.unit(m.unit)
    mode = dev.mode(m.power_mode)
    # a decode rate at the context it was measured at (a short prompt unless it says)
    context = (m.context_tokens or MEASURED_CONTEXT) if model.llm else 0
    call = dict(batch=m.batch, compute_scale=mode.compute_scale,
                math_path=catalog.math_path(m.runtime), mode=mode.id)
    r = roofline(model, m.precision, dev, unit, context=context, **call)
    if m.metric == "throughput_fps":
        per_call = m.batch * 1000.0 / m.value
    elif m.metric == "latency_ms":
        per_call = m.value
    else:   # decode or prefill tokens/s: one token per call
        per_call = 1000.0 / m.value
    pipelined = m.metric == "throughput_fps" and unit.activations_on_chip
    if m.metric == "prefill_tokens_per_s":
        ideal, regime, fixed = r.compute_ms, "prefill", 0.0
    else:
        ideal, regime = r.core_ms, r.regime
        fixed = r.streaming_ms if pipelined else r.fixed_ms
    short = ideal
    if model.llm and context != MEASURED_CONTEXT and m.metric == "decode_tokens_per_s":
        short = roofline(model, m.precision, dev, unit, context=MEASURED_CONTEXT,
                         **call).core_ms
    return MeasuredCall(per_call, ideal, fixed, regime, pipelined, r, short)


def measurement_points(catalog: Catalog, *, holdout: bool = False) -> list[Point]:
    """The calibrating measurements as points (holdout: the held-out ones instead)."""
    pts = []
    for i, m in enumerate(catalog.measurements):
        if not (m.holdout if holdout else m.calibrate):
            continue
        dev = catalog.devices[m.device]
        model = catalog.models[m.model]
        unit = dev.unit(m.unit)
        mode = dev.mode(m.power_mode)
        c = measured_call(catalog, m)
        # a hosted accelerator's CPU unit is its host board's CPU: its points are the host's
        cdev, cunit, cmode = catalog.calibrated_as(dev, unit, mode.id)
        feats = _features(cdev, unit.kind, model, m.runtime, c.regime,
                          math_precision(unit, m.precision, catalog.math_path(m.runtime)),
                          efficiency_gops(model, unit, m.batch),
                          c.roofline.layered.shares() if c.roofline.layered else None)
        key = (cdev.id, m.model, m.precision, cunit.id, m.runtime, m.batch, cmode)
        pts.append(Point(i, m, feats, c.ideal_ms, c.fixed_ms,
                         f"{cdev.family}:{unit.kind}:{c.regime}", cdev.family, key,
                         c.per_call_ms, kind=unit.kind, llm=model.llm is not None,
                         pipelined=c.pipelined, short_ideal_ms=c.short_ideal_ms))
    return pts


class Calibration:
    def __init__(self, points: list[Point], *, ridge: float = RIDGE):
        self.points = points
        self.ridge = ridge
        self.names = identifiable_factors(points)
        self.overheads: dict[tuple, float] = {}
        ideal: dict[tuple, list[float]] = {}
        for p in points:
            ideal.setdefault(p.overhead_key, []).append(p.ideal_ms)
        # a fixed cost is told apart from a slow unit only by networks of different sizes:
        # it weighs on a small one's time and hardly on a large one's
        fit_these = sorted(k for k, v in ideal.items()
                           if k is not None and len(v) >= MIN_POINTS_FOR_OVERHEAD
                           and max(v) >= OVERHEAD_MIN_SPREAD * min(v))
        self._fit()
        if fit_these:
            self._fit_overheads(fit_these)
            self._fit()
        self._intervals()
        self.runtimes_measured = {f"{p.measurement.runtime}:{p.kind}" for p in points}
        self.runtimes_on_units = {LEAVE_OUT["runtime"](p) for p in points}
        self.support: dict[str, int] = {}
        for p in points:
            for f, _ in p.features:
                self.support[f] = self.support.get(f, 0) + 1
        # exact matches answer with the measurement, as model execution: a published time
        # that includes pre/post-processing gives back the fitted pre/post share. The key
        # ends with whether the value is a pipelined unit's occupancy (its throughput) rather
        # than a latency.
        self.measured: dict[tuple, list[float]] = {}
        self.measured_context: dict[tuple, list[int]] = {}   # each value's context (LLMs)
        self.measured_prefill: dict[tuple, list[float]] = {}
        for p in points:
            v = p.per_call_ms
            if p.measurement.metric == "prefill_tokens_per_s":
                # a prompt's ms per token answers prefill only, never a decode step's time
                self.measured_prefill.setdefault(p.key, []).append(v)
                continue
            if p.measurement.includes_prepost:
                v = max(v - self.overhead_ms(p.family, True, p.llm)
                        + self.overhead_ms(p.family, False, p.llm), FIXED_SHARE_FLOOR * v)
            if p.short_ideal_ms is not None and p.short_ideal_ms != p.ideal_ms:
                # a decode rate measured deeper into the context, as the step at the short
                # context the estimate moves every measured rate from: less the KV cache's
                # extra reads at the point's fitted efficiency
                v = max(v - (p.ideal_ms - p.short_ideal_ms) / self.bounded_efficiency(
                    p.features), FIXED_SHARE_FLOOR * v)
            self.measured.setdefault(p.key + (p.pipelined,), []).append(v)
            self.measured_context.setdefault(p.key + (p.pipelined,), []).append(
                (p.measurement.context_tokens or MEASURED_CONTEXT) if p.llm else 0)

    def _fit_overheads(self, keys) -> None:
        """Each family's overhead from the grid, by coordinate descent: the value whose fit
        best predicts every point from the others (the exact leave-one-out residuals of the
        ridge fit, which depend on the overheads only through y). Scoring in-sample instead
        lets a device x model factor absorb an overhead that new networks would pay too."""
        import numpy as np

        fit = self._a @ (self._inv @ self._a.T)      # y -> fitted y
        scale = 1.0 / np.maximum(1.0 - self._hat, 1e-9)

        def loo_sse(key, value):
            self.overheads[key] = value
            y = np.array([self._y(p) for p in self.points])
            r = (y - fit @ y) * scale
            return float(r @ r)

        for _ in range(ALTERNATIONS):
            for key in keys:
                mine = [p for p in self.points if p.overhead_key == key]
                room = min(p.per_call_ms - p.fixed_ms for p in mine) * (1 - FIXED_SHARE_FLOOR)
                self.overheads[key] = min((o for o in OVERHEAD_GRID_MS if o <= max(room, 0.0)),
                                          key=lambda o: loo_sse(key, o))

    def _y(self, p: Point) -> float:
        return p.y(self.overheads.get(p.overhead_key, 0.0) if p.overhead_key else 0.0)

    def _fit(self) -> None:
        import numpy as np  # local: `estimate` and `lint` read a cached calibration without it

        col = {n: i for i, n in enumerate(self.names)}
        a = np.zeros((len(self.points), len(self.names)))
        for r, p in enumerate(self.points):
            for f, v in p.features:
                if f in col:
                    a[r, col[f]] = v
        y = np.array([self._y(p) for p in self.points])
        penalty = [INTERCEPT_RIDGE if n.startswith(("regime:", "size:")) else
                   PAIR_RIDGE if n.startswith("pair:") else self.ridge for n in self.names]
        # the inverse and the hat matrix's diagonal depend on the features only, not on y
        self._a = a
        self._inv = np.linalg.inv(a.T @ a + np.diag(penalty)) if self.names else None
        self._hat = np.einsum("ij,ij->i", a @ self._inv, a) if self.names else None
        coef = self._inv @ (a.T @ y) if self.names else []
        self.coef = {n: float(c) for n, c in zip(self.names, coef)}

    def _intervals(self) -> None:
        """The spread of exact held-out residuals of the ridge fit at each depth of
        LEAVE_OUT (a block S left out: (I - H_SS)^-1 e_S), over the points that depth serves
        (depth_scope); a depth that serves no point has none."""
        import numpy as np

        self.sigma_global: dict[str, float] = {}
        self.sigma_group: dict[str, dict[str, float]] = {}
        if not self.names:
            return
        e = np.array([self._y(p) - self.predict_log(p.features) for p in self.points])
        scored = depth_scope(self.points)
        for depth, key in LEAVE_OUT.items():
            blocks: dict = {}
            for r, p in enumerate(self.points):
                blocks.setdefault(key(p), []).append(r)
            res = held_out_residuals(self._a, self._inv, e, blocks.values())
            keep = [(p, float(x)) for p, x in zip(self.points, res) if scored[depth](p)]
            if not keep:
                continue
            self.sigma_global[depth] = math.sqrt(sum(x * x for _, x in keep) / len(keep))
            groups: dict[str, list[float]] = {}
            for p, x in keep:
                groups.setdefault(p.group, []).append(x)
            self.sigma_group[depth] = {g: math.sqrt(sum(x * x for x in v) / len(v))
                                       for g, v in groups.items()
                                       if len(v) >= MIN_GROUP_FOR_SIGMA}

    def sigma(self, group: str, device: str, unit: str, kind: str, model: str,
              runtime: str) -> float:
        """The sigma of log error for an estimate in `group` (device family x unit kind x
        regime): as for a point left out alone where its model has points on its device,
        else as for a network never run there, else as for a device never measured; and
        at least as for a runtime never run on its unit where that runtime has no points
        there. Prefill has no device x model factor and its own device and runtime ones, so
        it counts its own points only."""
        prefill = group.endswith(":prefill")
        suffix = ":prefill" if prefill else ""
        depth = (0 if not prefill and self.support.get(f"pair:{device}:{model}") else
                 1 if self.support.get(f"device:{device}:{kind}{suffix}") else 2)
        # knowing less is never more certain: the widest sigma of the depths up to this one
        depths = list(NESTED_DEPTHS[:depth + 1])
        if (_runtime_on_unit(device, unit, runtime) not in self.runtimes_on_units
                or prefill and not self.support.get(f"runtime:{runtime}:prefill")):
            depths.append("runtime")
        known = [self.sigma_group.get(d, {}).get(group, self.sigma_global.get(d))
                 for d in depths if d in self.sigma_global]
        return max(known) if known else DEFAULT_SIGMA

    def coef_of(self, name: str) -> float:
        """A fitted factor; 0 (the mean of its kind) for what has no data."""
        return self.coef.get(name, 0.0)

    def measured_runtime(self, runtime: str, kind: str) -> bool:
        """Whether any calibration point used this runtime on this kind of unit. Choosing
        among a unit's runtimes prefers these: a plan should not lean on an unmeasured
        runtime's estimate (the mean) being better than runtimes we have numbers for, and
        ONNX Runtime measured on CPUs says little about it on a GPU next to TensorRT."""
        return f"{runtime}:{kind}" in self.runtimes_measured

    def predict_log(self, features) -> float:
        return sum(self.coef_of(f) * v for f, v in features)

    def overhead_ms(self, family: str, includes_prepost: bool = False,
                    llm: bool = False) -> float:
        """Fitted fixed cost per call (per token for an LLM) on this device family (0 without
        data)."""
        return self.overheads.get((family, includes_prepost, llm), 0.0)

    def bounded_efficiency(self, feats) -> float:
        """The fitted efficiency for these features, within EFF_BOUNDS."""
        return min(max(math.exp(self.predict_log(feats)), EFF_BOUNDS[0]), EFF_BOUNDS[1])

    def efficiency(self, dev, unit, model, runtime: str, regime: str, math_prec: str,
                   gops: float = 1.0, layer_shares: dict | None = None
                   ) -> tuple[float, float, int]:
        """(efficiency, sigma of log error, points behind the device-family factor). Prefill
        with no prefill points calibrated is estimated as compute-bound work."""
        if regime == "prefill" and "regime:prefill" not in self.coef:
            regime = "compute"
        eff = self.bounded_efficiency(_features(dev, unit.kind, model, runtime, regime,
                                                math_prec, gops, layer_shares))
        group = f"{dev.family}:{unit.kind}:{regime}"
        return eff, self.sigma(group, dev.id, unit.id, unit.kind, model.id, runtime), \
            self.support.get(f"dev:{group}", 0)

    # plain data for a cache: numbers and strings only, so loading it can run no code
    def to_data(self) -> dict:
        return {"coef": self.coef, "sigma_global": self.sigma_global,
                "sigma_group": self.sigma_group, "support": self.support,
                "overheads": [[f, p, llm, v] for (f, p, llm), v in sorted(self.overheads.items())],
                "measured": [[list(k), v] for k, v in sorted(self.measured.items())],
                "measured_context": [[list(k), v]
                                     for k, v in sorted(self.measured_context.items())],
                "measured_prefill": [[list(k), v]
                                     for k, v in sorted(self.measured_prefill.items())],
                "runtimes_measured": sorted(self.runtimes_measured),
                "runtimes_on_units": sorted(self.runtimes_on_units)}

    @classmethod
    def from_data(cls, d: dict) -> "Calibration":
        cal = cls.__new__(cls)
        cal.points = []
        cal.coef = {str(k): float(v) for k, v in d["coef"].items()}
        cal.sigma_global = {str(k): float(v) for k, v in d["sigma_global"].items()}
        cal.sigma_group = {str(k): {str(g): float(v) for g, v in gs.items()}
                           for k, gs in d["sigma_group"].items()}
        cal.support = {str(k): int(v) for k, v in d["support"].items()}
        cal.overheads = {(str(f), bool(p), bool(llm)): float(v)
                         for f, p, llm, v in d["overheads"]}
        cal.measured = {tuple(k[:-1]) + (bool(k[-1]),): [float(x) for x in v]
                        for k, v in d["measured"]}
        cal.measured_context = {tuple(k[:-1]) + (bool(k[-1]),): [int(x) for x in v]
                                for k, v in d["measured_context"]}
        cal.measured_prefill = {tuple(k): [float(x) for x in v]
                                for k, v in d["measured_prefill"]}
        cal.runtimes_measured = {str(r) for r in d["runtimes_measured"]}
        cal.runtimes_on_units = {str(r) for r in d["runtimes_on_units"]}
        return cal

    def measured_point(self, device, model, precision, unit, runtime, batch, mode):
        """(median measured ms per call, whether it is a pipelined unit's occupancy rather
        than a latency, the context that value was measured at), a latency first; None when
        nothing was measured. An LLM's decode step is as at MEASURED_CONTEXT, whatever the
        context it was measured at."""
        key = (device, model, precision, unit, runtime, batch, mode)
        for busy in (False, True):
            vals = self.measured.get(key + (busy,))
            if vals:
                i = sorted(range(len(vals)), key=lambda k: (vals[k], k))[len(vals) // 2]
                return vals[i], busy, self.measured_context[key + (busy,)][i]
        return None

    def measured_prefill_ms(self, device, model, precision, unit, runtime, batch, mode):
        """The median measured prefill time per prompt token (ms), or None."""
        vals = self.measured_prefill.get((device, model, precision, unit, runtime, batch, mode))
        return _median(vals) if vals else None


def _median(vals) -> float:
    """The middle value (the upper one of an even count), as a published figure, not a mean."""
    return sorted(vals)[len(vals) // 2]


def predict_point(cal: Calibration, catalog: Catalog, p: Point) -> float:
    """What `cal` predicts for the measured point p, in the point's own terms (per call, with
    its pre/post-processing and pipelining), as `estimate` does for a query."""
    eff = cal.bounded_efficiency(p.features)
    if p.measurement.metric == "prefill_tokens_per_s":
        return p.ideal_ms / eff
    if p.pipelined:
        return p.ideal_ms / eff + p.fixed_ms
    return p.ideal_ms / eff + p.fixed_ms + cal.overhead_ms(
        p.family, p.measurement.includes_prepost, p.llm)


def leave_one_out(catalog: Catalog, *,
                  leave_out: str = "point") -> list[tuple[Point, float, float]]:
    """Each measured point predicted by a calibration fitted without it and what `leave_out`
    names with it (LEAVE_OUT): (point, predicted ms per call, the sigma of log error its
    interval would use)."""
    pts = measurement_points(catalog)
    key = LEAVE_OUT[leave_out]
    return [score_point(Calibration([q for q in pts if key(q) != key(p)]), catalog, p)
            for p in pts]


# the blind split (benchmarks/estimator_accuracy.py): whole source tables, at least this share
# of the calibrating points, scored only in aggregate by a calibration fitted without them
BLIND_SHARE = 0.20
# where a source string names a row's place in its table (a line, a section, a row, notes)
_ROW_PLACE = re.compile(r" line \d| lines \d| section | row \d| table \d|[;(]| \|\|")


def source_table(m: Measurement) -> str:
    """The table a measurement comes from: its source up to the row's place in it, so that
    every row of one table falls on the same side of the blind split."""
    return _ROW_PLACE.split(m.source, maxsplit=1)[0].strip().rstrip(",:.")


def blind_split(points: list[Point]) -> tuple[list[Point], list[Point]]:
    """(blind, rest): whole source tables, taken in the order of their names' SHA-256 until
    at least BLIND_SHARE of the points are blind. The choice reads only table names, never a
    row's values or errors, so it cannot follow the estimator's misses; the same catalog
    gives the same split."""
    import hashlib
    table_of = [source_table(q.measurement) for q in points]
    tables: dict[str, list[Point]] = {}
    for q, t in zip(points, table_of):
        tables.setdefault(t, []).append(q)
    order = sorted(tables, key=lambda t: hashlib.sha256(t.encode("utf-8")).hexdigest())
    blind: list[Point] = []
    chosen = set()
    for t in order:
        if len(blind) >= BLIND_SHARE * len(points):
            break
        blind += tables[t]
        chosen.add(t)
    rest = [q for q, t in zip(points, table_of) if t not in chosen]
    return blind, rest


def score_point(cal: Calibration, catalog: Catalog, p: Point) -> tuple[Point, float, float]:
    """(p, what `cal` predicts for it in ms per call, the sigma of log error the estimate's
    interval would use)."""
    m = p.measurement
    return p, predict_point(cal, catalog, p), cal.sigma(p.group, p.key[0], p.key[3], p.kind,
                                                        m.model, m.runtime)
