"""EP507 spec-llm-option-without-llm."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.spec import llm_field_message, llm_fields_without_llm


class SpecLlmOptionWithoutLlm(Rule):
    """An LLM-only option on a workload that has no LLM candidate.

    `ttft_budget_ms`, `prompt_tokens`, `kv_cache` and `weight_format` describe a decoder
    LLM's prompt, cache and weights. On a workload whose candidates are vision or speech
    models nothing reads them, so a budget the author meant to hold would silently not;
    `solve` refuses the spec at the field (exit 2).

    Anti-pattern:

        workloads:
          - {name: cls, task: classification, rate_fps: 10, ttft_budget_ms: 100}

    Why it matters: time to first token is the prefill of a prompt, a quantity of
    autoregressive generation; a classifier has neither a prompt nor a first token, so a
    budget on it constrains nothing. LLM serving metrics are defined per generated token.
    Source: NVIDIA, "A Comprehensive Guide to NIM LLM Latency-Throughput Benchmarking"
    (time to first token, inter-token latency)
    <https://docs.nvidia.com/nim/benchmarking/llm/2.0.0/index.html>

    Fix: drop the field, or make it an LLM workload (`task: llm`, LLM `models` or
    `model_files`).

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        workloads:
          - {name: chat, task: llm, tokens_per_s: 10, prompt_tokens: 512,
             ttft_budget_ms: 2000}
    """
    id = "EP507"
    name = "spec-llm-option-without-llm"
    severity = "error"
    solver_reason = None
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        for i, w in enumerate(ctx.spec.workloads):
            for k in llm_fields_without_llm(w, ctx.candidate_models(w)):
                yield Problem(("workloads", i, k), llm_field_message(w, k),
                              "drop it, or make the workload an LLM one")
