"""Units, YAML positions, catalog loading and the estimator on a small fixed catalog."""
import json

import pytest
from conftest import MINI, grid_cells_match_estimates

from planner.catalog.loader import load_catalog
from planner.errors import CatalogError, EstimateError, InputError, UnknownIdError
from planner.estimate.grid import OptionRow, UnitRow, estimate_grid
from planner.estimate.point import Query, estimate
from planner.estimate.roofline import roofline
from planner.units import parse_quantity
from planner.yamlio import loads_yaml


@pytest.mark.parametrize("text,unit,value", [
    ("8 GB", "GB", 8.0), ("512 MB", "GB", 0.512), ("4 GiB", "GB", 4 * 1.073741824),
    ("68 GB/s", "GB/s", 68.0), ("5 Gbps", "GB/s", 0.625), ("15 W", "W", 15.0),
    ("300 mW", "W", 0.3), ("2.5 ms", "ms", 2.5), ("1.5 s", "ms", 1500.0),
    ("30 fps", "fps", 30.0), ("$249", "USD", 249.0), ("1,299 USD", "USD", 1299.0),
    (12, "GB", 12.0), ("4 TOPS", "TOPS", 4.0), ("10 %", "%", 10.0),
])
def test_quantities_parse_to_the_field_unit(text, unit, value):
    assert parse_quantity(text, unit) == pytest.approx(value)


@pytest.mark.parametrize("text,unit,msg", [
    ("8 W", "GB", "not a bytes quantity"), ("fast", "ms", "expected a quantity"),
    ("-3 GB", "GB", "must not be negative"), ("8 parsecs", "GB", "unknown unit"),
    (True, "W", "boolean"), ("nan W", "W", "expected a quantity"),
])
def test_bad_quantities_say_what_was_expected(text, unit, msg):
    with pytest.raises(ValueError, match=msg):
        parse_quantity(text, unit)


def test_yaml_positions_and_refusals():
    data, pos = loads_yaml("a: 1\nb:\n  - x: 2\n    y: [1, 2]\n", "t.yaml")
    assert data == {"a": 1, "b": [{"x": 2, "y": [1, 2]}]}
    assert pos.locate(("b", 0, "y")) == (4, 5)
    for text, msg in [("a: 1\na: 2\n", "duplicate key"), ("a: [1,\n", "not valid YAML"),
                      ("a: &a [*a]\n", "deeper than")]:
        with pytest.raises(InputError, match=msg):
            loads_yaml(text, "t.yaml")


def test_billion_laughs_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(InputError, match="too large"):
        loads_yaml("\n".join(lines) + "\n", "bomb.yaml")


def test_catalog_error_names_file_line_and_field(tmp_path):
    (tmp_path / "d.yaml").write_text(
        "devices:\n  - id: x\n    name: X\n    vendor: V\n    family: f\n    form_factor: sbc\n"
        "    memory: {total_gb: 8 W, available_gb: 4, bandwidth_gbs: 10, source: test}\n")
    with pytest.raises(CatalogError) as e:
        load_catalog([tmp_path], builtin=False, use_env=False)
    line = e.value.one_line()
    assert "d.yaml:7" in line and "devices[0].memory.total_gb" in line and "bytes" in line


def test_user_catalog_overrides_builtin_and_says_so(tmp_path):
    text = (MINI / "devices.yaml").read_text().replace("Toy GPU board 8 GB", "Mine")
    (tmp_path / "devices.yaml").write_text(text)
    cat = load_catalog([MINI, tmp_path], builtin=False, use_env=False)
    assert cat.devices["toy-gpu-8gb"].name == "Mine"
    assert any("overrides" in n and "toy-gpu-8gb" in n for n in cat.notices)


def test_unknown_ids_get_did_you_mean(mini_catalog):
    with pytest.raises(UnknownIdError, match="did you mean 'toy-gpu-8gb'"):
        estimate(mini_catalog, Query("toy-cnn", "int8", "toy-gpu-8g"))
    with pytest.raises(UnknownIdError, match="did you mean 'toy-cnn'"):
        estimate(mini_catalog, Query("toy-cn", "int8", "toy-gpu-8gb"))


def test_a_precision_the_unit_cannot_run_is_an_error(mini_catalog):
    with pytest.raises(EstimateError, match="FP32 is not a precision of toy-tpu-usb tpu"):
        estimate(mini_catalog, Query("toy-cnn", "fp32", "toy-tpu-usb", unit="tpu"))


def test_measured_point_is_used_as_such(mini_catalog):
    e = estimate(mini_catalog, Query("toy-cnn", "int8", "toy-gpu-8gb", unit="gpu",
                                     runtime="tensorrt", power_mode="20w"))
    assert e.latency_ms.value == 1.0 and e.latency_ms.provenance == "measured"


def test_weights_over_on_chip_memory_stream_over_the_link(mini_catalog):
    small = estimate(mini_catalog, Query("toy-cnn", "int8", "toy-tpu-usb", unit="tpu"))
    big = estimate(mini_catalog, Query("toy-big-cnn", "int8", "toy-tpu-usb", unit="tpu"))
    assert small.weights_on_chip is True and big.weights_on_chip is False
    assert big.latency_ms.bottleneck == "weight-streaming"
    # 25 MB of INT8 weights, 8 MB on chip: 17 MB over a 0.25 GB/s link is 68 ms at least
    assert big.latency_ms.value >= 68.0


