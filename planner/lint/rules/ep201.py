"""EP201 precision-unsupported."""
from __future__ import annotations

from planner.lint.model import Change, Edit, Problem, Rule
from planner.vocabulary import PRECISIONS


class PrecisionUnsupported(Rule):
    """The compute unit cannot run the workload's precision.

    Each unit runs the precisions in its catalog entry (`peak_tops`, plus `weight_only` for
    LLM runtimes). The Edge TPU runs INT8 only, Hailo-8 runs INT8 (and INT4 weights), many
    NPUs have no FP32 path. The estimator refuses such a combination, and `solve` rejects it
    (reason `precision`).

    Anti-pattern: FP32 on an Edge TPU:

        workloads:
          - {name: cls, model: mobilenet-v2, precision: fp32,
             device: coral-usb-on-rpi5, unit: tpu}

    Why it matters: a fixed-function accelerator has no arithmetic for other precisions. The
    Edge TPU supports only TensorFlow Lite models that are fully 8-bit quantized and compiled
    for it; a float model does not compile for it at all, and without the TPU the work falls
    to the host CPU at a fraction of the speed.
    Source: Google Coral, "TensorFlow models on the Edge TPU", section "Compatibility overview"
    <https://coral.ai/docs/edgetpu/models-intro/>

    Fix: quantize to a precision the unit runs (INT8 for the Edge TPU; the message lists the
    ones the model's profile has), or run on a unit that has the precision.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: coral-usb-on-rpi5}]
        workloads:
          - {name: cls, model: mobilenet-v2, precision: int8, technique: qat,
             device: coral-usb-on-rpi5, unit: tpu}
    """
    id = "EP201"
    name = "precision-unsupported"
    severity = "error"
    solver_reason = "precision"

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            if r.error_step != "precision":
                continue
            w = r.workload
            edit = None
            units = [r.device.unit(w.unit)]  # no `unit:`: the default unit
            runs = {p for u in units for p in u.precisions}
            # an unknown model (its own finding) still gets this one, with no option to offer
            have = [o for o in r.model.options if o.precision in runs] if r.model else []
            if have:
                by_p = {}
                for o in have:
                    best = by_p.get(o.precision)
                    if best is None or _better(r.model, o, best):
                        by_p[o.precision] = o
                opts = [f"{p.upper()} ({by_p[p].technique}, {by_p[p].accuracy:g} "
                        f"{r.model.metric})" for p in PRECISIONS if p in by_p]
                fix = "use " + " or ".join(opts)
                edit = _edit(ctx, r, by_p)
            elif r.model is None:
                fix = f"pick a unit or device that runs {w.precision.upper()}"
            else:
                fix = (f"no option of {w.model} runs there; pick a unit or device that runs "
                       f"{w.precision.upper()}")
            yield Problem(("workloads", r.index, "precision"), r.error.message, fix, edit=edit)


def _edit(ctx, r, by_p: dict) -> Edit:
    """The fix's first option, for `lint --fix`: the highest-fidelity precision the unit runs
    that the profile has (PRECISIONS order: fp32, fp16, int8, int4; fewer bits never come
    closer to the trained model, and FP16 needs no calibration where INT8 does). Safe when the
    precision alone changes; a stated `technique:` the profile has no option with at that
    precision must change too, which is a choice: unsafe."""
    p = next(p for p in PRECISIONS if p in by_p)
    i, w = r.index, r.workload
    changes = [Change(("workloads", i, "precision"), p)]
    if w.technique is not None and not any(
            o.precision == p and o.technique == w.technique for o in r.model.options):
        changes.append(Change(("workloads", i, "technique"), by_p[p].technique))
        return Edit(tuple(changes), safe=False)
    return Edit(tuple(changes))


def _better(model, a, b) -> bool:
    return a.accuracy > b.accuracy if model.higher_is_better else a.accuracy < b.accuracy
