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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@catalog_option
def profile(model, device, unit, fmt, catalog_dirs, no_builtin):
    """Measure an ONNX model: parameters, MACs, weight bytes per precision, peak activation
    memory, op histogram, inputs and outputs (symbolic dimensions flagged). With --device,
    the ops each compute unit runs and the ones that fall back to the host CPU, from the
    catalog's op-support tables. Weights in external data are not read.

    An LLM as a Hugging Face model folder (or its config.json) or a GGUF file gives the
    profile `model_files` plan it with: parameters (active ones of a mixture of experts),
    MACs per token, KV-cache bytes per token and sliding-window layers, the stored
    quantization of a GGUF file.

    \b
    Example: edgeplan profile examples/models/digits_cnn.onnx --device jetson-orin-nx-16gb
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
        if device is not None:
            raise click.UsageError("--device checks an ONNX graph's ops; an LLM file has none")
        from planner.llmfile import llm_file_as_model
        from planner.llmfile.shape import render_llm_profile
        m = llm_file_as_model(model)
        click.echo(json.dumps(m.model_dump(mode="json", exclude_none=True), indent=2,
                              sort_keys=True) if fmt == "json" else render_llm_profile(m))
        return
    prof = profile_onnx(model)
    support = None
    if device is not None:
        cat = load_catalog_for_cli(catalog_dirs, no_builtin)
        support = op_support_report(prof, cat, device, unit)
    d = prof.as_dict()
    if fmt == "json":
        if support is not None:
            d["op_support"] = support
        click.echo(json.dumps(d, indent=2, sort_keys=True))
    else:
        click.echo(format_profile_text(d, support))
