"""Candidates for the solver: every (model option x device power mode x unit x runtime) a
workload could use, estimated in one numpy pass (`estimate_grid`), checked against the
per-option budgets, and pruned of dominated options before any CP-SAT model is built.

A candidate that breaks a per-option budget is *rejected* (with the budget and by how much);
in explanation mode it is kept, tagged with the budgets it breaks, so that the CP-SAT model can
decide which budgets conflict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from planner.catalog.loader import Catalog
from planner.catalog.schema import Device, ModelProfile
from planner.errors import InputError, UnknownIdError, did_you_mean
from planner.estimate.grid import OptionRow, UnitRow, estimate_grid
from planner.estimate.point import workload_prompt
from planner.spec import (
    Spec,
    SpecWorkload,
    llm_field_message,
    llm_fields_without_llm,
    rate_per_s,
)
from planner.vocabulary import PRECISIONS, WEIGHT_FORMATS


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


# budgets each option meets or breaks on its own (the rest are shared: memory, rate, power...)
PER_OPTION_BUDGETS = ("latency:", "ttft:", "accuracy:")


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
    cell: tuple = ()          # (option, unit row) in the workload's grid
    # a single-segment unit's fallback: the device's CPU unit that runs the other layers and
    # the share of its time they take at the rate (planner.estimate.fallback)
    host_unit: str | None = None
    host_util: float = 0.0

    def shares(self) -> dict[str, float]:
        """The share of each of its device's units' time this candidate takes."""
        out = {self.unit: self.util}
        if self.host_unit is not None and self.host_util > 0:
            out[self.host_unit] = out.get(self.host_unit, 0.0) + self.host_util
        return out

    @property
    def label(self) -> str:
        return (f"{self.model.id}/{self.precision}-{self.technique} on {self.dtype.device.id}"
                f"[{self.dtype.mode_id}] {self.unit}/{self.runtime}")


@dataclass
class CandidateSet:
    types: list[DeviceType]
    per_workload: list[list[Candidate]]          # kept (feasible, or tagged in explain mode)
    rejected: object                              # rows per (workload, model, option, device)
    pruned_dominated: int = 0
    considered: int = 0


# ---------------------------------------------------------------- resolving the spec

def check_spec_ids(spec: Spec, catalog: Catalog) -> None:
    """Unknown ids anywhere in the spec are input errors with a did-you-mean, naming the file
    and line when the spec came from one."""
    pos = getattr(spec, "_positions", None)

    def check(kind, ids, known, path, scalar=False):
        for k, i in enumerate(ids or ()):
            if i not in known:
                msg = f"unknown {kind} {i!r}{did_you_mean(i, known)}"
                where = path if scalar else path + (k,)
                if pos is not None:
                    raise pos.error(UnknownIdError, msg, where)
                from planner.yamlio import dotted
                raise UnknownIdError(msg, field=dotted(where))

    devs, fams = set(catalog.devices), set(catalog.families())
    runtimes = {r for d in catalog.devices.values() for u in d.units for r in u.runtimes}
    for group, kind, known in (("devices", "device", devs), ("families", "family", fams),
                               ("runtimes", "runtime", runtimes)):
        ad = getattr(spec, group)
        check(kind, ad.allow, known, (group, "allow"))
        check(kind, ad.deny, known, (group, "deny"))
    tasks = {m.task for m in catalog.models.values()}
    for i, w in enumerate(spec.workloads):
        check("model", w.models, set(catalog.models), ("workloads", i, "models"))
        if w.task:
            check("task", [w.task], tasks, ("workloads", i, "task"), scalar=True)
        models = workload_models(w, catalog, widen=False)
        llm_only = llm_fields_without_llm(w, models)
        if llm_only:
            # an LLM's option on a workload with no LLM candidate would be dropped unseen
            msg = llm_field_message(w, llm_only[0])
            where = ("workloads", i, llm_only[0])
            if pos is not None:
                raise pos.error(InputError, msg, where)
            from planner.yamlio import dotted
            raise InputError(msg, field=dotted(where))
        # a cache type or weight format no allowed runtime handles, or a weight format at a
        # precision the workload excludes, is a spec error, not a conflict between budgets
        for key, value, has, what, table in (
                ("kv_cache", w.kv_cache if w.kv_cache != "fp16" else None,
                 lambda r, v: v in catalog.math_path(r).kv_cache_types, "keeps a {} KV cache",
                 "kv_cache_types"),
                ("weight_format", w.weight_format,
                 lambda r, v: v in catalog.math_path(r).weight_formats, "loads {} weights",
                 "weight_formats")):
            if value is None:
                continue
            msg = None
            if key == "weight_format" and w.precisions and \
                    WEIGHT_FORMATS[value][0] not in w.precisions:
                msg = (f"{value} stores {WEIGHT_FORMATS[value][0].upper()} weights, which the "
                       f"workload's precisions ({', '.join(w.precisions)}) leave out")
            elif not any(spec.runtimes.admits(r) and has(r, value) for r in runtimes):
                anywhere = sorted(r for r in runtimes if has(r, value))
                msg = (f"{value}: no allowed runtime {what.format(value)} (runtimes.yaml "
                       f"{table}; " + (f"{', '.join(anywhere)} would, but runtimes allow/deny "
                                       "excludes it)" if anywhere else
                                       "none in this catalog does)"))
            else:
                # a runtime that handles it, for the workload's LLMs, on a device the
                # devices/families lists admit (a user's model_files are not known here)
                llms = [m for m in models if m.llm is not None]

                def handled(d):
                    return any(spec.runtimes.admits(r) and has(r, value)
                               and any(catalog.runs(r, m, d.id) for m in llms)
                               for u in d.units for r in u.runtimes)
                if llms and not any(spec.devices.admits(d.id) and spec.families.admits(d.family)
                                    and handled(d) for d in catalog.devices.values()):
                    fams = sorted({d.family for d in catalog.devices.values() if handled(d)})
                    msg = (f"{value}: no allowed device has a runtime that "
                           f"{what.format(value)} for {', '.join(m.id for m in llms[:3])} "
                           f"(runtimes.yaml {table}); "
                           + (f"{', '.join(fams)} devices do, which the devices/families "
                              "allow and deny lists exclude" if fams else
                              "no device in this catalog does"))
            if msg is not None:
                where = ("workloads", i, key)
                if pos is not None:
                    raise pos.error(InputError, msg, where)
                from planner.yamlio import dotted
                raise InputError(msg, field=dotted(where))


def workload_tasks(w: SpecWorkload, catalog: Catalog) -> set[str]:
    if w.task:
        return {w.task}
    return {catalog.models[m].task for m in (w.models or ()) if m in catalog.models}


def admits_price_kind(spec: Spec, dev: Device) -> bool:
    """The device's price is of a kind the spec's cost compares (budgets.price_kinds)."""
    kinds = spec.budgets.price_kinds
    return kinds is None or dev.price_kind in kinds


def device_types(spec: Spec, catalog: Catalog, *, honour_lists: bool) -> list[DeviceType]:
    out = []
    head = 1.0 - spec.budgets.memory_headroom_pct / 100.0
    for dev in sorted(catalog.devices.values(), key=lambda d: d.id):
        if honour_lists and not (spec.devices.admits(dev.id) and spec.families.admits(dev.family)):
            continue
        if not admits_price_kind(spec, dev):
            continue        # not a list to relax: what the cost compares (like with like)
        for m in dev.power.modes:
            out.append(DeviceType(len(out), dev, m.id, m.power_w, dev.power.idle_w,
                                  dev.price.usd, dev.memory.available_gb * head,
                                  dev.memory.available_gb))
    return out


def list_breaks(spec: Spec, w: SpecWorkload, listed: set, model: ModelProfile, precision: str,
                technique: str, dev: Device, runtime: str) -> dict[str, tuple]:
    """The allow/deny and candidate lists an option is outside of (relaxable in explain mode)."""
    b: dict[str, tuple] = {}
    wname = w.name
    if model is not None and listed and model.id not in listed:
        b[f"models:{wname}"] = (model.id, tuple(sorted(listed)))
    if precision is not None and w.precisions is not None and precision not in w.precisions:
        b[f"precisions:{wname}"] = (precision, tuple(w.precisions))
    if technique is not None and w.techniques is not None and technique not in w.techniques:
        b[f"techniques:{wname}"] = (technique, tuple(w.techniques))
    if dev is None:
        return b
    if not spec.devices.admits(dev.id):
        b["devices.allow" if dev.id not in spec.devices.deny else "devices.deny"] = (dev.id, None)
    if not spec.families.admits(dev.family):
        b["families.allow" if dev.family not in spec.families.deny else "families.deny"] = \
            (dev.family, None)
    if not spec.runtimes.admits(runtime):
        b["runtimes.allow" if runtime not in spec.runtimes.deny else "runtimes.deny"] = \
            (runtime, None)
    return b


def workload_models(w: SpecWorkload, catalog: Catalog, extra_models=(), *, widen: bool) -> list:
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
                     prune: bool = True, layers: int = 1, extra_models: dict | None = None,
                     calibration=None, within: dict | None = None,
                     grids: list | None = None, ignore_memory: bool = False,
                     feasibility_only: bool = False) -> CandidateSet:
    """Array-first: every check and the dominance pruning run on numpy arrays over
    (option x unit row); Candidate objects are made only for what survives.

    `layers`: keep this many Pareto layers (1 + the runners-up asked for), so that the next
    best distinct plans survive pruning too.
    `within`: {"power": W, "cost": USD} bounds known to hold at the optimum (from an incumbent):
    device types above them are left out of the model, without counting as rejections.
    `grids`: the estimates from an earlier call with the same spec (see `workload_grids`).
    `feasibility_only`: the caller only asks whether a plan exists, so the objective gives no
    reason to keep an option (explanations ask this many times)."""
    import numpy as np

    if grids is None:
        grids = workload_grids(spec, catalog, explain=explain, extra_models=extra_models,
                               calibration=calibration, ignore_memory=ignore_memory)
    types = grids.types
    rejected = [g.rejections for g in grids if g is not None and g.rejections is not None]
    considered = sum(int(g.runs.sum()) for g in grids if g is not None)
    keeps = []
    for g in grids:
        if g is None:
            keeps.append(None)
            continue
        keep = g.keep
        if within:
            ok = np.ones(len(g.unit_type), dtype=bool)
            if "power" in within:
                ok &= g.type_power <= within["power"] + 1e-9
            if "cost" in within:
                ok &= g.type_price <= within["cost"] + 1e-9
            keep = keep & ok.reshape(1, -1)
        if not grids.explain:
            keep = keep & _fastest_runtime(g, keep)
        keeps.append(keep)
    pruned = 0
    obj = set() if feasibility_only else {t for t, _ in spec.objective_order()}
    if grids.explain:
        # the explanation model checks memory, rate, power and cost itself: every option
        # that is lighter on any of them must stay
        shared = (np.ones(len(types), dtype=bool), _ALL)
    elif len(grids) > 1:
        shared = _shared_binding(spec, grids, keeps, types)
    else:
        shared = None
    per_workload: list[list[Candidate]] = []
    from planner.solve.deadline import active
    d = active()
    for wi, (g, keep) in enumerate(zip(grids, keeps)):
        if d is not None:
            d.check("candidate pruning")
        if g is None:
            per_workload.append([])
            continue
        ii, jj = np.nonzero(keep)
        n_before = len(ii)
        group, crit, device_crit = _criteria(g, ii, jj, obj, shared)
        if prune and len(ii) > 1:
            alive = _prune(g, ii, jj, group, crit, device_crit, layers)
            ii, jj, crit = ii[alive], jj[alive], crit[alive]
            device_crit = device_crit[alive] if device_crit is not None else None
        pruned += n_before - len(ii)
        order = _rank_order(g, ii, jj, crit, device_crit)
        per_workload.append(g.candidates(spec, wi, ii[order], jj[order]))
    return CandidateSet(types, per_workload, _LazyRejections(rejected), pruned, considered)


class Grids(list):
    """Per workload the estimates over options x unit rows (None where it has no option)."""
    types: list
    explain: bool


class _All:
    def __contains__(self, item):
        return True


_ALL = _All()


def workload_grids(spec: Spec, catalog: Catalog, *, explain: bool = False,
                   extra_models: dict | None = None, calibration=None,
                   ignore_memory: bool = False) -> Grids:
    """`ignore_memory`: leave memory unchecked (to ask whether memory is part of a conflict)."""
    types = device_types(spec, catalog, honour_lists=not explain)
    used = [0]    # grid cells so far, against the memory budget of the deadline in force
    out = Grids(_workload_grid(spec, catalog, wi, w, types, explain, extra_models, calibration,
                               ignore_memory, used)
                for wi, w in enumerate(spec.workloads))
    out.types = types
    out.explain = explain
    return out


class _Grid:
    """One workload's options x unit rows, with estimates and per-option checks."""

    def candidates(self, spec, wi, ii, jj) -> list[Candidate]:
        w = spec.workloads[wi]
        out = []
        for i, j in zip(ii.tolist(), jj.tolist()):
            o, u, t = self.options[i], self.units[j], self.unit_type[j]
            breaks = {}
            if self.explain:
                for name, bad, val, lim in self.checks:
                    if name.startswith(PER_OPTION_BUDGETS) and bad[i, j]:
                        breaks[name] = (float(val[i, j]), float(lim))
                breaks.update(list_breaks(spec, w, self.listed, o.model, o.precision,
                                          o.technique, u.device, u.runtime))
            util = float(self.util[i, j])
            host = float(self.host_util[i, j])
            out.append(Candidate(wi, o.model, o.precision, o.technique, t, u.unit.id,
                                 u.runtime, float(self.lat[i, j]), float(self.mem[i, j]),
                                 util, o.accuracy, util * (t.power_w - t.idle_w), breaks,
                                 cell=(i, j), host_unit=u.device.cpu_unit.id if host else None,
                                 host_util=host))
        for r, c in enumerate(out):    # (ii, jj) come in the tie-break order: _rank_order
            c.rank = r
        return out


