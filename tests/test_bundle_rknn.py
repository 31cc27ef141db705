"""`edgeplan bundle` for RKNN plans (Rockchip NPUs): the bundle carries model.rknn built by
rknn-toolkit2 from the INT8 QDQ model.onnx, and verification runs the same graph in the
toolkit's simulator, through the bundle's own infer.py in the toolkit's own environment (its
pins clash with edgeplan's); the gates apply to it. Also: the missing toolchain, FP16 plans
(not built, said plainly), the platform read from the device, and `edgeplan toolchain`.

The end-to-end tests need the environment `edgeplan toolchain install rknn` makes (or
EDGEPLAN_RKNN_PYTHON); .ci/run makes it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest_bundle import CNN, EXAMPLES, MLP, leftovers, workload, write_manifest

from planner import exitcodes
from planner.bundle import rknn_artifact
from planner.bundle.build import BundleOptions, build_bundle
from planner.cli import main
from planner.errors import BundleError, MissingExtraError, VerificationError

CNN_CAL, CNN_EVAL = EXAMPLES / "digits_cnn_cal.npz", EXAMPLES / "digits_cnn_eval.npz"
MLP_CAL, MLP_EVAL = EXAMPLES / "digits_mlp_cal.npz", EXAMPLES / "digits_mlp_eval.npz"

RK_YAML = textwrap.dedent("""\
    devices:
      - id: test-rk-board
        name: Test board (RK3588S, 8GB)
        vendor: Test
        family: rockchip
        form_factor: sbc
        memory: {total_gb: 8, available_gb: 7, bandwidth_gbs: 30, source: test fixture}
        units:
          - {id: npu, kind: npu, peak_tops: {fp16: 3, int8: 6}, runtimes: [rknn],
             static_shapes_only: true, source: test fixture}
          - {id: cpu, kind: cpu, peak_tops: {fp32: 0.2, int8: 0.8}, runtimes: [onnxruntime],
             source: test fixture}
        power: {idle_w: 2, modes: [{id: default, power_w: 9}], source: test fixture}
        price: {usd: 120, source: test fixture}
    """)

FILES = ["README.md", "SHA256SUMS", "calibration.npz", "deployment.yaml", "infer.py",
         "model.onnx", "model.rknn", "requirements.txt", "sample_inputs.npz",
         "verification.json"]
TOOL = rknn_artifact.find_toolchain()
needs_rknn = pytest.mark.skipif(TOOL is None, reason="needs rknn-toolkit2 in its own "
                                "environment: edgeplan toolchain install rknn")


@pytest.fixture(scope="module")
def rk_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rk-catalog")
    (d / "devices.yaml").write_text(RK_YAML)
    return d


@pytest.fixture(scope="module")
def rk_catalog(rk_dir):
    from planner.catalog.loader import load_catalog
    return load_catalog([rk_dir], builtin=False, use_env=False)


def rk_workload(**kw):
    kw.setdefault("device", "test-rk-board")
    kw.setdefault("unit", "npu")
    kw.setdefault("runtime", "rknn")
    kw.setdefault("model_file", str(CNN))
    return workload(**kw)


def build(tmp_path, cat, *wls, out="out", **opts):
    plan = write_manifest(tmp_path / "deploy.yaml", *wls)
    opts.setdefault("benchmark_runs", 3)
    return build_bundle(plan, cat, BundleOptions(out_dir=tmp_path / out, **opts))


# ---------------------------------------------------------------- end to end

@needs_rknn
def test_int8_cnn_bundle_is_rknn_verified_in_the_simulator(tmp_path, rk_dir, monkeypatch):
    import planner.catalog.loader as cat
    monkeypatch.setattr(cat, "builtin_dirs", list)
    monkeypatch.delenv("EDGEPLAN_CATALOG", raising=False)
    plan = write_manifest(tmp_path / "deploy.yaml", rk_workload(accuracy_floor=95))
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["bundle", str(plan), "--catalog", str(rk_dir),
                                  "--calibration-data", str(CNN_CAL), "--eval-data",
                                  str(CNN_EVAL), "-o", str(out), "--benchmark", "3"])
    assert r.exit_code == 0, r.output
    assert "vendor artifact: RKNN (model.rknn), verified with rknn-toolkit2" in r.stdout
    assert (out / "model.rknn").read_bytes()[:4] == b"RKNN"
    # exactly the bundle's files: none of the toolkit's intermediate check*.onnx graphs
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    ver = json.loads((out / "verification.json").read_text())
    rt = ver["runtime"]
    assert (rt["name"], rt["device"], rt["target_platform"], rt["artifact"]) == \
        ("rknn-toolkit2", "simulator", "rk3588", "model.rknn")
    va = ver["vendor_artifact"]
    assert va["built"] is True and va["format"] == "RKNN" and va["files"] == ["model.rknn"]
    assert va["byte_identical_rebuilds"] is False and "only on the board" in va["simulated"]
    assert va["converter"]["rknn-toolkit2"] == TOOL["rknn-toolkit2"]
    # where the toolkit put the ops, from its own layer table: the convolutions and the
    # pooling (Gemm becomes a 1x1 Conv) on the NPU
    pl = va["placement"]
    assert pl["unit"] == "NPU" and pl["unit_ops"] >= 5 and pl["cpu_ops"].get("Conv", 0) == 0
    assert "op placement: " in r.stdout and " ops on the NPU" in r.stdout
    assert "from rknn-toolkit2's own layer table" in r.stdout
    # the targets on the digits: agreement >= 95 %, accuracy drop <= 1 point
    assert ver["comparison"]["top1_agreement_pct"] >= 95
    assert ver["accuracy"]["artifact"] == "model.rknn"
    assert ver["accuracy"]["drop_points"] <= 1.0
    assert ver["fallback"]["runtime"]["name"] == "onnxruntime"
    assert "simulator's latency says nothing" in ver["latency_ms"]["note"]
    assert "model.rknn" in ver["files"]
    sums = (out / "SHA256SUMS").read_text()
    assert "  model.rknn\n" in sums
    readme = (out / "README.md").read_text()
    assert "The device loads the **RKNN** model `model.rknn`" in readme
    assert "NOT in this bundle" not in readme
    infer = (out / "infer.py").read_text()
    assert "RKNN_PLATFORM = 'rk3588'" in infer


@needs_rknn
def test_simulator_outputs_match_an_independent_build(tmp_path, rk_catalog):
    """What infer.py reported is what rknn-toolkit2 computes on the bundle's model.onnx,
    built and run here in a separate script, not through infer.py."""
    res = build(tmp_path, rk_catalog, rk_workload(), calibration_data=CNN_CAL)
    samples = res.out_dir / "sample_inputs.npz"
    got = tmp_path / "got.npz"
    p = subprocess.run([TOOL["python"], "infer.py", "--runtime", "rknn", "--input",
                        str(samples), "--output", str(got), "--json"], cwd=res.out_dir,
                       check=False, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1])["runtime"]["device"] == "simulator"
    script = textwrap.dedent(f"""\
        import numpy as np
        from rknn.api import RKNN
        rk = RKNN(verbose=False)
        rk.config(target_platform="rk3588")
        assert rk.load_onnx(model={str(res.out_dir / 'model.onnx')!r}) == 0
        assert rk.build(do_quantization=False) == 0
        assert rk.init_runtime() == 0
        x = np.load({str(samples)!r})["image"].astype(np.float32)
        out = [rk.inference(inputs=[r[None]], data_format="nchw")[0] for r in x]
        np.save({str(tmp_path / 'ref.npy')!r}, np.concatenate(out))
        """)
    p = subprocess.run([TOOL["python"], "-c", script], check=False, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    ref = np.load(tmp_path / "ref.npy")
    with np.load(got) as z:
        assert np.allclose(z["logits"], ref, atol=1e-6)


@needs_rknn
def test_mlp_int8_with_a_flat_input(tmp_path, rk_catalog):
    res = build(tmp_path, rk_catalog, rk_workload(model="digits-mlp", model_file=str(MLP)),
                calibration_data=MLP_CAL, eval_data=MLP_EVAL)
    ver = res.verification
    assert ver["runtime"]["name"] == "rknn-toolkit2"
    assert ver["accuracy"]["drop_points"] <= 1.0


@needs_rknn
def test_agreement_gate_applies_to_the_rknn_run(tmp_path, rk_catalog, monkeypatch):
    """An RKNN run whose outputs are wrong fails verification, though model.onnx is fine."""
    import planner.bundle.build as b
    real = b.render

    def spoiled(name, **ctx):
        text = real(name, **ctx)
        if name == "bundle/infer.py.j2":
            old = "return [np.asarray(o, dtype=np.float32) for o in outs]"
            assert old in text
            text = text.replace(old, "return [-np.asarray(o, dtype=np.float32) for o in outs]")
        return text
    monkeypatch.setattr(b, "render", spoiled)
    with pytest.raises(VerificationError, match="outputs disagree with the FP32 reference"):
        build(tmp_path, rk_catalog, rk_workload(), calibration_data=CNN_CAL)
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


@needs_rknn
def test_infer_py_falls_back_to_onnx_without_an_rknn_toolkit(tmp_path, rk_catalog):
    res = build(tmp_path, rk_catalog, rk_workload(), calibration_data=CNN_CAL)
    p = subprocess.run([sys.executable, "infer.py", "--json"], cwd=res.out_dir,
                       check=False, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1])["runtime"]["name"] == "onnxruntime"
    assert "neither rknn-toolkit-lite2 nor rknn-toolkit2 is installed" in p.stderr
    # what cannot run without a toolkit is refused in one line, not a traceback
    for args, said in ((["--runtime", "rknn"], "--runtime rknn needs rknn-toolkit-lite2"),
                       (["--model", "model.rknn"], "model.rknn needs rknn-toolkit-lite2"),
                       (["--export-rknn", "x.rknn"], "needs rknn-toolkit2")):
        p = subprocess.run([sys.executable, "infer.py", *args], cwd=res.out_dir, check=False,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 1 and said in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr
    assert not (res.out_dir / "x.rknn").exists()


@needs_rknn
def test_the_simulator_runs_what_it_says_and_records_no_measurement(tmp_path, rk_catalog):
    """On a host, --model names the ONNX file the simulator builds (reported as such); a
    .rknn other than the bundle's is refused, a missing file too; and a simulated --benchmark
    carries no measured_as record for `edgeplan calibrate add`."""
    res = build(tmp_path, rk_catalog, rk_workload(), calibration_data=CNN_CAL)
    other = tmp_path / "other.rknn"
    other.write_bytes((res.out_dir / "model.rknn").read_bytes())

    def run(*args):
        return subprocess.run([TOOL["python"], "infer.py", "--json", *args], cwd=res.out_dir,
                              check=False, capture_output=True, text=True, timeout=600)
    p = run("--model", str(other))
    assert p.returncode == 1 and "simulator cannot load other.rknn" in p.stderr
    p = run("--model", str(tmp_path / "missing.rknn"))
    assert p.returncode == 1 and "does not exist" in p.stderr
    p = run("--runtime", "rknn", "--model", str(qdq_copy(res)))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.splitlines()[-1])
    assert out["runtime"]["built_from"] == "copy.onnx" and out["model"] == "copy.onnx"
    p = run("--benchmark", "3")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.splitlines()[-1])
    assert out["runtime"]["device"] == "simulator" and "measured_as" not in out


def qdq_copy(res) -> Path:
    """A copy of the bundle's QDQ model under another name."""
    copy = res.out_dir.parent / "copy.onnx"
    copy.write_bytes((res.out_dir / "model.onnx").read_bytes())
    return copy


