"""Calibration of the estimator's efficiencies on measured points.

For each measured point the roofline gives the ideal time; the observed efficiency is
ideal / (measured - fixed costs). Its logarithm is fitted by ridge regression on one-hot
factors (DESIGN.md: least squares in log space per device family and model family):

    log efficiency = regime + unit kind x regime + device family x unit kind x regime
                     + model family
                     + runtime + [metric is pipelined throughput]
                     + slope x log10(GOPs per call)   (compute-bound only: small networks
                                                       leave wide units idle)

and, alternating with that fit, a fixed per-inference overhead per device family (launch,
synchronisation; and, for timings that include them, pre/post-processing), chosen from a grid
for families with enough points. The ridge pulls every factor toward zero, so a family with
one point moves only part of the way and a family with none falls back to its unit kind's
and regime's mean. Prediction intervals use the leave-one-out residuals (exact for ridge:
e_i / (1 - h_ii)), per device family and regime where there are three or more points. Pure
Python: the design matrix is tiny, and `estimate` and `lint` must start fast.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .catalog import Catalog
from .estimate import EFF_BOUNDS, MEASURED_CONTEXT, roofline
from .schema import Measurement

RIDGE = 0.5              # penalty on each factor, in units of one point's squared log error
INTERCEPT_RIDGE = 1e-6
FIXED_SHARE_FLOOR = 0.1  # measured time minus fixed costs is kept >= 10 % of the time
MIN_GROUP_FOR_SIGMA = 3
MIN_POINTS_FOR_OVERHEAD = 3
OVERHEAD_GRID_MS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
                    15.0, 20.0, 30.0, 50.0)
ALTERNATIONS = 3


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

    @property
    def overhead_key(self) -> tuple:
        return (self.family, self.measurement.includes_prepost)

    def y(self, overhead_ms: float) -> float:
        net = max(self.per_call_ms - self.fixed_ms - overhead_ms,
                  FIXED_SHARE_FLOOR * self.per_call_ms)
        return math.log(self.ideal_ms / net)


def _features(dev_family: str, regime: str, model_family: str, runtime: str,
              throughput: bool, kind: str, gops: float = 1.0,
              device: str = "") -> tuple[tuple[str, float], ...]:
    """(name, value) pairs: one-hot factors, and the network size for compute-bound work.
    Device factors nest in family factors: a device with its own points departs from its
    family (a Hailo-8L on a Pi's one PCIe lane is not a Hailo-8 on a desktop)."""
    f = [(f"regime:{regime}", 1.0), (f"kind:{kind}:{regime}", 1.0),
         (f"dev:{dev_family}:{kind}:{regime}", 1.0), (f"device:{device}:{kind}", 1.0),
         (f"model:{model_family}", 1.0), (f"runtime:{runtime}", 1.0)]
    if regime == "compute":
        f.append(("size:compute", math.log10(max(gops, 1e-6))))
    if throughput:
        f.append(("throughput", 1.0))
    return tuple(f)


def measurement_points(catalog: Catalog) -> list[Point]:
    pts = []
    for i, m in enumerate(catalog.measurements):
        if not m.calibrate:
            continue
        dev = catalog.devices[m.device]
        model = catalog.models[m.model]
        unit = dev.unit(m.unit)
        mode = dev.mode(m.power_mode)
        context = MEASURED_CONTEXT if model.llm else 0
        r = roofline(model, m.precision, dev, unit, batch=m.batch, context=context,
                     compute_scale=mode.compute_scale, fp32_math=catalog.fp32_math(m.runtime))
        if m.metric == "throughput_fps":
            per_call = m.batch * 1000.0 / m.value
        elif m.metric == "latency_ms":
            per_call = m.value
        else:   # decode or prefill tokens/s: one token per call
            per_call = 1000.0 / m.value
        if m.metric == "prefill_tokens_per_s":
            ideal, regime, fixed = r.compute_ms, "compute", 0.0
        else:
            ideal, regime, fixed = r.core_ms, r.regime, r.fixed_ms
        gops = 2.0 * model.size.macs_g * m.batch
        feats = _features(dev.family, regime, model.family, m.runtime,
                          m.metric == "throughput_fps", unit.kind, gops, dev.id)
        key = (m.device, m.model, m.precision, unit.id, m.runtime, m.batch, mode.id)
        pts.append(Point(i, m, feats, ideal, fixed, f"{dev.family}:{unit.kind}:{regime}",
                         dev.family, key, per_call))
    return pts


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a is small, symmetric positive definite)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        piv = m[c][c]
        for r in range(c + 1, n):
            f = m[r][c] / piv
            if f:
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


