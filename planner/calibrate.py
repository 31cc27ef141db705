"""Calibration of the estimator's efficiencies on measured points.

For each measured point the roofline gives the ideal time; the observed efficiency is
ideal / (measured - fixed overheads). Its logarithm is fitted by ridge regression on one-hot
factors (DESIGN.md: least squares in log space per device family and model family):

    log efficiency = regime + device family x regime + model family + runtime
                     + [time includes pre/post-processing] + [metric is throughput]

The ridge pulls every factor toward zero, so a family with one point moves only part of the
way and a family with none falls back to the regime's mean. Prediction intervals use the
leave-one-out residuals (exact for ridge: e_i / (1 - h_ii)), per device family and regime
where there are three or more points. Pure Python: the design matrix is tiny, and `estimate`
and `lint` must start fast.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .catalog import Catalog
from .estimate import EFF_BOUNDS, MEASURED_CONTEXT, roofline
from .schema import Measurement

RIDGE = 1.0              # penalty on each factor, in units of one point's squared log error
INTERCEPT_RIDGE = 1e-6
FIXED_SHARE_FLOOR = 0.1  # measured time minus fixed overheads is kept >= 10 % of the time
MIN_GROUP_FOR_SIGMA = 3


@dataclass(frozen=True)
class Point:
    index: int
    measurement: Measurement
    features: tuple[str, ...]
    y: float                 # log observed efficiency
    group: str               # device family x regime, for intervals
    key: tuple               # (device, model, precision, unit, runtime, batch, mode)
    per_call_ms: float       # measured time of one call (batch inputs or one token)


def _features(dev_family: str, regime: str, model_family: str, runtime: str,
              prepost: bool, throughput: bool) -> tuple[str, ...]:
    f = [f"regime:{regime}", f"dev:{dev_family}:{regime}", f"model:{model_family}",
         f"runtime:{runtime}"]
    if prepost:
        f.append("prepost")
    if throughput:
        f.append("throughput")
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
        opt_scale = 1.0
        context = MEASURED_CONTEXT if model.llm else 0
        r = roofline(model, m.precision, dev, unit, batch=m.batch, context=context,
                     params_scale=opt_scale, macs_scale=opt_scale,
                     compute_scale=mode.compute_scale)
        if m.metric == "latency_ms":
            per_call = m.value
            ideal, regime = r.core_ms, r.regime
        elif m.metric == "throughput_fps":
            per_call = m.batch * 1000.0 / m.value
            ideal, regime = r.core_ms, r.regime
        elif m.metric == "decode_tokens_per_s":
            per_call = 1000.0 / m.value
            ideal, regime = r.core_ms, r.regime
        else:  # prefill: compute-bound per token
            per_call = 1000.0 / m.value
            ideal, regime = r.compute_ms, "compute"
        net = max(per_call - r.fixed_ms, FIXED_SHARE_FLOOR * per_call)
        y = math.log(ideal / net)
        feats = _features(dev.family, regime, model.family, m.runtime, m.includes_prepost,
                          m.metric == "throughput_fps")
        key = (m.device, m.model, m.precision, unit.id, m.runtime, m.batch, mode.id)
        pts.append(Point(i, m, feats, y, f"{dev.family}:{regime}", key, per_call))
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
        names = sorted({f for p in points for f in p.features})
        self.names = names
        idx = {n: i for i, n in enumerate(names)}
        k = len(names)
        ata = [[0.0] * k for _ in range(k)]
        aty = [0.0] * k
        for p in points:
            cols = [idx[f] for f in p.features]
            for i in cols:
                aty[i] += p.y
                for j in cols:
                    ata[i][j] += 1.0
        for n, i in idx.items():
            ata[i][i] += INTERCEPT_RIDGE if n.startswith("regime:") else ridge
        beta = _solve(ata, aty) if k else []
        self.coef = dict(zip(names, beta))
        self.support: dict[str, int] = {}
        for p in points:
            for f in p.features:
                self.support[f] = self.support.get(f, 0) + 1

        # exact leave-one-out residuals of the ridge fit: e_i / (1 - h_ii)
        self.loo_residual: dict[int, float] = {}
        if k:
            inv_cols = [_solve(ata, [1.0 if r == c else 0.0 for r in range(k)]) for c in range(k)]
            for p in points:
                cols = [idx[f] for f in p.features]
                h = sum(inv_cols[j][i] for i in cols for j in cols)
                e = p.y - self.predict_log(p.features)
                self.loo_residual[p.index] = e / max(1e-9, 1.0 - h)
        res = list(self.loo_residual.values())
        self.sigma_global = math.sqrt(sum(e * e for e in res) / len(res)) if res else 0.7
        groups: dict[str, list[float]] = {}
        for p in points:
            groups.setdefault(p.group, []).append(self.loo_residual[p.index])
        self.sigma_group = {g: math.sqrt(sum(e * e for e in v) / len(v))
                            for g, v in groups.items() if len(v) >= MIN_GROUP_FOR_SIGMA}
        self.measured = {}
        for p in points:
            self.measured.setdefault(p.key, []).append(p.per_call_ms)

    def predict_log(self, features) -> float:
        return sum(self.coef.get(f, 0.0) for f in features)

    def efficiency(self, dev, model, runtime: str, regime: str) -> tuple[float, float, int]:
        """(efficiency, sigma of log error, points behind the device-family factor)."""
        feats = _features(dev.family, regime, model.family, runtime, False, False)
        eff = math.exp(self.predict_log(feats))
        eff = min(max(eff, EFF_BOUNDS[0]), EFF_BOUNDS[1])
        group = f"{dev.family}:{regime}"
        sigma = self.sigma_group.get(group, self.sigma_global)
        return eff, sigma, self.support.get(f"dev:{group}", 0)

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
    """What `cal` predicts for the measured point p, in the point's own terms (per call,
    with its pre/post-processing and throughput flags), as `estimate` does for a query."""
    m = p.measurement
    dev, model = catalog.devices[m.device], catalog.models[m.model]
    unit, mode = dev.unit(m.unit), dev.mode(m.power_mode)
    r = roofline(model, m.precision, dev, unit, batch=m.batch,
                 context=MEASURED_CONTEXT if model.llm else 0, compute_scale=mode.compute_scale)
    eff = min(max(math.exp(cal.predict_log(p.features)), EFF_BOUNDS[0]), EFF_BOUNDS[1])
    if m.metric == "prefill_tokens_per_s":
        return r.compute_ms / eff
    return r.core_ms / eff + r.fixed_ms


def leave_one_out(catalog: Catalog) -> list[tuple[Point, float]]:
    """Each measured point predicted by a calibration fitted without it."""
    pts = measurement_points(catalog)
    out = []
    for p in pts:
        cal = Calibration([q for q in pts if q.index != p.index])
        out.append((p, predict_point(cal, catalog, p)))
    return out