def _pessimistic_accuracy(options, option_of, units):
    """--robust: each option's accuracy at the pessimistic end of its range, per unit row
    where the runtime matters (a published figure of another toolchain's quantized model
    takes that quantizer's elsewhere_range on the runtimes that do not run it)."""
    import numpy as np
    pess = np.array([o.pessimistic_accuracy(r.model.higher_is_better)
                     for r, o in zip(options, option_of)]).reshape(-1, 1)
    if not any(o.quantizer is not None for o in option_of):
        return pess
    out = np.repeat(pess, len(units), axis=1)
    for i, (r, o) in enumerate(zip(options, option_of)):
        if o.quantizer is not None:
            out[i] = [o.pessimistic_accuracy(r.model.higher_is_better, u.runtime)
                      for u in units]
    return out


def _workload_grid(spec, catalog, wi, w, types, explain, extra_models, calibration,
                   ignore_memory=False, used=None):
    import numpy as np
    b = spec.budgets
    mine = (extra_models or {}).get(w.name, ())
    models = workload_models(w, catalog, mine, widen=explain)
    listed = set(w.models or ()) | {m.id for m in mine}
    options, option_of = [], []
    for m in models:
        for o in m.options:
            if not explain and ((w.precisions and o.precision not in w.precisions) or
                                (w.techniques and o.technique not in w.techniques)):
                continue
            options.append(OptionRow(m, o.precision, o.technique, o.accuracy,
                                     o.params_scale, o.macs_scale))
            option_of.append(o)
    units, unit_type = [], []
    for t in types:
        for u in t.device.units:
            for rt in u.runtimes:
                if not explain and not spec.runtimes.admits(rt):
                    continue
                units.append(UnitRow(t.device, u, t.mode_id,
                                     t.device.mode(t.mode_id).compute_scale, rt))
                unit_type.append(t)
    if not options or not units:
        return None
    from planner.solve.deadline import GRID_BYTES_PER_CELL, active
    d = active()
    if d is not None:
        # the time and memory this grid will take, checked before it is estimated
        d.check("the candidate grids")
        cells = len(options) * len(units) + (used[0] if used else 0)
        d.check_memory(f"the candidate grids ({cells:,} options x device rows)",
                       cells * GRID_BYTES_PER_CELL)
        if used:
            used[0] = cells
    g = _Grid()
    g.options, g.units, g.unit_type, g.listed, g.explain = options, units, unit_type, listed, explain
    est = estimate_grid(catalog, options, units, batch=w.batch, context=w.context_tokens,
                        kv_cache=w.kv_cache or "fp16", weight_format=w.weight_format,
                        min_context=w.prompt_tokens,
                        calibration=calibration)
    g.runs, g.lat, g.mem = est["runs"], est["latency_ms"], est["memory_gb"]
    from planner.solve import robust
    g.ttft = None
    if any(o.model.llm is not None for o in options):
        # the prompt's prefill (a prompt of the context's length where the spec gives none),
        # also without a budget: explanations search its values
        prompt = np.array([workload_prompt(w, o.model) or 0.0 for o in options]).reshape(-1, 1)
        g.ttft = est["prefill_ms"] * prompt
        if robust.active():
            from planner.estimate.grid import prefill_high_factors
            g.ttft = g.ttft * prefill_high_factors(catalog, options, units, est,
                                                   calibration=calibration)
    g.runtime_measured = est["runtime_measured"]
    rate = rate_per_s(w) or 0.0
    g.util = rate * est["busy_ms"] / 1000.0 / w.batch
    g.host_util = rate * est["host_busy_ms"] / 1000.0 / w.batch   # a fallback's CPU layers
    lat_checked = g.lat
    if robust.active():
        # --robust: latency, unit share and accuracy at the pessimistic end of their intervals
        from planner.estimate.grid import interval_factors
        lat_hi, busy_hi = interval_factors(catalog, options, units, est, batch=w.batch,
                                           calibration=calibration)
        lat_checked = g.lat * lat_hi
        g.util = g.util * busy_hi
        g.host_util = g.host_util * busy_hi
    g.acc = np.array([o.accuracy for o in options])
    g.hib = np.array([o.model.higher_is_better for o in options])
    g.t_index = np.array([t.index for t in unit_type])
    g.type_power = np.array([t.power_w for t in unit_type])
    g.type_price = np.array([t.price_usd for t in unit_type])
    g.type_idle = np.array([t.idle_w for t in unit_type])
    g.unit_code = np.array([_unit_code(u) for u in units])
    acc, hib = g.acc.reshape(-1, 1), g.hib.reshape(-1, 1)
    if robust.active():
        acc = _pessimistic_accuracy(options, option_of, units)
    cap = np.array([t.memory_cap_gb for t in unit_type]).reshape(1, -1)
    power = g.type_power.reshape(1, -1)
    price = g.type_price.reshape(1, -1)
    util_cap = 1.0 - b.compute_headroom_pct / 100.0
    shape = g.lat.shape
    checks = [] if ignore_memory else [("memory", g.mem > cap, g.mem, cap)]
    # checks: (budget, violated, value, limit)
    if w.latency_budget_ms is not None:
        checks.append((f"latency:{w.name}", lat_checked > w.latency_budget_ms, lat_checked,
                       w.latency_budget_ms))
    if w.ttft_budget_ms is not None:
        # a model with no prefill (not an LLM) has no first token to wait for: it breaks
        # a time-to-first-token budget, as an unknown accuracy breaks a floor
        ttft = g.ttft if g.ttft is not None else np.full(shape, np.nan)
        checks.append((f"ttft:{w.name}", ~(ttft <= w.ttft_budget_ms), ttft, w.ttft_budget_ms))
    if rate:
        checks.append((f"rate:{w.name}", g.util > util_cap, g.util, util_cap))
    if w.accuracy_floor is not None:
        bad = np.where(hib, acc < w.accuracy_floor, acc > w.accuracy_floor)
        # a floor is a number in one metric: an option scored in another (OpenImages mAP
        # among COCO detectors, MATH-500 among MMLU LLMs) cannot be said to reach it
        other_metric = {i: o.model.metric for i, o in enumerate(options)
                        if o.model.metric != catalog.task_metric(o.model.task)}
        bad = bad | np.array([i in other_metric for i in range(len(options))]).reshape(-1, 1)
        # an option with no known accuracy (a model file given without one) never meets a
        # floor, whatever the floor: its value is unknown (NaN here, None in the output)
        unknown = np.array([not o.model.accuracy_known for o in options]).reshape(-1, 1)
        bad = bad | unknown
        acc_shown = np.where(unknown, np.nan, acc)
        checks.append((f"accuracy:{w.name}", np.broadcast_to(bad, shape),
                       np.broadcast_to(acc_shown, shape), w.accuracy_floor))
        if explain and unknown.any():
            # no floor to relax admits them: the explanation leaves them out
            g.runs = g.runs & ~unknown
    else:
        other_metric = {}
    if b.power_w is not None:
        checks.append(("power", np.broadcast_to(power > b.power_w, shape),
                       np.broadcast_to(power, shape), b.power_w))
    if b.cost_usd is not None:
        checks.append(("cost", np.broadcast_to(price > b.cost_usd, shape),
                       np.broadcast_to(price, shape), b.cost_usd))
    g.checks = checks
    g.rejections = None
    if explain:
        # per-option budgets and lists become a signature the model reasons about; shared
        # budgets (memory, rate, power, cost) are the CP-SAT model's to check
        names: list[str] = []
        sig = np.zeros(shape, dtype=np.int64)
        for name, bad, _, _ in checks:
            if name.startswith(PER_OPTION_BUDGETS):
                sig |= np.where(bad, 1 << len(names), 0)
                names.append(name)
        o_lists = [list_breaks(spec, w, listed, o.model, o.precision, o.technique, None, None)
                   for o in options]
        u_lists = [list_breaks(spec, w, listed, None, None, None, u.device, u.runtime)
                   for u in units]
        for lists, axis in ((o_lists, 0), (u_lists, 1)):
            for nm in sorted({k for d in lists for k in d}):
                if nm not in names:
                    names.append(nm)
                bit = 1 << names.index(nm)
                flags = np.array([nm in d for d in lists])
                sig |= np.where(flags.reshape((-1, 1) if axis == 0 else (1, -1)), bit, 0)
        g.sig = sig
        g.keep = g.runs.copy()
    else:
        any_bad = np.zeros(shape, dtype=bool)
        for _, bad, _, _ in checks:
            any_bad |= bad
        g.rejections = _Rejections(w.name, options, units, g.runs, any_bad, checks,
                                   other_metric)
        g.keep = g.runs & ~any_bad
        g.sig = None
    return g