class Calibration:
    def __init__(self, points: list[Point], *, ridge: float = RIDGE):
        self.points = points
        self.ridge = ridge
        self.names = sorted({f for p in points for f, _ in p.features})
        self.overheads: dict[tuple, float] = {}
        counts: dict[tuple, int] = {}
        for p in points:
            counts[p.overhead_key] = counts.get(p.overhead_key, 0) + 1
        fit_these = sorted(k for k, n in counts.items() if n >= MIN_POINTS_FOR_OVERHEAD)
        self._fit()
        for _ in range(ALTERNATIONS if fit_these else 0):
            for key in fit_these:
                mine = [p for p in points if p.overhead_key == key]
                room = min(p.per_call_ms - p.fixed_ms for p in mine) * (1 - FIXED_SHARE_FLOOR)
                best = min((o for o in OVERHEAD_GRID_MS if o <= max(room, 0.0)),
                           key=lambda o: sum((p.y(o) - self.predict_log(p.features)) ** 2
                                             for p in mine))
                self.overheads[key] = best
            self._fit()
        self._intervals()
        self.support: dict[str, int] = {}
        for p in points:
            for f, _ in p.features:
                self.support[f] = self.support.get(f, 0) + 1
        # exact matches answer with the measurement, as model execution: a published time
        # that includes pre/post-processing gives back the fitted pre/post share
        self.measured: dict[tuple, list[float]] = {}
        for p in points:
            v = p.per_call_ms
            if p.measurement.includes_prepost:
                v = max(v - self.overhead_ms(p.family, True) + self.overhead_ms(p.family),
                        FIXED_SHARE_FLOOR * v)
            self.measured.setdefault(p.key, []).append(v)

    def _y(self, p: Point) -> float:
        return p.y(self.overheads.get(p.overhead_key, 0.0))

    def _fit(self) -> None:
        idx = {n: i for i, n in enumerate(self.names)}
        k = len(self.names)
        ata = [[0.0] * k for _ in range(k)]
        aty = [0.0] * k
        for p in self.points:
            cols = [(idx[f], v) for f, v in p.features]
            y = self._y(p)
            for i, vi in cols:
                aty[i] += vi * y
                for j, vj in cols:
                    ata[i][j] += vi * vj
        for n, i in idx.items():
            ata[i][i] += INTERCEPT_RIDGE if n.startswith(("regime:", "size:")) else self.ridge
        self._ata, self._idx = ata, idx
        self.coef = dict(zip(self.names, _solve(ata, aty))) if k else {}

    def _intervals(self) -> None:
        """Exact leave-one-out residuals of the ridge fit: e_i / (1 - h_ii)."""
        self.loo_residual: dict[int, float] = {}
        k = len(self.names)
        if k:
            inv_cols = [_solve(self._ata, [1.0 if r == c else 0.0 for r in range(k)])
                        for c in range(k)]
            for p in self.points:
                cols = [(self._idx[f], v) for f, v in p.features]
                h = sum(vi * vj * inv_cols[j][i] for i, vi in cols for j, vj in cols)
                e = self._y(p) - self.predict_log(p.features)
                self.loo_residual[p.index] = e / max(1e-9, 1.0 - h)
        res = list(self.loo_residual.values())
        self.sigma_global = math.sqrt(sum(e * e for e in res) / len(res)) if res else 0.7
        groups: dict[str, list[float]] = {}
        for p in self.points:
            groups.setdefault(p.group, []).append(self.loo_residual[p.index])
        self.sigma_group = {g: math.sqrt(sum(e * e for e in v) / len(v))
                            for g, v in groups.items() if len(v) >= MIN_GROUP_FOR_SIGMA}

    def coef_of(self, name: str) -> float:
        """A fitted factor; 0 (the mean of its kind) for what has no data."""
        return self.coef.get(name, 0.0)

    def measured_runtime(self, runtime: str) -> bool:
        """Whether any calibration point used this runtime. Choosing among a unit's runtimes
        prefers these: a plan should not lean on an unmeasured runtime's estimate (the mean)
        being better than runtimes we have numbers for."""
        return f"runtime:{runtime}" in self.coef

    def predict_log(self, features) -> float:
        return sum(self.coef_of(f) * v for f, v in features)

    def overhead_ms(self, family: str, includes_prepost: bool = False) -> float:
        """Fitted fixed cost per inference on this device family (0 without data)."""
        return self.overheads.get((family, includes_prepost), 0.0)

    def efficiency(self, dev, model, runtime: str, regime: str, kind: str = "",
                   gops: float = 1.0) -> tuple[float, float, int]:
        """(efficiency, sigma of log error, points behind the device-family factor)."""
        feats = _features(dev.family, regime, model.family, runtime, False, kind, gops, dev.id)
        eff = math.exp(self.predict_log(feats))
        eff = min(max(eff, EFF_BOUNDS[0]), EFF_BOUNDS[1])
        group = f"{dev.family}:{kind}:{regime}"
        sigma = self.sigma_group.get(group, self.sigma_global)
        return eff, sigma, self.support.get(f"dev:{group}", 0)

    # plain data for a cache: numbers and strings only, so loading it can run no code
    def to_data(self) -> dict:
        return {"coef": self.coef, "sigma_global": self.sigma_global,
                "sigma_group": self.sigma_group, "support": self.support,
                "overheads": [[f, p, v] for (f, p), v in sorted(self.overheads.items())],
                "measured": [[list(k), v] for k, v in sorted(self.measured.items())]}

    @classmethod
    def from_data(cls, d: dict) -> "Calibration":
        cal = cls.__new__(cls)
        cal.points = []
        cal.coef = {str(k): float(v) for k, v in d["coef"].items()}
        cal.sigma_global = float(d["sigma_global"])
        cal.sigma_group = {str(k): float(v) for k, v in d["sigma_group"].items()}
        cal.support = {str(k): int(v) for k, v in d["support"].items()}
        cal.overheads = {(str(f), bool(p)): float(v) for f, p, v in d["overheads"]}
        cal.measured = {tuple(k): [float(x) for x in v] for k, v in d["measured"]}
        return cal

    def measured_point(self, device, model, precision, unit, runtime, batch, mode):
        vals = self.measured.get((device, model, precision, unit, runtime, batch, mode))
        if not vals:
            return None
        vals = sorted(vals)
        return vals[len(vals) // 2]


def calibration_for(catalog: Catalog) -> Calibration:
    """The calibration of a catalog, fitted once and kept on the catalog object."""
    cal = getattr(catalog, "_calibration", None)
    if cal is None:
        cal = Calibration(measurement_points(catalog))
        catalog._calibration = cal
    return cal


def predict_point(cal: Calibration, catalog: Catalog, p: Point) -> float:
    """What `cal` predicts for the measured point p, in the point's own terms (per call, with
    its pre/post-processing and throughput flags), as `estimate` does for a query."""
    eff = min(max(math.exp(cal.predict_log(p.features)), EFF_BOUNDS[0]), EFF_BOUNDS[1])
    if p.measurement.metric == "prefill_tokens_per_s":
        return p.ideal_ms / eff
    return p.ideal_ms / eff + p.fixed_ms + cal.overhead_ms(p.family,
                                                           p.measurement.includes_prepost)


def leave_one_out(catalog: Catalog) -> list[tuple[Point, float]]:
    """Each measured point predicted by a calibration fitted without it."""
    pts = measurement_points(catalog)
    out = []
    for p in pts:
        cal = Calibration([q for q in pts if q.index != p.index])
        out.append((p, predict_point(cal, catalog, p)))
    return out
