"""EP906 model-file-unreadable."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class ModelFileUnreadable(Rule):
    """The ONNX file the document names is missing or is not an ONNX model.

    `model_file` (manifests) and `model_files` (specs) are paths relative to the document.
    Lint reads the operators and input shapes from the file without importing onnx.

    Anti-pattern:

        workloads:
          - {name: det, model: my-det, model_file: models/det.onnx, ...}   # no such file

    Why it matters: a workload with `model_file` is described by its file alone: operators,
    input shapes and size come from it. An ONNX model is a serialized `ModelProto` protocol
    buffer; a missing file, a Git LFS pointer or a different format has none of that, and the
    bundle step would fail later on the device.
    Source: ONNX, "Open Neural Network Exchange Intermediate Representation (ONNX IR)
    Specification" <https://onnx.ai/onnx/repo-docs/IR.html>

    Fix: the right path, relative to the manifest or spec.

    Passing example: `models/det.onnx` exists next to the manifest:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: det, model: my-det, model_file: models/det.onnx, precision: fp16,
             device: jetson-orin-nano-8gb}
    """
    id = "EP906"
    name = "model-file-unreadable"
    severity = "error"
    solver_reason = None
    applies_to = ("manifest", "spec")

    @staticmethod
    def check(ctx):
        if ctx.kind == "manifest":
            refs = [(("workloads", i, "model_file"), w.model_file)
                    for i, w in enumerate(ctx.manifest.workloads) if w.model_file]
        else:
            refs = [(("workloads", i, "model_files", k), f)
                    for i, w in enumerate(ctx.spec.workloads)
                    for k, f in enumerate(w.model_files or ())]
        for path, rel in refs:
            got = ctx.onnx(rel)
            if isinstance(got, Exception):
                yield Problem(path, f"{rel}: {got.message}",
                              "fix the path (relative to this file) or re-export the model")
