"""`edgeplan fit`: the longest context an LLM holds on a device."""
from __future__ import annotations

import json

import click

from planner import exitcodes
from planner.cli.common import (
    catalog_option,
    llm_memory_options,
    load_catalog_for_cli,
    query_fields_as_flags,
    with_model_file,
)


@click.command()
@click.option("--device", "-d", required=True, help="Device id (edgeplan catalog list devices).")
@click.option("--model", "-m", required=True,
              help="LLM id (edgeplan catalog list models), or a Hugging Face model folder, "
                   "its config.json, or a GGUF file.")
@click.option("--precision", "-p", required=True,
              type=click.Choice(["fp32", "fp16", "int8", "int4"], case_sensitive=False))
@click.option("--technique", "-t", default=None,
              type=click.Choice(["baseline", "ptq", "qat", "weight-only", "pruned", "distilled"]),
              help="How the precision is reached (default: the most accurate the profile has).")
@click.option("--unit", "-u", default=None, help="Compute unit (default: the first that runs the precision).")
@click.option("--runtime", "-r", default=None,
              help="Runtime (default: the unit's first that runs LLMs); llama.cpp keeps "
                   "sliding-window layers' cache to their window.")
@llm_memory_options
@click.option("--batch", "-b", default=1, show_default=True, type=click.IntRange(min=1),
              help="Sequences decoded together, each with its own cache.")
@click.option("--headroom", "headroom_pct", default=10.0, show_default=True,
              type=click.FloatRange(min=0, max=90), help="Memory kept free, % (as the manifests' memory_headroom_pct).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@catalog_option
def fit(device, model, precision, technique, unit, runtime, kv_cache, weight_format, batch,
        headroom_pct, fmt,
        catalog_dirs, no_builtin):
    """Print the longest context an LLM holds on a device at a precision: the memory the
    device leaves for models, less the headroom, the weights and the activations, divided
    among the KV cache layer by layer (sliding-window layers stop growing at their window
    where the runtime keeps a windowed cache). Exits 3 when the weights alone do not fit.

    \b
    Example: edgeplan fit --device raspberry-pi-5-8gb --model llama-3.2-1b --precision int4
    Example: edgeplan fit -d raspberry-pi-5-8gb -m gemma-2-9b -p int4 -r llama.cpp --kv-cache q8_0
    Example: edgeplan fit -d raspberry-pi-5-8gb -m examples/models/gemma-3-4b -p int4
    """
    from planner.estimate.fit import longest_context, render_fit_text
    from planner.estimate.point import Query

    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    if model not in cat.models:
        cat, model = with_model_file(cat, model)
    q = Query(model=model, precision=precision.lower(), device=device, technique=technique,
              unit=unit, runtime=runtime, batch=batch, kv_cache=kv_cache,
              weight_format=weight_format)
    with query_fields_as_flags():
        f = longest_context(cat, q, headroom_pct)
    click.echo(json.dumps(f.as_dict(), indent=2, sort_keys=True) if fmt == "json"
               else render_fit_text(f))
    if f.fits_tokens < 1:
        # the weights alone do not fit: a failure a script can test, as solve's infeasible
        click.get_current_context().exit(exitcodes.INFEASIBLE)

