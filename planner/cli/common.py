"""What the verbs share: the --catalog option, loading the catalog with its notices, and
writing an output file atomically."""
from __future__ import annotations

from contextlib import contextmanager

import click


def catalog_option(f):
    """--catalog DIR (repeatable) and --no-builtin, for every command that reads the catalog."""
    f = click.option("--no-builtin", "no_builtin", is_flag=True,
                     help="Use only the --catalog directories, not the built-in catalog.")(f)
    return click.option(
        "--catalog", "catalog_dirs", multiple=True, type=click.Path(file_okay=False),
        help="Extra catalog directory with your own devices, profiles and measurements "
             "(repeatable; also EDGEPLAN_CATALOG, a path list). Same ids override built-ins.")(f)


def load_catalog_for_cli(catalog_dirs, no_builtin=False):
    from planner.catalog.loader import load_catalog
    cat = load_catalog(catalog_dirs, builtin=not no_builtin)
    for n in cat.notices:
        click.echo(f"edgeplan: note: {n}", err=True)
    return cat


def write_atomic(path: str, data: str | bytes, *, what: str = "") -> None:
    """`replace_file` (whole or not at all), its failure a one-line input error naming the
    file; `what` names the content in it ("the fixes")."""
    from planner.atomicfile import replace_file
    from planner.errors import InputError
    try:
        replace_file(path, data)
    except OSError as e:
        where = f" {what}" if what else ""
        raise InputError(f"cannot write{where}: {e.strerror or e}", file=path) from None


# the estimator's Query fields, as the flags of `estimate` and `fit` that set them
QUERY_FLAGS = {"model": "--model", "precision": "--precision", "device": "--device",
               "technique": "--technique", "unit": "--unit", "runtime": "--runtime",
               "batch": "--batch", "context": "--context", "power_mode": "--power-mode",
               "kv_cache": "--kv-cache", "prompt_tokens": "--prompt",
               "weight_format": "--weight-format"}


@contextmanager
def query_fields_as_flags():
    """An error the estimator raises at a Query field names the command's flag instead, so
    `--weight-format q8_0` is refused as `--weight-format:`, not as `weight_format:`."""
    from planner.errors import EdgeplanError
    try:
        yield
    except EdgeplanError as e:
        if e.file is None and e.field in QUERY_FLAGS:
            e.field = QUERY_FLAGS[e.field]
        raise


def with_model_file(cat, model: str):
    """--model names an LLM file (a Hugging Face folder or config.json, a GGUF): the catalog
    with its profile added, and its id. Anything else stays an id for the usual error."""
    import os

    from planner.errors import InputError
    from planner.llmfile import is_llm_file, llm_file_as_model
    if not os.path.exists(model):
        if os.sep in model or model.lower().endswith((".gguf", ".json")):
            raise InputError("no such file or folder", file=model, field="--model")
        return cat, model
    if not is_llm_file(model):
        raise InputError("not an LLM file: give a Hugging Face model folder, its config.json "
                         "or a GGUF file", file=model, field="--model")
    from planner.catalog.loader import catalog_with_models
    m = llm_file_as_model(model)
    return catalog_with_models(cat, [m]), m.id


def llm_memory_options(f):
    """--kv-cache and --weight-format, as estimate and fit take them."""
    from planner.vocabulary import KV_CACHE_BYTES, WEIGHT_FORMATS
    f = click.option("--weight-format", "weight_format", default=None,
                     type=click.Choice(list(WEIGHT_FORMATS)),
                     help="LLM weights in a named format, at its bits per weight: GGUF "
                          "q4_0, q4_k_s, q4_k_m (INT4), q8_0 (INT8) for llama.cpp; q4f16_1, "
                          "q4f32_1 for MLC LLM; mlx-4bit, mlx-8bit for MLX; awq-w4g128, "
                          "gptq-w4g128 (INT4) for TensorRT.")(f)
    return click.option("--kv-cache", "kv_cache", default="fp16", show_default=True,
                        type=click.Choice(list(KV_CACHE_BYTES)),
                        help="LLM KV cache element type: llama.cpp also keeps q8_0 (8.5 "
                             "bits) and q4_0 (4.5 bits).")(f)
