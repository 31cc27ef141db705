"""`edgeplan calibrate add|show`: benchmark outputs read, checked and written into a user
catalog, and the estimates they move."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest_bundle import CATALOG_YAML, CNN, write_manifest, workload

from planner.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
ADDED = Path("measurements") / "calibrate-added.yaml"

SLOW_BOARD = """\
devices:
  - id: slow-board
    name: A board slower than any host
    vendor: Test
    family: raspberry-pi
    form_factor: sbc
    memory: {total_gb: 1, available_gb: 0.5, bandwidth_gbs: 1, source: test fixture}
    units:
      - {id: cpu, kind: cpu, peak_tops: {fp32: 0.00001, int8: 0.00001}, runtimes: [onnxruntime],
         source: test fixture}
    power: {idle_w: 1, modes: [{id: default, power_w: 2}], source: test fixture}
    price: {usd: 10, source: test fixture}
"""


def cli(*args):
    r = CliRunner().invoke(main, ["calibrate", *map(str, args)])
    return r


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    """The bundle tests' catalog with a test Pi CPU whose peak no host reaches: the bundle's
    benchmark runs on this host and is recorded as the Pi's, so it must pass the Pi's
    physics check however fast the host is (the fixture's 0.1 TOPS Pi was outrun once)."""
    d = tmp_path_factory.mktemp("calibrate-catalog")
    old = "peak_tops: {fp32: 0.05, int8: 0.1}"
    assert CATALOG_YAML.count(old) == 1
    (d / "devices.yaml").write_text(CATALOG_YAML.replace(old, "peak_tops: {fp32: 50, int8: 200}"))
    return d


@pytest.fixture
def test_catalog(monkeypatch, catalog_dir):
    """Only the bundle tests' small catalog, read from EDGEPLAN_CATALOG as a user would."""
    import planner.catalog.loader as cat
    monkeypatch.setattr(cat, "builtin_dirs", lambda: [])
    monkeypatch.setenv("EDGEPLAN_CATALOG", str(catalog_dir))
    return catalog_dir


@pytest.fixture(scope="module")
def bundle_result(tmp_path_factory, catalog_dir):
    """A real bundle for the test Pi's CPU (what this host runs: onnxruntime on its CPU), its
    infer.py --benchmark run here."""
    from planner.bundle.build import BundleOptions, build_bundle
    from planner.catalog.loader import load_catalog
    d = tmp_path_factory.mktemp("bundle")
    plan = write_manifest(d / "deploy.yaml", workload(device="test-pi", model_file=str(CNN),
                                                      unit="cpu", runtime="onnxruntime"))
    cat = load_catalog([catalog_dir], builtin=False, use_env=False)
    build_bundle(plan, cat, BundleOptions(out_dir=d / "out", benchmark_runs=3))
    p = subprocess.run([sys.executable, "infer.py", "--benchmark", "20", "--json"],
                       cwd=d / "out", capture_output=True, text=True, check=True)
    (d / "result.json").write_text(p.stdout)
    return d


def test_a_bundles_benchmark_feeds_back_with_its_ids(test_catalog, bundle_result, tmp_path):
    doc = json.loads((bundle_result / "result.json").read_text())
    assert doc["measured_as"]["device"] == "test-pi" and doc["measured_as"]["unit"] == "cpu"
    assert doc["runtime_version"] == f"onnxruntime {doc['runtime']['version']}"
    mine = tmp_path / "mine"
    r = cli("add", bundle_result / "result.json", "--catalog", mine, "--model-file", CNN)
    assert r.exit_code == 0, r.output
    assert "added: test-pi digits-cnn INT8 cpu/onnxruntime: latency_ms" in r.output
    rows = yaml.safe_load((mine / ADDED).read_text())["measurements"]
    assert len(rows) == 1
    m = rows[0]
    assert m["tool"] == "edgeplan infer.py" and m["tool_version"] == doc["runtime_version"]
    assert "timed onnxruntime on the CPU (CPUExecutionProvider)" in m["notes"]
    assert m["value"] == pytest.approx(doc["benchmark"]["median_ms"])
    assert m["measured_on"] == doc["date"] and m["host"] == doc["host"]
    assert "result.json" in m["source"]
    # the model file's profile came along, so the catalog loads with the point
    assert (mine / "profiles" / "digits-cnn.yaml").exists()
    from planner.catalog.loader import load_catalog
    cat = load_catalog([mine])
    assert any(x.tool == "edgeplan infer.py" for x in cat.measurements)
    # the same result again adds nothing, and says so
    r2 = cli("add", bundle_result / "result.json", "--catalog", mine, "--model-file", CNN)
    assert r2.exit_code == 0 and "already there" in r2.output and "nothing new" in r2.output
    # and show says how the estimate moved: before -> the measured value
    s = cli("show", "--catalog", mine)
    assert s.exit_code == 0, s.output
    first = s.output.splitlines()[1]
    assert first.startswith("  digits-cnn INT8 cpu/onnxruntime: latency_ms ") and " -> " in first
    assert f"(measured {m['value']:g})" in first


def test_a_value_faster_than_physics_is_refused_with_the_ceiling(test_catalog, bundle_result,
                                                                 tmp_path):
    mine = tmp_path / "mine"
    (mine / "devices").mkdir(parents=True)
    (mine / "devices" / "slow.yaml").write_text(SLOW_BOARD)
    doc = json.loads((bundle_result / "result.json").read_text())
    doc["measured_as"]["device"] = "slow-board"
    fast = tmp_path / "fast.json"
    fast.write_text(json.dumps(doc))
    r = cli("add", fast, "--catalog", mine, "--model-file", CNN)
    assert r.exit_code == 2
    assert "faster than physics allows" in r.output and "compute at the unit's peak takes" in r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output
    assert not (mine / "measurements").exists() and not (mine / "profiles").exists()


def test_a_host_run_of_a_gpu_plan_is_not_recorded_as_the_gpu(test_catalog, bundle_result,
                                                              tmp_path):
    """A TensorRT-on-GPU plan's infer.py run on a host without one times onnxruntime on the
    host's CPU: recorded as what ran, and refused where the device has no such unit."""
    doc = json.loads((bundle_result / "result.json").read_text())
    doc["measured_as"].update(device="test-jetson", unit="gpu", runtime="tensorrt")
    f = tmp_path / "host.json"
    f.write_text(json.dumps(doc))
    r = cli("add", f, "--catalog", tmp_path / "mine", "--model-file", CNN)
    assert r.exit_code == 2, r.output
    assert "timed onnxruntime on a cpu, not test-jetson's gpu (gpu)" in r.output
    assert r.output.count("\n") == 1 and not (tmp_path / "mine").exists()


def test_another_models_benchmark_is_not_taken_for_the_bundled_one(test_catalog, bundle_result,
                                                                   tmp_path):
    doc = json.loads((bundle_result / "result.json").read_text())
    doc.pop("measured_as")
    f = tmp_path / "r.json"
    f.write_text(json.dumps(doc))
    r = cli("add", f, "--catalog", tmp_path / "mine")
    assert r.exit_code == 2 and "timed another model" in r.output


# ---------------------------------------------------------------- real tool outputs

def _fixture(name):
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"fixture {name} missing")
    return p


