"""EP203 ptq-without-calibration."""
from __future__ import annotations

import os

from planner.lint.model import Problem, Rule


class PtqWithoutCalibration(Rule):
    """INT8 post-training quantization without calibration data.

    Static PTQ sets each activation's scale from representative inputs. Without them the
    ranges are guessed (or taken from random data) and accuracy can collapse far below the
    profile's PTQ figure. `calibration_data` names the data used, relative to the manifest.

    Anti-pattern:

        workloads:
          - {name: det, model: yolov8n, precision: int8, technique: ptq,
             device: hailo-8-on-rpi5}

    Why it matters: static quantization computes the scale and zero point of every activation
    from calibration data run through the float model; the profile's PTQ accuracy assumes that
    data was representative. Without it there is nothing to set the ranges from.
    Source: ONNX Runtime, "Quantize ONNX models" (static quantization "leverages the
    calibration data")
    <https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html>

    Fix: `calibration_data: calib/` with a few hundred representative inputs (`edgeplan
    bundle --calibration DIR` uses them), or a QAT checkpoint (`technique: qat`).

    Passing example: `calib/` next to the manifest holds representative images:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: hailo-8-on-rpi5}]
        workloads:
          - {name: det, model: yolov8n, precision: int8, technique: ptq,
             device: hailo-8-on-rpi5, calibration_data: calib/}
    """
    id = "EP203"
    name = "ptq-without-calibration"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if r.option is None or r.option.technique != "ptq":
                continue
            w = r.workload
            if not w.calibration_data:
                where = "technique" if ctx.given(r.index, "technique") else "precision"
                yield Problem(("workloads", r.index, where),
                              f"{w.precision.upper()} post-training quantization of {w.model} "
                              "without calibration_data: activation ranges will be guessed",
                              "add calibration_data: a folder of a few hundred representative "
                              "inputs, or use a QAT option (technique: qat)")
            elif not os.path.exists(ctx.path_to(w.calibration_data)):
                yield Problem(("workloads", r.index, "calibration_data"),
                              f"calibration_data {w.calibration_data!r} does not exist "
                              "(relative to the manifest)",
                              "point calibration_data at the representative inputs")
