"""A post-training quantized accuracy is a measurement of the model one toolchain made
(issue 18: quantized accuracy per technique and toolchain). On a runtime that runs that
model it is measured; on another, which quantizes the network itself, it is an estimate, and
the estimate, the plan and the report say so."""
from __future__ import annotations

from pathlib import Path

import pytest

from planner.catalog.loader import load_catalog
from planner.errors import CatalogError
from planner.estimate.point import Query, estimate


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(use_env=False)


def _int8_ptq(model):
    return next(o for o in model.options if o.precision == "int8" and o.technique == "ptq")


def test_a_hailo_figure_is_measured_on_hailo_and_an_estimate_elsewhere(catalog):
    """Depth Anything V2 small's INT8 AbsRel 0.19 is the Hailo-10H's, from Hailo's compiler."""
    o = _int8_ptq(catalog.models["depth-anything-v2-small"])
    assert o.quantizer.runtimes == ["hailort"] and not o.accuracy_estimated
    on_hailo = estimate(catalog, Query("depth-anything-v2-small", "int8",
                                       "hailo-10h-rpi5-ai-hat-plus-2", technique="ptq"))
    assert on_hailo.runtime == "hailort" and on_hailo.accuracy.provenance == "measured"
    assert not any(n.startswith("accuracy:") for n in on_hailo.notes)
    assert "quantized_by" not in on_hailo.as_dict()["accuracy"]
    on_jetson = estimate(catalog, Query("depth-anything-v2-small", "int8",
                                        "jetson-orin-nano-8gb", technique="ptq"))
    assert on_jetson.runtime == "tensorrt"
    assert on_jetson.accuracy.provenance == "estimated"
    assert on_jetson.accuracy.value == on_hailo.accuracy.value     # still the best evidence
    d = on_jetson.as_dict()["accuracy"]
    assert d["quantized_by"] == {"toolchain": "Hailo Dataflow Compiler v5.2.0",
                                 "runtimes": ["hailort"]}
    assert any("was measured on the INT8 model made by Hailo Dataflow Compiler v5.2.0, run by "
               "hailort; tensorrt runs the one its own conversion makes, which this figure was "
               "not measured on: an estimate, with no range (--robust checks it as it stands)"
               in n
               for n in on_jetson.notes)


def test_a_quantizer_no_catalog_runtime_runs_makes_every_estimate(catalog):
    """torchvision's FBGEMM INT8 ResNet-50 runs in PyTorch, which no device here plans."""
    o = _int8_ptq(catalog.models["resnet-50"])
    assert o.quantizer.runtimes == []
    for device in ("jetson-orin-nano-8gb", "raspberry-pi-5-8gb"):
        e = estimate(catalog, Query("resnet-50", "int8", device, technique="ptq"))
        assert e.accuracy.provenance == "estimated", device
    # a QAT checkpoint's weights are the model's own: measured wherever it runs
    qat = estimate(catalog, Query("mobilenet-v2", "int8", "raspberry-pi-5-8gb",
                                  technique="qat"))
    assert qat.accuracy.provenance == "measured"


def test_every_published_post_training_accuracy_names_its_quantizer(catalog):
    """A published quantized figure that is not a QAT checkpoint's (PTQ, and INT4
    weight-only like Meta's SpinQuant Llama 3.2) is some toolchain's model; none is left
    unnamed."""
    unnamed = [(m.id, o.precision, o.technique) for m in catalog.models.values()
               for o in m.options if o.technique != "qat" and o.precision in ("int8", "int4")
               and not o.accuracy_estimated and o.quantizer is None]
    assert unnamed == []
    e = estimate(catalog, Query("llama-3.2-3b", "int4", "raspberry-pi-5-8gb",
                                runtime="llama.cpp"))
    assert e.accuracy.provenance == "estimated"


