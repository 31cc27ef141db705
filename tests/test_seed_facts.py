"""The seed guide's facts, as the real catalog and estimator must reproduce them."""
import pytest

from planner.errors import EstimateError
from planner.estimate.point import Query, estimate


def est(catalog, model, precision, device, **kw):
    return estimate(catalog, Query(model=model, precision=precision, device=device, **kw))


def test_llama3_8b_unquantized_does_not_fit_a_jetson_nano(catalog):
    e = est(catalog, "llama-3-8b", "fp16", "jetson-nano-4gb")
    assert not e.fits_memory
    assert e.memory_gb.value > 4 * 3   # 16 GB of weights vs 4 GB


@pytest.mark.parametrize("model,precision", [
    ("mobilenet-v2", "fp16"), ("efficientnet-lite0", "fp16"), ("distilbert-base", "fp16"),
    ("tinyllama-1.1b", "int4"),
])
def test_small_models_fit_a_jetson_nano(catalog, model, precision):
    assert est(catalog, model, precision, "jetson-nano-4gb").fits_memory


@pytest.mark.parametrize("model,precision", [
    ("yolov8x", "fp16"), ("yolov8m", "int8"), ("sam-vit-h", "fp16"), ("llama-3-8b", "int4"),
])
def test_agx_orin_32gb_runs_yolo_sam_and_llama3_8b_4bit(catalog, model, precision):
    e = est(catalog, model, precision, "jetson-agx-orin-32gb")
    assert e.fits_memory
    if model == "llama-3-8b":
        assert e.decode_tokens_per_s.value > 5      # usable interactively


def test_a_high_memory_mac_runs_llama3_70b_4bit(catalog):
    macs = [d for d in catalog.devices.values()
            if d.family == "apple" and d.memory.total_gb >= 64]
    assert macs
    fits = [d.id for d in macs if est(catalog, "llama-3-70b", "int4", d.id).fits_memory]
    assert fits, "no M-series Mac in the catalog fits Llama 3 70B at 4 bits"
    e = est(catalog, "llama-3-70b", "int4", fits[0])
    assert e.decode_tokens_per_s.value > 1


def test_fp32_is_not_a_precision_of_an_edge_tpu(catalog):
    with pytest.raises(EstimateError, match="FP32 is not a precision"):
        est(catalog, "mobilenet-v2", "fp32", "coral-usb-on-rpi5", unit="tpu")
    assert catalog.devices["coral-usb-on-rpi5"].unit("tpu").precisions == ["int8"]


def test_jetson_runs_fp16_and_int8_and_the_neural_engine_fp16(catalog):
    gpu = catalog.devices["jetson-orin-nano-8gb"].unit("gpu")
    assert {"fp16", "int8"} <= set(gpu.precisions)
    ane = [d.unit("ane") for d in catalog.devices.values() if d.family == "apple"
           and any(u.id == "ane" for u in d.units)]
    assert ane and all("fp16" in u.precisions for u in ane)


def test_pi5_cpu_runs_mobilenet_in_tens_of_ms_and_a_coral_in_a_few(catalog):
    # the seed's stack is TF Lite (FP32 math); ncnn and OpenVINO run FP32 models in FP16 on
    # the A76 and are faster still
    cpu = est(catalog, "mobilenet-v2", "fp32", "raspberry-pi-5-8gb", runtime="tflite")
    assert 10 <= cpu.latency_ms.value <= 100
    tpu = est(catalog, "mobilenet-v2", "int8", "coral-usb-on-rpi5", unit="tpu")
    assert 1 <= tpu.latency_ms.value <= 10
    assert tpu.latency_ms.value < cpu.latency_ms.value / 3