def _fastest_runtime(g, keep):
    """Runtimes of one unit differ in speed and, where one keeps a windowed KV cache for an
    LLM's sliding-window layers, in memory (accuracy and power mode are the same), so for each
    option and unit a runtime that passes is dropped only when another that passes is as fast
    and needs no more memory (exact ties keep the unit's first). A runtime with measured
    points beats one without (whose estimate is only the mean runtime): the ranking puts every
    unmeasured runtime after every measured one, keeping their order."""
    import numpy as np
    # estimate.runtime_rank, vectorised: every unmeasured runtime after every measured one
    rank = np.where(g.runtime_measured.reshape(1, -1), g.lat, g.lat * 1e6 + 1e12)
    key = g.t_index * (int(g.unit_code.max()) + 1) + g.unit_code
    # a unit's runtimes are adjacent columns: compare each column with the one d to its right
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    widest = int(np.diff(np.r_[starts, len(key)]).max())
    out = keep.copy()
    mem = g.mem
    for d in range(1, widest):
        same = (key[:-d] == key[d:]).reshape(1, -1)
        ra, rb, ma, mb = rank[:, :-d], rank[:, d:], mem[:, :-d], mem[:, d:]
        ka, kb = keep[:, :-d], keep[:, d:]
        # the right column b dominates the left a only if strictly better in one; the left
        # one dominates on a tie (the unit's first runtime is kept)
        b_wins = same & kb & (rb <= ra) & (mb <= ma) & ((rb < ra) | (mb < ma))
        a_wins = same & ka & (ra <= rb) & (ma <= mb)
        out[:, :-d] &= ~b_wins
        out[:, d:] &= ~a_wins
    return out


