"""`edgeplan estimate`: one model at one precision on one device, with provenance."""
from __future__ import annotations

import json

import click

from planner.cli.common import (
    catalog_option,
    llm_memory_options,
    load_catalog_for_cli,
    query_fields_as_flags,
    with_model_file,
)
from planner.estimate.render import render_estimate_text


@click.command()
@click.option("--device", "-d", required=True, help="Device id (edgeplan catalog list devices).")
@click.option("--model", "-m", required=True,
              help="Model id (edgeplan catalog list models), or an LLM as a Hugging Face "
                   "folder, its config.json or a GGUF file.")
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
@click.option("--prompt", "prompt_tokens", default=None, type=click.IntRange(min=1),
              help="LLM prompt length, tokens: adds the time to first token (the prefill).")
@llm_memory_options
@click.option("--layers", "show_layers", is_flag=True,
              help="Also print where the time goes layer by layer: the ten costliest layers "
                   "(time, share, bound) and what the fixed costs take; the whole-model "
                   "roofline still sets the numbers. JSON has them under 'layers' for every "
                   "network with a layer table (profiles/layers/).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@catalog_option
def estimate(device, model, precision, technique, unit, runtime, power_mode, batch, context,
             prompt_tokens, kv_cache, weight_format, show_layers, fmt, catalog_dirs, no_builtin):
    """Estimate latency, throughput, memory, power, energy and accuracy of one model at
    one precision on one device, each with its provenance and bottleneck.

    An LLM's estimate adds decode and prefill rates, the first token after --prompt N tokens,
    and the KV cache at --context (in a --kv-cache q8_0 / q4_0 where the runtime keeps one),
    with the weights of a --weight-format. These are refused for other models.

    \b
    Example: edgeplan estimate --device raspberry-pi-5-8gb --model mobilenet-v2 --precision fp32
    Example: edgeplan estimate -d coral-usb-on-rpi4 -m resnet-50 -p int8 --layers
    Example: edgeplan estimate -d raspberry-pi-5-8gb -m llama-3.1-8b -p int4 -r llama.cpp
             --prompt 512 --kv-cache q8_0 --weight-format q4_k_m
    """
    from planner.estimate.point import Query
    from planner.estimate.point import estimate as run

    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    if model not in cat.models:
        cat, model = with_model_file(cat, model)
    m = cat.models.get(model)
    if m is not None and m.llm is None:
        given = [o for o, v in (("--prompt", prompt_tokens), ("--context", context),
                                ("--weight-format", weight_format),
                                ("--kv-cache", None if kv_cache == "fp16" else kv_cache))
                 if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)}: for LLMs; {model} is a {m.task} model")
    q = Query(model=model, precision=precision.lower(), device=device, technique=technique,
              unit=unit, runtime=runtime, batch=batch, context=context, power_mode=power_mode,
              kv_cache=kv_cache, prompt_tokens=prompt_tokens, weight_format=weight_format)
    with query_fields_as_flags():
        d = run(cat, q, layers=True).as_dict()
    if fmt == "json":
        click.echo(json.dumps(d, indent=2))
        return
    from planner.estimate.point import no_table_reason
    click.echo(render_estimate_text(d, layers=show_layers, no_layers_reason=no_table_reason(
        cat.models[model]) if show_layers and "layers" not in d else ""))
