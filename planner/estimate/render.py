"""One estimate as text for people (`edgeplan estimate`)."""
from __future__ import annotations

from planner.catalog.layers import short_name


def _fmt_q(q, digits=3) -> str:
    s = f"{q['value']:.{digits}g} {q['unit']}"
    if "low" in q:
        s += f"  [{q['low']:.{digits}g} - {q['high']:.{digits}g}]"
    s += f"  ({q['provenance']}"
    if q.get("bottleneck"):
        s += f", bound by {q['bottleneck']}"
    return s + ")"


def render_estimate_text(d: dict, layers: bool = False, no_layers_reason: str = "") -> str:
    """The text `edgeplan estimate` prints: every quantity with its interval, provenance and
    bottleneck, the memory breakdown and the notes."""
    q = d["query"]
    lines = [f"{d['model_name']} ({q['model']}) at {q['precision'].upper()}/{q['technique']} "
             f"on {d['device_name']} ({q['device']})",
             f"  unit {q['unit']}, runtime {q['runtime']}, power mode {q['power_mode']}, "
             f"batch {q['batch']}" + (f", context {q['context']}" if q.get("context") else ""),
             f"  latency      {_fmt_q(d['latency_ms'])}",
             f"  throughput   {_fmt_q(d['throughput_fps'])}"]
    if "decode_tokens_per_s" in d:
        lines.append(f"  decode       {_fmt_q(d['decode_tokens_per_s'])}")
        lines.append(f"  prefill      {_fmt_q(d['prefill_tokens_per_s'])}")
        if "ttft_ms" in d:
            lines.append(f"  first token  {_fmt_q(d['ttft_ms'])} after a "
                         f"{d['query']['prompt_tokens']:,}-token prompt")
    mb = d["memory_breakdown_gb"]
    fit = "fits" if d["fits_memory"] else "DOES NOT FIT"
    lines.append(f"  memory       {d['memory_gb']['value']:.3g} GB of {d['memory_available_gb']:.3g}"
                 f" GB available: {fit}  (weights {mb['weights']:.3g} + activations "
                 f"{mb['activations']:.3g} + KV cache {mb['kv_cache']:.3g}; OS/runtime reserve "
                 f"{mb['os_and_runtime_reserve']:.3g})")
    lines.append(f"  power        {_fmt_q(d['power_w'])}")
    lines.append(f"  energy       {_fmt_q(d['energy_mj'])} per inference")
    a = d["accuracy"]
    rng = f", range {a['low']:g}-{a['high']:g}" if "low" in a else ""
    if a["value"] is None:
        lines.append("  accuracy     unknown (no accuracy was given for this model)")
    else:
        lines.append(f"  accuracy     {a['value']:g} {a['metric']}  ({a['provenance']}{rng})")
    for n in d["notes"]:
        lines.append(f"  note: {n}")
    if layers:
        lines.extend(_layer_lines(d["layers"]) if d.get("layers") else
                     [f"  layers: none shown: {no_layers_reason}"])
    return "\n".join(lines)


def _layer_lines(lay: dict) -> list[str]:
    fixed = ", ".join(f"{k.replace('_', ' ')} {v:.3g} ms" for k, v in lay["fixed_ms"].items()
                      if v > 0)
    timed = lay.get("unit_layers") is not None
    how = ("the per-layer roofline sets the estimate" if lay["sets_estimate"] else
           "the whole-model roofline sets the estimate; the layers split its time as their "
           "ideal times split, each layer bound by its own regime")
    if timed and not lay["unit_layers"]:
        return [f"  layers: all {lay['count']} run on the host CPU, timed there: "
                f"{lay['fixed_ms'].get('host_cpu', 0):.3g} of the {lay['latency_ms']:.3g} ms "
                "latency (the unit runs none of them)"]
    if timed:
        how = (f"the unit's {lay['unit_layers']} layers split its part as their ideal times "
               "split; the host CPU's layers are timed on the CPU (host cpu)")
    of = (f"the {lay['unit_layers']} on the unit, of {lay['count']} layers" if timed else
          f"{lay['count']} layers")
    lines = [f"  layers: {lay['layers_ms']:.3g} of the {lay['latency_ms']:.3g} ms latency"
             + (f" (the rest: {fixed})" if fixed else "") + f"; {how}",
             (f"  the {len(lay['costliest'])} costliest of {of} "
              f"({lay['table']}; {lay['memory_bound']} bound by memory bandwidth):"),
             f"    {'#':>4}  {'name':<30} {'kind':<15} {'ms':>8} {'share':>6}  bound    ops"]
    for x in lay["costliest"]:
        lines.append(f"    {x['index']:>4}  {short_name(x['name']):<30} {x['kind']:<15} "
                     f"{x['ms']:>8.3g} {100 * x['share']:>5.1f}%  {x['bound']:<8} {x['ops']}")
    return lines