def _shared_binding(spec, grids, keeps, types):
    """Per device type: can memory bind (all workloads' largest options together exceed the
    capacity)? Per (type, unit): can the unit's time bind? Where a shared budget cannot bind,
    it is no reason to keep an otherwise dominated option."""
    import numpy as np
    n_t = len(types)
    mem_sum = np.zeros(n_t)
    util_sum: dict[tuple, float] = {}
    for g, keep in zip(grids, keeps):
        if g is None:
            continue
        m = np.where(keep, g.mem, 0.0).max(axis=0)
        u = np.where(keep, g.util, 0.0).max(axis=0)
        per_t = np.zeros(n_t)
        np.maximum.at(per_t, g.t_index, m)
        mem_sum += per_t
        per_tu: dict[tuple, float] = {}
        for j in np.flatnonzero(u > 0):
            key = (int(g.t_index[j]), int(g.unit_code[j]))
            per_tu[key] = max(per_tu.get(key, 0.0), float(u[j]))
        h = np.where(keep, g.host_util, 0.0).max(axis=0)
        for j in np.flatnonzero(h > 0):      # a fallback's CPU layers, on the CPU unit
            dev = g.units[j].device
            key = (int(g.t_index[j]), _code(dev.id, dev.cpu_unit.id))
            per_tu[key] = max(per_tu.get(key, 0.0), float(h[j]))
        for k, v in per_tu.items():
            util_sum[k] = util_sum.get(k, 0.0) + v
    cap_mem = np.array([t.memory_cap_gb for t in types])
    util_cap = 1.0 - spec.budgets.compute_headroom_pct / 100.0
    mem_binds = mem_sum > cap_mem
    util_binds = {k for k, v in util_sum.items() if v > util_cap}
    return mem_binds, util_binds


