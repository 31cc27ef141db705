"""Many combinations at once: latency, occupancy and memory of every option on every unit
row as numpy arrays, with the same physics and calibration as `point.estimate` (the tests
check it cell by cell). The solver's candidates are built from it."""
from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog.loader import Catalog
from planner.catalog.schema import ComputeUnit, Device, ModelProfile
from planner.estimate.cache import calibration_for
from planner.estimate.fallback import fallback_host_busy, has_fallback
from planner.estimate.layers import FITTED_CLASSES, layered_grid, shares_for
from planner.estimate.roofline import (
    DEFAULT_LLM_CONTEXT,
    EFF_BOUNDS,
    busy_ms,
    math_precision,
    roofline_terms,
    weight_streaming_ms,
    with_measurement,
)
from planner.estimate.roofline import roofline as _roofline_point
from planner.vocabulary import (
    BYTES_PER_PARAM,
    KV_CACHE_BYTES,
    PRECISIONS,
    WEIGHT_FORMATS,
)

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
                  batch: int = 1, context: int | None = None, kv_cache: str = "fp16",
                  weight_format: str | None = None, min_context: int | None = None,
                  calibration=None) -> dict:
    """Latency and memory of every option on every unit row, as numpy arrays of shape
    (len(options), len(units)); the same physics and calibration as `estimate`, which the
    tests check cell by cell. `runs` is False where the unit cannot run the precision, or
    the runtime keeps no `kv_cache` KV cache for an LLM, or (with `weight_format`) the LLM
    option is at another precision than the format's or the runtime does not load it."""
    cal = calibration if calibration is not None else calibration_for(catalog)
    # explanations ask many variants of one spec: the estimates do not change, so keep them
    key = (id(cal), batch, context, kv_cache, weight_format, min_context,
           tuple((o.model.id, o.precision, o.technique, o.params_scale, o.macs_scale)
                 for o in options),
           tuple((u.device.id, u.unit.id, u.mode_id, u.runtime) for u in units))
    cache = catalog.__dict__.setdefault("_grid_cache", {})
    if key not in cache:
        if len(cache) >= GRID_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        # the vendor-runtime prior (as `estimate`): each unmeasured runtime's column is held
        # no faster than its unit's vendor runtime, computed here in extra columns if needed
        rows = list(units)
        at = {(u.device.id, u.unit.id, u.mode_id, u.runtime): j for j, u in enumerate(rows)}
        priors = []
        for j, u in enumerate(units):
            if cal.measured_runtime(u.runtime, u.unit.kind):
                continue
            vendor = catalog.vendor_runtime(f"{u.device.family}/{u.unit.kind}", u.unit.runtimes)
            if vendor is None or vendor == u.runtime:
                continue
            k = (u.device.id, u.unit.id, u.mode_id, vendor)
            if k not in at:
                at[k] = len(rows)
                rows.append(replace(u, runtime=vendor))
            priors.append((j, at[k], vendor))
        g = _estimate_grid(catalog, cal, options, rows, calibrated_rows(catalog, rows), batch,
                           context, kv_cache, weight_format, min_context,
                           [catalog.math_path(u.runtime) for u in rows])
        shifts = g.pop("decode_shift")
        _time_fallbacks(catalog, cal, options, rows, g, batch)
        import numpy as np
        for j, jv, vendor in priors:
            dev = units[j].device
            # as point.vendor_prior: where the vendor runtime runs the option, an LLM's KV
            # cache type and weight format included
            handles = catalog.math_path(vendor).handles(kv_cache, weight_format)
            ok = np.array([catalog.runs(vendor, o.model, dev.id)
                           and (o.model.llm is None or handles) for o in options]) \
                & ~g["measured"][:, j]
            factor = np.where(ok, np.maximum(g["latency_ms"][:, jv] / g["latency_ms"][:, j],
                                             1.0), 1.0)
            g["latency_ms"][:, j] *= factor
            g["busy_ms"][:, j] *= factor
            g["vendor_prior"][:, j] = factor > 1.0
        n = len(units)
        g.pop("core_ms")
        g = {k: (v[:, :n] if v.ndim == 2 else v[:n]) for k, v in g.items()}
        g["decode_shift"] = {c: v for c, v in shifts.items() if c[1] < n}
        # a runtime runs only its kind of model, where its stack has it (runtimes.yaml), and
        # a new architecture only on the runtimes its profile names (Catalog.runs)
        named = [(i, o.model.runtimes) for i, o in enumerate(options)
                 if o.model.runtimes is not None]
        for j, u in enumerate(units):
            rt = catalog.runtimes.get(u.runtime)
            if rt is not None and (rt.runs != "any" or rt.no_llm_on):
                g["runs"][:, j] &= [rt.runs_on(o.model, u.device.id) for o in options]
            for i, names in named:
                g["runs"][i, j] &= u.runtime in names
            if not catalog.math_path(u.runtime).handles(kv_cache, weight_format):
                g["runs"][:, j] &= [o.model.llm is None for o in options]
        cache[key] = g
    return cache[key]