@pytest.mark.parametrize("name, metrics, version, kind", [
    ("llama-bench_rpi4b_gemma3-270m-Q4_K_M.json",
     ["prefill_tokens_per_s", "decode_tokens_per_s"], "6d69ab3f (build 6726)", "cpu"),
    ("llama-bench_rpi4b_llama3.2-1b-Q4_K_M_reserialized.json",
     ["prefill_tokens_per_s", "decode_tokens_per_s"], "f40a2e5f1 (build 7095)", "cpu"),
    ("llama-bench_jetson-nano_tinyllama-1.1b-Q4_K_M_cpu_b4970.md",
     ["prefill_tokens_per_s", "decode_tokens_per_s"], "c7b43ab6 (build 4970)", "cpu"),
    ("llama-bench_jetson-nano_tinyllama-1.1b-Q4_K_M_cuda_b1618.md",
     ["prefill_tokens_per_s", "decode_tokens_per_s"], "81bc9214 (build 1618)", "gpu"),
    ("openvino_benchmark_app_asl-recognition-0004_cpu_latency.txt", ["latency_ms"],
     "2022.3.0-7750-c1109a7317e-feature/py_cpp_align", "cpu"),
    ("hailortcli_benchmark_resnet_v1_50_summary.txt", ["throughput_fps"], None, "npu"),
])
def test_published_tool_outputs_are_read(name, metrics, version, kind):
    """Real outputs of each tool, as published (tests/fixtures/benchmarks/README.md); the
    combined pp+tg test of llama-bench is left out (it mixes both regimes)."""
    from planner.measure.readers import read_result
    rs = read_result(str(FIXTURES / name))
    assert [r.metric for r in rs] == metrics
    assert all(r.tool_version == version and r.ids["unit_kind"] == kind for r in rs)
    assert all(r.value > 0 for r in rs)


