"""EP104 context-beyond-training."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class ContextBeyondTraining(Rule):
    """The LLM context is longer than the model was trained for.

    Past its trained context a model's quality falls apart (positions it never saw), and the
    KV cache grows for nothing. The limit is the profile's `llm.context_max`.

    Anti-pattern:

        workloads:
          - {name: chat, model: llama-2-7b, precision: int4, device: jetson-orin-nano-8gb,
             context_tokens: 16384}          # trained for 4096

    Fix: keep `context_tokens` at or below the model's trained context, or pick a model trained
    for longer contexts.
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