def test_a_network_over_a_context_switching_chip_reloads_all_weights_per_call():
    cat = load_catalog([MINI, MINI.parent / "dataflow"], builtin=False, use_env=False)
    dev = cat.devices["toy-dataflow-m2"]
    small = estimate(cat, Query("toy-cnn", "int8", dev.id))
    big = estimate(cat, Query("toy-big-cnn", "int8", dev.id))
    big8 = estimate(cat, Query("toy-big-cnn", "int8", dev.id, batch=8))
    assert small.weights_on_chip is True and big.weights_on_chip is False
    assert big.latency_ms.bottleneck == "weight-streaming"
    assert any("contexts" in n for n in big.notes)
    # 25 MB > 16 MB on chip: all 25 MB over the 2 GB/s link (12.5 ms) plus the 0.5 ms of
    # switching, once per call, so a batch of 8 pays it once
    r1 = roofline(cat.models["toy-big-cnn"], "int8", dev, dev.units[0])
    assert r1.streaming_ms == pytest.approx(12.5 + 0.5)
    assert big.latency_ms.value >= 13.0
    assert big8.latency_ms.value / 8 < big.latency_ms.value / 3
    # the grid's numpy roofline agrees
    opts = [OptionRow(m, o.precision, o.technique, o.accuracy, o.params_scale, o.macs_scale)
            for m in cat.models.values() for o in m.options if o.precision == "int8"]
    g = estimate_grid(cat, opts, [UnitRow(dev, dev.units[0], "default", 1.0, "hailort")])
    for i, o in enumerate(opts):
        e = estimate(cat, Query(o.model.id, "int8", dev.id, o.technique))
        assert g["latency_ms"][i, 0] == pytest.approx(e.latency_ms.value, rel=1e-9)
        assert g["busy_ms"][i, 0] == pytest.approx(1000.0 / e.throughput_fps.value, rel=1e-9)


def test_a_pipelined_unit_streams_inputs_so_throughput_hides_transfers():
    """On a dataflow unit (activations on chip) a stream of inputs overlaps the host
    transfers and per-call costs with compute: throughput is not 1 / latency, and a network
    that fits on chip gains nothing from batching (the Hailo Model Zoo's batch-1 and batch-8
    FPS are equal for single-context networks)."""
    cat = load_catalog([MINI, MINI.parent / "dataflow"], builtin=False, use_env=False)
    dev = cat.devices["toy-dataflow-m2"]
    one = estimate(cat, Query("toy-cnn", "int8", dev.id))
    eight = estimate(cat, Query("toy-cnn", "int8", dev.id, batch=8))
    assert one.weights_on_chip is True
    r = roofline(cat.models["toy-cnn"], "int8", dev, dev.units[0])
    assert r.transfer_ms + r.dispatch_ms > 0
    assert 1000.0 / one.throughput_fps.value < one.latency_ms.value - r.transfer_ms * 0.99
    assert eight.throughput_fps.value == pytest.approx(one.throughput_fps.value, rel=1e-9)
    assert any("pipelines" in n for n in one.notes)
    # a network over the chip pays its context reload once per call, so batching helps
    big = estimate(cat, Query("toy-big-cnn", "int8", dev.id))
    big8 = estimate(cat, Query("toy-big-cnn", "int8", dev.id, batch=8))
    assert big8.throughput_fps.value > 3 * big.throughput_fps.value
    # energy per inference follows the occupancy, not the latency
    assert one.energy_mj.value == pytest.approx(
        one.power_w.value * 1000.0 / one.throughput_fps.value, rel=1e-6)


@pytest.mark.parametrize("device", ["hailo-8-on-x86", "galaxy-s24-8gen3",
                                    "jetson-orin-nx-16gb", "raspberry-pi-5-8gb",
                                    "rk3588-orange-pi-5-8gb", "coral-usb-on-rpi5",
                                    "intel-ncs2-on-rpi4"])
def test_grid_agrees_with_the_estimator_on_the_shipped_catalog(device):
    """With every calibration factor in play (device x model, precision paths, LLM per-token
    overheads, measured points, pipelined units)."""
    cat = load_catalog(use_env=False)
    assert len(grid_cells_match_estimates(cat, device, cat.models.values())) > 20


@pytest.mark.parametrize("model,precision", [("vit-base-16", "int8"),
                                             ("mobilenet-v2", "fp32"),
                                             ("qwen2.5-0.5b", "int8")])
def test_a_hosted_accelerators_cpu_is_its_host_boards_cpu(model, precision):
    """An accelerator on a host board (`host:`) runs its CPU unit on the board's CPU: the
    estimate there is the board's own (calibration, measurements, interval), for every such
    device; only power, which adds the accelerator's, differs. Before, a Coral on a Pi 5
    gave ViT-B on its CPU 122 ms from the family prior against the Pi 5's calibrated 146."""
    cat = load_catalog(use_env=False)
    hosted = [d for d in cat.devices.values() if d.host and any(u.kind == "cpu" for u in d.units)]
    assert len(hosted) >= 10
    for dev in hosted:
        mine = estimate(cat, Query(model, precision, dev.id, unit="cpu"))
        board = estimate(cat, Query(model, precision, dev.host, unit="cpu"))
        for q in ("latency_ms", "throughput_fps"):
            a, b = getattr(mine, q), getattr(board, q)
            assert (a.value, a.low, a.high) == pytest.approx((b.value, b.low, b.high),
                                                             rel=1e-9), (dev.id, q)
            assert a.provenance == b.provenance
        assert mine.runtime == board.runtime
        assert any(f"{dev.host}'s CPU" in n for n in mine.notes)
        assert mine.power_w.value >= board.power_w.value


def test_a_measurement_on_a_hosted_cpu_is_one_of_the_host_boards_cpu(tmp_path):
    """A user's timing on the Coral box's CPU is a timing of the Pi 5's CPU, and the other
    way round: both estimates answer with it."""
    (tmp_path / "measurements").mkdir()
    (tmp_path / "measurements" / "mine.yaml").write_text("""
measurements:
  - {device: coral-usb-on-rpi5, model: mobilenet-v2, precision: fp32, unit: cpu,
     runtime: onnxruntime, batch: 1, metric: latency_ms, value: 41.5, source: test fixture}
""")
    cat = load_catalog([tmp_path], use_env=False)
    for dev in ("coral-usb-on-rpi5", "raspberry-pi-5-8gb", "hailo-8-on-rpi5"):
        e = estimate(cat, Query("mobilenet-v2", "fp32", dev, unit="cpu", runtime="onnxruntime"))
        assert (e.latency_ms.value, e.latency_ms.provenance) == (41.5, "measured"), dev