def test_the_plan_and_the_report_say_the_accuracy_is_anothers(catalog, tmp_path):
    from planner.report.build import plan_notes
    from planner.solve.render import _plan_notes
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: depth\nworkloads:\n  - name: depth\n    task: depth-estimation\n"
        "    rate_fps: 5 fps\n    models: [depth-anything-v2-small]\n"
        "    precisions: [int8]\n    techniques: [ptq]\nfamilies:\n  allow: [jetson]\n")
    from planner.solve.pipeline import solve_spec_file
    plan = solve_spec_file(spec, catalog).plan
    a = plan["assignments"][0]
    assert a["runtime"] == "tensorrt"
    assert a["estimates"]["accuracy"]["quantized_by"]["toolchain"] == \
        "Hailo Dataflow Compiler v5.2.0"
    want = ("depth: accuracy 0.19 KITTI AbsRel (Hailo Model Zoo evaluation, 224x224) of "
            "depth-anything-v2-small INT8/ptq was measured on the model made by Hailo "
            "Dataflow Compiler v5.2.0, run by hailort; tensorrt runs the one its own "
            "conversion makes")
    assert want in "\n".join(_plan_notes(plan))
    assert any(n.startswith(want) and n.endswith("as it stands).") for n in plan_notes(plan))
    # the report's row notes leave the estimate's own copy of the sentence out
    from planner.report.build import _assignment_rows
    rows = _assignment_rows(plan)
    assert not any("was measured on" in n for r in rows for n in r["notes"])


def test_a_quantizer_is_checked(tmp_path):
    cat = load_catalog(use_env=False)
    text = Path(cat.origin["model:depth-anything-v2-small"]).read_text()
    start = text.index("  - id: depth-anything-v2-small")
    end = text.find("\n  - id: ", start + 10)
    entry = text[start:None if end < 0 else end].replace(
        "id: depth-anything-v2-small", "id: mine")
    bad = tmp_path / "m.yaml"
    bad.write_text("models:\n" + entry.replace("runtimes: [hailort]", "runtimes: [hailo]")
                   + "\n")
    with pytest.raises(CatalogError, match="unknown runtime 'hailo'; did you mean 'hailort'"
                       ) as e:
        load_catalog([tmp_path], use_env=False)
    assert e.value.field == "models[0].options[2].quantizer.runtimes[0]"
    # on an estimated accuracy a quantizer names nothing that was measured
    guessed = entry.replace("      - precision: int8\n        technique: ptq\n",
                         "      - precision: int8\n        technique: ptq\n        estimated: "
                         "{accuracy: guessed}\n")
    bad.write_text("models:\n" + guessed + "\n")
    with pytest.raises(CatalogError, match="quantizer names the toolchain of a published"):
        load_catalog([tmp_path], use_env=False)
    # a QAT checkpoint's weights are the model's own
    qat = entry.replace("      - precision: int8\n        technique: ptq\n",
                        "      - precision: int8\n        technique: qat\n")
    bad.write_text("models:\n" + qat + "\n")
    with pytest.raises(CatalogError, match="quantizer is for a post-training quantized"):
        load_catalog([tmp_path], use_env=False)


def _detect_spec(tmp_path, families):
    spec = tmp_path / f"spec-{'-'.join(families)}.yaml"
    spec.write_text(
        "name: det\nworkloads:\n  - name: det\n    task: detection\n    rate_fps: 5 fps\n"
        "    accuracy_floor: 26.5\n    models: [efficientdet-lite0]\n"
        "    precisions: [int8]\n    techniques: [ptq]\n"
        f"families:\n  allow: [{', '.join(families)}]\n")
    return spec


def test_robust_takes_the_range_other_quantizers_may_reach(catalog, tmp_path):
    """EfficientDet-Lite0's INT8 26.56 is the Hailo-8's (Hailo's compiler). On a Coral the
    Edge TPU runs another quantizer's model: the small-detector rule (0.6 to 6.7 points below
    FP32 27.32) gives 20.62-26.72, so `--robust` cannot promise a 26.5 floor there, and
    picks a Hailo device, whose runtime runs the measured model."""
    from planner.solve.pipeline import solve_spec_file
    e = estimate(catalog, Query("efficientdet-lite0", "int8", "coral-pcie-accelerator",
                                technique="ptq"))
    assert (e.accuracy.provenance, e.accuracy.low, e.accuracy.high) == ("estimated", 20.62,
                                                                        26.72)
    assert any("an estimate, range 20.6-26.7 for other quantizers" in n for n in e.notes)
    coral = _detect_spec(tmp_path, ["coral"])
    assert solve_spec_file(coral, catalog).plan is not None        # the point meets 26.5
    assert solve_spec_file(coral, catalog, robust=True).plan is None
    both = solve_spec_file(_detect_spec(tmp_path, ["coral", "hailo"]), catalog, robust=True)
    a = both.plan["assignments"][0]
    assert a["runtime"] == "hailort" and a["estimates"]["accuracy"]["provenance"] == "measured"
