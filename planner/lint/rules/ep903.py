"""EP903 unknown-unit."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


class UnknownUnit(Rule):
    """A compute unit the device does not have.

    Unit ids are per device (`gpu`, `dla0`, `tpu`, `npu`, `cpu`, ...; `edgeplan catalog show
    DEVICE` lists them). Without `unit:`, the first unit that runs the precision is used.

    Anti-pattern:

        workloads:
          - {name: cls, model: mobilenet-v2, precision: int8, device: coral-usb-on-rpi5,
             unit: edgetpu}                   # the unit is `tpu`; edgetpu is its runtime

    Why it matters: one device has several units with different precisions, peaks and
    runtimes, and the unit decides all of them. A Jetson AGX Orin has a GPU and two DLA cores,
    which TensorRT addresses by index (`--useDLACore=0` or `1`); a unit named loosely would
    check the plan against the wrong one.
    Source: NVIDIA, TensorRT documentation, "Working with DLA"
    <https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-with-dla.html>

    Fix: a unit of the device, as the message lists.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: coral-usb-on-rpi5}]
        workloads:
          - {name: cls, model: mobilenet-v2, precision: int8, technique: qat,
             device: coral-usb-on-rpi5, unit: tpu}
    """
    id = "EP903"
    name = "unknown-unit"
    severity = "error"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if r.error_step == "unit":
                yield Problem(("workloads", r.index, "unit"), r.error.message,
                              f"use one of: {', '.join(u.id for u in r.device.units)}")