GRID_CACHE_SIZE = 8


def _time_fallbacks(catalog, cal, options, units, g, batch) -> None:
    """Where a single-segment unit (the Edge TPU) leaves layers to the host CPU, the cell's
    latency is the split `point.estimate` takes (planner.estimate.fallback), unless a
    measurement of exactly the combination set it; `host_busy_ms` is the time a call holds
    the device's CPU unit for those layers (0 elsewhere)."""
    import numpy as np

    from planner.estimate.point import timed_fallback
    g["host_busy_ms"] = np.zeros_like(g["latency_ms"])
    cols = [j for j, u in enumerate(units) if (t := catalog.op_support.get(u.unit.op_support))
            is not None and t.single_segment]
    if not cols:
        return
    for i, o in enumerate(options):
        if o.model.llm is not None:
            continue
        for j in cols:
            u = units[j]
            if not g["runs"][i, j] or not has_fallback(catalog, o.model, u.unit):
                continue
            mode = u.device.mode(u.mode_id)
            math_path = catalog.math_path(u.runtime)
            r = _roofline_point(o.model, o.precision, u.device, u.unit, batch=batch,
                                params_scale=o.params_scale, macs_scale=o.macs_scale,
                                compute_scale=u.compute_scale, math_path=math_path,
                                mode=u.mode_id)
            fb = timed_fallback(catalog, cal, o.model, o.precision, o, u.device, u.unit, mode,
                                batch=batch, math_path=math_path,
                                core_ms=float(g["core_ms"][i, j]), transfer_ms=r.transfer_ms,
                                dispatch_ms=r.dispatch_ms)
            if fb is None:
                continue
            if not g["measured"][i, j]:    # a measurement of exactly it stands
                g["busy_ms"][i, j] *= fb.latency_ms / g["latency_ms"][i, j]
                g["latency_ms"][i, j] = fb.latency_ms
            g["host_busy_ms"][i, j] = fallback_host_busy(fb, u.device,
                                                         float(g["latency_ms"][i, j]))[1]


GRID_CHUNK_CELLS = 1 << 18   # rows are processed in chunks of ~2 MB arrays, cache-sized


def calibrated_rows(catalog: Catalog, units: list[UnitRow]) -> list[UnitRow]:
    """Each unit row as its calibration sees it (Catalog.calibrated_as: a hosted
    accelerator's CPU unit is its host board's CPU)."""
    out = []
    for u in units:
        dev, unit, mode_id = catalog.calibrated_as(u.device, u.unit, u.mode_id)
        out.append(u if dev is u.device else replace(u, device=dev, unit=unit, mode_id=mode_id))
    return out


