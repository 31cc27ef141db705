"""`edgeplan estimate`: one model at one precision on one device, with provenance."""
from __future__ import annotations

import json

import click

from . import catalog_option, load_catalog_for_cli, main


def _fmt_q(q, digits=3) -> str:
    s = f"{q['value']:.{digits}g} {q['unit']}"
    if "low" in q:
        s += f"  [{q['low']:.{digits}g} - {q['high']:.{digits}g}]"
    s += f"  ({q['provenance']}"
    if q.get("bottleneck"):
        s += f", bound by {q['bottleneck']}"
    return s + ")"


def render_text(d: dict) -> str:
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
    mb = d["memory_breakdown_gb"]
    fit = "fits" if d["fits_memory"] else "DOES NOT FIT"
    lines.append(f"  memory       {d['memory_gb']['value']:.3g} GB of {d['memory_available_gb']:.3g}"
                 f" GB available: {fit}  (weights {mb['weights']:.3g} + activations "
                 f"{mb['activations']:.3g} + KV cache {mb['kv_cache']:.3g}; OS/runtime reserve "
                 f"{mb['os_and_runtime_reserve']:.3g})")
    lines.append(f"  power        {_fmt_q(d['power_w'])}")
    lines.append(f"  energy       {_fmt_q(d['energy_mj'])} per inference")
    a = d["accuracy"]
    lines.append(f"  accuracy     {a['value']:g} {a['metric']}  ({a['provenance']})")
    for n in d["notes"]:
        lines.append(f"  note: {n}")
    return "\n".join(lines)


@main.command()
@click.option("--device", "-d", required=True, help="Device id (edgeplan catalog list devices).")
@click.option("--model", "-m", required=True, help="Model id (edgeplan catalog list models).")
@click.option("--precision", "-p", required=True,
              type=click.Choice(["fp32", "fp16", "int8", "int4"], case_sensitive=False))
@click.option("--technique", "-t", default=None,
              type=click.Choice(["baseline", "ptq", "qat", "weight-only", "pruned", "distilled"]),
              help="How the precision is reached (default: the most accurate the profile has).")
@click.option("--unit", "-u", default=None, help="Compute unit (default: the first that runs the precision).")
@click.option("--runtime", "-r", default=None, help="Runtime (default: the unit's first).")
@click.option("--power-mode", default=None, help="Power mode (default: the device's first).")
@click.option("--batch", "-b", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--context", "-c", default=None, type=click.IntRange(min=1),
              help="LLM context held in the KV cache, tokens (default 2048 or the model's max).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@catalog_option
def estimate(device, model, precision, technique, unit, runtime, power_mode, batch, context,
             fmt, catalog_dirs, no_builtin):
    """Estimate latency, throughput, memory, power, energy and accuracy of one model at
    one precision on one device, each with its provenance and bottleneck.

    Example: edgeplan estimate --device raspberry-pi-5-8gb --model mobilenet-v2 --precision fp32
    """
    from ..estimate import Query, estimate as run

    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    q = Query(model=model, precision=precision.lower(), device=device, technique=technique,
              unit=unit, runtime=runtime, batch=batch, context=context, power_mode=power_mode)
    d = run(cat, q).as_dict()
    click.echo(json.dumps(d, indent=2) if fmt == "json" else render_text(d))