def test_a_unit_of_several_cores_runs_one_call_per_core(tmp_path):
    """`cores: 3` (the RK3588 NPU): a call runs at one core's peak, three run side by side,
    so the latency is a third-peak unit's and the throughput three times one call's."""
    from conftest import builtin_device, catalog_with_devices
    base = builtin_device("rockchip", "rk3588-orange-pi-5-8gb")
    assert next(u for u in base["units"] if u["id"] == "npu")["cores"] == 3
    # two copies under new ids, so that neither has the built-in device's calibrated factor
    cat = catalog_with_devices(tmp_path, [{**base, "id": "three-cores"}, {
        **base, "id": "one-core", "units": [
            {**u, "cores": 1, "peak_tops": {p: v / 3 for p, v in u["peak_tops"].items()}}
            if u["id"] == "npu" else u for u in base["units"]]}])
    three = estimate(cat, Query("yolov8n", "int8", "three-cores", unit="npu"))
    single = estimate(cat, Query("yolov8n", "int8", "one-core", unit="npu"))
    assert three.latency_ms.value == pytest.approx(single.latency_ms.value, rel=1e-9)
    assert three.throughput_fps.value == pytest.approx(3 * single.throughput_fps.value,
                                                       rel=1e-9)
    assert three.unit_share(30) == pytest.approx(single.unit_share(30) / 3, rel=1e-9)


def test_llm_memory_has_weights_and_kv_cache(mini_catalog):
    e = estimate(mini_catalog, Query("toy-llm-7b", "int4", "toy-gpu-8gb", context=4096))
    b = e.memory_breakdown_gb
    assert b["weights"] == pytest.approx(7e9 * 0.5625 / 1e9)   # 4.5 bits: a scale per 32
    # 2 (K and V) x 32 layers x 8 heads x 128 x 2 bytes x 4096 tokens
    assert b["kv_cache"] == pytest.approx(2 * 32 * 8 * 128 * 2 * 4096 / 1e9)
    assert e.decode_tokens_per_s.value == pytest.approx(1000 / e.latency_ms.value)
    assert e.latency_ms.bottleneck == "memory-bandwidth"
    assert b["os_and_runtime_reserve"] == pytest.approx(2.0)


def test_every_number_has_provenance(mini_catalog):
    d = estimate(mini_catalog, Query("toy-big-cnn", "fp16", "toy-phone")).as_dict()
    for key in ("latency_ms", "throughput_fps", "memory_gb", "power_w", "energy_mj", "accuracy"):
        assert d[key]["provenance"] in ("datasheet", "measured", "calibrated", "estimated")
    assert d["latency_ms"]["low"] <= d["latency_ms"]["value"] <= d["latency_ms"]["high"]
    json.dumps(d)


def test_grid_agrees_with_the_scalar_estimator_cell_by_cell(mini_catalog):
    opts = [OptionRow(m, o.precision, o.technique, o.accuracy, o.params_scale, o.macs_scale)
            for m in mini_catalog.models.values() for o in m.options]
    units = [UnitRow(d, u, md.id, md.compute_scale, rt) for d in mini_catalog.devices.values()
             for u in d.units for md in d.power.modes for rt in u.runtimes]
    g = estimate_grid(mini_catalog, opts, units)
    n = 0
    for i, o in enumerate(opts):
        for j, u in enumerate(units):
            if not g["runs"][i, j]:
                with pytest.raises(EstimateError):
                    estimate(mini_catalog, Query(o.model.id, o.precision, u.device.id,
                                                 o.technique, u.unit.id, u.runtime,
                                                 power_mode=u.mode_id))
                continue
            e = estimate(mini_catalog, Query(o.model.id, o.precision, u.device.id, o.technique,
                                             u.unit.id, u.runtime, power_mode=u.mode_id))
            assert g["latency_ms"][i, j] == pytest.approx(e.latency_ms.value, rel=1e-9)
            assert g["busy_ms"][i, j] == pytest.approx(1000.0 / e.throughput_fps.value,
                                                       rel=1e-9)
            assert g["memory_gb"][i, j] == pytest.approx(e.memory_gb.value, rel=1e-9)
            n += 1
    assert n > 50


def test_calibration_learns_from_added_measurements(mini_catalog, tmp_path):
    q = Query("toy-big-cnn", "int8", "toy-tpu-usb", unit="cpu", runtime="onnxruntime")
    before = estimate(mini_catalog, q)
    assert before.latency_ms.provenance == "estimated"
    (tmp_path / "m.yaml").write_text(
        "measurements:\n  - {device: toy-tpu-usb, model: toy-cnn, precision: int8, unit: cpu,"
        " runtime: onnxruntime, metric: latency_ms, value: 40, source: test}\n")
    cat = load_catalog([MINI, tmp_path], builtin=False, use_env=False)
    after = estimate(cat, q)
    assert after.latency_ms.provenance == "calibrated"
    assert after.latency_ms.value != before.latency_ms.value


def test_environment_variable_adds_catalog_directories(monkeypatch, tmp_path):
    (tmp_path / "m.yaml").write_text((MINI / "models.yaml").read_text())
    monkeypatch.setenv("EDGEPLAN_CATALOG", str(tmp_path))
    cat = load_catalog(builtin=True)
    assert "toy-cnn" in cat.models and "jetson-nano-4gb" in cat.devices


