"""EP505 spec-rate-kind."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class SpecRateKind(Rule):
    """A rate of the wrong kind for the workload: tokens/s for a non-LLM, or fps for an LLM.

    LLM workloads are sized by decode rate (`tokens_per_s`), everything else by inferences per
    second (`rate_fps`). The other kind is read as if it were the right one, which is rarely
    what was meant.

    Anti-pattern:

        workloads:
          - {name: chat, task: llm, rate_fps: 20}

    Why it matters: an LLM request is not one inference but one prefill and then one decode
    step per generated token, so its throughput is measured in tokens per second (and its
    latency per token), while other models are measured in inferences per second. 20 requests
    per second and 20 tokens per second differ by the length of every answer.
    Source: NVIDIA, "A Comprehensive Guide to NIM LLM Latency-Throughput Benchmarking"
    (metrics: tokens per second, requests per second)
    <https://docs.nvidia.com/nim/benchmarking/llm/2.0.0/index.html>

    Fix: `tokens_per_s` for LLM workloads, `rate_fps` for the rest.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        workloads:
          - {name: chat, task: llm, tokens_per_s: 20}
          - {name: det, task: detection, rate_fps: 30}
    """
    id = "EP505"
    name = "spec-rate-kind"
    severity = "warning"
    solver_reason = None
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        for i, w in enumerate(ctx.spec.workloads):
            models = ctx.candidate_models(w)
            if not models or w.model_files:
                continue
            llm = [m.llm is not None for m in models]
            if w.tokens_per_s is not None and not any(llm):
                yield Problem(("workloads", i, "tokens_per_s"),
                              "tokens_per_s on a workload with no LLM candidate",
                              "use rate_fps (inferences per second)")
            if w.rate_fps is not None and all(llm):
                yield Problem(("workloads", i, "rate_fps"),
                              "rate_fps on an LLM workload is read as tokens per second",
                              "use tokens_per_s")
