"""EP403 dynamic-shapes."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


def dynamic_reason(ctx, r) -> tuple[str, tuple] | None:
    """Why the deployed graph has dynamic input shapes, and where the manifest says so."""
    w, i = r.workload, r.index
    if w.dynamic_shapes is not None:
        return ("the manifest sets dynamic_shapes: true", ("workloads", i, "dynamic_shapes")) \
            if w.dynamic_shapes else None
    if w.model_file:
        summary = ctx.onnx(w.model_file)
        if isinstance(summary, Exception):
            return None
        dyn = summary.dynamic_inputs
        if not dyn:
            return None
        desc = "; ".join(f"{x.name} [{', '.join(str(d) if d is not None else '?' for d in x.dims)}]"
                         for x in dyn[:3])
        return (f"{w.model_file} has dynamic input shapes ({desc})",
                ("workloads", i, "model_file"))
    if r.model is not None and r.model.dynamic_shapes:
        return (f"the {r.model.id} export has dynamic input shapes",
                ("workloads", i, "model"))
    return None


class DynamicShapes(Rule):
    """Dynamic input shapes on an accelerator that compiles static shapes only.

    The Edge TPU compiler, the Hailo dataflow compiler and other ahead-of-time accelerator
    toolchains need every input dimension fixed (`static_shapes_only` in the catalog). An ONNX
    export with a symbolic batch or image size fails to compile, or runs on the CPU.

    Anti-pattern:

        workloads:
          - {name: det, model: yolov8n, model_file: yolov8n-dynamic.onnx, precision: int8,
             device: hailo-8-on-rpi5}          # input images [batch, 3, height, width]

    Why it matters: ahead-of-time compilers lay out memory and schedule every layer for one
    tensor shape. The Edge TPU requires tensor sizes to be constant at compile time, and ONNX
    Runtime's NNAPI and Core ML providers likewise need fixed input shapes; exports usually
    leave the batch symbolic for training convenience.
    Source: Google Coral, "TensorFlow models on the Edge TPU", section "Model requirements"
    <https://coral.ai/docs/edgetpu/models-intro/>
    Source: ONNX Runtime, "Making dynamic input shapes fixed"
    <https://onnxruntime.ai/docs/tutorials/mobile/helpers/make-dynamic-shape-fixed.html>

    Fix: export with fixed shapes (no `dynamic_axes`), or pin them:
    `python -m onnxruntime.tools.make_dynamic_shape_fixed --dim_param batch --dim_value 1
    in.onnx out.onnx`.

    Passing example: the export with its shapes pinned to [1, 3, 640, 640]:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: hailo-8-on-rpi5}]
        workloads:
          - {name: det, model: yolov8n, model_file: yolov8n-static.onnx, precision: int8,
             technique: qat, device: hailo-8-on-rpi5}
    """
    id = "EP403"
    name = "dynamic-shapes"
    severity = "error"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if r.unit is None or not r.unit.static_shapes_only:
                continue
            got = dynamic_reason(ctx, r)
            if got is None:
                continue
            why, path = got
            yield Problem(path, f"{why}, but the {r.device.id} {r.unit.id} compiles static "
                          "shapes only",
                          "export with fixed input shapes, or pin them with "
                          "`python -m onnxruntime.tools.make_dynamic_shape_fixed`")
