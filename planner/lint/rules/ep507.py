"""EP507 spec-llm-option-without-llm."""
from __future__ import annotations

from planner.lint.model import Problem, Rule

# workload fields that only an LLM reads
LLM_ONLY = ("ttft_budget_ms", "prompt_tokens", "kv_cache", "weight_format")


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
            given = [k for k in LLM_ONLY if getattr(w, k) is not None]
            if not given or w.task == "llm" or any(
                    not f.lower().endswith(".onnx") for f in w.model_files or ()):
                continue
            models = ctx.candidate_models(w)
            if not models or any(m.llm is not None for m in models):
                continue
            what = f"the {w.task} task has no LLM" if w.task else "none of its models is an LLM"
            for k in given:
                yield Problem(("workloads", i, k), f"{k} is for LLM workloads; {what}",
                              "drop it, or make the workload an LLM one")
