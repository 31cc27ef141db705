"""`edgeplan profile`: what is in an ONNX model. onnx is imported inside the command."""
from __future__ import annotations

import json

import click

from planner.cli.common import catalog_option, load_catalog_for_cli


@click.command()
@click.argument("model", type=click.Path())
@click.option("--device", "-d", default=None,
              help="Device id: also show which ops its units run and which fall back to the CPU.")
@click.option("--unit", "-u", default=None, help="Only this compute unit of --device.")
@click.option("--layers", is_flag=True,
              help="Also list the graph's layers as a runtime fuses them (op kind, MACs, weights, "
                   "activations in and out): the table the per-layer estimator reads. With "
                   "--format csv, only that table, as profiles/layers/ holds it.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True)
@catalog_option
def profile(model, device, unit, layers, fmt, catalog_dirs, no_builtin):
    """Measure an ONNX model: parameters, MACs, weight bytes per precision, peak activation
    memory, op histogram, inputs and outputs (symbolic dimensions flagged). With --device,
    the ops each compute unit runs and the ones that fall back to the host CPU, from the
    catalog's op-support tables. Weights in external data are not read.

    An LLM as a Hugging Face model folder (or its config.json) or a GGUF file gives the
    profile `model_files` plan it with: parameters (active ones of a mixture of experts),
    MACs per token, KV-cache bytes per token and sliding-window layers, the stored
    quantization of a GGUF file.

    \b
    Example: edgeplan profile examples/models/digits_cnn.onnx --device jetson-orin-nx-16gb --layers
    """
    from planner.onnxfile.profile import (
        format_profile_text,
        op_support_report,
        profile_onnx,
    )

    if unit is not None and device is None:
        raise click.UsageError("--unit needs --device")
    from planner.llmfile import is_llm_file
    if is_llm_file(model):
        if device is not None or layers or fmt == "csv":
            what = "--device" if device is not None else "--layers" if layers else \
                "--format csv"
            raise click.UsageError(f"{what} reads an ONNX graph; an LLM file or folder has "
                                   "none (its layers are the analytic attention, MLP and KV "
                                   "cache of its config)")
        from planner.llmfile import llm_file_as_model
        from planner.llmfile.shape import render_llm_profile
        m = llm_file_as_model(model)
        click.echo(json.dumps(m.model_dump(mode="json", exclude_none=True), indent=2,
                              sort_keys=True) if fmt == "json" else render_llm_profile(m))
        return
    if fmt == "csv" and not layers:
        raise click.UsageError("--format csv writes the layer table: add --layers")
    if fmt == "csv" and device is not None:
        raise click.UsageError("--format csv writes the layer table only; --device adds op "
                               "support to text or json")
    prof = profile_onnx(model)
    table = None
    if layers:
        from planner.catalog.layers import LayerTable, write_table
        from planner.onnxfile.layers import layers_of
        table = LayerTable(prof.file, tuple(layers_of(prof)))
        if fmt == "csv":
            click.echo(write_table(table), nl=False)
            return
    support = None
    if device is not None:
        cat = load_catalog_for_cli(catalog_dirs, no_builtin)
        support = op_support_report(prof, cat, device, unit)
    d = prof.as_dict()
    if fmt == "json":
        if support is not None:
            d["op_support"] = support
        if table is not None:
            from dataclasses import asdict
            d["layers"] = [asdict(x) for x in table.layers]
        click.echo(json.dumps(d, indent=2, sort_keys=True))
    else:
        click.echo(format_profile_text(d, support))
        if table is not None:
            from planner.onnxfile.profile import format_layers_text
            click.echo(format_layers_text(table))
