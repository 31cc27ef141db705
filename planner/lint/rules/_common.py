"""What several rules share: memory groups per device, rate paths and unit shares, the
context an estimate holds, and the alternatives a fix may name. No rule imports another rule."""
from __future__ import annotations

from planner.spec import rate_per_s
from planner.text import num
from planner.vocabulary import PRECISIONS


def memory_groups(ctx):
    """Per device entry: (entry index, entry, [resolved workloads with an estimate]), for the
    entries whose device is in the catalog. Shared by the memory rules."""
    for j, e in enumerate(ctx.manifest.devices):
        rs = [ctx.resolved[i] for i in ctx.workloads_on(j) if ctx.resolved[i].ok]
        if rs:
            yield j, e, rs


def split(rs):
    """(total GB, GB without the KV cache) of workloads sharing one device."""
    total = sum(r.estimate.memory_gb.value for r in rs)
    kv = sum(r.estimate.memory_breakdown_gb.get("kv_cache", 0.0) for r in rs)
    return total, total - kv


def over(ctx, e, rs):
    """The (need, cap) pairs to compare: one device holds everything when count is 1; with
    several, each workload must fit one and all must fit all."""
    avail = rs[0].estimate.memory_available_gb
    cap = avail * ctx.memory_cap_share
    total, base = split(rs)
    return avail, cap * e.count, total, base


def breakdown(est) -> str:
    b = est.memory_breakdown_gb
    parts = [f"weights {num(b['weights'])}", f"activations {num(b['activations'])}"]
    if b.get("kv_cache"):
        parts.append(f"KV cache {num(b['kv_cache'])}")
    return ", ".join(parts)


def base_gb(r) -> float:
    """A workload's memory without its KV cache."""
    est = r.estimate
    return est.memory_gb.value - est.memory_breakdown_gb.get("kv_cache", 0.0)


def context_tokens(r) -> int:
    """The context the estimate holds in the KV cache (the estimator's default when unset)."""
    from planner.estimate.roofline import DEFAULT_LLM_CONTEXT
    if r.workload.context_tokens is not None:
        return r.workload.context_tokens
    return min(DEFAULT_LLM_CONTEXT, r.model.llm.context_max)


def meets(model, accuracy: float, floor: float) -> bool:
    return accuracy >= floor if model.higher_is_better else accuracy <= floor


def alternatives(ctx, r, good, limit: int = 2,
                 value=lambda v: f"{num(v.latency_ms.value)} ms") -> list[str]:
    """Changes to one workload that the estimator says satisfy `good(estimate)`: another power
    mode of the device, another unit, another precision the model has, each with what
    `value(estimate)` says it gives (the latency by default). For fix messages."""
    out: list[str] = []
    entry_mode = r.mode.id
    for m in sorted(r.device.power.modes, key=lambda m: -m.power_w):
        if m.id == entry_mode:
            continue
        v = ctx.variant(r, power_mode=m.id)
        if v is not None and good(v):
            out.append(f"power_mode: {m.id} ({num(m.power_w)} W) gives {value(v)}")
            break
    for u in r.device.units:
        if u.id == r.unit.id or r.workload.precision not in u.precisions:
            continue
        v = ctx.variant(r, unit=u.id, runtime=None)
        if v is not None and good(v):
            out.append(f"unit: {u.id} gives {value(v)}")
            break
    have = {o.precision for o in r.model.options}
    for p in PRECISIONS[PRECISIONS.index(r.workload.precision) + 1:]:
        if p not in have:
            continue
        v = ctx.variant(r, precision=p, technique=None, unit=None, runtime=None)
        if v is not None and good(v):
            out.append(f"precision: {p} ({v.technique}, {v.accuracy.value:g} "
                       f"{v.accuracy_metric}) gives {value(v)} on the {v.unit}")
            break
    return out[:limit]


def utilization(ctx, r) -> float | None:
    """Share of the unit's time the workload's rate takes (as `solve` computes it)."""
    rate = rate_per_s(r.workload)
    if not r.ok or not rate:
        return None
    return r.estimate.unit_share(rate)


def peak_utilization(ctx, r) -> tuple[float, object] | None:
    """The same share at the unit's peak (100 % efficient roofline, no overheads)."""
    from planner.estimate.roofline import roofline
    rate = rate_per_s(r.workload)
    if not r.ok or not rate:
        return None
    w = r.workload
    rl = roofline(r.model, w.precision, r.device, r.unit, batch=w.batch,
                  context=_ctx_tokens(r),
                  params_scale=r.option.params_scale, macs_scale=r.option.macs_scale,
                  compute_scale=r.mode.compute_scale,
                  math_path=ctx.catalog.math_path(r.estimate.runtime))
    return rate * rl.core_ms / 1000.0 / w.batch / r.unit.cores, rl


def _ctx_tokens(r) -> int:
    if r.model.llm is None:
        return 0
    return context_tokens(r)


def unit_of_rate(w) -> str:
    return "tokens/s" if w.tokens_per_s is not None else "fps"


def rate_path(r) -> tuple:
    key = "tokens_per_s" if r.workload.tokens_per_s is not None else "rate_fps"
    return ("workloads", r.index, key)
