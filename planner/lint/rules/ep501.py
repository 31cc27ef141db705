"""EP501 spec-accuracy-unreachable."""
from __future__ import annotations

from planner.lint.model import Problem, Rule
from planner.lint.rules._common import meets


class SpecAccuracyUnreachable(Rule):
    """A spec's accuracy floor that no candidate model option reaches.

    The candidates are the workload's `models` (or every catalog model of its `task`), at the
    precisions and techniques it allows. If none reaches the floor, `solve` can only report
    infeasibility (reason `accuracy`); lint says so before anyone runs it.

    Anti-pattern:

        workloads:
          - {name: cls, task: classification, accuracy_floor: 95}   # ImageNet top-1 %

    Why it matters: a floor is only useful where some model reaches it. Published ImageNet
    top-1 accuracies of edge-sized classifiers are in the 70s and low 80s (torchvision lists
    MobileNet V2 at 71.9 % and ResNet-50 at 76.1 %); the best in the catalog is FastViT-MA36
    at 84.6 %. A floor of 95 rules out every option and leaves the solver nothing to trade.
    Source: PyTorch, "torchvision: Models and pre-trained weights" (ImageNet Acc@1 per weight)
    <https://pytorch.org/vision/stable/models>

    Fix: a floor the best candidate reaches (the message names it), or more accurate models
    (a profile of your own, or `model_files`).

    Passing example:

        apiVersion: edgeplan/v1
        kind: Spec
        workloads:
          - {name: cls, task: classification, accuracy_floor: 80}
    """
    id = "EP501"
    name = "spec-accuracy-unreachable"
    severity = "error"
    solver_reason = "accuracy"
    applies_to = ("spec",)

    @staticmethod
    def check(ctx):
        for i, w in enumerate(ctx.spec.workloads):
            if w.accuracy_floor is None or w.model_files:
                continue
            floor = w.accuracy_floor
            options = [(m, o) for m in ctx.candidate_models(w)
                       for o in ctx.candidate_options(w, m)]
            if not options or any(meets(m, o.accuracy, floor) for m, o in options):
                continue
            m, o = min(options, key=lambda t: (abs(t[1].accuracy - floor), t[0].id))
            yield Problem(("workloads", i, "accuracy_floor"),
                          f"no candidate reaches the accuracy floor {w.accuracy_floor:g}: the "
                          f"closest is {m.id} {o.precision.upper()} {o.technique} at "
                          f"{o.accuracy:g} {m.metric}",
                          f"lower the floor to {o.accuracy:g} or add more accurate models")