def test_runtimes_that_run_fp32_models_in_fp16_use_the_fp16_peak_where_the_unit_has_it(catalog):
    m = catalog.models["yolov8n"]
    pi5, pi4 = catalog.devices["raspberry-pi-5-8gb"], catalog.devices["raspberry-pi-4b-4gb"]
    ncnn = catalog.math_path("ncnn")
    assert ncnn.fp32_math == "fp16" and catalog.math_path("tflite").fp32_math == "fp32"
    fast = roofline(m, "fp32", pi5, pi5.unit("cpu"), math_path=ncnn)
    plain = roofline(m, "fp32", pi5, pi5.unit("cpu"))
    assert fast.compute_ms == pytest.approx(plain.compute_ms / 2)   # A76: FP16 at 2x FP32
    # the A72 has no FP16 arithmetic: the same runtime runs FP32
    assert roofline(m, "fp32", pi4, pi4.unit("cpu"), math_path=ncnn).compute_ms == \
        roofline(m, "fp32", pi4, pi4.unit("cpu")).compute_ms


def test_a_runtime_that_skips_tensor_cores_runs_at_the_cuda_core_peak(catalog):
    """OpenCV DNN gains little from tensor cores: on an Orin GPU its math runs at the CUDA
    cores' peak; on the Jetson Nano's Maxwell GPU, which has none, nothing changes."""
    m = catalog.models["resnet-50"]
    opencv, trt = catalog.math_path("opencv"), catalog.math_path("tensorrt")
    assert not opencv.matrix_units and trt.matrix_units
    orin = catalog.devices["jetson-orin-nano-8gb"]
    gpu = orin.unit("gpu")
    for p in ("fp32", "fp16", "int8"):
        slow = roofline(m, p, orin, gpu, math_path=opencv).compute_ms
        fast = roofline(m, p, orin, gpu, math_path=trt).compute_ms
        assert slow == pytest.approx(fast * gpu.peak_tops[p] / gpu.vector_peak_tops[p])
        assert slow > 3 * fast
    nano = catalog.devices["jetson-nano-4gb"]
    assert roofline(m, "fp16", nano, nano.unit("gpu"), math_path=opencv).compute_ms == \
        roofline(m, "fp16", nano, nano.unit("gpu"), math_path=trt).compute_ms
    # every precision of the unit keeps to the CUDA cores: INT8 is not the tensor cores' 10x
    assert roofline(m, "fp16", orin, gpu, math_path=opencv).compute_ms < \
        2.5 * roofline(m, "int8", orin, gpu, math_path=opencv).compute_ms
    # `estimate` reads the same peak (test_grid_agrees_with_the_estimator_* cover the grid)
    q = lambda rt: estimate(catalog, Query("resnet-50", "fp16", "jetson-orin-nano-8gb",
                                           unit="gpu", runtime=rt))
    assert q("opencv").latency_ms.value > 2 * q("tensorrt").latency_ms.value


def test_a_vector_peak_above_the_units_peak_is_refused(tmp_path):
    from conftest import builtin_device, catalog_with_devices
    dev = builtin_device("jetson", "jetson-orin-nano-8gb")
    for bad, says in (({"fp32": 1, "fp16": 50, "int8": 4}, "above peak_tops.fp16"),
                      ({"fp32": 1, "fp16": 2}, "lists no int8")):
        dev["units"][0]["vector_peak_tops"] = bad
        with pytest.raises(CatalogError) as e:
            catalog_with_devices(tmp_path, [dev])
        assert "vector_peak_tops" in e.value.one_line() and says in e.value.one_line()


def test_prefill_is_calibrated_apart_from_decode_and_from_batch_one_networks(catalog):
    """Prefill points move prefill estimates only; without any, prefill is estimated as
    compute-bound work (it was before prefill points existed)."""
    from planner.estimate.calibrate import Calibration, measurement_points
    pts = measurement_points(catalog)
    prefill = [p for p in pts if p.measurement.metric == "prefill_tokens_per_s"]
    assert len(prefill) >= 5
    with_pf = Calibration(pts)
    without = Calibration([p for p in pts if p not in prefill])
    dev = catalog.devices["macbook-pro-m1-max"]
    gpu, model = dev.unit("gpu"), catalog.models["llama-3-8b"]
    eff = lambda cal, regime: cal.efficiency(dev, gpu, model, "llama.cpp", regime, "fp16", 16)[0]
    for regime in ("memory", "compute"):
        assert eff(with_pf, regime) == pytest.approx(eff(without, regime), rel=1e-9)
    assert eff(without, "prefill") == eff(without, "compute")
    # llama.cpp's Metal prefill runs large matrix products at over half the GPU's peak, well
    # above what batch-1 networks' compute-bound work would say
    assert eff(with_pf, "prefill") > 0.5 and eff(with_pf, "prefill") > 1.4 * eff(without, "compute")


def test_a_measured_prefill_answers_prefill_only(catalog):
    """A published prompt rate is the prefill of exactly that combination, `measured`; it
    says nothing of a decode step, which stays the fit's (or its own measurement)."""
    from planner.estimate.calibrate import measurement_points
    rows = [p.measurement for p in measurement_points(catalog)
            if p.measurement.metric == "prefill_tokens_per_s"]
    assert rows
    for m in rows:
        e = estimate(catalog, Query(m.model, m.precision, m.device, unit=m.unit,
                                    runtime=m.runtime, power_mode=m.power_mode))
        assert e.prefill_tokens_per_s.provenance == "measured"
        assert e.prefill_tokens_per_s.value == pytest.approx(m.value, rel=1e-9)
        # a prompt runs several times faster than a step (llama.cpp on an M1 Max, Llama 3 8B
        # Q4_K_M: pp512 408 against tg 35.7 tokens/s, 11x): decode is not the prompt's rate
        assert e.decode_tokens_per_s.value < m.value / 5, m
    # the M2 Ultra's 8B Q4 decode stays the fit's: its prompt rate (994/s) is not a step's
    e = estimate(catalog, Query("llama-3-8b", "int4", "mac-studio-m2-ultra-192gb",
                                unit="gpu", runtime="llama.cpp"))
    assert e.decode_tokens_per_s.provenance == "calibrated" and \
        e.decode_tokens_per_s.value < 150