def _criteria(g, ii, jj, obj, shared):
    """What pruning compares the options (ii, jj) on, all minimised: `crit` within a group
    (same device type, unit and memory signature); for a one-workload spec `device_crit` adds
    the device-level terms (power, cost) that compare across device types."""
    import numpy as np
    acc = g.acc[ii]
    sacc = -np.where(g.hib[ii], acc, -acc)           # minimised
    lat = g.lat[ii, jj]
    # the share of its unit an option holds (occupancy x rate): what energy and a shared
    # unit's capacity count; a pipelined unit's is below its latency
    util = g.util[ii, jj]
    host_util = g.host_util[ii, jj]
    mem = g.mem[ii, jj]
    t_idx = g.t_index[jj]
    ucode = g.unit_code[jj]
    # a fallback's CPU share is a unit's time too: an option that takes less of it is no
    # worse for it (kept alive beside those that take none)
    crit = [host_util] if host_util.any() else []
    if "accuracy" in obj:
        crit.append(sacc)
    if "latency" in obj:
        crit.append(lat)
    device_crit = []
    if shared is not None:
        mem_binds, util_binds = shared
        # a shared budget that can bind on this type: keep lighter options alive
        mem_crit = np.where(mem_binds[t_idx], mem, 0.0)
        crit.append(mem_crit if "memory" not in obj else mem)
        ub = np.array([(int(t), int(u)) in util_binds for t, u in zip(t_idx, ucode)],
                      dtype=bool)
        crit.append(util if "energy" in obj else np.where(ub, util, 0.0))
    else:
        if "memory" in obj:
            crit.append(mem)
        if "energy" in obj:
            # the share times the type's dynamic power (what budgets/energy.py minimises):
            # the same order within a type, and comparable across types below
            crit.append(util * (g.type_power - g.type_idle)[jj])
        # one workload: every candidate is a whole plan, so device-level terms (power, cost)
        # compare across device types as well
        if "power" in obj:
            device_crit.append(g.type_power[jj])
        if "cost" in obj:
            device_crit.append(g.type_price[jj])
    sig = g.sig[ii, jj] if g.sig is not None else np.zeros(len(ii), dtype=np.int64)
    group = np.stack([t_idx, ucode, sig], axis=1)

    def as_matrix(cols):
        return np.stack(cols, axis=1) if cols else np.zeros((len(ii), 0))
    return group, as_matrix(crit), as_matrix(device_crit) if shared is None else None


