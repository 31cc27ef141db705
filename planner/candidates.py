"""Candidates for the solver: every (model option x device power mode x unit x runtime) a
workload could use, estimated in one numpy pass (`estimate_grid`), checked against the
per-option budgets, and pruned of dominated options before any CP-SAT model is built.

A candidate that breaks a per-option budget is *rejected* (with the budget and by how much);
in explanation mode it is kept, tagged with the budgets it breaks, so that the CP-SAT model can
decide which budgets conflict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import Catalog, did_you_mean
from .errors import InputError, UnknownIdError
from .estimate import OptionRow, UnitRow, estimate_grid
from .schema import PRECISIONS, Device, ModelProfile
from .spec import Spec, Workload


@dataclass(frozen=True)
class DeviceType:
    """A device in one power mode: what a slot of the bill of devices can be."""
    index: int
    device: Device
    mode_id: str
    power_w: float
    idle_w: float
    price_usd: float
    memory_cap_gb: float      # available memory less the headroom
    available_gb: float


@dataclass
class Candidate:
    workload: int
    model: ModelProfile
    precision: str
    technique: str
    dtype: DeviceType
    unit: str
    runtime: str
    latency_ms: float
    memory_gb: float
    util: float               # share of the unit's time this workload takes at its rate
    accuracy: float
    dyn_power_w: float        # average power above idle at the asked rate
    breaks: dict[str, tuple[float, float]] = field(default_factory=dict)  # budget -> (value, limit)
    rank: int = 0             # deterministic tie-break order

    @property
    def label(self) -> str:
        return (f"{self.model.id}/{self.precision}-{self.technique} on {self.dtype.device.id}"
                f"[{self.dtype.mode_id}] {self.unit}/{self.runtime}")


@dataclass
class CandidateSet:
    types: list[DeviceType]
    per_workload: list[list[Candidate]]          # kept (feasible, or tagged in explain mode)
    rejected: list[dict]                          # per (workload, model, option, device)
    excluded_by_lists: int = 0
    pruned_dominated: int = 0
    considered: int = 0


# ---------------------------------------------------------------- resolving the spec

def _check_ids(kind: str, ids, known, field: str) -> None:
    for i in ids or ():
        if i not in known:
            raise UnknownIdError(f"unknown {kind} {i!r}{did_you_mean(i, known)}", field=field)


def check_spec_ids(spec: Spec, catalog: Catalog) -> None:
    """Unknown ids anywhere in the spec are input errors, with a did-you-mean."""
    devs, fams = set(catalog.devices), set(catalog.families())
    runtimes = {r for d in catalog.devices.values() for u in d.units for r in u.runtimes}
    _check_ids("device", spec.devices.allow, devs, "devices.allow")
    _check_ids("device", spec.devices.deny, devs, "devices.deny")
    _check_ids("family", spec.families.allow, fams, "families.allow")
    _check_ids("family", spec.families.deny, fams, "families.deny")
    _check_ids("runtime", spec.runtimes.allow, runtimes, "runtimes.allow")
    _check_ids("runtime", spec.runtimes.deny, runtimes, "runtimes.deny")
    tasks = {m.task for m in catalog.models.values()}
    for i, w in enumerate(spec.workloads):
        _check_ids("model", w.models, set(catalog.models), f"workloads[{i}].models")
        if w.task and w.task not in tasks:
            raise UnknownIdError(f"unknown task {w.task!r}{did_you_mean(w.task, tasks)}",
                                 field=f"workloads[{i}].task")


def workload_tasks(w: Workload, catalog: Catalog) -> set[str]:
    if w.task:
        return {w.task}
    return {catalog.models[m].task for m in (w.models or ()) if m in catalog.models}


def _in(allow_deny, value) -> bool:
    return (allow_deny.allow is None or value in allow_deny.allow) and value not in allow_deny.deny


def device_types(spec: Spec, catalog: Catalog, *, honour_lists: bool) -> list[DeviceType]:
    out = []
    head = 1.0 - spec.budgets.memory_headroom_pct / 100.0
    for dev in sorted(catalog.devices.values(), key=lambda d: d.id):
        if honour_lists and not (_in(spec.devices, dev.id) and _in(spec.families, dev.family)):
            continue
        for m in dev.power.modes:
            out.append(DeviceType(len(out), dev, m.id, m.power_w, dev.power.idle_w,
                                  dev.price.usd, dev.memory.available_gb * head,
                                  dev.memory.available_gb))
    return out


def list_breaks(spec: Spec, w: Workload, listed: set, model: ModelProfile, precision: str,
                technique: str, dev: Device, runtime: str) -> dict[str, tuple]:
    """The allow/deny and candidate lists an option is outside of (relaxable in explain mode)."""
    b: dict[str, tuple] = {}
    wname = w.name
    if listed and model.id not in listed:
        b[f"models:{wname}"] = (model.id, tuple(sorted(listed)))
    if w.precisions is not None and precision not in w.precisions:
        b[f"precisions:{wname}"] = (precision, tuple(w.precisions))
    if w.techniques is not None and technique not in w.techniques:
        b[f"techniques:{wname}"] = (technique, tuple(w.techniques))
    if not _in(spec.devices, dev.id):
        b["devices.allow" if dev.id not in spec.devices.deny else "devices.deny"] = (dev.id, None)
    if not _in(spec.families, dev.family):
        b["families.allow" if dev.family not in spec.families.deny else "families.deny"] = \
            (dev.family, None)
    if not _in(spec.runtimes, runtime):
        b["runtimes.allow" if runtime not in spec.runtimes.deny else "runtimes.deny"] = \
            (runtime, None)
    return b


def workload_models(w: Workload, catalog: Catalog, extra_models=(), *, widen: bool) -> list:
    """Models a workload may use: its listed models (narrowing its task when both are given),
    else every model of its task. In explain mode (widen) the rest of its task too, so the
    candidate list itself can be named as a budget to relax."""
    tasks = workload_tasks(w, catalog)
    pool = {m.id: m for m in catalog.models.values()}
    pool.update({m.id: m for m in extra_models})
    listed = set(w.models or ()) | {m.id for m in extra_models}
    out = []
    for mid in sorted(pool):
        m = pool[mid]
        if widen:
            ok = m.task in tasks or mid in listed
        elif w.models is not None or extra_models:
            ok = mid in listed and (w.task is None or m.task == w.task)
        else:
            ok = m.task in tasks
        if ok:
            out.append(m)
    return out


# ---------------------------------------------------------------- building candidates

def build_candidates(spec: Spec, catalog: Catalog, *, explain: bool = False,
                     prune: bool = True, extra_models: dict | None = None,
                     calibration=None) -> CandidateSet:
    import numpy as np

    types = device_types(spec, catalog, honour_lists=not explain)
    b = spec.budgets
    util_cap = 1.0 - b.compute_headroom_pct / 100.0
    rejected: list[dict] = []
    per_workload: list[list[Candidate]] = []
    excluded = pruned = considered = 0

    for wi, w in enumerate(spec.workloads):
        mine = (extra_models or {}).get(w.name, ())
        models = workload_models(w, catalog, mine, widen=explain)
        listed = set(w.models or ()) | {m.id for m in mine}
        options = []
        for m in models:
            for o in m.options:
                if not explain and ((w.precisions and o.precision not in w.precisions) or
                                    (w.techniques and o.technique not in w.techniques)):
                    continue
                options.append(OptionRow(m, o.precision, o.technique, o.accuracy,
                                         o.params_scale, o.macs_scale))
        units, unit_type = [], []
        for t in types:
            for u in t.device.units:
                for rt in u.runtimes:
                    if not explain and not _in(spec.runtimes, rt):
                        continue
                    units.append(UnitRow(t.device, u, t.mode_id,
                                         t.device.mode(t.mode_id).compute_scale, rt))
                    unit_type.append(t)
        if not options or not units:
            per_workload.append([])
            continue
        g = estimate_grid(catalog, options, units, batch=w.batch, context=w.context_tokens,
                          calibration=calibration)
        runs, lat, mem = g["runs"], g["latency_ms"], g["memory_gb"]
        rate = w.tokens_per_s if w.tokens_per_s is not None else (w.rate_fps or 0.0)
        util = rate * lat / 1000.0 / w.batch
        acc = np.array([o.accuracy for o in options]).reshape(-1, 1)
        hib = np.array([o.model.higher_is_better for o in options]).reshape(-1, 1)
        cap = np.array([t.memory_cap_gb for t in unit_type]).reshape(1, -1)
        power = np.array([t.power_w for t in unit_type]).reshape(1, -1)
        price = np.array([t.price_usd for t in unit_type]).reshape(1, -1)
        checks = []   # (budget, violated mask, value array, limit)
        checks.append(("memory", mem > cap, mem, cap))
        if w.latency_budget_ms is not None:
            checks.append((f"latency:{w.name}", lat > w.latency_budget_ms, lat, w.latency_budget_ms))
        if rate:
            checks.append((f"rate:{w.name}", util > util_cap, util, util_cap))
        if w.accuracy_floor is not None:
            accb = np.broadcast_to(acc, lat.shape)
            bad = np.where(hib, accb < w.accuracy_floor, accb > w.accuracy_floor)
            checks.append((f"accuracy:{w.name}", bad, accb, w.accuracy_floor))
        if b.power_w is not None:
            checks.append(("power", np.broadcast_to(power > b.power_w, lat.shape),
                           np.broadcast_to(power, lat.shape), b.power_w))
        if b.cost_usd is not None:
            checks.append(("cost", np.broadcast_to(price > b.cost_usd, lat.shape),
                           np.broadcast_to(price, lat.shape), b.cost_usd))
        any_bad = np.zeros(lat.shape, dtype=bool)
        for _, bad, _, _ in checks:
            any_bad |= bad
        considered += int(runs.sum())

        # rejections, one row per (model, precision, technique, device): only when no unit,
        # mode or runtime of that device works; the reason is the budget broken least
        if not explain:
            _collect_rejections(w, options, units, runs, any_bad, checks, rejected)

        keep = runs & (~any_bad if not explain else True)
        cands = []
        ii, jj = np.nonzero(keep)
        for i, j in zip(ii.tolist(), jj.tolist()):
            o, u, t = options[i], units[j], unit_type[j]
            breaks = {}
            if explain:
                for name, bad, val, lim in checks:
                    if name in ("memory", "power", "cost") or name.startswith("rate:"):
                        continue   # shared budgets: the CP-SAT model checks them
                    if bad[i, j]:
                        breaks[name] = (float(val[i, j]), float(lim if np.isscalar(lim) else lim[0, j]))
                lb = list_breaks(spec, w, listed, o.model, o.precision, o.technique,
                                 u.device, u.runtime)
                breaks.update(lb)
            else:
                if list_breaks(spec, w, listed, o.model, o.precision, o.technique,
                               u.device, u.runtime):
                    excluded += 1
                    continue
            cands.append(Candidate(wi, o.model, o.precision, o.technique, t, u.unit.id,
                                   u.runtime, float(lat[i, j]), float(mem[i, j]),
                                   float(util[i, j]), o.accuracy,
                                   float(util[i, j]) * (t.power_w - t.idle_w), breaks))
        if prune:
            before = len(cands)
            cands = prune_dominated(cands, spec)
            pruned += before - len(cands)
        cands.sort(key=lambda c: (c.dtype.index, c.unit, c.model.id,
                                  PRECISIONS.index(c.precision), c.technique, c.runtime))
        for r, c in enumerate(cands):
            c.rank = r
        per_workload.append(cands)
    rejected.sort(key=lambda r: (r["workload"], r["model"], r["precision"], r["technique"],
                                 r["device"]))
    return CandidateSet(types, per_workload, rejected, excluded, pruned, considered)


def _collect_rejections(w, options, units, runs, any_bad, checks, out) -> None:
    import numpy as np
    groups: dict[tuple, list[int]] = {}
    for j, u in enumerate(units):
        groups.setdefault(u.device.id, []).append(j)
    for i, o in enumerate(options):
        for dev_id, cols in groups.items():
            cols_a = np.array(cols)
            r = runs[i, cols_a]
            if not r.any():
                continue
            ok = r & ~any_bad[i, cols_a]
            if ok.any():
                continue
            # every budget this option breaks on its best way to run on the device (the unit,
            # mode and runtime that break the fewest); the headline is the largest excess
            best = None
            for j in cols_a[r]:
                v_list = []
                for name, bad, val, lim in checks:
                    if bad[i, j]:
                        v = float(val[i, j])
                        limit = float(lim if np.isscalar(lim) else lim[0, j])
                        v_list.append((abs(v - limit) / max(abs(limit), 1e-12), name, v, limit))
                key = (len(v_list), sum(x[0] for x in v_list))
                if v_list and (best is None or key < best[0]):
                    best = (key, sorted(v_list, reverse=True))
            if best is None:
                continue
            viol = [{"budget": n.split(":")[0], "value": round(v, 4), "limit": round(lim, 4),
                     "by": f"{e * 100:.0f} %"} for e, n, v, lim in best[1]]
            out.append({"workload": w.name, "model": o.model.id, "precision": o.precision,
                        "technique": o.technique, "device": dev_id, **viol[0],
                        "violations": viol})


def prune_dominated(cands: list[Candidate], spec: Spec) -> list[Candidate]:
    """Drop a candidate when another on the same device type and unit (and breaking the same
    budgets) is at least as good on everything the model can care about: memory, compute
    share, accuracy, latency, dynamic power — and strictly better on one of them (ties keep
    the first in a fixed order)."""
    import numpy as np
    if len(cands) < 2:
        return cands
    groups: dict[tuple, list[int]] = {}
    for k, c in enumerate(cands):
        key = (c.dtype.index, c.unit, tuple(sorted(c.breaks)))
        groups.setdefault(key, []).append(k)
    keep = np.zeros(len(cands), dtype=bool)
    for idx in groups.values():
        if len(idx) == 1:
            keep[idx[0]] = True
            continue
        crit = np.array([[c.memory_gb, c.util, -c.accuracy * (1 if c.model.higher_is_better else -1),
                          c.latency_ms, c.dyn_power_w]
                         for c in (cands[k] for k in idx)])
        # round so that float noise does not make near-equal options incomparable
        crit = np.round(crit, 9)
        le = (crit[:, None, :] <= crit[None, :, :]).all(axis=2)   # le[a, b]: a <= b everywhere
        lt = (crit[:, None, :] < crit[None, :, :]).any(axis=2)
        dominates = le & lt
        equal = le & le.T
        # a dominated option goes; among exact equals, only the first stays
        dominated = dominates.any(axis=0) | (np.triu(equal, k=1).any(axis=0))
        for local, k in enumerate(idx):
            if not dominated[local]:
                keep[k] = True
    return [c for k, c in enumerate(cands) if keep[k]]