@needs_rknn
def test_a_relative_toolchain_path_works(tmp_path, rk_catalog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(rknn_artifact.PYTHON_ENV, os.path.relpath(TOOL["python"], tmp_path))
    res = build(tmp_path, rk_catalog, rk_workload(), calibration_data=CNN_CAL)
    assert res.verification["runtime"]["name"] == "rknn-toolkit2"


@needs_rknn
def test_the_fp16_vendor_steps_build_an_rknn(tmp_path, rk_catalog, monkeypatch):
    """The FP16 bundle's README gives the toolkit steps for the FP32 model: run them, as
    written, in the toolkit's environment."""
    import re
    res = build(tmp_path, rk_catalog, rk_workload(precision="fp16"))
    readme = (res.out_dir / "README.md").read_text()
    code = re.search(r"```python\n(from rknn\.api import RKNN.*?)```", readme, re.DOTALL).group(1)
    work = tmp_path / "vendor"
    work.mkdir()
    (work / CNN.name).write_bytes(CNN.read_bytes())
    (work / "steps.py").write_text(code)
    p = subprocess.run([TOOL["python"], "steps.py"], cwd=work, check=False,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    assert (work / "model.rknn").read_bytes()[:4] == b"RKNN"


# ---------------------------------------------------------------- without the toolchain

def test_missing_toolchain_names_the_command_and_writes_nothing(tmp_path, rk_catalog,
                                                                monkeypatch):
    monkeypatch.setenv(rknn_artifact.PYTHON_ENV, sys.executable)   # no rknn.api there
    with pytest.raises(MissingExtraError) as e:
        build(tmp_path, rk_catalog, rk_workload(), calibration_data=CNN_CAL)
    assert "edgeplan toolchain install rknn" in e.value.message
    assert "numpy<=1.26.4" in e.value.message and e.value.extra == "rknn"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy.yaml"]


def test_missing_toolchain_cli_exit_2_one_line(tmp_path, rk_dir):
    plan = write_manifest(tmp_path / "deploy.yaml", rk_workload())
    out = tmp_path / "deep" / "out"
    env = {**os.environ, "EDGEPLAN_CATALOG": "", rknn_artifact.PYTHON_ENV: sys.executable}
    p = subprocess.run([sys.executable, "-m", "planner.cli", "bundle", str(plan), "--catalog",
                        str(rk_dir), "--no-builtin", "-q", "-o", str(out)], check=False,
                       capture_output=True, text=True, env=env)
    assert p.returncode == exitcodes.USAGE == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "edgeplan toolchain install rknn" in lines[0], p.stderr
    assert "deploy.yaml" in lines[0] and "runtime" in lines[0]
    assert not (tmp_path / "deep").exists()


def test_fp16_plan_says_the_rknn_is_not_built_and_why(tmp_path, rk_catalog, monkeypatch):
    monkeypatch.setenv(rknn_artifact.PYTHON_ENV, sys.executable)   # not needed for FP16
    res = build(tmp_path, rk_catalog, rk_workload(precision="fp16"))
    va = res.verification["vendor_artifact"]
    assert va["built"] is False and va["needed"] is True
    assert "static INT8 (QDQ) model.onnx only" in va["reason"]
    assert "graph_input_cast_0" in va["reason"]
    assert not (res.out_dir / "model.rknn").exists()
    readme = (res.out_dir / "README.md").read_text()
    assert "**The vendor artifact is NOT in this bundle.**" in readme
    assert "rknn.config(target_platform='rk3588')" in readme   # read from the device


def test_placement_is_compared_with_the_op_table():
    placement = {"ops": {"NPU": {"Conv": 3, "Softmax": 1}, "CPU": {"Reshape": 1, "TopK": 2}},
                 "cpu_layers": ["Reshape:r", "TopK:a", "TopK:b"]}
    got = rknn_artifact.compare_placement(placement, {"TopK": {"count": 2},
                                                      "Softmax": {"count": 1}})
    assert got["unit_ops"] == 4 and got["cpu_ops"] == {"Reshape": 1, "TopK": 2}
    assert got["cpu_but_table_supported"] == ["Reshape"]
    assert got["table_fallback_but_unit"] == ["Softmax"]


@pytest.mark.parametrize("dev_id,name,platform", [
    ("rk3588-orange-pi-5-8gb", "Orange Pi 5 (RK3588S, 8GB)", "rk3588"),
    ("khadas-edge2-rk3588", "Khadas Edge2", "rk3588"),
    ("rk3576-armsom-sige5-8gb", "ArmSoM Sige5 (RK3576, 8GB)", "rk3576"),
    ("luckfox-pico", "Luckfox Pico Max (RV1106G3)", "rv1106"),
    ("board-x", "Some board (RV1106B)", "rv1106b"),
    ("rk35880-typo", "no chip", None),
])
def test_platform_is_read_from_the_device(dev_id, name, platform):
    from types import SimpleNamespace
    dev = SimpleNamespace(id=dev_id, name=name)
    if platform is None:
        with pytest.raises(BundleError, match="names no Rockchip SoC"):
            rknn_artifact.platform_of(dev)
    else:
        assert rknn_artifact.platform_of(dev) == platform


def test_every_builtin_rockchip_npu_has_a_platform():
    from planner.catalog.loader import load_catalog
    cat = load_catalog(use_env=False)
    boards = [d for d in cat.devices.values()
              if any("rknn" in u.runtimes for u in d.units)]
    assert boards
    for d in boards:
        assert rknn_artifact.platform_of(d) in rknn_artifact.PLATFORMS


# ---------------------------------------------------------------- edgeplan toolchain

@pytest.mark.parametrize("value,said", [
    ("/nonexistent/bin/python", "does not exist"),
    (".", "is a directory (point it at the environment's bin/python)"),
    (sys.executable, "does not import rknn.api"),
])
def test_a_wrong_toolchain_path_is_named_with_what_is_wrong(monkeypatch, value, said):
    monkeypatch.setenv(rknn_artifact.PYTHON_ENV, value)
    assert rknn_artifact.find_toolchain() is None
    why = rknn_artifact.why_not_found()
    assert why.startswith(f"{rknn_artifact.PYTHON_ENV}={value} {said}")
    assert "unset it" in why


def test_no_toolchain_anywhere_says_install(monkeypatch, tmp_path):
    monkeypatch.delenv(rknn_artifact.PYTHON_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert rknn_artifact.find_toolchain() is None
    assert rknn_artifact.why_not_found() == "it is not installed: edgeplan toolchain install rknn"


def test_toolchain_install_with_a_missing_python_exits_2_and_leaves_nothing(tmp_path):
    target = tmp_path / "tc"
    r = CliRunner().invoke(main, ["toolchain", "install", "rknn", "--dir", str(target),
                                  "--python", str(tmp_path / "no-python")])
    assert r.exit_code == 2, r.output
    assert "cannot run" in r.output and "--python" in r.output
    assert not target.exists()


def test_toolchain_list_says_what_is_found(monkeypatch):
    monkeypatch.setenv(rknn_artifact.PYTHON_ENV, sys.executable)
    r = CliRunner().invoke(main, ["toolchain", "list"])
    assert r.exit_code == 0, r.output
    rk = next(ln for ln in r.output.splitlines() if ln.startswith("rknn"))
    assert f"missing: {rknn_artifact.PYTHON_ENV}={sys.executable} does not import rknn.api" in rk
    assert "unset it" in rk
    assert any(ln.startswith("openvino") for ln in r.output.splitlines())


def test_toolchain_install_refuses_a_directory_that_is_not_an_environment(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    r = CliRunner().invoke(main, ["toolchain", "install", "rknn", "--dir", str(tmp_path)])
    assert r.exit_code == 2
    assert "is not a Python environment" in r.output
    assert (tmp_path / "mine.txt").read_text() == "keep me"
