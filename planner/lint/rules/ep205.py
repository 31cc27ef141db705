"""EP205 accuracy-floor-within-estimate."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import meets
from planner.text import num


class AccuracyFloorWithinEstimate(Rule):
    """The accuracy floor sits inside the range of an estimated accuracy (a marginal plan).

    Where no accuracy is published for a model at its precision and technique, the profile
    gives an estimate and the range its evidence allows (`accuracy_range`, with its source);
    a published figure of another toolchain's quantized model than the runtime's is one too,
    with the range its quantizer gives other toolchains (`quantizer.elsewhere_range`).
    The estimate meets the floor, but the pessimistic end of the range does not: whether the
    deployed model reaches the floor is not known until it is measured. `solve --robust`
    rejects such an option; without `--robust` the plan marks the accuracy budget marginal.
    A published (measured) accuracy is a point and is never flagged.

    Anti-pattern: YOLOv8s after full-INT8 post-training quantization is estimated at 42.4
    COCO mAP50-95, in a range down to 38.2, against a floor of 40:

        workloads:
          - {name: det, model: yolov8s, precision: int8, technique: ptq,
             calibration_data: calib/, accuracy_floor: 40,
             device: jetson-orin-nano-8gb}

    Why it matters: INT8 losses of small detectors are not the one point a rule of thumb
    gives. A full-INT8 TFLite YOLOv8s scores 38.2 mAP50-95 against 44.9 in FP32, while a
    TensorRT INT8 engine of a similar model loses about one point; the same option can land
    on either side of a floor depending on the toolchain and calibration.
    Source: ultralytics/ultralytics issue 9473, "Full INT8 TFLite Yolov8s losing a lot of
    performance compared to FP32 TFLite" <https://github.com/ultralytics/ultralytics/issues/9473>

    Fix: an option whose pessimistic end meets the floor (the message names one: often QAT at
    the same precision, or a higher precision), or measure the quantized model on your
    validation data and record the figure in the profile, or lower the floor.

    Passing example: QAT's range (43.1-44.4) stays above the floor:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: det, model: yolov8s, precision: int8, technique: qat,
             accuracy_floor: 40, device: jetson-orin-nano-8gb}
    """
    id = "EP205"
    name = "accuracy-floor-within-estimate"
    severity = "warning"
    solver_reason = None

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            w = r.workload
            if not r.ok or w.accuracy_floor is None:
                continue
            acc = r.estimate.accuracy
            if acc.low is None or not meets(r.model, acc.value, w.accuracy_floor):
                continue      # a published point, or below the floor (EP204's finding)
            hib = r.model.higher_is_better
            worst = acc.low if hib else acc.high
            if meets(r.model, worst, w.accuracy_floor):
                continue
            metric = r.estimate.accuracy_metric
            runtime = r.estimate.runtime
            option = r.model.option(w.precision, r.estimate.technique)

            # each option as this runtime gets it: another toolchain's figure takes its
            # quantizer's elsewhere range
            def worst_of(o):
                return o.pessimistic_accuracy(hib, runtime)

            safe = [o for o in r.model.options if meets(r.model, worst_of(o), w.accuracy_floor)]
            safe.sort(key=lambda o: (o.precision != w.precision, o.technique != "qat",
                                     -worst_of(o) if hib else worst_of(o)))
            if safe:
                o = safe[0]
                lo, hi = o.accuracy_bounds_on(runtime) or (o.accuracy, o.accuracy)
                shown = num(o.accuracy) if lo == hi else f"{num(lo)}-{num(hi)}"
                fix = (f"use {o.precision.upper()} {o.technique} ({shown} {metric}), measure "
                       f"this option on your validation data, or lower the floor")
            else:
                fix = ("measure this option on your validation data and record the figure "
                       "in the profile, or lower the floor")
            what = f"{w.model} at {w.precision.upper()} {r.estimate.technique}"
            if option.accuracy_measured_on(runtime) or option.accuracy_range is not None:
                said = f"{what} is estimated at {num(acc.value)} {metric}, not published"
                rng = option.accuracy_range
            else:      # a figure of another toolchain's quantized model than the runtime's
                said = (f"{what} was measured at {num(acc.value)} {metric} on the model "
                        f"made by {option.quantizer.name}, not on the one {runtime}'s own "
                        "conversion makes")
                rng = option.quantizer.elsewhere_range
            yield Problem(("workloads", r.index, "accuracy_floor"),
                          f"{said}: its range "
                          f"{num(acc.low)}-{num(acc.high)} "
                          f"({rng.source.split(':')[0]}) "
                          f"reaches {'below' if hib else 'above'} the floor "
                          f"{num(w.accuracy_floor)}",
                          fix)
