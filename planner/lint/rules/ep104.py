"""EP104 context-beyond-training."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class ContextBeyondTraining(Rule):
    """The LLM context is longer than the model was trained for.

    Past its trained context a model's quality falls apart (positions it never saw), and the
    KV cache grows for nothing. The limit is the profile's `llm.context_max`.

    Anti-pattern:

        workloads:
          - {name: chat, model: llama-3-8b, precision: int4, device: jetson-orin-nx-16gb,
             context_tokens: 16384}          # trained for 8192

    Why it matters: Meta trained Llama 3 8B with an 8K context. Models with rotary position
    embeddings (Llama among them) do not extrapolate: run directly past the trained window,
    their perplexity explodes, and making a longer window usable takes fine-tuning (position
    interpolation), not a larger setting at inference time.
    Source: Meta, "Llama 3 model card" (8B: context length 8k)
    <https://github.com/meta-llama/llama3/blob/main/MODEL_CARD.md>
    Source: Chen et al., "Extending Context Window of Large Language Models via Positional
    Interpolation", 2023 <https://arxiv.org/abs/2306.15595>

    Fix: keep `context_tokens` at or below the model's trained context, or pick a model trained
    for longer contexts.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nx-16gb}]
        workloads:
          - {name: chat, model: llama-3-8b, precision: int4, device: jetson-orin-nx-16gb,
             context_tokens: 8192}
    """
    id = "EP104"
    name = "context-beyond-training"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for i, w in enumerate(ctx.manifest.workloads):
            model = ctx.catalog.models.get(w.model)
            if model is None or model.llm is None or w.context_tokens is None:
                continue
            if w.context_tokens > model.llm.context_max:
                yield Problem(("workloads", i, "context_tokens"),
                              f"context_tokens {w.context_tokens} exceeds the "
                              f"{model.llm.context_max} tokens {w.model} was trained for",
                              f"set context_tokens to at most {model.llm.context_max}")
