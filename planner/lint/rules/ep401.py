"""EP401 runtime-unavailable."""
from __future__ import annotations

from planner.lint.model import Change, Edit, Problem, Rule


class RuntimeUnavailable(Rule):
    """The runtime does not exist on the device's compute unit.

    Each unit lists the runtimes that target it: TensorRT runs on NVIDIA GPUs and DLAs, Core
    ML on Apple devices, `edgetpu` on the Edge TPU, HailoRT on Hailo, QNN on Qualcomm. `solve`
    rejects such an option (reason `runtime`).

    Anti-pattern: TensorRT on a Raspberry Pi:

        workloads:
          - {name: det, model: yolov8n, precision: int8, device: raspberry-pi-5-8gb,
             runtime: tensorrt}

    Why it matters: inference runtimes are built against one vendor's hardware libraries.
    ONNX Runtime, for one, reaches each accelerator through a separate execution provider
    (TensorRT and CUDA for NVIDIA GPUs, OpenVINO for Intel, QNN for Qualcomm, Core ML for
    Apple); a deployment naming a runtime the device cannot load does not start.
    Source: ONNX Runtime, "ONNX Runtime Execution Providers"
    <https://onnxruntime.ai/docs/execution-providers/>

    Fix: a runtime of the unit (the message lists them), the unit of this device that has
    the runtime, or a device the runtime exists on.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: raspberry-pi-5-8gb}]
        workloads:
          - {name: det, model: yolov8n, precision: fp32, device: raspberry-pi-5-8gb,
             runtime: onnxruntime}
    """
    id = "EP401"
    name = "runtime-unavailable"
    severity = "error"
    solver_reason = "runtime"

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if r.error_step != "runtime":
                continue
            w = r.workload
            other = [u for u in r.device.units if w.runtime in u.runtimes
                     and w.precision in u.precisions
                     and (r.unit is None or u.id != r.unit.id)]
            edit = None
            here = r.unit is not None and w.runtime in r.unit.runtimes
            if here and r.model is not None:
                # the unit has the runtime, but not for this model on this device's software
                # stack (runtimes.yaml no_llm_on): another unit would not help
                runs = [rt for rt in r.unit.runtimes
                        if ctx.catalog.runs(rt, r.model, r.device.id)]
                fix = (f"use a runtime that runs {r.model.id} on the {r.device.id} "
                       f"{r.unit.id}: {', '.join(runs)}" if runs else
                       f"no runtime of the {r.device.id} {r.unit.id} runs {r.model.id}: "
                       "use another device")
            elif other:
                fix = f"set unit: {other[0].id} (it runs {w.runtime} at {w.precision.upper()})"
                # no unit: stated, and one unit runs the stated runtime at the stated
                # precision: that is the unit meant (safe). A stated unit contradicting the
                # runtime, or several units to choose from, is a choice (unsafe).
                edit = Edit((Change(("workloads", r.index, "unit"), other[0].id,
                                    insert=not ctx.given(r.index, "unit")),),
                            safe=w.unit is None and len(other) == 1)
            else:
                where = sorted(d.id for d in ctx.catalog.devices.values()
                               if any(w.runtime in u.runtimes for u in d.units))
                if where:
                    more = f" and {len(where) - 3} more" if len(where) > 3 else ""
                    fix = (f"use a runtime of the {r.unit.id} ({', '.join(r.unit.runtimes)}); "
                           f"{w.runtime} runs on {', '.join(where[:3])}{more}")
                else:
                    fix = f"use a runtime of the {r.unit.id}: {', '.join(r.unit.runtimes)}"
            yield Problem(("workloads", r.index, "runtime"), r.error.message, fix, edit=edit)
