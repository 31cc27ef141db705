"""EP305 claim-beyond-roofline."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import context_tokens
from planner.text import num

# the claims a manifest may state, checked as a time per call or as a rate
RATE_CLAIMS = (("expected_fps", "fps"), ("expected_tokens_per_s", "tokens/s"))


class ClaimBeyondRoofline(Rule):
    """A claimed latency or rate is faster than the device's compute or bandwidth allows.

    `expected_latency_ms`, `expected_fps` and `expected_tokens_per_s` are claims a team writes
    down (a vendor's blog, a benchmark): not budgets, and not compared with the calibrated
    estimate (EP301 and EP302 do that for budgets). Each is checked against the roofline at
    100 % efficiency with no per-call costs: a call of `batch` inputs takes at least the larger
    of its ops over the unit's peak TOPS at the precision its math runs at (all of its cores,
    in the power mode; the most favourable runtime when none is named) and its DRAM bytes over
    the memory bandwidth. For LLM decode that is the weights (and the KV cache of a 256-token
    context, or of `context_tokens` when fewer) read for every token. A latency below that
    floor, or a rate above batch x 1000 / floor, was not measured on this model at this
    precision on this unit. Host-link times are left out: the catalog's link bandwidths are
    achieved rates, not ceilings.

    Anti-pattern: a blog's 40 tokens/s for a 70B model at INT4 on a 204.8 GB/s board (39.2 GB
    of weights and KV cache per token allow at most 5.23 tokens/s):

        devices: [{id: jetson-agx-orin-64gb}]
        workloads:
          - {name: chat, model: llama-3-70b, precision: int4, device: jetson-agx-orin-64gb,
             expected_tokens_per_s: 40}

    Why it matters: the roofline is an upper bound, not an estimate: attainable performance is
    at most the smaller of the peak compute and memory bandwidth x arithmetic intensity, and
    an LLM's decode step reads every weight once per token. A plan built on a figure above it
    fails on the first real run, whatever the tuning; such figures are usually of another
    precision, model size, batch or decoding method.
    Source: Williams, Waterman, Patterson, "Roofline: An Insightful Visual Performance Model
    for Multicore Architectures", Communications of the ACM 52(4), 2009
    <https://doi.org/10.1145/1498765.1498785>

    Fix: re-measure on the device, or check the precision/quantization, model size, batch and
    power mode the claim used. A decode rate beyond the bandwidth ceiling needs fewer bytes per
    token (a smaller model, fewer bits per weight) or several tokens per weight read
    (speculative decoding, a batch of sequences).

    Passing example: 5 tokens/s of the same model on the same board, under its 5.23 tokens/s
    ceiling:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-agx-orin-64gb}]
        workloads:
          - {name: chat, model: llama-3-70b, precision: int4, device: jetson-agx-orin-64gb,
             expected_tokens_per_s: 5}
    """
    id = "EP305"
    name = "claim-beyond-roofline"
    severity = "error"
    solver_reason = None
    applies_to = ("manifest",)

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            w = r.workload
            claims = [w.expected_latency_ms] + [getattr(w, k) for k, _ in RATE_CLAIMS]
            # the option resolves last: model, device, mode, unit and runtime are known
            if r.option is None or all(c is None for c in claims):
                continue
            floor = ceiling(ctx, r, r.mode)
            what = (f"{w.model} at {w.precision.upper()} on the {r.device.id} {r.unit.id}"
                    f"{_mode(r, r.mode)}")
            call = _call(r)
            if w.expected_latency_ms is not None and w.expected_latency_ms < floor.ms:
                claim = w.expected_latency_ms
                yield Problem(("workloads", r.index, "expected_latency_ms"),
                              f"a claimed {num(claim)} ms per {call} for {what} is under "
                              f"its physical floor: at least {num(floor.ms)} ms "
                              f"({num(floor.ms / claim)}x the claim), {floor.why}, at 100 % "
                              "efficiency",
                              _fix(ctx, r, floor, lambda f: claim >= f.ms))
            for key, unit in RATE_CLAIMS:
                claim = getattr(w, key)
                most = w.batch * 1000.0 / floor.ms
                if claim is None or claim <= most:
                    continue
                yield Problem(("workloads", r.index, key),
                              f"a claimed {num(claim)} {unit} for {what} is "
                              f"{num(claim / most)}x its physical ceiling: at most "
                              f"{num(most)} {unit}, {floor.why}, at 100 % efficiency",
                              _fix(ctx, r, floor,
                                   lambda f, c=claim: c <= w.batch * 1000.0 / f.ms))


class Floor:
    """The least time one call can take (ms), what sets it, and the roofline it comes from."""

    def __init__(self, ms: float, why: str, regime: str):
        self.ms, self.why, self.regime = ms, why, regime


def ceiling(ctx, r, mode) -> Floor:
    """The ideal time of one call of the workload's batch at 100 % of the unit's peak (all its
    cores: `cores` calls side by side, or one call over all of them, share that peak) and of
    the memory bandwidth (shared by the cores), with no per-call costs. The most favourable of
    the unit's runtimes that run the model when the manifest names none."""
    from planner.estimate.roofline import MEASURED_CONTEXT, math_precision, roofline
    w, unit = r.workload, r.unit
    context = min(context_tokens(r), MEASURED_CONTEXT) if r.model.llm else 0
    runtimes = [r.runtime] if w.runtime is not None else \
        [rt for rt in unit.runtimes if ctx.catalog.runs(rt, r.model)] or [r.runtime]
    best = None
    for rt in runtimes:
        path = ctx.catalog.math_path(rt)
        rl = roofline(r.model, w.precision, r.device, unit, batch=w.batch, context=context,
                      params_scale=r.option.params_scale, macs_scale=r.option.macs_scale,
                      compute_scale=mode.compute_scale, math_path=path)
        compute_ms = rl.compute_ms / unit.cores        # the roofline's is one core's share
        ms = max(compute_ms, rl.memory_ms)
        if best is None or ms < best[0]:
            best = (ms, compute_ms, rl, path)
    ms, compute_ms, rl, path = best
    call = _call(r)
    if compute_ms >= rl.memory_ms:
        mp = math_precision(unit, w.precision, path)
        peak = unit.peak_for(mp, path.matrix_units) * mode.compute_scale
        cores = f" (all {unit.cores} cores)" if unit.cores > 1 else ""
        gops = 2.0 * r.model.size.macs_g * r.option.macs_scale * w.batch
        why = (f"{num(gops)} G ops per {call} at the {unit.id}'s {num(peak, 4)} TOPS "
               f"{mp.upper()} peak{cores}")
        return Floor(ms, why, "compute")
    gb = rl.memory_ms / 1e3 * r.device.memory.bandwidth_gbs
    size = f"{num(gb)} GB" if gb >= 1 else f"{num(gb * 1e3)} MB"
    if r.model.llm:
        what = f"of weights and KV cache ({context}-token context) read"
    else:
        what = "of weights and activations moved"
    why = (f"{size} {what} per {call} over the {num(r.device.memory.bandwidth_gbs, 4)} GB/s "
           "memory bandwidth")
    return Floor(ms, why, "memory")