def _tie_order(g, ii, jj) -> tuple:
    """Among options equal on every criterion: faster, then smaller, then grid position (as
    np.lexsort keys, the last first)."""
    import numpy as np
    return (jj, ii, np.round(g.mem[ii, jj], 12), np.round(g.lat[ii, jj], 9))


def _rank_order(g, ii, jj, crit, device_crit):
    """The tie-break order of options (ii, jj): by what pruning compares (`crit`, then the
    device-level terms), then `_tie_order`. A dominator is no worse on every criterion and
    better on one, so it always ranks first, and pruning keeps exact duplicates in this
    order: the lexicographic optimum with the tie-break is the same whatever pruning kept
    (`--top` keeps more layers, `prune=False` all)."""
    import numpy as np
    cols = [crit] if device_crit is None else [crit, device_crit]
    keys = np.round(np.concatenate(cols, axis=1), 9)
    return np.lexsort((*_tie_order(g, ii, jj), *keys.T[::-1]))


def _prune(g, ii, jj, group, crit, device_crit, layers):
    """The options (ii, jj) no other option beats on everything that can matter (a mask); of
    exact duplicates the first in `_tie_order` is kept."""
    import numpy as np
    tie = _tie_order(g, ii, jj)
    alive = pareto_layers(group, crit, layers, tie)
    if device_crit is not None and alive.sum() > 1:
        # across device types: the survivors compared with the device-level terms added
        idx = np.flatnonzero(alive)
        c2 = np.concatenate([crit[idx], device_crit[idx]], axis=1)
        alive[idx] = pareto_layers(group[idx, 2:3], c2, layers, tuple(t[idx] for t in tie))
    return alive


