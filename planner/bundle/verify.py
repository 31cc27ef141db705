"""Verification: run the bundle's own `infer.py` on its samples, compare with the FP32
reference, measure accuracy and time, lint the manifest, and enforce the gates."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from planner.bundle.contents import (
    FP32_RTOL,
    MODEL_FILE,
    SAMPLES_FILE,
    BundleOptions,
    _fixed_batch,
    _write_npz,
)
from planner.bundle.quantize import class_labels
from planner.errors import (
    AccuracyBudgetError,
    EdgeplanError,
    InputError,
    VerificationError,
)

# ---------------------------------------------------------------- verification

def run_infer(bdir: Path, args: list[str], timeout_s: float, python: str | None = None,
              error: type[EdgeplanError] = VerificationError) -> dict:
    """Run the bundle's infer.py with `args --json` (with `python`, default this one) and
    return its JSON summary; `error` is raised when it fails (a verification run: exit 5; a
    build step such as --export-rknn: BundleError)."""
    cmd = [python or sys.executable, "infer.py", *args, "--json"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        p = subprocess.run(cmd, cwd=bdir, capture_output=True, text=True, timeout=timeout_s,
                           env=env)
    except subprocess.TimeoutExpired:
        raise error(f"infer.py {' '.join(args)} ran over {timeout_s:g} s") from None
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        raise error(f"infer.py {' '.join(args)} failed with exit code "
                    f"{p.returncode}: {' | '.join(tail)}")
    try:
        summary = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise error("infer.py printed no JSON summary") from None
    summary["log"] = [ln for ln in p.stderr.splitlines() if ln.startswith("infer.py:")]
    return summary


def _reference(model_path: Path, arrays: dict, specs) -> dict:
    """FP32 reference outputs, computed in this process with onnxruntime on the CPU,
    independently of the generated script."""
    import numpy as np
    import onnxruntime as ort

    from planner.bundle.quantize import batches
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    fixed = _fixed_batch(specs)
    parts = [sess.run(names, feed) for feed in batches(arrays, fixed)]
    return {n: np.concatenate([p[i] for p in parts]) for i, n in enumerate(names)}


def class_scores(a):
    """A classifier's (samples, classes) scores: the output itself, or with its trailing
    axes of size 1 dropped (Caffe-era graphs end in (N, 1000, 1, 1): SqueezeNet, DenseNet);
    None for any other shape."""
    if a.ndim >= 2 and all(d == 1 for d in a.shape[2:]) and a.shape[1] > 1:
        return a.reshape(a.shape[0], a.shape[1])
    return None


def compare(ref: dict, got: dict) -> dict:
    """Top-1 agreement (first output, when it is (samples, classes)), max absolute error,
    cosine similarity per sample (mean and min), per output and overall."""
    import numpy as np
    res = {"outputs": {}}
    for name, r in ref.items():
        if name not in got:
            raise VerificationError(f"infer.py did not return output {name!r}")
        g = got[name]
        if g.shape != r.shape:
            raise VerificationError(f"output {name!r} has shape {list(g.shape)}, the reference "
                                    f"{list(r.shape)}")
        r64, g64 = r.astype(np.float64), g.astype(np.float64)
        if not np.all(np.isfinite(g64)):
            raise VerificationError(f"output {name!r} has NaN or infinite values")
        rf = r64.reshape(len(r64), -1) if r64.ndim else r64.reshape(1, -1)
        gf = g64.reshape(len(g64), -1) if g64.ndim else g64.reshape(1, -1)
        num = (rf * gf).sum(1)
        den = np.linalg.norm(rf, axis=1) * np.linalg.norm(gf, axis=1)
        cos = np.where(den > 0, num / np.where(den > 0, den, 1), 1.0)
        d = {"max_abs_error": float(np.abs(r64 - g64).max()) if r64.size else 0.0,
             "max_abs_reference": float(np.abs(r64).max()) if r64.size else 0.0,
             "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}
        res["outputs"][name] = d
    first = next(iter(ref))
    r, g = class_scores(ref[first]), class_scores(got[first])
    if r is not None:
        res["top1_agreement_pct"] = float((r.argmax(1) == g.argmax(1)).mean() * 100.0)
    res["max_abs_error"] = max(d["max_abs_error"] for d in res["outputs"].values())
    res["cosine_mean"] = min(d["cosine_mean"] for d in res["outputs"].values())
    res["cosine_min"] = min(d["cosine_min"] for d in res["outputs"].values())
    return res


def _load_outputs(path: Path) -> dict:
    import numpy as np
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _verify(bdir, work, model_path, specs, sample_arrays, ev, wl, conv, opts, catalog,
            progress, params: int = 0, artifact: dict | None = None,
            artifact_python: str | None = None) -> dict:
    """With a vendor artifact (OpenVINO IR, .tflite, .rknn), every run of infer.py runs that
    artifact in its runtime (`--runtime openvino --device CPU`, `--runtime tflite`,
    `--runtime rknn`: no silent fallback to the ONNX file), and the ONNX fallback is checked
    once more on the samples. The FP32 timing runs the source model in the same runtime
    where that runtime reads ONNX (openvino), else with onnxruntime's CPU provider.
    `artifact_python` runs the artifact's runs where its toolchain lives in its own
    environment (rknn-toolkit2)."""
    steps = 4 + (1 if ev is not None else 0) + (1 if artifact else 0)
    fmt = (artifact or {}).get("format")
    rt = ["--runtime", "openvino", "--device", "CPU"] if fmt == "OpenVINO IR" else \
        ["--runtime", "tflite"] if fmt == "TensorFlow Lite" else \
        ["--runtime", "rknn"] if fmt == "RKNN" else []
    rt_ref = ["--runtime", "onnxruntime", "--provider", "cpu"] \
        if fmt in ("TensorFlow Lite", "RKNN") else rt
    want = {"OpenVINO IR": ("openvino",),
            "TensorFlow Lite": ("ai-edge-litert", "tflite_runtime", "tensorflow"),
            "RKNN": ("rknn-toolkit2", "rknn-toolkit-lite2")}.get(fmt)
    step = 0

    def tick(msg):
        nonlocal step
        step += 1
        progress("verify", step, steps, msg)

    progress("verify", 0, steps, "FP32 reference outputs (in-process onnxruntime, CPU)")
    ref = _reference(model_path, sample_arrays, specs)
    tick("running infer.py on sample_inputs.npz (converted model)")
    out_conv = work / "outputs_converted.npz"
    run_conv = run_infer(bdir, ["--input", SAMPLES_FILE, "--output", str(out_conv),
                                 "--benchmark", str(opts.benchmark_runs), *rt], opts.timeout_s,
                          artifact_python)
    if want and (run_conv.get("runtime") or {}).get("name") not in want:
        raise VerificationError(f"infer.py did not run the {fmt} artifact in its runtime")
    cmp = compare(ref, _load_outputs(out_conv))
    tick("timing the FP32 model with infer.py")
    run_ref = run_infer(bdir, ["--model", str(model_path.resolve()), "--input", SAMPLES_FILE,
                                "--benchmark", str(opts.benchmark_runs), *rt_ref],
                         opts.timeout_s)
    ver: dict = {"commands": [
        ["python", "infer.py", "--input", SAMPLES_FILE, "--output", "<outputs.npz>",
         "--benchmark", str(opts.benchmark_runs), *rt, "--json"],
        ["python", "infer.py", "--model", f"<{model_path.name}>", "--input", SAMPLES_FILE,
         "--benchmark", str(opts.benchmark_runs), *rt_ref, "--json"]],
        "runtime": dict(run_conv.get("runtime") or {}, artifact=run_conv.get("model")),
        "provider": {"used": run_conv["provider"], "session": run_conv["providers"],
                     "log": run_conv["log"]},
        "comparison": cmp}
    if artifact:
        tick(f"running infer.py on the {MODEL_FILE} fallback with onnxruntime")
        out_fb = work / "outputs_fallback.npz"
        run_fb = run_infer(bdir, ["--input", SAMPLES_FILE, "--output", str(out_fb),
                                   "--runtime", "onnxruntime", "--provider", "cpu"],
                            opts.timeout_s)
        ver["commands"].append(["python", "infer.py", "--input", SAMPLES_FILE, "--output",
                                "<outputs.npz>", "--runtime", "onnxruntime", "--provider",
                                "cpu", "--json"])
        ver["fallback"] = {"file": MODEL_FILE, "runtime": run_fb.get("runtime"),
                           "comparison": compare(ref, _load_outputs(out_fb)),
                           "note": f"infer.py runs this when the {fmt} runtime is not "
                                   "installed; the gates apply to the artifact, not to this "
                                   "file"}
    bc, br = run_conv["benchmark"], run_ref["benchmark"]
    ver["latency_ms"] = {
        "fp32": br, "converted": bc,
        "speedup": round(br["median_ms"] / bc["median_ms"], 3) if bc["median_ms"] > 0 else None,
        "note": f"host latency of one batch of {bc.get('batch')} (FP32: {br.get('batch')}), "
                f"median of {opts.benchmark_runs} runs after warm-up, {run_conv['provider']}"
                + (f" (FP32: {run_ref['provider']})"
                   if run_ref["provider"] != run_conv["provider"] else "")
                + ("; a simulator's latency says nothing of the device's"
                   if (run_conv.get("runtime") or {}).get("device") == "simulator" else "")
                + "; the target device differs"}
    src_bytes = _model_bytes(model_path)
    dst_bytes = _model_bytes(bdir / MODEL_FILE)
    if artifact:
        onnx_bytes = dst_bytes
        dst_bytes = sum((bdir / f).stat().st_size for f in artifact["files"])
    # graphs that generate their weights (ConstantOfShape, as the model-zoo "light" graphs
    # do) are smaller than their weights: compare with the FP32 weights then
    fp32_bytes = max(src_bytes, 4 * params)
    ver["sizes"] = {"source_file_bytes": src_bytes, "fp32_weight_bytes": 4 * params,
                    "fp32_bytes": fp32_bytes, "converted_bytes": dst_bytes,
                    "ratio": round(dst_bytes / fp32_bytes, 4) if fp32_bytes else None}
    if artifact:
        ver["sizes"]["converted_files"] = list(artifact["files"])
        ver["sizes"]["fallback_onnx_bytes"] = onnx_bytes
    if ev is not None:
        tick("running infer.py on --eval-data")
        out_ev = work / "outputs_eval.npz"
        ev_path = work / "eval_inputs.npz"
        _write_npz(ev_path, ev[0], None)
        run_infer(bdir, ["--input", str(ev_path), "--output", str(out_ev), *rt],
                   opts.timeout_s, artifact_python)
        ver["commands"].append(["python", "infer.py", "--input", "<eval inputs.npz>",
                                "--output", "<outputs.npz>", *rt, "--json"])
        got = _load_outputs(out_ev)
        ref_ev = _reference(model_path, ev[0], specs)
        first = next(iter(ref_ev))
        ref_scores, got_scores = class_scores(ref_ev[first]), class_scores(got[first])
        if ref_scores is None:
            raise InputError("--eval-data: accuracy needs a (samples, classes) first output, "
                             f"not {list(ref_ev[first].shape)}", field="--eval-data")
        # the model's class count is known for sure only now (a symbolic output dimension)
        labels = class_labels(ev[1], str(opts.eval_data), "--eval-data",
                              ref_scores.shape[1])
        acc_ref = float((ref_scores.argmax(1) == labels).mean() * 100.0)
        acc_conv = float((got_scores.argmax(1) == labels).mean() * 100.0)
        ver["accuracy"] = {"metric": "top-1 accuracy % on --eval-data",
                           "artifact": ver["runtime"].get("artifact"),
                           "samples": int(len(labels)), "fp32_pct": round(acc_ref, 4),
                           "converted_pct": round(acc_conv, 4),
                           "drop_points": round(acc_ref - acc_conv, 4)}
    tick("linting deployment.yaml")
    ver["lint"] = _lint(bdir / "deployment.yaml", catalog)
    tick("")
    # an unconverted model must reproduce the reference
    if conv.method == "none":
        for name, d in cmp["outputs"].items():
            if d["max_abs_error"] > FP32_RTOL * max(1.0, d["max_abs_reference"]):
                raise VerificationError(f"output {name!r} of the unconverted model differs from "
                                        f"the reference by {d['max_abs_error']:.3g}")
    return ver


def _model_bytes(path: Path) -> int:
    total = path.stat().st_size
    data = path.with_name(path.name + ".data")
    if data.exists():
        total += data.stat().st_size
    try:
        import onnx
        m = onnx.load(str(path), load_external_data=False)
        locs = {e.value for t in m.graph.initializer for e in t.external_data
                if e.key == "location"}
        for loc in locs:
            f = path.parent / loc
            if f.exists() and f != data:
                total += f.stat().st_size
    except Exception:
        pass
    return total


def _lint(path: Path, catalog) -> dict:
    try:
        from planner.lint.engine import lint_paths
    except ImportError:
        return {"ran": False, "reason": "this edgeplan has no lint module"}
    rep = lint_paths([str(path)], catalog=catalog)
    findings = [{"rule": f.rule, "severity": f.severity, "message": f.message,
                 "line": f.line} for f in rep.findings]
    return {"ran": True, "findings": findings,
            "errors": sum(1 for f in rep.findings if f.severity == "error")}


def _enforce(ver: dict, opts: BundleOptions, wl) -> None:
    cmp = ver["comparison"]
    if ver["lint"].get("errors"):
        first = next(f for f in ver["lint"]["findings"] if f["severity"] == "error")
        raise VerificationError(f"deployment.yaml does not lint clean: {first['rule']} "
                                f"{first['message']}")
    if cmp["cosine_mean"] < opts.min_cosine:
        raise VerificationError(f"outputs disagree with the FP32 reference: mean cosine "
                                f"similarity {cmp['cosine_mean']:.4f} < {opts.min_cosine:g}")
    agree = cmp.get("top1_agreement_pct")
    if opts.min_agreement is not None and agree is not None and agree < opts.min_agreement:
        raise VerificationError(f"top-1 agreement with the FP32 reference is {agree:.2f}% < "
                                f"{opts.min_agreement:g}%")
    floor = opts.accuracy_floor if opts.accuracy_floor is not None else wl.accuracy_floor
    acc = ver.get("accuracy")
    budget = {"accuracy_floor": floor, "max_accuracy_drop": opts.max_accuracy_drop}
    if acc is None:
        if floor is not None or opts.max_accuracy_drop is not None:
            budget["checked"] = False
            budget["reason"] = "no --eval-data: the accuracy budget could not be measured"
            ver["warnings"].append("the accuracy budget was NOT checked: give --eval-data "
                                   "with labels")
        ver["accuracy_budget"] = budget
        return
    budget["checked"] = True
    ver["accuracy_budget"] = budget
    if floor is not None and acc["converted_pct"] < floor:
        raise AccuracyBudgetError(f"the {wl.precision.upper()} model reaches "
                                  f"{acc['converted_pct']:.2f}% on the eval data, below the "
                                  f"accuracy floor {floor:g}", field="accuracy_floor")
    if opts.max_accuracy_drop is not None and acc["drop_points"] > opts.max_accuracy_drop:
        raise AccuracyBudgetError(f"accuracy drops {acc['drop_points']:.2f} points "
                                  f"({acc['fp32_pct']:.2f}% -> {acc['converted_pct']:.2f}%), "
                                  f"more than --max-accuracy-drop {opts.max_accuracy_drop:g}",
                                  field="--max-accuracy-drop")
