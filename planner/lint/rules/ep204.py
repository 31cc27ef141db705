"""EP204 accuracy-below-floor."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import meets
from planner.vocabulary import BYTES_PER_PARAM


class AccuracyBelowFloor(Rule):
    """The chosen precision and technique give less accuracy than the workload's floor.

    The accuracy is the profile's figure for this precision and technique (the estimator's
    `accuracy`), in the profile's metric; `solve` rejects such an option (reason `accuracy`).
    Typical case: INT8 post-training quantization loses a few points where quantization-aware
    training keeps them, and the message then suggests QAT. A model scored in another metric
    than its task's usual one (OpenImages mAP among COCO detectors) cannot meet the floor
    either: the numbers are not comparable.

    Anti-pattern:

        workloads:
          - {name: cls, model: mobilenet-v2, precision: int8, technique: ptq,
             calibration_data: calib/, accuracy_floor: 71.5,
             device: coral-usb-on-rpi5, unit: tpu}             # PTQ gives 70.3

    Why it matters: how much accuracy INT8 costs depends on how the model was quantized.
    Post-training quantization of compact networks such as MobileNet loses the most, and
    quantization-aware training recovers most of it; the profile records each figure with its
    source (MobileNet V2: 71.8 FP32, 70.3 PTQ, 71.66 QAT).
    Source: Krishnamoorthi, "Quantizing deep convolutional networks for efficient inference:
    A whitepaper", 2018 <https://arxiv.org/abs/1806.08342>

    Fix: the option the message names (QAT at the same precision when it reaches the floor,
    else a higher precision), or a lower floor if the application allows it.

    Passing example: QAT reaches the floor:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: coral-usb-on-rpi5}]
        workloads:
          - {name: cls, model: mobilenet-v2, precision: int8, technique: qat,
             accuracy_floor: 71.5, device: coral-usb-on-rpi5, unit: tpu}
    """
    id = "EP204"
    name = "accuracy-below-floor"
    severity = "error"
    solver_reason = "accuracy"

    @staticmethod
    def check(ctx):
        for r in ctx.resolved:
            w = r.workload
            if not r.ok or w.accuracy_floor is None:
                continue
            # the floor is read in the task's usual metric: the rule solve applies too
            ref = ctx.catalog.task_metric(r.model.task)
            if ref and r.model.metric != ref:
                yield Problem(("workloads", r.index, "accuracy_floor"),
                              f"{w.model} reports {r.model.metric}, not {ref} like the other "
                              f"{r.model.task} models: the floor {w.accuracy_floor:g} cannot "
                              "be checked against it",
                              f"pick a model scored in {ref}, or drop the floor")
                continue
            acc = r.estimate.accuracy.value
            if meets(r.model, acc, w.accuracy_floor):
                continue
            metric = r.estimate.accuracy_metric
            good = [o for o in r.model.options if meets(r.model, o.accuracy, w.accuracy_floor)]
            same = [o for o in good if o.precision == w.precision]
            same.sort(key=lambda o: (o.technique != "qat", -BYTES_PER_PARAM[o.precision]))
            others = sorted((o for o in good if o.precision != w.precision),
                            key=lambda o: BYTES_PER_PARAM[o.precision])
            if same:
                o = same[0]
                fix = f"use {o.technique.upper() if o.technique == 'qat' else o.technique} at " \
                      f"{o.precision.upper()} ({o.accuracy:g} {metric}): technique: {o.technique}"
            elif others:
                fix = "use " + " or ".join(f"{o.precision.upper()} {o.technique} "
                                           f"({o.accuracy:g})" for o in others[:2])
            else:
                fix = (f"no option of {w.model} reaches {w.accuracy_floor:g}; pick a more "
                       "accurate model or lower the floor")
            how = "above" if r.model.higher_is_better else "below"
            yield Problem(("workloads", r.index, "accuracy_floor"),
                          f"{w.model} at {w.precision.upper()} {r.estimate.technique} gives "
                          f"{acc:g} {metric}, {'below' if how == 'above' else 'above'} the "
                          f"floor {w.accuracy_floor:g}", fix)