def pareto_layers(group, crit, layers: int, tie: tuple | None = None):
    """The first `layers` Pareto layers of each group (`tie`: see `pareto_mask`)."""
    import numpy as np
    alive = np.zeros(len(crit), dtype=bool)
    left = np.arange(len(crit))
    for _ in range(layers):
        if not len(left):
            break
        m = pareto_mask(group[left], crit[left],
                        None if tie is None else tuple(t[left] for t in tie))
        alive[left[m]] = True
        left = left[~m]
    return alive


_UNIT_CODES: dict[tuple, int] = {}


def _unit_code(u) -> int:
    return _code(u.device.id, u.unit.id)


def _code(device_id: str, unit_id: str) -> int:
    return _UNIT_CODES.setdefault((device_id, unit_id), len(_UNIT_CODES))


def pareto_mask(group, crit, tie: tuple | None = None):
    """True for points not dominated within their group (all criteria minimised): another
    point at least as good on every criterion and better on one, or an exact duplicate that
    comes earlier (in the np.lexsort order of the `tie` keys; default: the given order).
    Two criteria: one sort and a running minimum over all groups at once; more: pairwise
    within each group."""
    import numpy as np
    n = len(crit)
    tie = (np.arange(n),) if tie is None else tie
    crit = np.round(crit, 9)
    if crit.shape[1] < 2:
        # one criterion (or none): the best of each group, and exact ties after the first
        col = crit[:, 0] if crit.shape[1] else np.zeros(n)
        crit = np.stack([col, np.zeros(n)], axis=1)
    if crit.shape[1] == 2:
        order = np.lexsort((*tie, crit[:, 1], crit[:, 0], *group.T[::-1]))
        g = group[order]
        c = crit[order]
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (g[1:] != g[:-1]).any(axis=1)
        # running minimum of the second criterion within each group, over earlier points
        seg = np.cumsum(new_group) - 1
        # later groups sit far below earlier ones, so a running minimum never crosses a group
        offs = -seg * (np.ptp(c[:, 1]) * 2 + 1.0)
        runmin = np.minimum.accumulate(c[:, 1] + offs) - offs
        prev = np.empty(n)
        prev[0] = np.inf
        prev[1:] = runmin[:-1]
        prev[new_group] = np.inf
        alive_sorted = c[:, 1] < prev
        alive = np.zeros(n, dtype=bool)
        alive[order] = alive_sorted
        return alive
    alive = np.ones(n, dtype=bool)
    _, inv = np.unique(group, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.lexsort((*tie, inv))   # within a group, in the tie order
    bounds = np.flatnonzero(np.diff(inv[order])) + 1
    from planner.solve.deadline import active
    d = active()
    for idx in np.split(order, bounds):
        if len(idx) < 2:
            continue
        if d is not None:
            # thousands of groups (runners-up over a large catalog): the limit holds here too
            d.check("candidate pruning")
        cg = crit[idx]
        le = (cg[:, None, :] <= cg[None, :, :]).all(axis=2)
        lt = (cg[:, None, :] < cg[None, :, :]).any(axis=2)
        dominated = (le & lt).any(axis=0) | np.triu(le & le.T, k=1).any(axis=0)
        alive[idx[dominated]] = False
    return alive


class _Rejections:
    """Options of one workload left out by a per-option budget, kept as arrays; rows are
    made only when asked for (a large catalog rejects millions)."""

    def __init__(self, wname, options, units, runs, any_bad, checks, other_metric=None):
        import numpy as np
        self.wname, self.options, self.units, self.checks = wname, options, units, checks
        self.runs = runs
        # option index -> its metric, where the floor is read in another one
        self.other_metric = other_metric or {}
        # per (option, device): rejected when the device runs it but no unit row passes
        dev_ids = [u.device.id for u in units]
        starts = [0] + [j for j in range(1, len(units)) if dev_ids[j] != dev_ids[j - 1]]
        ok = runs & ~any_bad
        self.cells = []   # (option index, device id, columns)
        for s, e in zip(starts, starts[1:] + [len(units)]):
            r = runs[:, s:e].any(axis=1)
            rej = np.flatnonzero(r & ~ok[:, s:e].any(axis=1))
            if len(rej):
                self.cells.append((rej, dev_ids[s], s, e))

    def rows(self) -> list[dict]:
        """One row per rejected (option, device): the device's unit row that breaks the
        fewest budgets, by the least total excess (the first such row on a tie), and its
        violations, the largest excess first (on a tie the more physical budget: an LLM that
        does not fit is also too slow by the same factor)."""
        import numpy as np
        out = []
        for rej, dev_id, s, e in self.cells:
            # per check, over the rejected options x this device's unit rows
            bad, rel, val, lim = [], [], [], []
            for _, b, v, limit in self.checks:
                bk = b[rej, s:e]
                vk = np.asarray(v, dtype=float)[rej, s:e]
                lk = np.broadcast_to(np.asarray(limit, dtype=float) if np.isscalar(limit)
                                     else np.asarray(limit, dtype=float)[0, s:e], vk.shape)
                bad.append(bk)
                val.append(vk)
                lim.append(lk)
                # an unknown value (an accuracy nobody gave) counts as missing by 100 %
                rel.append(np.where(np.isnan(vk), 1.0,
                                    np.abs(vk - lk) / np.maximum(np.abs(lk), 1e-12)))
            count = np.zeros(bad[0].shape, dtype=int)
            total = np.zeros(bad[0].shape)
            for bk, rk in zip(bad, rel):      # in check order, as a sum over the violations
                count += bk
                total = total + np.where(bk, rk, 0.0)
            # only unit rows that run the option speak for it (a runtime that cannot load
            # the weight format, or keeps no windowed cache, is no reason)
            count = np.where(self.runs[rej, s:e], count, 0)
            fewest = np.where(count > 0, count, np.iinfo(int).max).min(axis=1)
            tied = (count == fewest[:, None]) & (count > 0)
            least = np.where(tied, total, np.inf).min(axis=1)
            best_j = np.argmax(tied & (total == least[:, None]), axis=1)
            for r, i in enumerate(rej.tolist()):
                if not tied[r].any():
                    continue
                j = best_j[r]
                other = self.other_metric.get(i)
                # a figure in another metric is no distance from the floor: it ranks last
                v_list = [(0.0 if other and name.startswith("accuracy:") else float(rel[k][r, j]),
                           name, float(val[k][r, j]), float(lim[k][r, j]))
                          for k, (name, *_) in enumerate(self.checks) if bad[k][r, j]]
                v_list.sort(key=lambda x: (-round(x[0], 2), _HEADLINE.index(x[1].split(":")[0])))
                viol = [_violation(n, v, lim_, x, other) for x, n, v, lim_ in v_list]
                o = self.options[i]
                out.append({"workload": self.wname, "model": o.model.id,
                            "precision": o.precision, "technique": o.technique,
                            "device": dev_id, **viol[0], "violations": viol})
        return out


_HEADLINE = ("memory", "latency", "ttft", "rate", "accuracy", "power", "cost")


def _violation(name, value, limit, rel, other_metric) -> dict:
    """One broken budget of a rejected option: value, limit and by how much; an accuracy
    scored in another metric than the floor's is not comparable, and says so."""
    budget = name.split(":")[0]
    if value != value:          # NaN: a model file with no known accuracy
        return {"budget": budget, "value": None, "limit": round(limit, 4), "by": "unknown"}
    row = {"budget": budget, "value": round(value, 4), "limit": round(limit, 4),
           "by": f"{rel * 100:.0f} %"}
    if budget == "accuracy" and other_metric:
        row.update(by=None, metric=other_metric,
                   note=f"scored in another metric ({other_metric}), not comparable")
    return row


class _LazyRejections:
    """A list of rejection rows, made on first use. Under a time limit (`deadline`, set by
    solve) rows are made workload by workload while time is left: a large catalog rejects
    hundreds of thousands, and listing them must not outlast the limit."""

    def __init__(self, parts):
        self._parts = parts
        self._rows = None
        self.deadline = None

    def _all(self):
        if self._rows is None:
            rows = []
            for p in self._parts:
                if self.deadline is not None and self.deadline.expired():
                    self.deadline.cut_short("the list of rejected options")
                    break
                rows += p.rows()
            rows.sort(key=lambda r: (r["workload"], r["model"], PRECISIONS.index(r["precision"]),
                                     r["technique"], r["device"]))
            self._rows = rows
        return self._rows

    def __iter__(self):
        return iter(self._all())

    def __len__(self):
        return len(self._all())

    def __getitem__(self, k):
        return self._all()[k]

    def __bool__(self):
        return bool(self._all())

    def __eq__(self, other):
        return list(self._all()) == list(other)

    def count(self) -> int:
        """How many (option, device) pairs were rejected, without making the rows."""
        return sum(len(c[0]) for p in self._parts for c in p.cells)
