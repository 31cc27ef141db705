"""`edgeplan bundle` for OpenVINO plans: the bundle carries OpenVINO IR built with OpenVINO's
converter (NNCF for INT8), and verification runs that IR in the openvino runtime on the host
CPU; the gates apply to it. Also: the missing-extra message, determinism, and the plain
statement, for targets whose vendor artifact is not built here, that it is not."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest_bundle import (  # noqa: F401
    CNN,
    EXAMPLES,
    MLP,
    bundle_catalog,
    catalog_dir,
    leftovers,
    workload,
    write_manifest,
)

from planner import exitcodes
from planner.bundle.build import BundleOptions, build_bundle
from planner.cli import main
from planner.errors import AccuracyBudgetError, MissingExtraError, VerificationError

CNN_CAL, CNN_EVAL = EXAMPLES / "digits_cnn_cal.npz", EXAMPLES / "digits_cnn_eval.npz"
MLP_CAL, MLP_EVAL = EXAMPLES / "digits_mlp_cal.npz", EXAMPLES / "digits_mlp_eval.npz"
IR = {"model.xml", "model.bin"}
FILES = {"model.onnx", "infer.py", "requirements.txt", "deployment.yaml", "README.md",
         "sample_inputs.npz", "verification.json", "SHA256SUMS"} | IR

INTEL_YAML = textwrap.dedent("""\
    devices:
      - id: test-intel
        name: Test Intel mini PC
        vendor: Test
        family: intel
        form_factor: mini-pc
        memory: {total_gb: 16, available_gb: 12, bandwidth_gbs: 50, source: test fixture}
        units:
          - {id: cpu, kind: cpu, peak_tops: {fp32: 1, fp16: 1, int8: 4},
             runtimes: [openvino, onnxruntime], source: test fixture}
        power: {idle_w: 5, modes: [{id: default, power_w: 28}], source: test fixture}
        price: {usd: 500, source: test fixture}
      - id: test-ncs2
        name: Test Neural Compute Stick
        vendor: Test
        family: movidius
        form_factor: usb-accelerator
        memory: {total_gb: 4, available_gb: 3, bandwidth_gbs: 10, source: test fixture}
        units:
          - {id: vpu, kind: vpu, peak_tops: {fp16: 1}, runtimes: [openvino],
             static_shapes_only: true, source: test fixture}
        power: {idle_w: 3, modes: [{id: default, power_w: 5}], source: test fixture}
        price: {usd: 99, source: test fixture}
    """)


@pytest.fixture(scope="module")
def intel_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("intel-catalog")
    (d / "devices.yaml").write_text(INTEL_YAML)
    return d


@pytest.fixture(scope="module")
def intel_catalog(intel_dir):
    from planner.catalog.loader import load_catalog
    return load_catalog([intel_dir], builtin=False, use_env=False)


def ov_workload(**kw):
    kw.setdefault("device", "test-intel")
    kw.setdefault("runtime", "openvino")
    kw.setdefault("model_file", str(CNN))
    return workload(**kw)


def build(tmp_path, cat, *wls, out="out", **opts):
    plan = write_manifest(tmp_path / "deploy.yaml", *wls)
    opts.setdefault("benchmark_runs", 5)
    return build_bundle(plan, cat, BundleOptions(out_dir=tmp_path / out, **opts))


def run_ir(xml: Path, arrays: dict) -> np.ndarray:
    """The IR's first output, computed here in-process, independently of infer.py."""
    import openvino as ov
    compiled = ov.Core().compile_model(str(xml), "CPU")
    return np.array(compiled(arrays)[compiled.outputs[0]])


def reference(model: Path, arrays: dict) -> np.ndarray:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(None, arrays)[0]


needs_openvino = pytest.mark.skipif(
    __import__("importlib").util.find_spec("openvino") is None or
    __import__("importlib").util.find_spec("nncf") is None,
    reason="needs the openvino extra: pip install 'edgeplan[openvino]'")


