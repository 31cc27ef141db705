"""EP902 unknown-model."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class UnknownModel(Rule):
    """A model id that is not in the profiles (and no model_file names the model).

    Model ids are the profiles' (`edgeplan catalog list models`). A workload may name a model
    that is not in the catalog only together with `model_file` (then the name is a label).

    Anti-pattern:

        workloads:
          - {name: chat, model: llama3-8b, precision: int4, device: jetson-orin-nano-8gb}

    Why it matters: every number lint checks comes from the model's profile: parameters,
    context length and accuracy per precision, each with its source (for `llama-3-8b`: 8
    billion parameters, an 8K context and 66.6 MMLU, from Meta's model card). An id that names
    no profile leaves nothing to check.
    Source: Meta, "Llama 3 model card"
    <https://github.com/meta-llama/llama3/blob/main/MODEL_CARD.md>

    Fix: the id the message suggests (here `llama-3-8b`), or `model_file:` with your ONNX file.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: chat, model: llama-3-8b, precision: int4, device: jetson-orin-nano-8gb}
    """
    id = "EP902"
    name = "unknown-model"
    severity = "error"
    solver_reason = None
    applies_to = ("manifest", "spec")

    @staticmethod
    def check(ctx):
        if ctx.kind == "manifest":
            for r in ctx.resolved:
                if r.model_error is not None and not r.workload.model_file:
                    yield Problem(("workloads", r.index, "model"), r.model_error.message,
                                  "use an id from `edgeplan catalog list models`, or give "
                                  "model_file")
            return
        from planner.errors import UnknownIdError
        for i, w in enumerate(ctx.spec.workloads):
            for k, m in enumerate(w.models or ()):
                try:
                    ctx.catalog.model(m)
                except UnknownIdError as e:
                    yield Problem(("workloads", i, "models", k), e.message,
                                  "use an id from `edgeplan catalog list models`")