def test_prefill_intervals_widen_where_no_prefill_was_measured(catalog):
    """A device with prefill points gets the device-level spread; one without (a Jetson,
    whose MLC prefill nobody measured here) the spread of a device never measured."""
    q = lambda dev, rt: estimate(catalog, Query("llama-3.1-8b", "int4", dev, unit="gpu",
                                                runtime=rt)).prefill_tokens_per_s
    width = lambda x: x.high / x.low
    mac, jetson = q("mac-studio-m2-ultra-192gb", "llama.cpp"), q("jetson-orin-nano-8gb", "mlc-llm")
    assert mac.provenance == "calibrated" and jetson.provenance == "estimated"
    assert width(jetson) > width(mac)


def test_a_fixed_cost_is_fitted_only_over_networks_of_different_sizes(catalog):
    """RK3588's three calibrating networks (ResNet-50, YOLOv8s, YOLOX-S) all take 4-14 ms at
    peak: a 5 ms per-call cost fits them as well as a slower NPU does, and charged to
    MobileNet v2 (0.3 ms at peak) made it 3x too slow. Coral's networks span 50x and keep
    their fitted cost."""
    from planner.estimate.cache import calibration_for
    from planner.estimate.calibrate import OVERHEAD_MIN_SPREAD, measurement_points
    ideal = [p.ideal_ms for p in measurement_points(catalog) if p.family == "rockchip"]
    assert len(ideal) >= 3 and max(ideal) < OVERHEAD_MIN_SPREAD * min(ideal)
    cal = calibration_for(catalog)
    assert ("rockchip", False, False) not in cal.overheads
    assert ("coral", False, False) in cal.overheads


def test_a_network_seen_on_one_device_only_leaves_that_devices_quirk_to_the_device(catalog):
    """The Khadas VIM3 NPU's one calibrating point (YOLOX-S through OpenCV's TIM-VX backend,
    slower than the board's CPU) is the only network measured there: device and network
    explain it equally, so alone it gives YOLOX no factor to carry to other devices. A
    YOLOX-S point on a unit that runs other networks too (the RK3588 NPU) does."""
    from planner.estimate.calibrate import Calibration, measurement_points
    pts = measurement_points(catalog)
    vim3_only = Calibration([p for p in pts if p.measurement.model != "yolox-s"
                             or p.key[0] == "khadas-vim3"])
    assert "model:yolox" not in vim3_only.coef and "model-on:yolox:npu" not in vim3_only.coef
    assert vim3_only.coef["device:khadas-vim3:npu"] < 0
    assert "model:yolox" in Calibration(pts).coef
    # a family measured on devices that also run other networks keeps its factor
    assert "model:yolov8" in vim3_only.coef


@pytest.mark.parametrize("device", ["hailo-8-on-x86", "jetson-orin-nx-16gb",
                                    "raspberry-pi-5-8gb", "galaxy-s24-8gen3"])
def test_a_network_built_from_another_familys_blocks_takes_its_factors(catalog, device):
    """YOLO26 is YOLO11's backbone and neck with a new head (`efficiency_family: yolo11`,
    sourced in its profiles): with no timing of its own it takes YOLO11's fitted family
    factors, so YOLO26s and YOLO11s, alike in size, are estimated alike, as Ultralytics' T4
    table times them (2.5 ms each). Before, YOLO26 took no family factor: 342 fps on a
    Hailo-8 against YOLO11s's 204."""
    from planner.estimate.cache import calibration_for
    cal = calibration_for(catalog)
    assert cal.coef["model:yolo11"] < 0 and "model:yolo26" not in cal.coef
    assert catalog.models["yolo26s"].calibration_family == "yolo11"
    new, old = (estimate(catalog, Query(m, "int8", device)) for m in ("yolo26s", "yolo11s"))
    assert (new.unit, new.runtime) == (old.unit, old.runtime)
    assert "measured" not in (new.throughput_fps.provenance, old.throughput_fps.provenance)
    ratio = new.throughput_fps.value / old.throughput_fps.value
    assert 1 / 1.15 < ratio < 1.15, ratio


@pytest.mark.parametrize("device", ["raspberry-pi-5-8gb", "coral-pcie-accelerator",
                                    "hailo-8-on-x86", "jetson-orin-nano-8gb"])
def test_a_detector_is_no_faster_than_the_backbone_it_runs(catalog, device):
    """EfficientDet-Lite0 runs EfficientNet-Lite0's body at 320x320 (0.83 of its 0.97 GMACs,
    2x the body's MACs at 224) and a BiFPN and heads after it, of the same blocks. Taking
    EfficientNet-Lite's factors (`efficiency_family`), it is estimated slower than Lite1 at
    240 (0.63 GMACs) and, where compute bounds it, at least 1.5x Lite0 at 224. Before, with
    no family factor, it came out 1.2x Lite0 on a Raspberry Pi 5 and faster than Lite1 (15.6
    against 19.1 ms)."""
    det, lite0, lite1 = (estimate(catalog, Query(m, "int8", device)).latency_ms
                         for m in ("efficientdet-lite0", "efficientnet-lite0",
                                   "efficientnet-lite1"))
    assert det.value > lite1.value > lite0.value, (det, lite0, lite1)
    if det.bottleneck == "compute":
        assert det.value >= 1.5 * lite0.value, (det, lite0)


def test_every_efficiency_family_is_the_one_the_calibration_reads(catalog):
    """YOLO26 as YOLO11; YAMNet (MobileNet v1's body on a spectrogram), DeepLabv3 on
    MobileNetV2 (its body with a 1x1 classifier), MoveNet (MobileNetV2 with an FPN) and
    MnasNet (MobileNetV2's inverted residual block) as MobileNet; EfficientDet-Lite as
    EfficientNet-Lite, its backbone: the fit's
    model factors of the named family, never of its own, in the point estimate and the grid
    (the grid-agreement tests check the values cell by cell)."""
    from planner.estimate.calibrate import _features
    named = {m.id: m.efficiency_family for m in catalog.models.values() if m.efficiency_family}
    assert named == {**{f"yolo26{s}": "yolo11" for s in "nsmlx"},
                     **{f"efficientdet-lite{i}": "efficientnet-lite" for i in range(3)},
                     **dict.fromkeys(["yamnet", "deeplabv3-mobilenet-v2", "movenet-lightning",
                                      "movenet-thunder", "mnasnet-1.0"], "mobilenet")}
    dev = catalog.devices["raspberry-pi-5-8gb"]
    for mid, fam in named.items():
        m = catalog.models[mid]
        names = {f for f, _ in _features(dev, "cpu", m, "onnxruntime", "compute", "int8")}
        assert {f"model:{fam}", f"model-on:{fam}:cpu"} <= names
        assert f"model:{m.family}" not in names


