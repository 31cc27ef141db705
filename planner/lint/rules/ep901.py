"""EP901 unknown-device."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


def _unknown(ctx, device_id):
    from planner.errors import UnknownIdError
    try:
        ctx.catalog.device(device_id)
    except UnknownIdError as e:
        return e.message
    return None


class UnknownDevice(Rule):
    """A device id that is not in the catalog.

    Device ids are the catalog's (`edgeplan catalog list devices`), plus those of your own
    catalog directories (`--catalog DIR`). The message suggests the closest id.

    Anti-pattern:

        devices: [{id: jetson-nano}]          # the catalog has jetson-nano-4gb

    Why it matters: product names are ambiguous, and a guess would check the plan against the
    wrong hardware. NVIDIA sells both the original Jetson Nano and the Orin Nano, two
    generations apart, under the name "Nano"; catalog ids carry the generation and the memory
    size so that a plan names exactly one of them.
    Source: Algotechniq, "Nvidia Jetson Naming: A Masterclass in Confusion"
    <https://www.algotechniq.com/blog/2025/nvidia-jetson-naming>

    Fix: the id the message suggests, or add the device to a catalog directory of your own.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-nano-4gb}]
        workloads:
          - {name: cls, model: mobilenet-v2, precision: fp16, device: jetson-nano-4gb}
    """
    id = "EP901"
    name = "unknown-device"
    severity = "error"
    solver_reason = None
    applies_to = ("manifest", "spec")

    @staticmethod
    def check(ctx):
        if ctx.kind == "manifest":
            for j, e in enumerate(ctx.manifest.devices):
                msg = _unknown(ctx, e.id)
                if msg:
                    yield Problem(("devices", j, "id"), msg,
                                  "use an id from `edgeplan catalog list devices`")
            return
        for key in ("allow", "deny"):
            for k, d in enumerate(getattr(ctx.spec.devices, key) or ()):
                msg = _unknown(ctx, d)
                if msg:
                    yield Problem(("devices", key, k), msg,
                                  "use an id from `edgeplan catalog list devices`")
