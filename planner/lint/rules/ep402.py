"""EP402 unsupported-ops."""
from __future__ import annotations

from planner.lint.model import Problem, Rule


def model_ops(ctx, r) -> tuple[list[str], str] | None:
    """(op types, where they come from): the ONNX file when the manifest names one, else the
    catalog profile's `onnx_ops`; None when neither can be read."""
    w = r.workload
    if w.model_file:
        summary = ctx.onnx(w.model_file)
        if isinstance(summary, Exception):
            return None                           # EP906 reports it
        return summary.op_types, f"{w.model_file}"
    if r.model is not None:
        return list(r.model.onnx_ops), f"the {r.model.id} profile"
    return None


class UnsupportedOps(Rule):
    """Operators of the model that the accelerator does not run (they fall back to the CPU).

    Accelerator compilers support a subset of ONNX operators (the catalog's `op_support`
    tables, e.g. the Edge TPU's and Hailo's). Any other op splits the graph: it runs on the
    host CPU with a round trip per split, which often costs more than the accelerator saves.
    The ops come from `model_file` when the manifest names one (read without onnx), else from
    the model profile.

    Anti-pattern:

        workloads:
          - {name: det, model: my-detector, model_file: det.onnx, precision: int8,
             device: coral-usb-on-rpi5, unit: tpu}      # det.onnx uses NonMaxSuppression

    Why it matters: the Edge TPU compiler maps only its list of supported operations; at the
    first unsupported one it stops, and that operation and everything after it in the graph
    run on the CPU. One post-processing op at the end costs a round trip; one near the input
    moves nearly the whole model to the CPU.
    Source: Google Coral, "TensorFlow models on the Edge TPU", section "Supported operations"
    <https://coral.ai/docs/edgetpu/models-intro/>

    Fix: replace or remove the ops the message lists before export (e.g. do NMS on the host
    after the model), or run on a unit with full operator support.

    Passing example: the detector exported without NMS (done on the host afterwards):

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: coral-usb-on-rpi5}]
        workloads:
          - {name: det, model: my-detector, model_file: det-no-nms.onnx, precision: int8,
             device: coral-usb-on-rpi5, unit: tpu}
    """
    id = "EP402"
    name = "unsupported-ops"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if r.unit is None or r.unit.op_support == "full":
                continue
            table = ctx.catalog.op_support.get(r.unit.op_support)
            if table is None:
                continue
            got = model_ops(ctx, r)
            if got is None:
                continue
            ops, source = got
            missing = sorted(set(ops) - set(table.supported_ops))
            if not missing:
                continue
            path = ("workloads", r.index, "model_file" if r.workload.model_file else "model")
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more"
                                              if len(missing) > 8 else "")
            yield Problem(path,
                          f"{len(missing)} operator type{'s' if len(missing) > 1 else ''} in "
                          f"{source} {'are' if len(missing) > 1 else 'is'} not supported by the "
                          f"{r.device.id} {r.unit.id} ({table.name}) and fall back to the host "
                          f"CPU: {shown}",
                          "replace or remove these ops before export (e.g. post-process on the "
                          "host), or use a unit with full operator support")