def test_an_efficiency_family_is_another_models_family_and_sourced(tmp_path):
    from pathlib import Path
    text = Path(load_catalog(use_env=False).origin["model:yolo26s"]).read_text()
    start = text.index("  - id: yolo26s")
    entry = text[start:text.index("\n  - id: ", start + 10)].replace("id: yolo26s", "id: mine")
    (tmp_path / "profiles").mkdir()
    bad = tmp_path / "profiles" / "mine.yaml"
    bad.write_text("models:\n" + entry.replace("efficiency_family: yolo11",
                                                "efficiency_family: yolo1") + "\n")
    with pytest.raises(CatalogError, match="'yolo1' is no other model's family; did you "
                                           "mean 'yolo11'") as e:
        load_catalog([tmp_path], use_env=False)
    assert e.value.file.endswith("mine.yaml") and e.value.line is not None
    assert e.value.field.endswith("efficiency_family")
    # a family the calibration never fits (its models take another's factors) is refused
    bad.write_text("models:\n" + entry.replace("family: yolo26\n", "family: mine\n").replace(
        "efficiency_family: yolo11", "efficiency_family: yolo26") + "\n")
    with pytest.raises(CatalogError, match="the yolo26 models take yolo11's efficiency "
                                           "factors themselves: name 'yolo11'"):
        load_catalog([tmp_path], use_env=False)
    lines = [ln for ln in entry.splitlines() if "efficiency_family_source" not in ln]
    bad.write_text("models:\n" + "\n".join(lines) + "\n")
    with pytest.raises(CatalogError, match="efficiency_family needs efficiency_family_source"):
        load_catalog([tmp_path], use_env=False)


def test_every_calibrating_measurement_fits_the_memory_its_device_leaves(catalog):
    """A published run shows the combination fits: the catalog must not say otherwise."""
    from planner.estimate.roofline import MEASURED_CONTEXT
    misfits = []
    for m in catalog.measurements:
        if not m.calibrate:
            continue
        e = estimate(catalog, Query(m.model, m.precision, m.device, unit=m.unit,
                                    runtime=m.runtime, batch=m.batch, power_mode=m.power_mode,
                                    context=MEASURED_CONTEXT if catalog.models[m.model].llm
                                    else None))
        if not e.fits_memory:
            misfits.append(f"{m.device} {m.model} {m.precision}: {e.memory_gb.value:.2f} GB "
                           f"of {e.memory_available_gb} GB")
    assert not misfits, misfits


def test_a_context_switching_unit_needs_its_context_size(tmp_path):
    text = (MINI.parent / "dataflow" / "devices.yaml").read_text()
    (tmp_path / "devices.yaml").write_text(text.replace("        on_chip_memory_mb: 16\n", ""))
    with pytest.raises(CatalogError) as e:
        load_catalog([MINI, tmp_path], builtin=False, use_env=False)
    assert "devices.yaml:12" in e.value.one_line() and "on_chip_memory_mb" in e.value.one_line()


def _with_measurements(tmp_path, rows):
    (tmp_path / "m.yaml").write_text("measurements:\n" + "".join(
        f"  - {{device: toy-phone, unit: npu, runtime: qnn, power_mode: boost, "
        f"metric: latency_ms, source: test, {r}}}\n" for r in rows))
    return load_catalog([MINI, tmp_path], builtin=False, use_env=False)


def test_calibration_learns_a_units_precision_path(tmp_path):
    """The catalog's FP16 peak is half the INT8 one; a unit whose FP16 runs at a quarter of
    its INT8 speed on one network is expected to do so on another."""
    cat = _with_measurements(tmp_path, ["model: toy-cnn, precision: int8, value: 1.0",
                                        "model: toy-cnn, precision: fp16, value: 4.0"])
    ratio = lambda c: (estimate(c, Query("toy-big-cnn", "fp16", "toy-phone",
                                         power_mode="boost")).latency_ms.value
                       / estimate(c, Query("toy-big-cnn", "int8", "toy-phone",
                                           power_mode="boost")).latency_ms.value)
    cal_ratio = ratio(cat)
    assert cal_ratio > 1.3 * ratio(load_catalog([MINI], builtin=False, use_env=False))
    assert 2.5 < cal_ratio < 4.5


def test_calibration_learns_a_networks_fit_to_a_device(tmp_path):
    """A network measured slow on a device is expected slow there at another precision,
    more than another network of its family is (the device x model factor)."""
    base = load_catalog([MINI], builtin=False, use_env=False)
    lat = lambda c, m: estimate(c, Query(m, "fp16", "toy-phone",
                                         power_mode="boost")).latency_ms.value
    int8 = lambda m: estimate(base, Query(m, "int8", "toy-phone",
                                          power_mode="boost")).latency_ms.value
    cat = _with_measurements(tmp_path, [
        f"model: toy-cnn, precision: int8, value: {10 * int8('toy-cnn'):.4f}",
        f"model: toy-big-cnn, precision: int8, value: {int8('toy-big-cnn'):.4f}"])
    moved_same = lat(cat, "toy-cnn") / lat(base, "toy-cnn")
    moved_other = lat(cat, "toy-big-cnn") / lat(base, "toy-big-cnn")
    assert moved_same > 2 * moved_other