def _call(r) -> str:
    b = r.workload.batch
    if r.model.llm:
        return "token" if b == 1 else f"step of {b} tokens"
    return "inference" if b == 1 else f"call of {b} inputs"


def _mode(r, mode) -> str:
    return f" in power mode {mode.id}" if len(r.device.power.modes) > 1 else ""


def _fix(ctx, r, floor: Floor, admits) -> str:
    """Re-measure; and what the claim would need: another power mode of the device that
    admits it, else fewer bytes or ops."""
    fix = "re-measure on the device, or check the precision/quantization"
    for m in sorted(r.device.power.modes, key=lambda m: -m.compute_scale):
        if m.id != r.mode.id and m.compute_scale > r.mode.compute_scale and \
                admits(ceiling(ctx, r, m)):
            return f"{fix} and power mode the claim used (power mode {m.id} would allow it)"
    if floor.regime == "memory":
        need = ("fewer bytes per token (a smaller model, fewer bits per weight) or several "
                "tokens per weight read (speculative decoding, a batch of sequences)"
                if r.model.llm else "fewer bytes per inference (fewer bits per weight, a "
                "smaller input or model)")
    else:
        need = "fewer ops per inference (a smaller input or model) or a unit with more TOPS"
    return f"{fix}, batch and model size the claim used: beating this ceiling needs {need}"
