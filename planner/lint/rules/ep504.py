"""EP504 spec-empty-choice."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class SpecEmptyChoice(Rule):
    """Allow/deny lists or precision/technique lists that leave nothing to choose from.

    Allow lists whose intersection is empty, or a workload whose `precisions` and `techniques` exclude every option of its candidate
    models: the spec contradicts itself and `solve` can only report infeasibility.

    Anti-pattern: Coral devices with TensorRT as the only runtime:

        families: {allow: [coral]}
        runtimes: {allow: [tensorrt]}         # TensorRT runs on NVIDIA GPUs only
        workloads:
          - {name: cls, task: classification}

    Why it matters: the lists are read together, so each can be right on its own and the
    combination still empty. TensorRT is NVIDIA's inference library for NVIDIA GPUs; no Coral
    device has one, so these two lists leave no device and runtime to plan with.
    Source: NVIDIA, "TensorRT Overview" (TensorRT release notes)
    <https://docs.nvidia.com/deeplearning/tensorrt/release-notes/overview.html>

    Fix: widen the list the message names.

    Passing example: the Edge TPU's own runtime:

        apiVersion: edgeplan/v1
        kind: Spec
        families: {allow: [coral]}
        runtimes: {allow: [edgetpu]}
        workloads:
          - {name: cls, task: classification, precisions: [int8]}
    """
    id = "EP504"
    name = "spec-empty-choice"
    severity = "error"
    solver_reason = None
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        # (an id both allowed and denied is already a schema error: EP001)
        spec = ctx.spec
        if ctx.catalog.devices and not ctx.allowed_devices():
            path = ("devices",) if (spec.devices.allow or spec.devices.deny) else ("families",)
            yield Problem(path, "the devices and families allow/deny lists leave no device",
                          "widen devices.allow / families.allow or shorten the deny lists")
            return
        devices = ctx.allowed_devices()
        runtimes = {rt for d in devices for u in d.units for rt in u.runtimes}
        if devices and not any(spec.runtimes.admits(rt) for rt in runtimes):
            yield Problem(("runtimes",), "the runtimes allow/deny lists leave no runtime on the "
                          f"allowed devices (they have {', '.join(sorted(runtimes))})",
                          "allow a runtime the allowed devices have")
        for i, w in enumerate(spec.workloads):
            if w.model_files or (w.precisions is None and w.techniques is None):
                continue
            models = ctx.candidate_models(w)
            if models and not any(ctx.candidate_options(w, m) for m in models):
                key = "precisions" if w.precisions is not None else "techniques"
                have = sorted({f"{o.precision}/{o.technique}" for m in models for o in m.options})
                yield Problem(("workloads", i, key),
                              f"no candidate model has an option at these {key} (they have "
                              f"{', '.join(have)})", f"widen {key}")
                continue
            if models and w.precisions is not None:
                runs = {p for d in devices for u in d.units for p in u.precisions}
                usable = [p for p in w.precisions if p in runs]
                if not usable:
                    yield Problem(("workloads", i, "precisions"),
                                  "no allowed device runs any of these precisions",
                                  "allow a precision the devices run, or other devices")