def test_runtimes_measured_on_the_units_kind_rank_first():
    """ONNX Runtime is measured on CPUs only: on a Jetson GPU it is a guess, and a runtime
    measured on GPUs is chosen before it, in estimate and in the grid solve ranks by."""
    from planner.estimate.cache import calibration_for
    cat = load_catalog(use_env=False)
    cal = calibration_for(cat)
    assert cal.measured_runtime("onnxruntime", "cpu")
    assert not cal.measured_runtime("onnxruntime", "gpu")
    assert cal.measured_runtime("tensorrt", "gpu")
    for model in ("yolov8s", "mobilenet-v2", "resnet-50"):
        e = estimate(cat, Query(model, "fp16", "jetson-orin-nx-16gb"))
        assert e.unit == "gpu" and cal.measured_runtime(e.runtime, "gpu"), (model, e.runtime)
        assert not any("no published measurement" in n for n in e.notes)
    guess = estimate(cat, Query("yolov8s", "fp16", "jetson-orin-nx-16gb", unit="gpu",
                                runtime="onnxruntime"))
    assert any("onnxruntime on a gpu" in n for n in guess.notes)
    # and of the runtimes measured on GPUs, TensorRT is the one an Orin runs vision fastest
    for dev in ("jetson-orin-nx-16gb", "jetson-agx-orin-64gb", "jetson-orin-nano-8gb"):
        for p in ("int8", "fp16"):
            assert estimate(cat, Query("yolov8s", p, dev, unit="gpu")).runtime == "tensorrt"


def test_estimate_predicts_what_the_accuracy_benchmark_scores():
    """The benchmark scores `predict_point`; `estimate` must give the same number for the
    same combination (with the exact-measurement override off), so the published accuracy
    is the accuracy users get: on a pipelined unit the throughput, elsewhere the latency
    (which a throughput or a decode rate is the inverse of)."""
    import copy

    from planner.estimate.cache import calibration_for
    from planner.estimate.calibrate import measurement_points, predict_point
    from planner.estimate.roofline import MEASURED_CONTEXT
    cat = load_catalog(use_env=False)
    cal = copy.copy(calibration_for(cat))
    cal.measured = cal.measured_prefill = {}
    n_busy = n_lat = 0
    for p in measurement_points(cat):
        m = p.measurement
        if m.includes_prepost:
            continue
        e = estimate(cat, Query(m.model, m.precision, m.device, unit=m.unit, runtime=m.runtime,
                                batch=m.batch, power_mode=m.power_mode,
                                context=MEASURED_CONTEXT if p.llm else None), calibration=cal)
        if m.metric in ("decode_tokens_per_s", "prefill_tokens_per_s"):
            got = 1000.0 / getattr(e, m.metric).value
        else:
            got = m.batch * 1000.0 / e.throughput_fps.value if p.pipelined else e.latency_ms.value
            if not p.pipelined:   # a unit of several cores runs as many calls side by side
                cores = cat.devices[m.device].unit(m.unit).cores
                assert e.throughput_fps.value == pytest.approx(
                    cores * m.batch * 1000.0 / e.latency_ms.value, rel=1e-9)
        assert got == pytest.approx(predict_point(cal, cat, p), rel=1e-9), m
        n_busy += p.pipelined
        n_lat += not p.pipelined
    assert n_busy > 20 and n_lat > 50


def test_a_measured_throughput_leaves_the_latency_calibrated():
    """A pipelined unit's published throughput is exact for its occupancy only: its latency
    stays the fit's, with the fit's interval."""
    cat = load_catalog(use_env=False)
    m = next(m for m in cat.measurements if m.calibrate and m.metric == "throughput_fps"
             and cat.devices[m.device].unit(m.unit).activations_on_chip and m.batch == 1)
    e = estimate(cat, Query(m.model, m.precision, m.device, unit=m.unit, runtime=m.runtime,
                            power_mode=m.power_mode))
    assert e.throughput_fps.provenance == "measured"
    assert e.latency_ms.provenance == "calibrated"
    assert e.latency_ms.high / e.latency_ms.low > 1.3     # the fit's interval, not +-10 %


def test_held_out_residuals_equal_a_refit_without_the_block():
    import numpy as np

    from planner.estimate.calibrate import held_out_residuals
    rng = np.random.default_rng(7)
    a = rng.normal(size=(30, 6))
    y = rng.normal(size=30)
    pen = np.diag(np.full(6, 0.25))
    inv = np.linalg.inv(a.T @ a + pen)
    e = y - a @ (inv @ (a.T @ y))
    blocks = [list(range(i, min(30, i + 4))) for i in range(0, 30, 4)]
    got = held_out_residuals(a, inv, e, blocks)
    for rows in blocks:
        keep = [r for r in range(30) if r not in rows]
        coef = np.linalg.solve(a[keep].T @ a[keep] + pen, a[keep].T @ y[keep])
        assert np.allclose(got[rows], y[rows] - a[rows] @ coef)


def test_each_depth_is_scored_on_the_points_it_serves():
    """A depth's spread is that of its held-out residuals over the points `sigma` would give
    that depth once their block is gone, and not over the rest (a point alone whose model
    has no other point on its device is not what the point depth serves)."""
    import math

    import numpy as np

    from planner.estimate.calibrate import (
        LEAVE_OUT,
        Calibration,
        held_out_residuals,
        measurement_points,
    )
    cal = Calibration(measurement_points(load_catalog(use_env=False)))   # a fit, not a cache
    pts = cal.points
    others = {
        # other points of its model on its device
        "point": lambda p: any(q.key[:2] == p.key[:2] for q in pts if q is not p),
        # other models' points on its device's kind of unit
        "pair": lambda p: any(q.key[0] == p.key[0] and q.kind == p.kind
                              and q.key[1] != p.key[1] for q in pts),
        "device": lambda p: True,
        # other runtimes' points on its unit
        "runtime": lambda p: any(q.key[0] == p.key[0] and q.key[3] == p.key[3]
                                 and q.key[4] != p.key[4] for q in pts)}
    e = np.array([cal._y(p) - cal.predict_log(p.features) for p in pts])
    for depth, key in LEAVE_OUT.items():
        blocks: dict = {}
        for r, p in enumerate(pts):
            blocks.setdefault(key(p), []).append(r)
        res = held_out_residuals(cal._a, cal._inv, e, blocks.values())
        served = [x for p, x in zip(pts, res) if others[depth](p)]
        assert depth == "device" or 0 < len(served) < len(pts), depth
        assert cal.sigma_global[depth] == pytest.approx(
            math.sqrt(sum(x * x for x in served) / len(served)), rel=1e-9), depth


