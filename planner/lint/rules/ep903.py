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

    Fix: a unit of the device, as the message lists.
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