def _estimate_grid(catalog, cal, options, units, cal_rows, batch, context, kv_cache,
                   weight_format, min_context, math_paths) -> dict:
    """`cal_rows`: `units` as their calibration sees them (calibrated_rows)."""
    import numpy as np

    from planner.estimate.point import decode_context_shift_ms
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
    dram = row([u.device.bandwidth_gbs(u.mode_id) for u in units])
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
                       for u in cal_rows])
          for regime in ("compute", "memory")}
    # LLM prefill: its own factors where prefill points were calibrated, else compute-bound
    # work at the compute regime's efficiency (as calibrate.Calibration.efficiency)
    pre_eff = None
    if "regime:prefill" in cal.coef:
        pre_eff = np.exp(np.clip(row([
            coef("regime:prefill") + coef(f"kind:{u.unit.kind}:prefill")
            + coef(f"dev:{u.device.family}:{u.unit.kind}:prefill")
            + coef(f"device:{u.device.id}:{u.unit.kind}:prefill")
            + coef(f"runtime:{u.runtime}:prefill") for u in cal_rows]),
            np.log(EFF_BOUNDS[0]), np.log(EFF_BOUNDS[1])))
    # the unit's precision path, by the precision the math runs at
    lp = np.array([[coef(f"precision:{u.device.family}:{u.unit.kind}:{p}") for u in cal_rows]
                   for p in PRECISIONS])
    # device x model: rows of the models that have such factors, indexed per option
    pair_models = sorted({n.split(":")[2] for n in cal.coef if n.startswith("pair:")})
    pair_row = {m: r for r, m in enumerate(pair_models)}
    lpair = np.array([[coef(f"pair:{u.device.id}:{m}") for u in cal_rows] for m in pair_models]
                     ).reshape(len(pair_models), n_u)
    o_pair = np.array([pair_row.get(o.model.id, -1) for o in options], dtype=int)
    is_llm = np.array([o.model.llm is not None for o in options])
    overhead = {llm: row([cal.overhead_ms(u.device.family, llm=llm) for u in cal_rows])
                for llm in (False, True)}
    lo_all = np.array([coef(f"model:{o.model.calibration_family}") for o in options])
    # model family x unit kind, per family row
    families = sorted({o.model.calibration_family for o in options})
    fam_row = {fm: r for r, fm in enumerate(families)}
    lmk = np.array([[coef(f"model-on:{fm}:{u.unit.kind}") for u in units] for fm in families]
                   ).reshape(len(families), n_u)
    o_fam = np.array([fam_row[o.model.calibration_family] for o in options], dtype=int)

    ctx = np.array([0 if o.model.llm is None else
                    (context if context is not None else
                     min(DEFAULT_LLM_CONTEXT, o.model.llm.context_max)) for o in options], f)
    if min_context:
        # the KV cache holds the prompt (as `estimate`): a default context grows to it
        ctx = np.where(ctx > 0, np.maximum(ctx, min_context), ctx)
    # the KV cache per option, and per column where the column's runtime keeps a windowed
    # cache for sliding-window layers
    kv_bpe = KV_CACHE_BYTES[kv_cache]
    kv_full = np.array([o.model.llm.kv_bytes(int(c), kv_bpe) if o.model.llm
                        else 0.0 for o, c in zip(options, ctx)]) * batch
    kv_win = np.array([o.model.llm.kv_bytes(int(c), kv_bpe, True)
                       if o.model.llm else 0.0 for o, c in zip(options, ctx)]) * batch
    windowed = np.array([m.windowed_kv for m in math_paths], dtype=bool)
    # stored bytes per weight: the named format's for the LLM options at its precision (the
    # others do not run: `runs` below), else the precision's
    fmt_prec = WEIGHT_FORMATS[weight_format][0] if weight_format is not None else None
    o_fmt = [weight_format if o.model.llm is not None and o.precision == fmt_prec else None
             for o in options]
    o_bpp = np.array([o.model.bytes_per_param(o.precision, fm) for o, fm in zip(options, o_fmt)])
    # a named weight format holds one precision of an LLM
    fmt_ok = np.array([fmt_prec is None or o.model.llm is None or o.precision == fmt_prec
                       for o in options], dtype=bool)
    w_all = np.array([o.model.size.params_m * 1e6 * o.params_scale for o in options]) * o_bpp
    # what a decode step reads: a mixture of experts only its routed experts, an untied
    # input embedding one row per token (ModelProfile.decode_read_bytes)
    w_read = np.array([o.model.decode_read_bytes(o.precision, fm, batch, o.params_scale)
                       if o.model.llm else o.model.size.params_m * 1e6 * o.params_scale * bpp
                       for o, fm, bpp in zip(options, o_fmt, o_bpp)])
    # an encoder-decoder reads (what does not stay on chip of) its decoder once per token
    reads_all = np.array([1.0 if o.model.llm else
                          o.model.size.reads_params_m() / o.model.size.params_m
                          for o in options])
    act_all = np.array([o.model.size.activation_mb * 1e6 for o in options])
    ops_all = np.array([2.0 * o.model.size.macs_g * 1e9 * o.macs_scale * batch for o in options])
    # as efficiency_gops: a pipelined unit's size term reads one input's work
    per_batch = np.where(act_chip, 1.0 / batch, 1.0)
    io_all = np.array([o.model.size.input_elements + o.model.size.output_elements
                       for o in options], f) * batch * bpp[o_prec]

    runs = np.empty((n_o, n_u), dtype=bool)
    latency = np.empty((n_o, n_u))
    busy = np.empty((n_o, n_u))
    core = np.empty((n_o, n_u))              # the calibrated core time (fallback splits it)
    memory_gb = np.empty((n_o, n_u))
    compute_bound = np.empty((n_o, n_u), dtype=bool)     # the regime that picks the sigma
    prefill_ms = np.full((n_o, n_u), np.nan)             # LLMs: ms per prompt token
    prefill_measured = np.zeros((n_o, n_u), dtype=bool)
    lo_clip, hi_clip = np.log(EFF_BOUNDS[0]), np.log(EFF_BOUNDS[1])
    # the per-layer roofline (planner.estimate.layers) for options with a layer table
    from planner.estimate import roofline as _roofline
    o_shares = [shares_for(o.model) if _roofline.LAYERED else None for o in options]
    l_coef = {c: row([coef(f"layer:{c}:{u.unit.kind}") for u in units])[0]
              for c in FITTED_CLASSES}
    has_link_u = link_gbs[0] > 0
    step = max(1, GRID_CHUNK_CELLS // max(1, n_u))
    for a in range(0, n_o, step):
        sl = slice(a, min(n_o, a + step))
        pr = o_prec[sl]
        runs[sl] = ok_p[pr] & fmt_ok[sl, None]
        math_idx = mi_p[pr]
        act_bytes = act_all[sl, None] * (bpp[math_idx] / 4.0) * batch
        kv_bytes = np.where(windowed[None, :], kv_win[sl, None], kv_full[sl, None])
        compute_ms, memory_ms, streaming_ms, transfer_ms, dispatch_ms = roofline_terms(
            np, weight_bytes=w_read[sl, None], act_bytes=act_bytes, kv_bytes=kv_bytes,
            ops=ops_all[sl, None], peak_ops=pk_p[pr], dram_gbs=dram, onchip_bytes=onchip,
            link_gbs=link_gbs, io_bytes=io_all[sl, None], link_overhead_ms=link_ms,
            dispatch_ms=dispatch, act_on_chip=act_chip, context_switch=ctx_switch,
            context_switch_ms=ctx_ms, reads=reads_all[sl, None])
        lo = lo_all[sl, None] + lmk[o_fam[sl]] + np.take_along_axis(lp, math_idx, axis=0)
        # the regime and core time: the whole network's, or its layers' where it has them
        bound = compute_ms >= memory_ms
        ideal = np.maximum(compute_ms, memory_ms)
        rows_l = [i for i in range(sl.start, sl.stop) if o_shares[i] is not None]
        if rows_l:
            ideal, streaming_ms, lo = (
                np.broadcast_to(x, (len(pr), n_u)).copy()
                for x in (ideal, streaming_ms, lo))
            for i in rows_l:
                r = i - sl.start
                c_ms, m_ms, streamed, contexts, shares = layered_grid(
                    o_shares[i], ops=float(ops_all[i]), weight_bytes=float(w_read[i]),
                    act_bpe=bpp[math_idx[r]], batch=batch, peak_ops=pk_p[pr[r]],
                    dram_gbs=dram[0], onchip_bytes=onchip[0], has_link=has_link_u,
                    act_on_chip=act_chip[0], context_switch=ctx_switch[0])
                ideal[r] = c_ms + m_ms
                streaming_ms[r] = weight_streaming_ms(
                    np, np.where((onchip[0] >= 0) & has_link_u, streamed, 0.0), link_gbs[0],
                    contexts > 1, ctx_ms[0])
                lo[r] += sum(shares[c] * l_coef[c] for c in FITTED_CLASSES)
        rows_pair = o_pair[sl]
        has_pair = rows_pair >= 0
        if has_pair.any():
            lo = np.broadcast_to(lo, (len(pr), n_u)).copy()
            lo[has_pair] += lpair[rows_pair[has_pair]]
        size = coef("size:compute") * np.log10(
            np.maximum(ops_all[sl, None] * per_batch / 1e9, 1e-6))
        compute_bound[sl] = bound
        logeff = np.where(bound, lu["compute"] + lo + size, lu["memory"] + lo)
        eff = np.exp(np.clip(logeff, lo_clip, hi_clip))
        if is_llm[sl].any():
            eff_pf = pre_eff if pre_eff is not None else \
                np.exp(np.clip(lu["compute"] + lo + size, lo_clip, hi_clip))
            prefill_ms[sl] = np.where(is_llm[sl, None], compute_ms / batch / eff_pf, np.nan)
        core_ms = ideal / eff
        core[sl] = core_ms
        latency[sl] = core_ms + streaming_ms + transfer_ms + dispatch_ms \
            + np.where(is_llm[sl, None], overhead[True], overhead[False])
        busy[sl] = busy_ms(np, act_chip, core_ms, streaming_ms, latency[sl])
        memory_gb[sl] = (w_all[sl, None] + act_bytes + kv_bytes) / 1e9

    # a published measurement of exactly the combination wins, as in `estimate`
    measured = np.zeros((n_o, n_u), dtype=bool)
    o_at: dict[tuple, list[int]] = {}
    for i, o in enumerate(options):
        o_at.setdefault((o.model.id, o.precision), []).append(i)
    u_at: dict[tuple, list[int]] = {}
    for j, u in enumerate(cal_rows):
        u_at.setdefault((u.device.id, u.unit.id, u.runtime, u.mode_id), []).append(j)
    # a measured decode rate moved to the cell's context (as `estimate`): (the shift's share
    # of the latency, of the occupancy) per cell, for the intervals
    decode_shift: dict[tuple, tuple] = {}
    if cal.measured:
        for (dev, model, prec, unit, runtime, b, mode, _) in cal.measured:
            if b != batch:
                continue
            value, is_busy, at = cal.measured_point(dev, model, prec, unit, runtime, b, mode)
            for i in o_at.get((model, prec), ()):
                for j in u_at.get((dev, unit, runtime, mode), ()):
                    o, u = options[i], units[j]
                    call = {"batch": batch, "context": int(ctx[i]),
                            "params_scale": o.params_scale, "macs_scale": o.macs_scale,
                            "compute_scale": u.compute_scale, "math_path": math_paths[j],
                            "mode": u.mode_id, "kv_cache": kv_cache, "weight_format": o_fmt[i]}
                    # modelled: the part nobody measured, from the measured context on
                    shift, modelled = decode_context_shift_ms(
                        catalog, cal, o.model, o.precision, u.device, u.unit, u.runtime, call,
                        at)
                    latency[i, j], busy[i, j] = with_measurement(value + shift, is_busy,
                                                                 latency[i, j], busy[i, j])
                    measured[i, j] = True
                    if modelled:
                        decode_shift[i, j] = (modelled / latency[i, j], modelled / busy[i, j])
    for (dev, model, prec, unit, runtime, b, mode) in cal.measured_prefill:
        if b != batch:
            continue
        ms = cal.measured_prefill_ms(dev, model, prec, unit, runtime, b, mode)
        for i in o_at.get((model, prec), ()):
            for j in u_at.get((dev, unit, runtime, mode), ()):
                prefill_ms[i, j] = ms
                prefill_measured[i, j] = True
    # a unit of several cores runs that many calls side by side: each holds a share
    busy /= row([u.unit.cores for u in units])
    return {"runs": runs, "latency_ms": latency, "busy_ms": busy, "core_ms": core,
            "memory_gb": memory_gb,
            "measured": measured, "vendor_prior": np.zeros((n_o, n_u), dtype=bool),
            "compute_bound": compute_bound, "prefill_ms": prefill_ms,
            "prefill_measured": prefill_measured, "decode_shift": decode_shift,
            "runtime_measured": np.array([cal.measured_runtime(u.runtime, u.unit.kind)
                                          for u in units],
                                         dtype=bool)}


def interval_factors(catalog: Catalog, options: list[OptionRow], units: list[UnitRow],
                     grid: dict, *, batch: int = 1, calibration=None):
    """The high ends of `estimate`'s 80 % intervals as factors of the grid's values, per cell:
    (latency high / latency, occupancy high / occupancy). A published measurement of exactly
    the combination spreads 10 %; otherwise the fit's sigma for the cell's device family, unit
    kind and regime (and device x model, runtime on unit), as `point.estimate` takes it. Used
    by `solve --robust` to check latency and rate budgets at the pessimistic end."""
    import numpy as np

    from planner.estimate.point import Z80, measured_spread
    cal = calibration if calibration is not None else calibration_for(catalog)
    cal_rows = calibrated_rows(catalog, units)
    sig = {r: _sigmas(cal, options, cal_rows, r) for r in ("compute", "memory")}
    fit = np.exp(Z80 * np.where(grid["compute_bound"], sig["compute"], sig["memory"]))
    lat_hi, busy_hi = fit.copy(), fit.copy()

    def measured_high(share, i, j):
        return measured_spread(share, (1.0 / fit[i, j], fit[i, j]))[1]

    for i, j in zip(*np.nonzero(grid["measured"])):
        o, u = options[i], cal_rows[j]
        m = cal.measured_point(u.device.id, o.model.id, o.precision, u.unit.id, u.runtime,
                               batch, u.mode_id)
        if m is None:
            continue
        # a measured decode step moved to another context: its measured part spreads 10 %,
        # the modelled shift as the fit does (as `estimate`)
        lat_share, busy_share = grid["decode_shift"].get((i, j), (0.0, 0.0))
        if m[1]:                  # a pipelined unit's measured occupancy
            busy_hi[i, j] = measured_high(busy_share, i, j)
        else:
            lat_hi[i, j] = measured_high(lat_share, i, j)
            if not u.unit.activations_on_chip:
                busy_hi[i, j] = measured_high(busy_share, i, j)
    return lat_hi, busy_hi


def prefill_high_factors(catalog: Catalog, options: list[OptionRow], units: list[UnitRow],
                         grid: dict, *, calibration=None):
    """The high end of `estimate`'s 80 % interval of the time to first token, as a factor of
    the grid's prefill per cell: a published prefill measurement spreads 10 %, otherwise the
    fit's sigma of the prefill regime (the compute regime where no prefill point was fitted),
    as `point.estimate` takes it. For `solve --robust`."""
    import numpy as np

    from planner.estimate.point import MEASURED_SPREAD, Z80
    cal = calibration if calibration is not None else calibration_for(catalog)
    regime = "prefill" if "regime:prefill" in cal.coef else "compute"
    return np.where(grid["prefill_measured"], 1.0 + MEASURED_SPREAD,
                    np.exp(Z80 * _sigmas(cal, options, calibrated_rows(catalog, units),
                                         regime)))


def _sigmas(cal, options: list[OptionRow], units: list[UnitRow], regime: str):
    """The fit's sigma of log error per cell for a regime: the unit row's, and the device x
    model one where the calibration has points of that pair."""
    import numpy as np
    rows_of: dict[str, list[int]] = {}
    for i, o in enumerate(options):
        rows_of.setdefault(o.model.id, []).append(i)
    sig = np.empty((len(options), len(units)))
    for j, u in enumerate(units):
        d, k = u.device, u.unit
        group = f"{d.family}:{k.kind}:{regime}"
        sig[:, j] = cal.sigma(group, d.id, k.id, k.kind, "", u.runtime)
        for mid, rows in rows_of.items():
            if cal.support.get(f"pair:{d.id}:{mid}"):
                sig[rows, j] = cal.sigma(group, d.id, k.id, k.kind, mid, u.runtime)
    return sig
