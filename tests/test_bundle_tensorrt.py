"""`edgeplan bundle` for TensorRT plans (Jetson GPU and DLA): the bundle carries the QDQ
model.onnx and build_engine.sh, which builds the engine with trtexec on the device. The
script is run here against a stand-in trtexec that records its arguments (the flags for the
plan's precision and unit, extra arguments passed through, the missing-trtexec message);
with a real GPU and trtexec, a test marked `gpu` builds and times a real engine."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest_bundle import (  # noqa: F401
    CNN,
    EXAMPLES,
    bundle_catalog,
    catalog_dir,
    workload,
    write_manifest,
)

from planner.bundle.build import BundleOptions, build_bundle

CNN_CAL = EXAMPLES / "digits_cnn_cal.npz"


def build(tmp_path, cat, wl):
    plan = write_manifest(tmp_path / "deploy.yaml", wl)
    return build_bundle(plan, cat, BundleOptions(out_dir=tmp_path / "out", benchmark_runs=3,
                                                 calibration_data=CNN_CAL
                                                 if wl["precision"] == "int8" else None))


def fake_trtexec(tmp_path) -> Path:
    """A stand-in trtexec: appends its arguments to calls.txt, writes the engine it is asked
    to save."""
    exe = tmp_path / "bin" / "trtexec"
    exe.parent.mkdir()
    exe.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$*" >> {tmp_path / 'calls.txt'}
        for a in "$@"; do
          case "$a" in --saveEngine=*) echo engine > "${{a#--saveEngine=}}";; esac
        done
        """))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


@pytest.mark.parametrize("unit,precision,build_flags,run_flags", [
    ("gpu", "int8", "--int8", ""),
    ("gpu", "fp16", "--fp16", ""),
    ("dla0", "int8", "--int8 --useDLACore=0 --allowGPUFallback", "--useDLACore=0"),
])
def test_build_engine_sh_runs_trtexec_with_the_plans_flags(tmp_path, bundle_catalog, unit,
                                                           precision, build_flags, run_flags):
    res = build(tmp_path, bundle_catalog, workload(device="test-jetson", unit=unit,
                                                   runtime="tensorrt", model_file=str(CNN),
                                                   precision=precision))
    script = res.out_dir / "build_engine.sh"
    assert os.access(script, os.X_OK)
    assert "build_engine.sh" in res.verification["files"]
    assert "sh build_engine.sh" in res.verification["vendor_artifact"]["next_step"]
    exe = fake_trtexec(tmp_path)
    p = subprocess.run(["sh", str(script), "--verbose"], check=False, capture_output=True,
                       text=True, env={**os.environ, "TRTEXEC": str(exe)})
    assert p.returncode == 0, p.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    shapes = "--shapes=image:1x1x8x8"        # the CNN's batch is symbolic: the plan's batch
    assert calls == [
        f"--onnx=model.onnx --saveEngine=model.engine {build_flags} {shapes} --verbose",
        " ".join(["--loadEngine=model.engine", *run_flags.split(), shapes, "--iterations=100"])]
    assert (res.out_dir / "model.engine").read_text() == "engine\n"
    readme = (res.out_dir / "README.md").read_text()
    assert f"trtexec --onnx=model.onnx --saveEngine=model.engine {build_flags}" in readme


