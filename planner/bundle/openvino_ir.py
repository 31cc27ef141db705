"""The OpenVINO target: the bundle's vendor artifact as OpenVINO IR (`model.xml` +
`model.bin`), built from the FP32 source model with OpenVINO's own converter.

* FP32 / FP16: `openvino.convert_model`, then `openvino.save_model(compress_to_fp16=...)`.
* INT8 (static): NNCF post-training quantization (`nncf.quantize`) over an `nncf.Dataset` of
  the same calibration samples the ONNX QDQ path uses (the user's `--calibration-data`, or
  the same synthetic set, said as loudly).
* INT8 for MatMul-heavy CPU graphs (the ONNX path's `dynamic`) and weight-only plans:
  `nncf.compress_weights` (INT8 symmetric per-channel weights, float activations).
* A model that is already quantized (QDQ) is converted as it is: OpenVINO reads the
  QuantizeLinear/DequantizeLinear pairs as its own FakeQuantize ops.

openvino and nncf are optional (`pip install 'edgeplan[openvino]'`) and imported only here,
inside the functions that use them. `require()` says which extra to install before anything
is written. With the same inputs and versions the IR is byte-identical (OpenVINO writes the
source path as `DIR/<file name>`; NNCF's MinMax statistics and fast bias correction are
deterministic); tests/test_bundle_openvino.py checks it.
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from planner.bundle.contents import Progress
from planner.errors import BundleError, MissingExtraError

IR_XML = "model.xml"
IR_BIN = "model.bin"
RUNTIMES = ("openvino",)          # catalog runtime ids whose artifact is OpenVINO IR
EXTRA = "openvino"
INSTALL = "pip install 'edgeplan[openvino]'"


def is_target(runtime: str) -> bool:
    return runtime in RUNTIMES


def require(precision: str, method: str, *, file: str | None = None,
            field: str = "runtime") -> dict:
    """Import the toolchain this plan needs; MissingExtraError (exit 2) naming the extra when
    it is absent. Returns {package: version}."""
    need = ["openvino"] + (["nncf"] if method in ("static-qdq", "dynamic") else [])
    versions, missing = {}, []
    for pkg in need:
        try:
            mod = __import__(pkg)
        except ImportError:
            missing.append(pkg)
            continue
        versions[pkg] = str(getattr(mod, "__version__", "unknown"))
    if missing:
        why = " and ".join(missing)
        raise MissingExtraError(
            f"the plan runs on OpenVINO, and its {precision.upper()} OpenVINO IR needs {why}, "
            f"which {'is' if len(missing) == 1 else 'are'} not installed: {INSTALL}",
            extra=EXTRA, file=file, field=field)
    return versions


@contextlib.contextmanager
def _quiet():
    """NNCF logs on its own logger and draws progress bars (rich) on stdout/stderr: keep both
    out of edgeplan's output while it runs."""
    import logging
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _items(arrays: dict, input_specs, fixed_batch: int | None) -> list:
    """Calibration items for nncf.Dataset: one sample per item (or the model's fixed batch),
    as the input dict the compiled model takes."""
    n = len(next(iter(arrays.values())))
    step = fixed_batch or 1
    names = [s[0] for s in input_specs]
    items = []
    for s in range(0, n - step + 1, step):
        feed = {k: arrays[k][s:s + step] for k in names}
        items.append(feed if len(names) > 1 else feed[names[0]])
    return items


def build_ir(src, bdir: Path, *, method: str, precision: str, input_specs, calibration,
             static_batch: int | None = None, work_dir=None, timeout_s: float = 1800.0,
             progress: Progress | None = None) -> dict:
    """Write model.xml + model.bin into `bdir` from the FP32 (or QDQ) ONNX `src`.
    `calibration` is the arrays the QDQ path calibrated on (None: no calibration needed).
    `static_batch` fixes a symbolic batch dimension (units that compile static shapes).
    Returns what was done, for verification.json.

    The conversion runs in a fresh Python process: OpenVINO names the nodes it creates from
    process-wide counters (`Concat_152975`), so a second conversion in the same process writes
    a different model.xml. A fresh process makes the IR byte-identical from build to build,
    and keeps NNCF's logging out of ours."""
    import json
    import subprocess
    import sys

    from planner.bundle.contents import _write_npz
    progress = progress or (lambda *a: None)
    work = Path(work_dir) if work_dir else Path(bdir).parent
    job = {"src": os.fspath(Path(src).resolve()), "bdir": os.fspath(Path(bdir).resolve()),
           "method": method, "precision": precision,
           "input_specs": [[n, d, list(sh)] for n, d, sh in input_specs],
           "static_batch": static_batch, "calibration": None,
           "result": os.fspath((work / "openvino_ir.json").resolve())}
    if calibration is not None:
        cal = work / "openvino_calibration.npz"
        _write_npz(cal, calibration, None)
        job["calibration"] = os.fspath(cal.resolve())
    job_file = work / "openvino_job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    progress("convert", 0, 1, "OpenVINO: converting the source model to IR"
             + (" and quantizing it with NNCF" if method in ("static-qdq", "dynamic") else ""))
    root = os.fspath(Path(__file__).resolve().parent.parent.parent)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from planner.bundle.openvino_ir import _child; sys.exit(_child(sys.argv[2]))")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        p = subprocess.run([sys.executable, "-c", code, root, os.fspath(job_file)],
                           capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise BundleError(f"the OpenVINO conversion ran over {timeout_s:g} s") from None
    result = Path(job["result"])
    data = json.loads(result.read_text(encoding="utf-8")) if result.exists() else None
    if p.returncode != 0 or data is None or "error" in data:
        msg = (data or {}).get("error") or " | ".join(
            (p.stderr or p.stdout).strip().splitlines()[-3:]) or f"exit code {p.returncode}"
        raise BundleError(msg)
    progress("convert", 1, 1, "")
    return data


