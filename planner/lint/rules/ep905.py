"""EP905 unknown-option."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class UnknownOption(Rule):
    """The model's profile has no option for this precision and technique.

    Profiles list accuracy per (precision, technique) with a source; a combination they do
    not list has no accuracy, so nothing can be estimated or checked. Without `technique:`,
    the most accurate option at the precision is used.

    Anti-pattern:

        workloads:
          - {name: cls, model: resnet-50, precision: int8, technique: baseline, ...}

    Why it matters: the same network quantized by different methods has different accuracy,
    so accuracy is published per quantized weight set, not per model: torchvision lists its
    quantized ResNet-50 weights with their own ImageNet accuracy next to the float ones. A
    combination without a published figure cannot be held to an accuracy floor.
    Source: PyTorch, "torchvision: Models and pre-trained weights" (quantized models)
    <https://pytorch.org/vision/stable/models>

    Fix: a technique the message lists for the precision (e.g. `ptq` or `qat` for INT8), or
    add the option with its source to a profile of your own. The same holds for an LLM's
    `kv_cache`: q8_0 or q4_0 on a runtime that keeps only fp16 (runtimes.yaml
    kv_cache_types) is flagged at `kv_cache`, and a `weight_format` the runtime does not load
    or that stores another precision at `weight_format`; use a runtime that keeps it
    (llama.cpp).

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: cls, model: resnet-50, precision: int8, technique: qat,
             device: jetson-orin-nano-8gb}
    """
    id = "EP905"
    name = "unknown-option"
    severity = "error"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if r.error_step not in ("option", "estimate"):
                continue
            field = getattr(r.error, "field", None)
            if field in ("kv_cache", "weight_format"):
                # a KV cache type or weight format the runtime lacks is an option it lacks
                stores = "stores" in r.error.message     # a format of another precision
                yield Problem(("workloads", r.index, field), r.error.message,
                              ("use a format of the workload's precision, or drop " if stores
                               else "use a runtime the message names, or drop ") + field
                              + (" (the fp16 cache)" if field == "kv_cache" else
                                 " (INT4 and INT8 at 4.5 and 8 bits)"))
                continue
            key = "technique" if ctx.given(r.index, "technique") else "precision"
            yield Problem(("workloads", r.index, key), r.error.message,
                          "use an option the profile lists, or add one with its source")
