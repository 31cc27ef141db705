"""EP103 kv-cache-overflow."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import base_gb, context_tokens, memory_groups, over
from planner.text import num
from planner.vocabulary import KV_CACHE_BYTES


class KvCacheOverflow(Rule):
    """The LLM's KV cache for the asked context does not fit in memory.

    An LLM keeps keys and values for every token of context (2 x layers x KV heads x head
    dim x 2 bytes per token). The weights may fit while a long context does not. Reported when
    weights and activations fit within the memory budget and the KV cache breaks it (solver
    reason `context`); when the weights alone do not fit, EP101 reports it.

    Anti-pattern: an 8K context on a board that holds the INT4 weights with little to spare:

        workloads:
          - {name: chat, model: llama-3-8b, precision: int4, device: jetson-orin-nano-8gb,
             context_tokens: 8192}

    Why it matters: the KV cache grows linearly with the context and is held for the whole
    request, so it, not the weights, is what runs out first on long prompts. For Llama 3 8B
    (32 layers, 8 KV heads of 128 dimensions) that is 128 KiB per token at FP16: 1.07 GB for
    8192 tokens, on top of 4.5 GB for the rest, where the board leaves 4.9 GB for models.
    Source: Kwon et al., "Efficient Memory Management for Large Language Model Serving with
    PagedAttention", SOSP 2023 <https://arxiv.org/abs/2309.06180>

    Fix: a shorter `context_tokens` (the message gives the longest that fits), a model with
    fewer KV heads, or a device with more memory.

    Passing example: the same model and board with a 2K context:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: chat, model: llama-3-8b, precision: int4, device: jetson-orin-nano-8gb,
             context_tokens: 2048}
    """
    id = "EP103"
    name = "kv-cache-overflow"
    severity = "error"
    solver_reason = "context"

    @staticmethod
    def check(ctx):
        for j, e, rs in memory_groups(ctx):
            avail, cap, total, base = over(ctx, e, rs)
            one = avail * ctx.memory_cap_share
            if not (base <= cap < total) or any(base_gb(r) > one for r in rs):
                continue
            llms = [r for r in rs if r.estimate.memory_breakdown_gb.get("kv_cache", 0) > 0]
            dev = rs[0].device
            for r in llms:
                kv = r.estimate.memory_breakdown_gb["kv_cache"]
                tokens = context_tokens(r)
                room = cap - (total - kv)            # what this workload's cache may take
                # layer by layer: sliding-window layers stop growing at their window where
                # the runtime keeps a windowed cache
                windowed = ctx.catalog.math_path(r.estimate.runtime).windowed_kv
                fit = r.model.llm.longest_context(room * 1e9 / r.workload.batch,
                                                  KV_CACHE_BYTES[r.query.kv_cache], windowed)
                yield Problem(("workloads", r.index, "context_tokens"),
                              f"the KV cache for {tokens} tokens of context takes {num(kv)} GB; "
                              f"with the rest ({num(total - kv)} GB) that is {num(total)} GB, over "
                              f"the {num(cap)} GB {dev.id} leaves for models"
                              + (f" within the {num(ctx.manifest.budgets.memory_headroom_pct)} % "
                                 "memory headroom" if ctx.manifest.budgets.memory_headroom_pct
                                 else ""),
                              f"set context_tokens to at most {fit}" if fit >= 1 else
                              "use a device with more memory or a lower precision")