def test_published_values_land_with_their_ids(tmp_path):
    mine = tmp_path / "mine"
    r = cli("add", FIXTURES / "llama-bench_rpi4b_llama3.2-1b-Q4_K_M_reserialized.json",
            "--catalog", mine, "--device", "raspberry-pi-4b-4gb", "--model", "llama-3.2-1b")
    assert r.exit_code == 0, r.output
    rows = yaml.safe_load((mine / ADDED).read_text())["measurements"]
    assert [(x["metric"], x["value"], x["precision"], x["unit"], x["runtime"]) for x in rows] == [
        ("prefill_tokens_per_s", 11.857453, "int4", "cpu", "llama.cpp"),
        ("decode_tokens_per_s", 4.469104, "int4", "cpu", "llama.cpp")]
    assert rows[1]["measured_on"] == "2025-11-22" and rows[1]["host"] == "CPU"
    h = cli("add", FIXTURES / "hailortcli_benchmark_resnet_v1_50_summary.txt", "--catalog", mine,
            "--device", "hailo-8-on-x86", "--model", "resnet-50", "--precision", "int8")
    assert h.exit_code == 0, h.output
    assert "throughput_fps 1328.8" in h.output


@pytest.mark.parametrize("fmt", ["json", "md"])
def test_a_llama_bench_decode_rate_deep_in_the_context_keeps_its_context(tmp_path, fmt):
    """`llama-bench -d 4096 -n 128` decodes after 4096 tokens already in the cache: the rate
    is read at its mean context, 4096 + 64 tokens (`context_tokens`). The estimate at that
    context is the measurement itself (measured, +-10 %); at another context the KV cache's
    reads move it, as they move a short-context rate. A prompt rate at depth is refused,
    its row named, nothing written: edgeplan times a prompt from an empty cache."""
    import json
    from dataclasses import replace

    from planner.catalog.loader import load_catalog
    from planner.errors import InputError
    from planner.estimate.point import Query, estimate
    from planner.measure.readers import read_result
    if fmt == "json":
        rows = json.loads((FIXTURES / "llama-bench_rpi4b_gemma3-270m-Q4_K_M.json").read_text())
        for r in rows:
            r["n_depth"] = 4096
        deep = tmp_path / "deep.json"
        deep.write_text(json.dumps([r for r in rows if r["n_prompt"] == 0]))
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(rows))
    else:
        text = (FIXTURES / "llama-bench_jetson-nano_tinyllama-1.1b-Q4_K_M_cpu_b4970.md"
                ).read_text()
        deep = tmp_path / "deep.md"
        deep.write_text(re.sub(r"\| +tg(\d+) +\|", r"| tg\1 @ d4096 |", text))
        bad = tmp_path / "bad.md"
        bad.write_text(re.sub(r"\| +pp(\d+) +\|", r"| pp\1 @ d4096 |", text))
    got = [r for r in read_result(str(deep)) if r.metric == "decode_tokens_per_s"]
    assert [r.context_tokens for r in got] == [4096 + 64]
    assert "@ d4096" in got[0].what
    with pytest.raises(InputError, match=r"@ d4096\) times a prompt 4096 tokens deep") as e:
        read_result(str(bad))
    assert e.value.file == str(bad)
    r = cli("add", bad, "--catalog", tmp_path / "no", "--device", "raspberry-pi-4b-4gb",
            "--model", "llama-3.2-1b")
    assert r.exit_code == 2 and "keep the pp rows of depth 0" in r.output
    assert not (tmp_path / "no").exists()
    mine = tmp_path / "mine"
    r = cli("add", deep, "--catalog", mine, "--device", "raspberry-pi-4b-4gb",
            "--model", "llama-3.2-1b")
    assert r.exit_code == 0 and "context 4160 tokens" in r.output, r.output
    row = next(x for x in yaml.safe_load((mine / ADDED).read_text())["measurements"]
               if x["metric"] == "decode_tokens_per_s")
    assert row["context_tokens"] == 4160
    cat = load_catalog([mine], use_env=False)
    q = Query("llama-3.2-1b", "int4", "raspberry-pi-4b-4gb", unit="cpu", runtime="llama.cpp")
    at = {c: estimate(cat, replace(q, context=c)) for c in (256, 4160, 8192)}
    d = at[4160].decode_tokens_per_s
    assert (d.value, d.provenance) == (pytest.approx(row["value"], rel=1e-9), "measured")
    assert d.high == pytest.approx(d.value / 0.9, rel=1e-9)     # the measurement's own 10 %
    assert not any("tokens of context" in n for n in at[4160].notes)
    assert at[256].decode_tokens_per_s.value > d.value > at[8192].decode_tokens_per_s.value
    assert any("this decode rate was measured at 4160 tokens of context: at 8192" in n
               for n in at[8192].notes)


