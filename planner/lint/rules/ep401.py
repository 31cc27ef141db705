"""EP401 runtime-unavailable."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class RuntimeUnavailable(Rule):
    """The runtime does not exist on the device's compute unit.

    Each unit lists the runtimes that target it: TensorRT runs on NVIDIA GPUs and DLAs, Core
    ML on Apple devices, `edgetpu` on the Edge TPU, HailoRT on Hailo, QNN on Qualcomm. `solve`
    rejects such an option (reason `runtime`).

    Anti-pattern (TensorRT on a Raspberry Pi):

        workloads:
          - {name: det, model: yolov8n, precision: int8, device: raspberry-pi-5,
             runtime: tensorrt}

    Fix: a runtime of the unit (the message lists them), the unit of this device that has
    the runtime, or a device the runtime exists on.
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
                     and w.precision in u.precisions]
            if other:
                fix = f"set unit: {other[0].id} (it runs {w.runtime} at {w.precision.upper()})"
            else:
                where = sorted(d.id for d in ctx.catalog.devices.values()
                               if any(w.runtime in u.runtimes for u in d.units))
                if where:
                    more = f" and {len(where) - 3} more" if len(where) > 3 else ""
                    fix = (f"use a runtime of the {r.unit.id} ({', '.join(r.unit.runtimes)}); "
                           f"{w.runtime} runs on {', '.join(where[:3])}{more}")
                else:
                    fix = f"use a runtime of the {r.unit.id}: {', '.join(r.unit.runtimes)}"
            yield Problem(("workloads", r.index, "runtime"), r.error.message, fix)
