"""EP907 unknown-name."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class UnknownName(Rule):
    """A task, device family or runtime name that no catalog entry has.

    A spec's `task`, `families` and `runtimes` lists are matched against the catalog; a
    misspelled name silently allows or denies nothing.

    Anti-pattern:

        workloads: [{name: det, task: object-detection}]     # the task is `detection`
        runtimes: {deny: [tensor-rt]}                        # the runtime is `tensorrt`

    Why it matters: a deny list that matches nothing denies nothing, so the plan can use the
    very runtime it meant to exclude, and a task that matches no profile leaves no candidate
    models. Runtime names follow the libraries (the catalog's `tensorrt`, `openvino`, `qnn`,
    `coreml` are the ones ONNX Runtime's execution providers are named after).
    Source: ONNX Runtime, "ONNX Runtime Execution Providers"
    <https://onnxruntime.ai/docs/execution-providers/>

    Fix: the name the message suggests (`edgeplan catalog list` shows them).

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        workloads: [{name: det, task: detection}]
        runtimes: {deny: [tensorrt]}
    """
    id = "EP907"
    name = "unknown-name"
    severity = "error"
    solver_reason = None
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        from planner.errors import did_you_mean
        cat, spec = ctx.catalog, ctx.spec
        tasks = {m.task for m in cat.models.values()}
        families = {d.family for d in cat.devices.values()}
        runtimes = {rt for d in cat.devices.values() for u in d.units for rt in u.runtimes}
        for i, w in enumerate(spec.workloads):
            if w.task and w.task not in tasks:
                yield Problem(("workloads", i, "task"),
                              f"unknown task {w.task!r}{did_you_mean(w.task, tasks)}",
                              f"use one of: {', '.join(sorted(tasks))}")
        for section, known, what in (("families", families, "device family"),
                                     ("runtimes", runtimes, "runtime")):
            ad = getattr(spec, section)
            for key in ("allow", "deny"):
                for k, v in enumerate(getattr(ad, key) or ()):
                    if v not in known:
                        yield Problem((section, key, k),
                                      f"unknown {what} {v!r}{did_you_mean(v, known)}",
                                      f"use a {what} from the catalog")