def _child(job_file: str) -> int:
    """The conversion process: read the job, convert, write the result (or the error)."""
    import json
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    cal = None
    if job["calibration"]:
        import numpy as np
        with np.load(job["calibration"], allow_pickle=False) as z:
            cal = {k: z[k] for k in z.files}
    try:
        info = _convert(job["src"], Path(job["bdir"]), method=job["method"],
                        precision=job["precision"],
                        input_specs=[tuple(s) for s in job["input_specs"]], calibration=cal,
                        static_batch=job["static_batch"])
    except BundleError as e:
        info = {"error": e.message}
    Path(job["result"]).write_text(json.dumps(info, sort_keys=True), encoding="utf-8")
    return 1 if "error" in info else 0


def _convert(src, bdir: Path, *, method: str, precision: str, input_specs, calibration,
             static_batch: int | None = None) -> dict:
    progress = (lambda *a: None)
    import openvino as ov
    info: dict = {"format": "OpenVINO IR", "files": [IR_XML, IR_BIN],
                  "converter": {"openvino": ov.__version__}}
    progress("convert", 0, 1, "OpenVINO: converting the source model to IR")
    try:
        model = ov.convert_model(os.fspath(src))
    except Exception as e:
        raise BundleError(f"OpenVINO could not convert the model: {type(e).__name__}: "
                          f"{str(e).strip()[:300]}", file=os.fspath(src)) from None
    if static_batch is not None:
        shapes = {}
        for inp in model.inputs:
            ps = inp.get_partial_shape()
            if ps.rank.is_static and len(ps) and ps[0].is_dynamic:
                dims = [static_batch] + [d.get_length() if d.is_static else -1
                                         for d in list(ps)[1:]]
                if -1 in dims[1:]:
                    raise BundleError(f"input {inp.any_name!r} has a symbolic dimension beyond "
                                      "the batch, and the unit compiles static shapes only: "
                                      "export the model with static shapes")
                shapes[inp.any_name] = dims
        if shapes:
            model.reshape(shapes)
            info["static_shapes"] = {k: v for k, v in sorted(shapes.items())}
    compress = False
    fixed = input_specs[0][2][0] if input_specs and input_specs[0][2] else None
    fixed = fixed if isinstance(fixed, int) and fixed > 0 else static_batch
    if method == "none":
        info["method"] = "converted as given" + (" (QDQ nodes become OpenVINO FakeQuantize)"
                                                 if precision == "int8" else "")
        compress = precision == "fp16"
    elif method == "fp16":
        info["method"] = "FP16 weights (save_model compress_to_fp16=True)"
        compress = True
    elif method in ("static-qdq", "dynamic"):
        import nncf
        info["converter"]["nncf"] = nncf.__version__
        try:
            if method == "static-qdq":
                items = _items(calibration, input_specs, fixed)
                if not items:
                    raise BundleError("too few calibration samples for the model's batch")
                progress("convert", 0, 1, f"NNCF post-training quantization on {len(items)} "
                                          "calibration items")
                with _quiet():
                    model = nncf.quantize(model, nncf.Dataset(items), subset_size=len(items))
                info["method"] = ("INT8 post-training quantization (nncf.quantize: MinMax "
                                  "ranges, fast bias correction)")
                info["calibration_items"] = len(items)
            else:
                progress("convert", 0, 1, "NNCF INT8 weight compression")
                with _quiet():
                    model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_SYM)
                info["method"] = ("INT8 weights, float activations (nncf.compress_weights "
                                  "INT8_SYM, per channel)")
        except BundleError:
            raise
        except Exception as e:
            raise BundleError(f"NNCF could not quantize the model: {type(e).__name__}: "
                              f"{str(e).strip()[:300]}") from None
    else:
        raise BundleError(f"unknown conversion method {method!r}")
    try:
        ov.save_model(model, os.fspath(Path(bdir) / IR_XML), compress_to_fp16=compress)
    except Exception as e:
        raise BundleError(f"OpenVINO could not save the IR: {type(e).__name__}: "
                          f"{str(e).strip()[:300]}") from None
    info["compress_to_fp16"] = compress
    progress("convert", 1, 1, "")
    return info


def ir_bytes(bdir: Path) -> int:
    return sum((Path(bdir) / f).stat().st_size for f in (IR_XML, IR_BIN))
