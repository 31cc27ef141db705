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