# ---------------------------------------------------------------- end to end

@needs_openvino
def test_int8_cnn_bundle_is_openvino_ir_verified_in_openvino(tmp_path, intel_dir,
                                                             monkeypatch):
    import planner.catalog.loader as cat
    monkeypatch.setattr(cat, "builtin_dirs", lambda: [])
    monkeypatch.delenv("EDGEPLAN_CATALOG", raising=False)
    plan = write_manifest(tmp_path / "deploy.yaml", ov_workload(accuracy_floor=95))
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["bundle", str(plan), "--catalog", str(intel_dir),
                                  "--calibration-data", str(CNN_CAL), "--eval-data",
                                  str(CNN_EVAL), "-o", str(out), "--benchmark", "5"])
    assert r.exit_code == 0, r.output
    assert "vendor artifact: OpenVINO IR (model.xml, model.bin), verified with openvino" \
        in r.stdout
    assert {p.name for p in out.iterdir()} == FILES | {"calibration.npz"}
    v = json.loads((out / "verification.json").read_text())
    import nncf
    import openvino
    # the runtime that executed the artifact
    assert v["runtime"] == {"name": "openvino", "version": openvino.__version__,
                            "device": "CPU", "artifact": "model.xml"}
    assert v["provider"]["used"] == "openvino:CPU"
    assert any("runtime: openvino" in ln and "model.xml" in ln for ln in v["provider"]["log"])
    va = v["vendor_artifact"]
    assert va["built"] is True and va["format"] == "OpenVINO IR"
    assert va["files"] == ["model.xml", "model.bin"]
    assert va["converter"] == {"openvino": openvino.__version__, "nncf": nncf.__version__}
    assert "nncf.quantize" in va["method"]
    assert all("--runtime" in c and "openvino" in c for c in v["commands"][:2])
    # the figures are the IR's: recompute them here from model.xml, independently
    with np.load(out / "sample_inputs.npz") as z:
        x = {"image": z["image"]}
    ir_out, ref = run_ir(out / "model.xml", x), reference(CNN, x)
    agree = float((ir_out.argmax(1) == ref.argmax(1)).mean() * 100)
    assert v["comparison"]["top1_agreement_pct"] == pytest.approx(agree)
    assert v["comparison"]["max_abs_error"] == pytest.approx(
        float(np.abs(ir_out - ref).max()), rel=1e-4, abs=1e-5)
    # ...and not the fallback's: the QDQ ONNX file rounds differently
    assert v["fallback"]["file"] == "model.onnx"
    assert v["fallback"]["runtime"]["name"] == "onnxruntime"
    assert v["fallback"]["comparison"]["max_abs_error"] != v["comparison"]["max_abs_error"]
    with np.load(CNN_EVAL) as z:
        ex, ey = {"image": z["image"]}, z["labels"]
    acc = float((run_ir(out / "model.xml", ex).argmax(1) == ey).mean() * 100)
    assert v["accuracy"]["artifact"] == "model.xml"
    assert v["accuracy"]["converted_pct"] == pytest.approx(acc, abs=1e-3)
    assert v["accuracy"]["drop_points"] <= 1.0 and v["accuracy_budget"]["checked"] is True
    # INT8 IR: weights INT8 in model.bin (the IR holds FakeQuantize / u8/i8 constants)
    assert v["sizes"]["converted_files"] == ["model.xml", "model.bin"]
    assert v["sizes"]["converted_bytes"] == sum((out / f).stat().st_size for f in IR)
    assert v["sizes"]["ratio"] <= 0.30
    assert v["tools"]["openvino"] == __import__("importlib").metadata.version("openvino")
    # every file is covered, and SHA256SUMS checks
    sums = dict(reversed(line.split("  ")) for line in
                (out / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == FILES - {"SHA256SUMS"} | {"calibration.npz"}
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    req = (out / "requirements.txt").read_text()
    assert f"openvino=={__import__('importlib').metadata.version('openvino')}" in req
    readme = (out / "README.md").read_text()
    assert "The device loads the **OpenVINO IR** `model.xml` + `model.bin`" in readme
    assert "NOT in this bundle" not in readme
    # the bundle runs on its own, from anywhere, and says what it loaded
    p = subprocess.run([sys.executable, str(out / "infer.py"), "--input",
                        str(out / "sample_inputs.npz"), "--top-k", "3"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "sample 0: top-3" in p.stdout
    assert "runtime: openvino" in p.stderr and "model model.xml" in p.stderr
    assert not leftovers(tmp_path)


@needs_openvino
def test_infer_py_falls_back_to_onnx_without_openvino(tmp_path, intel_catalog):
    res = build(tmp_path, intel_catalog, ov_workload(), calibration_data=CNN_CAL)
    code = ("import sys, runpy; sys.modules['openvino'] = None; "
            "sys.argv = ['infer.py', '--input', 'sample_inputs.npz', '--json']; "
            "runpy.run_path('infer.py', run_name='__main__')")
    p = subprocess.run([sys.executable, "-c", code], cwd=res.out_dir, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert "openvino is not installed: running model.onnx with onnxruntime" in p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["runtime"]["name"] == "onnxruntime" and summary["model"] == "model.onnx"
    # asking for openvino explicitly does not fall back silently
    code = code.replace("'--json'", "'--runtime', 'openvino', '--json'")
    p = subprocess.run([sys.executable, "-c", code], cwd=res.out_dir, capture_output=True,
                       text=True)
    assert p.returncode != 0


@needs_openvino
def test_rebuild_is_byte_identical_ir(tmp_path, intel_catalog):
    wl = ov_workload()
    a = build(tmp_path, intel_catalog, wl, out="a", calibration_data=CNN_CAL)
    b = build(tmp_path, intel_catalog, wl, out="b", calibration_data=CNN_CAL)
    for name in FILES - {"verification.json", "SHA256SUMS"}:
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    assert a.verification["files"] == b.verification["files"]
    # the IR names no build-host path (OpenVINO writes the source as DIR/<name>)
    xml = (a.out_dir / "model.xml").read_text()
    assert str(tmp_path) not in xml and str(EXAMPLES) not in xml


@needs_openvino
def test_ncs2_fp16_ir_has_static_shapes_and_says_it_was_not_run_on_the_stick(tmp_path,
                                                                              intel_catalog):
    res = build(tmp_path, intel_catalog,
                ov_workload(device="test-ncs2", precision="fp16"), eval_data=CNN_EVAL)
    v = res.verification
    assert v["conversion"]["method"] == "fp16"
    assert v["vendor_artifact"]["static_shapes"] == {"image": [1, 1, 8, 8]}
    assert "compress_to_fp16" in v["vendor_artifact"]["method"]
    # FP16 weights: about half the FP32 file
    assert 0.45 <= v["sizes"]["ratio"] <= 0.55
    assert v["accuracy"]["drop_points"] <= 0.5
    assert v["comparison"]["cosine_min"] > 0.9999
    xml = (res.out_dir / "model.xml").read_text()
    assert 'element_type="f16"' in xml
    readme = (res.out_dir / "README.md").read_text()
    assert "**not on the\nstick**" in readme and "openvino-dev==2022.3" in readme


@needs_openvino
def test_mlp_int8_is_weight_compressed_and_fp32_reproduces(tmp_path, intel_catalog):
    res = build(tmp_path, intel_catalog, ov_workload(model="digits-mlp", model_file=str(MLP)),
                eval_data=MLP_EVAL)
    v = res.verification
    assert v["conversion"]["method"] == "dynamic"
    assert "compress_weights" in v["vendor_artifact"]["method"]
    assert v["accuracy"]["drop_points"] <= 1.0
    # the INT8 weights are 0.26x the FP32 file; model.xml (the graph as text, 13 KB) adds a
    # fixed cost that this 50k-parameter model does not amortise
    assert (res.out_dir / "model.bin").stat().st_size <= 0.30 * v["sizes"]["fp32_bytes"]
    assert v["sizes"]["ratio"] <= 0.35
    fp = build(tmp_path, intel_catalog, ov_workload(precision="fp32"), out="fp32",
               eval_data=CNN_EVAL).verification
    assert fp["comparison"]["top1_agreement_pct"] == 100.0
    assert fp["comparison"]["max_abs_error"] < 1e-3
    assert fp["accuracy"]["drop_points"] == 0.0


@needs_openvino
def test_spec_that_allows_only_openvino_bundles_ir_on_the_builtin_catalog(tmp_path):
    from planner.catalog.loader import load_catalog
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(f"""\
        apiVersion: edgeplan/v1
        kind: Spec
        name: digits-ov
        workloads:
          - {{name: digits-cnn, model_files: [{CNN}], rate_fps: 30, precisions: [int8]}}
        devices: {{allow: [desktop-x86-host]}}
        runtimes: {{allow: [openvino]}}
        objective: [min power]
        """))
    res = build_bundle(spec, load_catalog(use_env=False), BundleOptions(
        out_dir=tmp_path / "out", model=CNN, calibration_data=CNN_CAL, eval_data=CNN_EVAL,
        benchmark_runs=3))
    v = res.verification
    assert v["target"]["runtime"] == "openvino" and v["runtime"]["name"] == "openvino"
    assert (res.out_dir / "model.xml").is_file() and v["accuracy"]["drop_points"] <= 1.0


# ---------------------------------------------------------------- gates apply to the IR

def _spoil_ir(monkeypatch, tmp_path):
    """Build the IR from a copy of the model with its weights shuffled: model.onnx (from the
    real model) stays right, so a gate that fails can only have looked at the IR."""
    import onnx
    from onnx import numpy_helper

    from planner.bundle import openvino_ir
    m = onnx.load(str(CNN))
    rng = np.random.default_rng(0)
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 1:
            flat = a.reshape(-1).copy()
            rng.shuffle(flat)
            t.CopyFrom(numpy_helper.from_array(flat.reshape(a.shape), t.name))
    bad = tmp_path / "spoiled" / "digits_cnn.onnx"
    bad.parent.mkdir()
    onnx.save(m, str(bad))
    real = openvino_ir.build_ir
    monkeypatch.setattr(openvino_ir, "build_ir", lambda src, bdir, **kw: real(bad, bdir, **kw))


@needs_openvino
@pytest.mark.parametrize("precision,message", [
    ("int8", "outputs disagree with the FP32 reference"),
    ("fp32", "unconverted model differs from the reference")])
def test_agreement_gate_applies_to_the_ir(tmp_path, intel_catalog, monkeypatch, precision,
                                          message):
    _spoil_ir(monkeypatch, tmp_path)
    with pytest.raises(VerificationError, match=message):
        build(tmp_path, intel_catalog, ov_workload(precision=precision),
              calibration_data=CNN_CAL if precision == "int8" else None)
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


@needs_openvino
def test_accuracy_gate_applies_to_the_ir(tmp_path, intel_catalog, monkeypatch):
    _spoil_ir(monkeypatch, tmp_path)
    with pytest.raises(AccuracyBudgetError, match="accuracy floor"):
        build(tmp_path, intel_catalog, ov_workload(accuracy_floor=90),
              calibration_data=CNN_CAL, eval_data=CNN_EVAL, min_cosine=-1.0)
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


@needs_openvino
def test_real_ir_passes_where_the_spoiled_one_fails(tmp_path, intel_catalog):
    res = build(tmp_path, intel_catalog, ov_workload(accuracy_floor=90),
                calibration_data=CNN_CAL, eval_data=CNN_EVAL, min_agreement=90)
    assert res.verification["verdict"] == "verified"


# ---------------------------------------------------------------- the missing extra

@pytest.mark.parametrize("missing,named", [("openvino", "openvino"), ("nncf", "nncf")])
def test_missing_extra_names_it_and_writes_nothing(tmp_path, intel_catalog, monkeypatch,
                                                   missing, named):
    monkeypatch.setitem(sys.modules, missing, None)      # `import <missing>` fails
    with pytest.raises(MissingExtraError) as e:
        build(tmp_path, intel_catalog, ov_workload(), calibration_data=CNN_CAL)
    assert "pip install 'edgeplan[openvino]'" in e.value.message
    assert f"needs {named}" in e.value.message and e.value.extra == "openvino"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy.yaml"]


def test_missing_extra_cli_exit_2_one_line(tmp_path, intel_dir):
    plan = write_manifest(tmp_path / "deploy.yaml", ov_workload())
    out = tmp_path / "deep" / "out"
    code = ("import sys; sys.modules['openvino'] = None; from planner.cli import main; "
            "sys.exit(main())")
    p = subprocess.run([sys.executable, "-c", code, "bundle", str(plan), "--catalog",
                        str(intel_dir), "-o", str(out)], capture_output=True, text=True,
                       env={**__import__("os").environ, "EDGEPLAN_CATALOG": ""})
    assert p.returncode == exitcodes.USAGE == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert any("pip install 'edgeplan[openvino]'" in ln for ln in lines), p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "deep").exists()


@needs_openvino
def test_fp16_needs_no_nncf(tmp_path, intel_catalog, monkeypatch):
    monkeypatch.setitem(sys.modules, "nncf", None)
    res = build(tmp_path, intel_catalog, ov_workload(precision="fp16"))
    assert res.verification["vendor_artifact"]["built"] is True


def test_onnxruntime_plan_on_an_intel_device_is_plain_onnx(tmp_path, intel_catalog,
                                                           monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)   # not needed for runtime onnxruntime
    res = build(tmp_path, intel_catalog, ov_workload(runtime="onnxruntime", precision="fp16"))
    assert not (res.out_dir / "model.xml").exists()
    assert res.verification["runtime"]["name"] == "onnxruntime"


# ---------------------------------------------------------------- not built: said plainly

@pytest.mark.parametrize("device,runtime,artifact", [
    ("test-jetson", "tensorrt", "TensorRT engine"),
])   # Coral: tests/test_bundle_tflite.py (the .tflite is built, its compiled form is not)
def test_vendor_artifact_not_built_is_said_plainly(tmp_path, bundle_catalog, device, runtime,
                                                   artifact):
    res = build(tmp_path, bundle_catalog,
                workload(device=device, model_file=str(CNN), precision="int8"),
                calibration_data=CNN_CAL)
    va = res.verification["vendor_artifact"]
    assert va["built"] is False and va["needed"] is True
    assert artifact in va["artifact"] and va["reason"]
    assert "is not verified" in va["verified"] and "model.onnx" in va["verified"]
    assert res.verification["runtime"]["name"] == "onnxruntime"
    readme = (res.out_dir / "README.md").read_text()
    assert "**The vendor artifact is NOT in this bundle.**" in readme
    assert "edgeplan did not build it" in readme
    assert "The device loads the **OpenVINO IR**" not in readme


def test_cpu_onnxruntime_bundle_needs_no_vendor_artifact(tmp_path, bundle_catalog):
    res = build(tmp_path, bundle_catalog, workload(model_file=str(CNN), precision="fp32"))
    va = res.verification["vendor_artifact"]
    assert va == {"built": False, "needed": False, "note": va["note"],
                  "verified": va["verified"]}
    assert "NOT in this bundle" not in (res.out_dir / "README.md").read_text()


def test_every_vendor_step_but_openvino_says_why_its_artifact_is_not_built():
    from planner.bundle.render import targets
    t = targets()
    steps = set(t["family_steps"].values()) | set(t["runtime_steps"].values())
    assert steps - set(t["vendor_artifacts"]) == {"openvino"}
    for step, entry in t["vendor_artifacts"].items():
        assert entry["artifact"] and len(entry["reason"]) > 40, step