def test_gguf_types_map_to_precisions():
    from planner.llmfile.shape import gguf_precision
    assert gguf_precision("llama 8B Q4_K - Medium") == "int4"
    assert gguf_precision("llama 7B Q4_0") == "int4"
    assert gguf_precision("qwen2 1.5B Q8_0") == "int8"
    assert gguf_precision("llama 1B F16") == "fp16"
    assert gguf_precision("llama 7B Q5_K - Medium") is None     # no such precision here
    assert gguf_precision("llama 7B Q6_K") is None


# ---------------------------------------------------------------- checks and errors

TRT = """\
&&&& RUNNING TensorRT.trtexec [TensorRT v8602] # trtexec --onnx=yolo11n.onnx --int8
[I] === Performance summary ===
[I] Throughput: 120.5 qps
[I] Latency: min = 7.9 ms, max = 9.5 ms, mean = 8.3 ms, median = 8.2 ms, percentile(90%) = 8.8 ms
"""


@pytest.mark.parametrize("args, message", [
    (["--device", "jetson-orin-nano-8g", "--model", "yolo11n"],
     "--device: unknown device 'jetson-orin-nano-8g'; did you mean 'jetson-orin-nano-8gb'?"),
    (["--device", "jetson-orin-nano-8gb", "--model", "yolo11nn"],
     "--model: unknown model 'yolo11nn'; did you mean 'yolo11n'?"),
    (["--device", "jetson-orin-nano-8gb"], "--model: the output does not say which model"),
    (["--device", "jetson-orin-nano-8gb", "--model", "yolo11n", "--precision", "fp16"],
     "--precision: the output says precision 'int8', --precision says 'fp16'"),
    (["--device", "jetson-orin-nano-8gb", "--model", "yolo11n", "--power-mode", "7"],
     "--power-mode: device 'jetson-orin-nano-8gb' has no power mode '7'"),
    (["--device", "raspberry-pi-5-8gb", "--model", "yolo11n"],
     "no unit of raspberry-pi-5-8gb runs INT8 on its gpu with tensorrt"),
])
def test_bad_ids_are_one_line_errors_and_nothing_is_written(tmp_path, args, message):
    f = tmp_path / "trt.txt"
    f.write_text(TRT)
    r = cli("add", f, "--catalog", tmp_path / "mine", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.count("\n") == 1
    assert not (tmp_path / "mine").exists()


def test_one_bad_result_writes_none_of_them(tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(TRT)
    bad.write_text("not a benchmark\n")
    mine = tmp_path / "mine"
    r = cli("add", good, bad, "--catalog", mine, "--device", "jetson-orin-nano-8gb",
            "--model", "yolo11n")
    assert r.exit_code == 2 and "bad.txt: not an output edgeplan reads" in r.output
    assert not (mine / ADDED).exists()


def test_trtexec_added_then_estimates_move(tmp_path):
    f = tmp_path / "trt.txt"
    f.write_text(TRT)
    mine = tmp_path / "mine"
    r = cli("add", f, "--catalog", mine, "--device", "jetson-orin-nano-8gb", "--model", "yolo11n")
    assert r.exit_code == 0, r.output
    m = yaml.safe_load((mine / ADDED).read_text())["measurements"][0]
    assert m["tool_version"] == "8.6.2" and m["value"] == 8.2 and m["unit"] == "gpu"
    s = cli("show", "--catalog", mine, "--format", "json")
    moves = json.loads(s.output)
    rows = moves[0]["rows"]
    assert moves[0]["device"] == "jetson-orin-nano-8gb" and rows[0]["model"] == "yolo11n"
    assert rows[0]["after"]["value"] == 8.2 and rows[0]["before"]["value"] != 8.2
    others = [x for x in rows[1:] if x["model"].startswith("yolov8")]
    assert others and all(x["after"]["value"] != x["before"]["value"] for x in others)
    # the user catalog is a catalog: estimate reads the point as a measurement
    e = CliRunner().invoke(main, ["estimate", "-d", "jetson-orin-nano-8gb", "-m", "yolo11n",
                                  "-p", "int8", "-r", "tensorrt", "--catalog", str(mine),
                                  "--format", "json"])
    assert json.loads(e.output)["latency_ms"]["provenance"] == "measured"


def test_show_without_measurements_says_so(tmp_path):
    (tmp_path / "mine").mkdir()
    r = cli("show", "--catalog", tmp_path / "mine")
    assert r.exit_code == 2 and "no measurements in this catalog directory" in r.output


def test_the_blind_split_takes_whole_tables_by_name_alone(catalog):
    """At least a fifth of the calibrating points, every row of a table on one side, chosen
    from the tables' names only (the same split however the rows' values change)."""
    import dataclasses

    from planner.estimate.calibrate import (
        BLIND_SHARE,
        Calibration,
        blind_split,
        measurement_points,
        source_table,
    )
    pts = measurement_points(catalog)
    blind, rest = blind_split(pts)
    assert len(blind) + len(rest) == len(pts) and len(blind) >= BLIND_SHARE * len(pts)
    assert not {source_table(p.measurement) for p in blind} & \
        {source_table(p.measurement) for p in rest}
    # other values, same names: the same split
    moved = [dataclasses.replace(p, per_call_ms=p.per_call_ms * 3) for p in pts]
    assert [p.index for p in blind_split(moved)[0]] == [p.index for p in blind]
    # scored by a fit that never saw them: no exact match answers for a blind point
    cal = Calibration(rest)
    assert not any(p.key + (p.pipelined,) in cal.measured for p in blind
                   if p.key + (p.pipelined,) not in {q.key + (q.pipelined,) for q in rest})


def test_context_tokens_is_a_decode_rates_field():
    from pydantic import ValidationError

    from planner.catalog.schema import Measurement
    base = dict(device="d", model="m", precision="int4", runtime="llama.cpp", source="test")
    assert Measurement(**base, metric="decode_tokens_per_s", value=5.0,
                       context_tokens=4160).context_tokens == 4160
    with pytest.raises(ValidationError, match="context_tokens is for a decode_tokens_per_s"):
        Measurement(**base, metric="prefill_tokens_per_s", value=50.0, context_tokens=512)
