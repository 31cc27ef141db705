"""EP306 ttft-budget."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import alternatives
from planner.text import num


class TtftBudget(Rule):
    """The estimated time to first token exceeds the LLM workload's ttft budget.

    The time to first token is the prefill of the prompt (`prompt_tokens`, default
    `context_tokens`): the whole prompt passes through the model before the first token
    comes, so it is compute-bound where decode is bandwidth-bound, and a device that decodes
    fast enough can still keep a user waiting seconds. `solve` rejects such an option (reason
    `ttft`).

    Anti-pattern: an 8B model on a Raspberry Pi CPU with a 2 s budget for a 1,024-token prompt:

        workloads:
          - {name: chat, model: llama-3.1-8b, precision: int4, device: raspberry-pi-5-8gb,
             runtime: llama.cpp, prompt_tokens: 1024, ttft_budget_ms: 2000}

    Why it matters: prefill and decode stress different resources (prefill compute, decode
    memory bandwidth), and serving systems budget them apart, time to first token against
    time per output token, because users feel the first wait most.
    Source: Zhong et al., "DistServe: Disaggregating Prefill and Decoding for Goodput-optimized
    Large Language Model Serving", OSDI 2024 <https://arxiv.org/abs/2401.09670>

    Fix: the change the message names (a faster power mode, another unit, a lower precision),
    a shorter prompt, a smaller model, or a device with more compute.

    Passing example: the same prompt on a Jetson AGX Orin's GPU:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-agx-orin-64gb}]
        workloads:
          - {name: chat, model: llama-3.1-8b, precision: int4, device: jetson-agx-orin-64gb,
             prompt_tokens: 1024, ttft_budget_ms: 2000}
    """
    id = "EP306"
    name = "ttft-budget"
    severity = "error"
    solver_reason = "ttft"

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            w = r.workload
            if not r.ok or w.ttft_budget_ms is None or r.estimate.ttft_ms is None:
                continue
            t = r.estimate.ttft_ms
            if t.value <= w.ttft_budget_ms:
                continue
            alts = alternatives(
                ctx, r, lambda v: v.ttft_ms is not None and v.ttft_ms.value <= w.ttft_budget_ms,
                value=lambda v: f"a first token in {num(v.ttft_ms.value)} ms")
            yield Problem(("workloads", r.index, "ttft_budget_ms"),
                          f"{w.model} at {w.precision.upper()} on the {r.device.id} {r.unit.id}: "
                          f"the first token after a {r.query.prompt_tokens:,}-token prompt "
                          f"takes {num(t.value)} ms ({t.provenance} prefill, 80 % interval "
                          f"{num(t.low)}-{num(t.high)} ms), over the "
                          f"{num(w.ttft_budget_ms)} ms budget",
                          ("try " + "; or ".join(alts)) if alts else
                          "use a shorter prompt, a smaller model or a device with more compute")