def test_intervals_widen_with_what_the_calibration_has_not_seen():
    """A network measured on the device gets the interval of a point left out alone; one
    never run there, that of a whole pair left out; a device never measured, that of a whole
    device left out; a runtime never run on the unit, at least that of a runtime's points on
    a unit left out (the benchmark checks each holds about 80 %)."""
    import math

    from planner.estimate.cache import calibration_for
    from planner.estimate.point import Z80
    cat = load_catalog(use_env=False)
    cal = calibration_for(cat)
    assert cal.sigma_global["point"] < cal.sigma_global["pair"] < cal.sigma_global["device"]
    measured = {(m.device, m.model) for m in cat.measurements if m.calibrate}
    on = {m.device for m in cat.measurements if m.calibrate}
    dev = "jetson-orin-nx-16gb"
    seen = next(mo for d, mo in sorted(measured) if d == dev)
    unseen = next(mo for mo in sorted(cat.models) if (dev, mo) not in measured
                  and not cat.models[mo].llm and "fp16" in {o.precision
                                                           for o in cat.models[mo].options})
    new_dev = next(d for d in sorted(cat.devices) if d not in on
                   and cat.devices[d].family == "jetson")
    group = "jetson:gpu:compute"
    widths = []
    # a device never measured has never run TensorRT either
    for mo, d, depths in ((seen, dev, ["point"]), (unseen, dev, ["point", "pair"]),
                          (unseen, new_dev, ["point", "pair", "device", "runtime"])):
        q = estimate(cat, Query(mo, "fp16", d, unit="gpu", runtime="tensorrt", batch=3))
        assert q.latency_ms.bottleneck == "compute", (mo, d)
        # knowing less never narrows it
        sigma = max(cal.sigma_group[depth][group] for depth in depths)
        assert q.latency_ms.high / q.latency_ms.low == pytest.approx(math.exp(2 * Z80 * sigma))
        widths.append(q.latency_ms.high / q.latency_ms.low)
    assert widths[0] < widths[1] <= widths[2] * (1 + 1e-12)
    # a runtime never run on a measured unit widens it too
    other = next(r for r in cat.devices[dev].unit("gpu").runtimes
                 if not any(m.device == dev and m.runtime == r for m in cat.measurements
                            if m.calibrate))
    q = estimate(cat, Query(seen, "fp16", dev, unit="gpu", runtime=other, batch=3))
    sigma = max(cal.sigma_group["point"][group], cal.sigma_group["runtime"][group])
    assert q.latency_ms.high / q.latency_ms.low == pytest.approx(math.exp(2 * Z80 * sigma))
    assert sigma > cal.sigma_group["point"][group]


def test_a_cached_calibration_gives_the_same_estimates():
    """`lint` and `estimate` read the calibration back from plain JSON: it must answer
    exactly as the fitted one does (factors, overheads, intervals, measured points)."""
    from planner.estimate.cache import calibration_for
    from planner.estimate.calibrate import Calibration
    cat = load_catalog(use_env=False)
    cal = calibration_for(cat)
    back = Calibration.from_data(json.loads(json.dumps(cal.to_data())))
    queries = [Query("yolov8s", "fp16", "jetson-orin-nx-16gb", unit="gpu"),
               Query("mobilenet-v2", "int8", "coral-usb-on-rpi5"),
               Query("resnet-50", "int8", "hailo-8l-rpi5-ai-kit"),
               Query("llama-3-8b", "int4", "mac-studio-m1-max-64gb"),
               Query("efficientnet-lite0", "int8", "raspberry-pi-5-8gb", unit="cpu")]
    for q in queries:
        assert estimate(cat, q, calibration=back).as_dict() == \
            estimate(cat, q, calibration=cal).as_dict(), q


def test_a_holdout_point_is_scored_never_calibrated_on(tmp_path):
    """`holdout: true` keeps a published point out of the calibration (and out of the
    exact-match answers) so the benchmark can score the estimator on it."""
    from planner.estimate.cache import calibration_for
    from planner.estimate.calibrate import measurement_points
    base = load_catalog([MINI], builtin=False, use_env=False)
    q = Query("toy-cnn", "int8", "toy-phone", unit="npu", runtime="qnn", power_mode="boost")
    cat = _with_measurements(tmp_path, ["model: toy-cnn, precision: int8, value: 9.0, "
                                        "holdout: true"])
    assert [p.measurement.value for p in measurement_points(cat, holdout=True)] == [9.0]
    assert len(measurement_points(cat)) == len(measurement_points(base))
    assert calibration_for(cat).coef == calibration_for(base).coef
    e = estimate(cat, q)
    assert e.latency_ms.provenance != "measured"
    assert e.latency_ms.value == estimate(base, q).latency_ms.value
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "m.yaml").write_text(
        "measurements:\n  - {device: toy-phone, model: toy-cnn, precision: int8, unit: npu,"
        " runtime: qnn, metric: latency_ms, value: 1, source: test, holdout: true,"
        " calibrate: true}\n")
    with pytest.raises(CatalogError) as err:
        load_catalog([MINI, bad], builtin=False, use_env=False)
    assert "m.yaml:2" in err.value.one_line() and "holdout point is never calibrated" in \
        err.value.one_line()