def test_build_engine_sh_says_where_trtexec_is_missing(tmp_path, bundle_catalog):
    res = build(tmp_path, bundle_catalog, workload(device="test-jetson", unit="gpu",
                                                   runtime="tensorrt", model_file=str(CNN)))
    p = subprocess.run(["sh", str(res.out_dir / "build_engine.sh")], check=False,
                       capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 2
    assert "trtexec not found" in p.stderr and "set TRTEXEC" in p.stderr
    assert not (res.out_dir / "model.engine").exists()


def test_a_named_trtexec_is_used_or_refused_never_replaced(tmp_path, bundle_catalog):
    """TRTEXEC that is not executable is an error even with a trtexec on the PATH, and
    DLA_CORE moves both the build and the timing to that DLA core."""
    res = build(tmp_path, bundle_catalog, workload(device="test-jetson", unit="dla0",
                                                   runtime="tensorrt", model_file=str(CNN)))
    script = str(res.out_dir / "build_engine.sh")
    exe = fake_trtexec(tmp_path)
    path = f"{exe.parent}:/usr/bin:/bin"
    p = subprocess.run(["sh", script], check=False, capture_output=True, text=True,
                       env={"PATH": path, "TRTEXEC": str(tmp_path / "nope")})
    assert p.returncode == 2 and "is not an executable file" in p.stderr
    assert not (tmp_path / "calls.txt").exists()
    p = subprocess.run(["sh", script], check=False, capture_output=True, text=True,
                       env={"PATH": path, "DLA_CORE": "1"})       # trtexec from the PATH
    assert p.returncode == 0, p.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert all("--useDLACore=1" in c and "--useDLACore=0" not in c for c in calls), calls


def test_only_tensorrt_bundles_have_the_script(tmp_path, bundle_catalog):
    res = build(tmp_path, bundle_catalog, workload(model_file=str(CNN), precision="fp32"))
    assert not (res.out_dir / "build_engine.sh").exists()


def _trtexec():
    for exe in (os.environ.get("TRTEXEC"), "/usr/src/tensorrt/bin/trtexec",
                shutil.which("trtexec")):
        if exe and os.access(exe, os.X_OK):
            return exe
    return None


@pytest.mark.gpu
@pytest.mark.skipif(_trtexec() is None or shutil.which("nvidia-smi") is None,
                    reason="needs an NVIDIA GPU and TensorRT's trtexec")
def test_real_trtexec_builds_and_times_the_engine(tmp_path, bundle_catalog):
    res = build(tmp_path, bundle_catalog, workload(device="test-jetson", unit="gpu",
                                                   runtime="tensorrt", model_file=str(CNN)))
    p = subprocess.run(["sh", str(res.out_dir / "build_engine.sh")], check=False,
                       capture_output=True, text=True, timeout=900,
                       env={**os.environ, "TRTEXEC": _trtexec()})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert (res.out_dir / "model.engine").stat().st_size > 1000
    assert "PASSED TensorRT.trtexec" in p.stdout
    import importlib.util
    if importlib.util.find_spec("tensorrt") is None:
        return
    # infer.py loads the real engine with tensorrt: top-1 as the QDQ model's on the CPU
    import json

    import numpy as np
    import onnxruntime as ort
    out = res.out_dir
    p = infer(out, "--input", "sample_inputs.npz", "--output", str(tmp_path / "trt.npz"),
              "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["runtime"]["name"] == "tensorrt"
    with np.load(out / "sample_inputs.npz") as z:
        x = z["image"]
    ref = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    with np.load(tmp_path / "trt.npz") as z:
        got = z[ref.get_outputs()[0].name]
    want = ref.run(None, {"image": x})[0]
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95


FAKE_TRT = Path(__file__).parent / "fixtures" / "fake_tensorrt"


@pytest.fixture(scope="module")
def stand_in_tensorrt(tmp_path_factory):
    """The tensorrt package and libcudart stood in for on the host (fixtures/fake_tensorrt):
    the "engine" is an ONNX file run with onnxruntime, "device" memory is host memory. What
    runs for real is infer.py's TensorRTSession: binding, copies, shapes and dtypes."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler for the libcudart stand-in")
    d = tmp_path_factory.mktemp("fake-trt")
    lib = d / "libcudart_shim.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(FAKE_TRT / "cudart_shim.c")],
                   check=True)
    return {"PYTHONPATH": str(FAKE_TRT), "CUDART": str(lib)}


def infer(out, *args, env=None):
    import sys
    return subprocess.run([sys.executable, "infer.py", *args], cwd=out, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("unit", ["gpu", "dla0"])
def test_infer_py_runs_model_engine_with_tensorrt(tmp_path, bundle_catalog, stand_in_tensorrt,
                                                  unit):
    import json

    import numpy as np
    res = build(tmp_path, bundle_catalog, workload(device="test-jetson", unit=unit,
                                                   runtime="tensorrt", model_file=str(CNN)))
    out = res.out_dir
    # before build_engine.sh: model.onnx with onnxruntime, said on stderr
    p = infer(out, "--input", "sample_inputs.npz", "--json")
    assert p.returncode == 0, p.stderr
    assert "no model.engine here (sh build_engine.sh builds it on the device)" in p.stderr
    assert json.loads(p.stdout)["runtime"]["name"] == "onnxruntime"
    p = infer(out, "--runtime", "tensorrt", env=stand_in_tensorrt)
    assert p.returncode != 0 and "model.engine does not exist: build it on the device with " \
        "sh build_engine.sh" in p.stderr
    p = infer(out, "--runtime", "tensorrt")
    assert p.returncode != 0 and "--runtime tensorrt needs the tensorrt Python package" in p.stderr
    # the stand-in engine is the bundle's own ONNX model: outputs must be onnxruntime's
    shutil.copyfile(out / "model.onnx", out / "model.engine")
    p = infer(out, "--input", "sample_inputs.npz", "--output", str(tmp_path / "trt.npz"),
              "--json", env=stand_in_tensorrt)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    device = "DLA 0" if unit == "dla0" else "GPU"
    assert doc["runtime"] == {"name": "tensorrt", "version": "10.0.0-stand-in",
                              "device": device, "engine": "model.engine"}
    assert doc["model"] == "model.engine" and doc["provider"] == f"tensorrt:{device}"
    assert f"runtime: tensorrt 10.0.0-stand-in, device {device}, engine model.engine" in p.stderr
    import onnxruntime as ort
    with np.load(out / "sample_inputs.npz") as z:
        x = z["image"]
    ref = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    with np.load(tmp_path / "trt.npz") as z:
        got = z[ref.get_outputs()[0].name]
    # the engine's profile takes one row (the plan's batch): the samples run one by one
    assert len(x) > 1
    np.testing.assert_array_equal(got, ref.run(None, {"image": x})[0])
    # a benchmark reuses the device buffers
    p = infer(out, "--benchmark", "5", "--json", env=stand_in_tensorrt)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["benchmark"]["runs"] == 5
    # --provider cpu: not the engine
    p = infer(out, "--provider", "cpu", "--json", env=stand_in_tensorrt)
    assert p.returncode == 0 and json.loads(p.stdout)["runtime"]["name"] == "onnxruntime"
    # TensorRT before 8.5 (JetPack 4): the ONNX fallback, said; named explicitly, refused
    old = {**stand_in_tensorrt, "STAND_IN_TRT_VERSION": "8.2.1"}
    p = infer(out, "--json", env=old)
    assert p.returncode == 0 and "TensorRT 8.2.1 is older than 8.5 (no named I/O tensors): " \
        "running model.onnx with onnxruntime instead of model.engine" in p.stderr
    p = infer(out, "--runtime", "tensorrt", env=old)
    assert p.returncode != 0 and "run model.onnx with --runtime onnxruntime" in p.stderr
    # the package absent: the ONNX fallback, said; an engine named explicitly is refused
    p = infer(out, "--json")
    assert p.returncode == 0 and "the tensorrt Python package is not installed: running " \
        "model.onnx with onnxruntime instead of model.engine" in p.stderr
    p = infer(out, "--model", "model.engine")
    assert p.returncode != 0 and "model.engine needs the tensorrt Python package" in p.stderr
    if unit == "dla0":         # the core it was built for, or DLA_CORE's
        p = infer(out, "--json", env={**stand_in_tensorrt, "DLA_CORE": "1"})
        assert json.loads(p.stdout)["runtime"]["device"] == "DLA 1"
        p = infer(out, env={**stand_in_tensorrt, "DLA_CORE": "one"})
        assert p.returncode != 0 and "DLA_CORE='one' is not a DLA core number" in p.stderr \
            and "Traceback" not in p.stderr
    # an engine TensorRT cannot read
    (out / "model.engine").write_bytes(b"not an engine")
    p = infer(out, env=stand_in_tensorrt)
    assert p.returncode != 0 and "could not load model.engine" in p.stderr


def test_a_dla_plan_builds_for_its_own_core():
    """dla1 builds and runs on DLA core 1 (DLA_CORE overrides it in build_engine.sh and
    infer.py); a GPU plan has no DLA flags."""
    from types import SimpleNamespace

    from planner.bundle.build import _dla_core, _trtexec_flags
    assert _dla_core(SimpleNamespace(kind="dla", id="dla1")) == 1
    assert _dla_core(SimpleNamespace(kind="gpu", id="gpu")) is None
    flags = _trtexec_flags("int8", 1, "")
    assert flags == {"trtexec_flags": ["--int8", "--useDLACore=1", "--allowGPUFallback"],
                     "trtexec_run_flags": ["--useDLACore=1"]}
    assert _trtexec_flags("fp16", None, "--shapes=x:1x3")["trtexec_flags"] == \
        ["--fp16", "--shapes=x:1x3"]


# JetPack's system Python, which `--system-site-packages` runs infer.py with on the Jetson:
# JetPack 4 (the Nano: TensorRT 8.2, so infer.py falls back to model.onnx) ships 3.6,
# JetPack 5 ships 3.8, JetPack 6 3.10
JETPACK_PYTHONS = [(3, 6), (3, 8), (3, 10)]
NEWER_THAN_36 = ("removeprefix", "removesuffix", "capture_output", "functools.cache",
                 "math.prod", "importlib.metadata", "from __future__ import annotations",
                 "strict=", "fromisoformat", "perf_counter_ns", "breakpoint(")


@pytest.mark.parametrize("unit", ["gpu", "dla0"])
def test_infer_py_is_jetpacks_python(tmp_path, bundle_catalog, unit):
    """A Jetson bundle's infer.py parses as JetPack's own Python does, back to JetPack 4's 3.6
    (walrus, positional-only parameters and the like are refused there), and names none of
    the library calls that came after 3.6."""
    import ast
    res = build(tmp_path, bundle_catalog, workload(device="test-jetson", unit=unit,
                                                   runtime="tensorrt", model_file=str(CNN)))
    src = (res.out_dir / "infer.py").read_text()
    for version in JETPACK_PYTHONS:
        ast.parse(src, filename="infer.py", feature_version=version)
    assert [name for name in NEWER_THAN_36 if name in src] == []
