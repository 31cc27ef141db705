"""LLMs users bring as files: a Hugging Face model folder (or its config.json) and a GGUF
file, read offline into the same ModelProfile as a catalog LLM (`model_files`, `edgeplan
profile`). The `gguf` package (llama.cpp's reader) is imported only for a GGUF file."""
from __future__ import annotations

from pathlib import Path

from planner.llmfile.shape import llm_model_id

__all__ = ["is_llm_file", "llm_file_as_model", "llm_model_id"]


def is_llm_file(path) -> bool:
    """A Hugging Face folder or config.json, or a .gguf file (else: ONNX)."""
    p = Path(path)
    return p.is_dir() or p.name == "config.json" or p.suffix.lower() == ".gguf"


def llm_file_as_model(path, model_id: str | None = None, accuracy=None, metric=None):
    """The ModelProfile of a Hugging Face folder / config.json or a GGUF file, under
    `model_id` (default: `llm_model_id(path)`)."""
    from planner.llmfile.shape import as_model
    if Path(path).suffix.lower() == ".gguf":
        from planner.llmfile.gguf_file import read_gguf
        dims = read_gguf(path)
    else:
        from planner.llmfile.hf_config import read_hf_config
        dims = read_hf_config(path)
    return as_model(dims, model_id or llm_model_id(path), accuracy=accuracy, metric=metric)
