"""EP101 memory-overflow."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import base_gb, breakdown, memory_groups, over
from planner.text import num
from planner.vocabulary import BYTES_PER_PARAM


class MemoryOverflow(Rule):
    """The model does not fit in the memory the device leaves free.

    Weights + activations (+ the KV cache of an LLM) must fit in what the OS and runtime leave
    free on the device, less `budgets.memory_headroom_pct`. Workloads on one device share it.
    The numbers are the estimator's memory breakdown, as `solve` uses (reason `memory`).

    Anti-pattern: the 8B model at FP16 on a Jetson Nano 4 GB:

        devices: [{id: jetson-nano-4gb}]
        workloads:
          - {name: chat, model: llama-3-8b, precision: fp16, device: jetson-nano-4gb}

    Why it matters: on Jetson modules the CPU and the integrated GPU share one DRAM, so the OS,
    the CUDA/TensorRT context and every model come out of the same pool; there is no separate
    GPU memory to spill into. A model that does not fit fails to load or swaps until it is
    useless. The weights alone are parameters x bytes per weight: Llama 3 8B at FP16 is 16 GB,
    four times all the memory of a Jetson Nano 4 GB.
    Source: NVIDIA, "CUDA for Tegra" application note (memory on Tegra's integrated GPU)
    <https://docs.nvidia.com/cuda/cuda-for-tegra-appnote/index.html>

    Fix: a lower precision the profile has (INT4 weight-only for LLMs), a smaller model, or a
    device with more free memory. When only the KV cache breaks the budget, EP103 reports it.

    Passing example: a 1B model at INT4 weight-only on the same board:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-nano-4gb}]
        workloads:
          - {name: chat, model: llama-3.2-1b, precision: int4, device: jetson-nano-4gb}
    """
    id = "EP101"
    name = "memory-overflow"
    severity = "error"
    solver_reason = "memory"

    @staticmethod
    def check(ctx):
        head = ctx.manifest.budgets.memory_headroom_pct
        for j, e, rs in memory_groups(ctx):
            avail, cap, total, base = over(ctx, e, rs)
            one = avail * ctx.memory_cap_share          # what one device holds
            singles = [r for r in rs if base_gb(r) > one]
            if base <= cap and not singles:
                continue                       # fits, or only the KV cache breaks it (EP103)
            dev = rs[0].device
            reserve = rs[0].estimate.memory_breakdown_gb.get("os_and_runtime_reserve", 0.0)
            where = (f"{dev.id} leaves {num(avail)} GB of its {num(dev.memory.total_gb)} GB "
                     f"free after the OS and runtime ({num(reserve)} GB)")
            if head:
                where += f"; {num(one)} GB within the {num(head)} % memory headroom"
            for r in singles:
                est, w = r.estimate, r.workload
                yield Problem(("workloads", r.index, "model"),
                              f"{w.model} at {w.precision.upper()} needs "
                              f"{num(est.memory_gb.value)} GB ({breakdown(est)}) but {where}",
                              _fix(ctx, r, one))
            if not singles:
                names = ", ".join(r.workload.name for r in rs)
                count = f"{e.count} x " if e.count > 1 else ""
                yield Problem(("devices", j, "id"),
                              f"workloads {names} together need {num(total)} GB but "
                              f"{count}{where}",
                              "move a workload to another device, lower a precision, or use a "
                              "device with more memory")


def _fix(ctx, r, cap_gb) -> str:
    w = r.workload
    cur = BYTES_PER_PARAM[w.precision]
    for o in sorted(r.model.options, key=lambda o: -BYTES_PER_PARAM[o.precision]):
        if BYTES_PER_PARAM[o.precision] >= cur:
            continue
        v = ctx.variant(r, precision=o.precision, technique=o.technique, unit=None, runtime=None)
        if v is not None and v.memory_gb.value <= cap_gb:
            return (f"use {o.precision.upper()} ({o.technique}): {num(v.memory_gb.value)} GB "
                    f"on the {v.unit}, or a device with at least "
                    f"{num(r.estimate.memory_gb.value / ctx.memory_cap_share)} GB free")
    more = f"a device with at least {num(r.estimate.memory_gb.value / ctx.memory_cap_share)} " \
           "GB free for models"
    alt = _smaller_model(ctx, r, cap_gb)
    return f"use {alt}, or {more}" if alt else f"use a smaller model or {more}"


def _smaller_model(ctx, r, cap_gb) -> str | None:
    """The most accurate model of the same task and metric that fits on this device."""
    best = None
    for m in sorted(ctx.catalog.models.values(), key=lambda m: m.id):
        if m.task != r.model.task or m.metric != r.model.metric or m.id == r.model.id:
            continue
        for o in m.options:
            v = ctx.variant(r, model=m.id, precision=o.precision, technique=o.technique,
                            unit=None, runtime=None)
            if v is None or v.memory_gb.value > cap_gb:
                continue
            score = o.accuracy if m.higher_is_better else -o.accuracy
            if best is None or score > best[0]:
                best = (score, m, o, v)
    if best is None:
        return None
    _, m, o, v = best
    return (f"{m.id} at {o.precision.upper()} ({o.technique}, {o.accuracy:g} {m.metric}, "
            f"{num(v.memory_gb.value)} GB)")
