"""`edgeplan bundle`: from a plan and an ONNX model to a verified deployment directory.

    profile -> convert (planner.quantize) -> render (templates/bundle) -> verify -> move

A bundle holds `model.onnx` (the model at the planned precision), `infer.py`,
`requirements.txt` (pinned to the versions verified here), `deployment.yaml` (the manifest,
pointing at model.onnx), `README.md` (run steps and the vendor compiler steps for the
runtime), `sample_inputs.npz`, `calibration.npz` (static INT8 with user data),
`verification.json` and `SHA256SUMS`.

Verification runs the generated `infer.py` in a subprocess (`sys.executable`) on the
bundle's own samples, compares its outputs with the FP32 reference (top-1 agreement, max
absolute error, cosine similarity), measures accuracy on labelled eval data when given,
times the FP32 and the converted model with the same script, and lints deployment.yaml. A
bundle that breaks the accuracy budget raises AccuracyBudgetError (exit code 4); one whose
script fails or whose outputs disagree raises VerificationError (exit code 5). Either way
nothing is left behind: the bundle is built in a temporary directory beside the target and
moved into place only when verified.

Everything but verification.json (timings, tool versions) and the line of SHA256SUMS that
covers it is byte-identical when rebuilt from the same inputs on the same host.

Safety: only fixed file names are written, inside the output directory. Ids that reach the
templates are validated against a strict pattern, and the templates render them as Python
string literals (`|py`), Markdown-escaped text (`|md`) or shell words (`|shell`), in a
sandboxed jinja2 environment with strict undefined variables.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from . import exitcodes
from .errors import BundleError, InfeasibleError, InputError

Progress = Callable[[str, int, int, str], None]   # (stage, done, total, message)

TEMPLATES = Path(__file__).resolve().parent / "templates"
MODEL_FILE = "model.onnx"
SAMPLES_FILE = "sample_inputs.npz"
CALIBRATION_FILE = "calibration.npz"
VERIFICATION_FILE = "verification.json"
SUMS_FILE = "SHA256SUMS"
BUNDLE_MARKERS = (VERIFICATION_FILE, SUMS_FILE)
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
PROVIDER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*ExecutionProvider$")
DEFAULT_SAMPLES = 32
DEFAULT_BENCHMARK_RUNS = 50
DEFAULT_MIN_COSINE = 0.9
FP32_RTOL = 1e-3            # an unconverted model must reproduce the reference this closely


class AccuracyBudgetError(BundleError):
    """The converted model breaks the accuracy budget (floor or allowed drop)."""
    exit_code = exitcodes.ACCURACY_BUDGET


class VerificationError(BundleError):
    """infer.py failed to run, or its outputs disagree with the FP32 reference."""
    exit_code = exitcodes.VERIFY_FAILED


@dataclass
class BundleOptions:
    out_dir: str | os.PathLike
    model: str | os.PathLike | None = None
    workload: str | None = None
    calibration_data: str | os.PathLike | None = None
    eval_data: str | os.PathLike | None = None
    force: bool = False
    quantization: str = "auto"              # auto | static | dynamic
    samples: int = DEFAULT_SAMPLES
    benchmark_runs: int = DEFAULT_BENCHMARK_RUNS
    accuracy_floor: float | None = None      # overrides the workload's
    max_accuracy_drop: float | None = None   # points, FP32 -> converted, on eval data
    min_agreement: float | None = None       # top-1 agreement %, on the samples
    min_cosine: float = DEFAULT_MIN_COSINE
    timeout_s: float = 600.0


@dataclass
class BundleResult:
    out_dir: Path
    verification: dict
    warnings: list[str] = field(default_factory=list)


def _noop(stage, done, total, message=""):
    return None


# ---------------------------------------------------------------- validation

def safe_name(value, what: str, *, file: str | None = None) -> str:
    """An id that may reach generated code, file contents or a README: letters, digits and
    `._+-`, at most 128 characters, not starting with a punctuation mark."""
    if not isinstance(value, str) or not SAFE_NAME.match(value) or ".." in value:
        raise InputError(f"{value!r} is not a safe name (letters, digits and . _ + -, "
                         "starting with a letter or digit)", file=file, field=what)
    return value


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- templates

def _py_literal(v):
    """A Python literal for plain data; anything else is refused."""
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_py_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_py_literal(str(k))}: {_py_literal(x)}"
                               for k, x in sorted(v.items())) + "}"
    raise BundleError(f"cannot render a {type(v).__name__} into generated code")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def _md(v) -> str:
    """Text for Markdown prose: one line, with the characters that start markup escaped."""
    s = str(v).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _code(v) -> str:
    """A Markdown code span (backticks and line breaks cannot appear inside)."""
    s = str(v).replace("\r", " ").replace("\n", " ").replace("`", "'")
    return f"`{s}`"


def _shell(v) -> str:
    import shlex
    return shlex.quote(str(v))


@lru_cache(maxsize=1)
def environment():
    """The one jinja2 environment: sandboxed, strict about undefined names, cached."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
        keep_trailing_newline=True, autoescape=False, trim_blocks=False)
    env.filters["py"] = _py_literal
    env.filters["md"] = _md
    env.filters["code"] = _code
    env.filters["shell"] = _shell
    return env


def render(name: str, **ctx) -> str:
    return environment().get_template(name).render(**ctx)


@lru_cache(maxsize=1)
def targets() -> dict:
    """templates/bundle/targets.yaml: execution providers per family, vendor steps."""
    import yaml
    with open(TEMPLATES / "bundle" / "targets.yaml", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    for fam, t in data["families"].items():
        for p in t.get("providers", []):
            if not PROVIDER_NAME.match(p):
                raise BundleError(f"targets.yaml: bad provider name {p!r} for {fam}")
    return data


# ---------------------------------------------------------------- input documents

def load_plan(path, catalog):
    """The deployment manifest to bundle, and the directory its relative paths start from.
    A document with `apiVersion` is a manifest unless its kind is Spec; a spec is solved
    first (planner.solve)."""
    from .manifest import parse_manifest
    from .yamlio import load_mapping
    data, pos = load_mapping(path)
    base = Path(os.fspath(path)).resolve().parent
    if "apiVersion" in data and data.get("kind", "Deployment") != "Spec":
        return parse_manifest(data, pos), base
    from .solve import solve_spec_file
    result = solve_spec_file(path, catalog=catalog)
    if getattr(result, "manifest", None) is None:
        err = InfeasibleError("the spec has no feasible plan to bundle; `edgeplan solve "
                              f"{os.fspath(path)}` explains why", result)
        err.file = os.fspath(path)
        err.exit_code = exitcodes.INFEASIBLE
        raise err
    return result.manifest, base


def _pick_workload(manifest, name: str | None, file: str):
    names = [w.name for w in manifest.workloads]
    if name is None:
        if len(names) == 1:
            return 0, manifest.workloads[0]
        raise InputError(f"the deployment has {len(names)} workloads ({', '.join(names)}): "
                         "choose one with --workload", file=file, field="--workload")
    for i, w in enumerate(manifest.workloads):
        if w.name == name:
            return i, w
    from .catalog import did_you_mean
    raise InputError(f"no workload {name!r}{did_you_mean(name, names)}", file=file,
                     field="--workload")


# ---------------------------------------------------------------- output directory

def _check_target(out: Path, force: bool) -> None:
    if out.is_symlink():
        raise InputError("the output path is a symbolic link; give a real directory",
                         file=str(out), field="--output")
    if out.exists():
        if not out.is_dir():
            raise InputError("the output path exists and is not a directory", file=str(out),
                             field="--output")
        contents = list(out.iterdir())
        if contents and not force:
            raise InputError("the output directory exists; pass --force to replace it",
                             file=str(out), field="--output")
        if contents and not any((out / m).exists() for m in BUNDLE_MARKERS):
            raise InputError("the output directory is not empty and is not an edgeplan bundle "
                             "(no verification.json); refusing to replace it", file=str(out),
                             field="--output")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} is not a directory", file=str(out),
                                 field="--output")
            break


def _make_parents(out: Path) -> list[Path]:
    """Create the missing parents of the output directory; returns them, deepest first, so
    that a failed build can remove them again."""
    made = []
    for parent in out.parents:
        if parent.exists():
            break
        made.append(parent)
    for parent in reversed(made):
        parent.mkdir()
    return made


def _move_into_place(built: Path, out: Path, trash: Path) -> None:
    if out.exists():
        os.replace(out, trash)
    os.replace(built, out)


# ---------------------------------------------------------------- the build

# lint findings that make a bundle meaningless: refuse before converting anything (the model
# itself may be an ONNX file that is not in the catalog, so EP902/EP905/EP906 do not block)
_BLOCKING_RULES = {"EP201", "EP401", "EP901", "EP903", "EP904"}


def _refuse_broken_references(plan_path, catalog) -> None:
    """An unknown device, unit or power mode, or a precision or runtime the unit cannot run is
    bad input (exit 2), found before the model is converted, not after."""
    from .lint import lint_paths
    from .yamlio import load_mapping
    data, _ = load_mapping(plan_path)
    if data.get("kind", "Deployment") == "Spec":
        return   # a spec is solved first; the plan that comes out is consistent
    report = lint_paths([os.fspath(plan_path)], catalog=catalog, fail_on="error")
    for f in report.findings:
        if f.severity == "error" and f.rule in _BLOCKING_RULES:
            raise InputError(f"{f.rule} {f.message}", file=f.file, line=f.line,
                             column=f.column)

def build_bundle(plan_path, catalog, options: BundleOptions,
                 progress: Progress | None = None) -> BundleResult:
    """Build, verify and write a bundle. Raises InputError for bad input, BundleError when
    conversion fails, AccuracyBudgetError / VerificationError when verification refuses."""
    progress = progress or _noop
    opts = options
    plan_file = os.fspath(plan_path)
    manifest, base = load_plan(plan_path, catalog)
    _refuse_broken_references(plan_path, catalog)
    idx, wl = _pick_workload(manifest, opts.workload, plan_file)
    where = f"workloads[{idx}]"
    safe_name(wl.name, f"{where}.name", file=plan_file)
    safe_name(wl.model, f"{where}.model", file=plan_file)
    safe_name(manifest.name, "name", file=plan_file)
    dev = catalog.device(wl.device)
    if wl.unit is not None:
        try:
            unit = dev.unit(wl.unit)
        except KeyError:
            raise InputError(f"device {dev.id!r} has no unit {wl.unit!r}", file=plan_file,
                             field=f"{where}.unit") from None
    else:
        unit = dev.units[0]
    runtime = wl.runtime or unit.runtimes[0]
    for v, f in ((dev.id, "device"), (unit.id, "unit"), (runtime, "runtime"),
                 (dev.family, "family")):
        safe_name(v, f"{where}.{f}", file=plan_file)

    if opts.model is not None:
        model_path = Path(os.fspath(opts.model))
    elif wl.model_file:
        model_path = base / wl.model_file
    else:
        raise InputError(f"workload {wl.name!r} has no model_file: give the ONNX model with "
                         "--model", file=plan_file, field="--model")
    if model_path.suffix.lower() != ".onnx":
        raise InputError("the model must be an .onnx file", file=str(model_path),
                         field="--model")
    if opts.samples < 1 or opts.benchmark_runs < 1:
        raise InputError("--samples and --benchmark must be at least 1", field="--samples")

    out = Path(os.fspath(opts.out_dir)).absolute()
    _check_target(out, opts.force)

    from . import onnx_profile, quantize

    progress("profile", 0, 1, f"profiling {model_path.name}")
    prof = onnx_profile.profile_onnx(model_path)
    support = onnx_profile.op_support_report(prof, catalog, dev.id, unit.id)["units"][0]
    progress("profile", 1, 1, f"{prof.params:,} params, {prof.macs:,} MACs")
    specs = _input_specs(prof)
    method = quantize.choose_method(prof, wl.precision, wl.technique, unit.kind,
                                    None if opts.quantization == "auto" else opts.quantization)

    cal_path = opts.calibration_data
    if cal_path is None and wl.calibration_data and method == "static-qdq":
        cal_path = base / wl.calibration_data
        if cal_path.is_dir():
            raise InputError(f"calibration_data {wl.calibration_data!r} is a directory; the "
                             "bundle reads an .npz/.npy file: give --calibration-data",
                             file=plan_file, field=f"{where}.calibration_data")
    cal = None
    if cal_path is not None:
        cal = quantize.load_npz(cal_path, specs, what="--calibration-data")
    ev = None
    if opts.eval_data is not None:
        ev = quantize.load_npz(opts.eval_data, specs, what="--eval-data")
        if ev[1] is None:
            raise InputError("the eval data has no `labels` array", file=str(opts.eval_data),
                             field="--eval-data")
        fixed = _fixed_batch(specs)
        rows = len(ev[1])
        if fixed and rows % fixed:
            raise InputError(f"{rows} eval rows do not split into the model's fixed batch of "
                             f"{fixed}: give a multiple of {fixed} rows", file=str(opts.eval_data),
                             field="--eval-data")

    tdata = targets()
    fam = tdata["families"].get(dev.family, {})
    steps = tdata["runtime_steps"].get(runtime) or tdata["family_steps"].get(dev.family)
    symmetric = runtime in tdata.get("symmetric_int8_runtimes", []) or \
        (steps in tdata.get("symmetric_int8_runtimes", []))

    made = _make_parents(out)
    root = Path(tempfile.mkdtemp(prefix=".edgeplan-bundle-", dir=out.parent))
    done = False
    bdir, work = root / "bundle", root / "work"
    bdir.mkdir()
    work.mkdir()
    warnings: list[str] = []
    io_prof = prof             # inputs and outputs as deployed (static shapes may be fixed)
    try:
        conv = quantize.convert(
            model_path, bdir / MODEL_FILE, method=method, precision=wl.precision,
            input_specs=specs,
            calibration=(cal_path, cal[0]) if cal else None,
            activation_symmetric=symmetric, work_dir=work, progress=progress)
        if unit.static_shapes_only and prof.dynamic_shapes:
            for f in quantize.make_static(bdir / MODEL_FILE, wl.batch):
                conv.notes.append(f"static shapes for {unit.id}: {f}")
            io_prof = onnx_profile.profile_onnx(bdir / MODEL_FILE)
            specs = _input_specs(io_prof)
        if conv.synthetic:
            warnings.append("INT8 calibration used SYNTHETIC random inputs: accuracy is "
                            "unknown; give --calibration-data")
        sample_arrays, sample_labels, sample_source = _samples(specs, opts.samples, ev, cal,
                                                               wl.batch)
        _write_npz(bdir / SAMPLES_FILE, sample_arrays, sample_labels)
        if method == "static-qdq" and cal is not None:
            _write_npz(bdir / CALIBRATION_FILE, cal[0], None)

        progress("render", 0, 1, "rendering infer.py, requirements.txt, README.md, "
                                 "deployment.yaml")
        providers = list(fam.get("providers", []))
        ctx = _template_context(manifest, wl, dev, unit, runtime, prof, io_prof, support, conv,
                                providers, fam, steps, model_path, sample_source,
                                len(next(iter(sample_arrays.values()))))
        ctx["provider_options"] = _provider_options(fam, providers, wl.precision, unit.kind)
        (bdir / "infer.py").write_text(render("bundle/infer.py.j2", **ctx), encoding="utf-8")
        (bdir / "requirements.txt").write_text(render("bundle/requirements.txt.j2", **ctx),
                                               encoding="utf-8")
        (bdir / "README.md").write_text(render("bundle/README.md.j2", **ctx), encoding="utf-8")
        (bdir / "deployment.yaml").write_text(
            _deployment_yaml(manifest, idx, wl, conv, io_prof,
                             CALIBRATION_FILE if (bdir / CALIBRATION_FILE).exists() else None),
            encoding="utf-8")
        _compile_check(bdir / "infer.py")
        progress("render", 1, 1, "")

        ver = _verify(bdir, work, model_path, specs, sample_arrays, ev, wl, conv, opts,
                      catalog, progress, params=prof.params)
        ver["target"] = {"deployment": manifest.name, "workload": wl.name, "model": wl.model,
                         "device": dev.id, "family": dev.family, "unit": unit.id,
                         "unit_kind": unit.kind, "runtime": runtime,
                         "precision": wl.precision, "technique": wl.technique}
        ver["conversion"] = conv.as_dict()
        ver["source_model"] = {"file": model_path.name, "sha256": _sha256(model_path),
                               "params": prof.params, "macs": prof.macs}
        ver["op_support"] = {"unit": unit.id, "op_support": support["op_support"],
                             "fallback_ops": {k: v["count"]
                                              for k, v in support["fallback_ops"].items()}}
        ver["samples"] = {"file": SAMPLES_FILE, "source": sample_source,
                          "count": len(next(iter(sample_arrays.values())))}
        ver["warnings"] = warnings
        ver["tools"] = _tool_versions()
        _enforce(ver, opts, wl)
        ver["verdict"] = "verified"
        _finish(bdir, ver)
        progress("write", 0, 1, f"moving the bundle into {out}")
        _move_into_place(bdir, out, root / "old")
        progress("write", 1, 1, "")
        done = True
        return BundleResult(out, ver, ver["warnings"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if not done:
            for parent in made:            # deepest first; only the ones we created
                try:
                    parent.rmdir()
                except OSError:
                    break


# ---------------------------------------------------------------- pieces

_NP = {"float": "float32", "float16": "float16", "double": "float64", "int64": "int64",
       "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8",
       "uint16": "uint16", "bool": "bool"}


def _input_specs(prof) -> list[tuple[str, str, list]]:
    specs = []
    for t in prof.inputs:
        if t.dtype not in _NP:
            raise BundleError(f"input {t.name!r} has type {t.dtype}, which the bundle cannot "
                              "feed")
        specs.append((t.name, _NP[t.dtype], list(t.shape)))
    if not specs:
        raise BundleError("the model has no inputs")
    return specs


def _fixed_batch(specs) -> int | None:
    first = specs[0][2][0] if specs[0][2] else None
    return first if isinstance(first, int) and first > 0 else None


def _samples(specs, n, ev, cal, batch: int = 1):
    from .quantize import synthetic_inputs
    fixed = _fixed_batch(specs)
    if ev is not None:
        arrays, labels, source = ev[0], ev[1], "the first rows of --eval-data"
    elif cal is not None:
        arrays, labels, source = cal[0], cal[1], "the first rows of --calibration-data"
    else:
        arrays, labels, source = synthetic_inputs(specs, n, seed=1), None, \
            "generated random inputs"
    if ev is None and cal is None:
        arrays = synthetic_inputs(specs, max(n, batch, fixed or 1), seed=1)
    avail = len(next(iter(arrays.values())))
    k = min(max(n, batch), avail)
    if k < batch:
        raise InputError(f"fewer samples ({avail}) than the workload's batch {batch}",
                         field="--eval-data" if ev else "--calibration-data")
    if fixed:
        k = max(fixed, k - k % fixed)
        if k > avail:
            raise InputError(f"fewer samples ({avail}) than the model's fixed batch size "
                             f"{fixed}", field="--eval-data" if ev else "--calibration-data")
    arrays = {name: a[:k] for name, a in arrays.items()}
    return arrays, (labels[:k] if labels is not None else None), source


def _write_npz(path: Path, arrays: dict, labels) -> None:
    import io
    import numpy as np
    data = dict(arrays)
    if labels is not None:
        data["labels"] = np.asarray(labels)
    buf = io.BytesIO()
    np.savez_compressed(buf, **data)          # fixed zip timestamps: byte-identical
    path.write_bytes(buf.getvalue())


def _provider_options(fam, providers, precision, unit_kind) -> dict:
    opts = {k: dict(v) for k, v in (fam.get("provider_options") or {}).items()
            if k in providers}
    if "TensorrtExecutionProvider" in providers:
        o = opts.setdefault("TensorrtExecutionProvider", {})
        o.update({"trt_engine_cache_enable": True, "trt_engine_cache_path": "trt_cache"})
        if precision == "fp16":
            o["trt_fp16_enable"] = True
        if precision == "int8":
            o["trt_int8_enable"] = True
        if unit_kind == "dla":
            o.update({"trt_dla_enable": True, "trt_dla_core": 0})
    for k, v in opts.items():
        for kk, vv in v.items():
            if not isinstance(vv, (str, int, float, bool)) or not re.match(r"^[a-z][a-z0-9_]*$", kk):
                raise BundleError(f"targets.yaml: bad provider option {kk!r} for {k}")
    return opts


def _template_context(manifest, wl, dev, unit, runtime, prof, io_prof, support, conv,
                      providers, fam, steps, model_path, sample_source, n_samples) -> dict:
    from .onnx_profile import _bytes, _human
    from importlib import metadata
    method_text = {"static-qdq": "static INT8 post-training quantization (QDQ, per-channel)",
                   "dynamic": "dynamic INT8 quantization (INT8 weights, activations at run "
                              "time)",
                   "fp16": "converted to FP16 (float32 inputs and outputs)",
                   "none": f"as given ({wl.precision.upper()})"}[conv.method]
    if conv.synthetic:
        method_text += ", calibrated on SYNTHETIC data"
    src_name = model_path.name if SAFE_NAME.match(model_path.name) else "model_fp32.onnx"

    def tview(t):
        return {"name": t.name, "dtype": t.dtype, "symbolic": t.symbolic,
                "shape": t.shape_text()}
    first = io_prof.inputs[0]
    shapes_flag = ""
    if io_prof.dynamic_shapes and all(re.match(r"^[A-Za-z0-9_.:/-]+$", t.name)
                                      for t in io_prof.inputs):
        parts = []
        for t in io_prof.inputs:
            dims = [str(d) if isinstance(d, int) else str(wl.batch if i == 0 else 1)
                    for i, d in enumerate(t.shape)]
            parts.append(f"{t.name}:{'x'.join(dims)}")
        shapes_flag = "--shapes=" + ",".join(parts)
    pins = []
    for pkg in ("onnxruntime", "numpy"):
        try:
            pins.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            pass
    return {
        "model_id": wl.model, "workload": wl.name, "deployment": manifest.name,
        "precision": wl.precision, "technique": wl.technique, "device_id": dev.id,
        "device_name": dev.name, "unit": unit.id, "unit_kind": unit.kind, "runtime": runtime,
        "model_file": MODEL_FILE, "providers": providers, "method_text": method_text,
        "synthetic": conv.synthetic, "samples": n_samples, "sample_source": sample_source,
        "package_note": fam.get("package_note", "Install the packages with pip."),
        "pins": pins, "params": prof.params, "macs_text": _human(prof.macs),
        "activation_text": _bytes(prof.peak_activation_bytes),
        "inputs": [tview(t) for t in io_prof.inputs],
        "outputs": [tview(t) for t in io_prof.outputs],
        "fallback": [(op, v["count"]) for op, v in support["fallback_ops"].items()],
        "op_support": support["op_support"], "steps": steps, "source_model": src_name,
        "source_sha256": _sha256(model_path), "first_input": first.name,
        "first_input_rank": len(first.shape),
        "shapes_flag": shapes_flag, "batch": int(wl.batch),
    }


def _deployment_yaml(manifest, idx, wl, conv, prof, calibration_file) -> str:
    """The manifest of what this bundle deploys: the bundled workload and its device, with
    model_file pointing at the bundled model (other workloads of the deployment are in their
    own bundles)."""
    import yaml
    data = manifest.model_dump(mode="json", exclude_none=True)
    w = data["workloads"][idx]
    data["workloads"] = [w]
    data["devices"] = [d for d in data["devices"] if d["id"] == wl.device]
    w["model_file"] = MODEL_FILE
    w["dynamic_shapes"] = prof.dynamic_shapes
    if calibration_file:
        w["calibration_data"] = calibration_file
    else:
        w.pop("calibration_data", None)
    head = (f"# Deployment manifest written by edgeplan bundle: workload {wl.name} runs "
            f"{MODEL_FILE} from this directory.\n# Check it with: edgeplan lint deployment.yaml\n")
    return head + yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                                 allow_unicode=False)


def _compile_check(path: Path) -> None:
    src = path.read_text(encoding="utf-8")
    try:
        compile(src, str(path.name), "exec")
    except SyntaxError as e:   # a template bug, never user data
        raise BundleError(f"generated infer.py does not compile: {e}") from None


def _tool_versions() -> dict:
    from importlib import metadata
    out = {"python": sys.version.split()[0]}
    for pkg in ("edgeplan", "onnx", "onnxruntime", "numpy", "jinja2"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------- verification

def _run_infer(bdir: Path, args: list[str], timeout_s: float) -> dict:
    cmd = [sys.executable, "infer.py", *args, "--json"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        p = subprocess.run(cmd, cwd=bdir, capture_output=True, text=True, timeout=timeout_s,
                           env=env)
    except subprocess.TimeoutExpired:
        raise VerificationError(f"infer.py {' '.join(args)} ran over {timeout_s:g} s") from None
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        raise VerificationError(f"infer.py {' '.join(args)} failed with exit code "
                                f"{p.returncode}: {' | '.join(tail)}")
    try:
        summary = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise VerificationError("infer.py printed no JSON summary") from None
    summary["log"] = [ln for ln in p.stderr.splitlines() if ln.startswith("infer.py:")]
    return summary


def _reference(model_path: Path, arrays: dict, specs) -> dict:
    """FP32 reference outputs, computed in this process with onnxruntime on the CPU,
    independently of the generated script."""
    import numpy as np
    import onnxruntime as ort
    from .quantize import batches
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    fixed = _fixed_batch(specs)
    parts = [sess.run(names, feed) for feed in batches(arrays, fixed)]
    return {n: np.concatenate([p[i] for p in parts]) for i, n in enumerate(names)}


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
    r, g = ref[first], got[first]
    if r.ndim == 2 and r.shape[1] > 1:
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
            progress, params: int = 0) -> dict:
    import numpy as np
    steps = 4 + (1 if ev is not None else 0)
    step = 0

    def tick(msg):
        nonlocal step
        step += 1
        progress("verify", step, steps, msg)

    progress("verify", 0, steps, "FP32 reference outputs (in-process onnxruntime, CPU)")
    ref = _reference(model_path, sample_arrays, specs)
    tick("running infer.py on sample_inputs.npz (converted model)")
    out_conv = work / "outputs_converted.npz"
    run_conv = _run_infer(bdir, ["--input", SAMPLES_FILE, "--output", str(out_conv),
                                 "--benchmark", str(opts.benchmark_runs)], opts.timeout_s)
    cmp = compare(ref, _load_outputs(out_conv))
    tick("timing the FP32 model with infer.py")
    run_ref = _run_infer(bdir, ["--model", str(model_path.resolve()), "--input", SAMPLES_FILE,
                                "--benchmark", str(opts.benchmark_runs)], opts.timeout_s)
    ver: dict = {"commands": [
        ["python", "infer.py", "--input", SAMPLES_FILE, "--output", "<outputs.npz>",
         "--benchmark", str(opts.benchmark_runs), "--json"],
        ["python", "infer.py", "--model", f"<{model_path.name}>", "--input", SAMPLES_FILE,
         "--benchmark", str(opts.benchmark_runs), "--json"]],
        "provider": {"used": run_conv["provider"], "session": run_conv["providers"],
                     "log": run_conv["log"]},
        "comparison": cmp}
    bc, br = run_conv["benchmark"], run_ref["benchmark"]
    ver["latency_ms"] = {
        "fp32": br, "converted": bc,
        "speedup": round(br["median_ms"] / bc["median_ms"], 3) if bc["median_ms"] > 0 else None,
        "note": f"host latency of one batch of {bc.get('batch')} (FP32: {br.get('batch')}), "
                f"median of {opts.benchmark_runs} runs after warm-up, {run_conv['provider']}; "
                "the target device differs"}
    src_bytes = _model_bytes(model_path)
    dst_bytes = _model_bytes(bdir / MODEL_FILE)
    # graphs that generate their weights (ConstantOfShape, as the model-zoo "light" graphs
    # do) are smaller than their weights: compare with the FP32 weights then
    fp32_bytes = max(src_bytes, 4 * params)
    ver["sizes"] = {"source_file_bytes": src_bytes, "fp32_weight_bytes": 4 * params,
                    "fp32_bytes": fp32_bytes, "converted_bytes": dst_bytes,
                    "ratio": round(dst_bytes / fp32_bytes, 4) if fp32_bytes else None}
    if ev is not None:
        tick("running infer.py on --eval-data")
        out_ev = work / "outputs_eval.npz"
        ev_path = work / "eval_inputs.npz"
        _write_npz(ev_path, ev[0], None)
        _run_infer(bdir, ["--input", str(ev_path), "--output", str(out_ev)], opts.timeout_s)
        ver["commands"].append(["python", "infer.py", "--input", "<eval inputs.npz>",
                                "--output", "<outputs.npz>", "--json"])
        got = _load_outputs(out_ev)
        ref_ev = _reference(model_path, ev[0], specs)
        labels = np.asarray(ev[1]).reshape(-1)
        first = next(iter(ref_ev))
        if ref_ev[first].ndim != 2:
            raise InputError("--eval-data: accuracy needs a (samples, classes) first output",
                             field="--eval-data")
        acc_ref = float((ref_ev[first].argmax(1) == labels).mean() * 100.0)
        acc_conv = float((got[first].argmax(1) == labels).mean() * 100.0)
        ver["accuracy"] = {"metric": "top-1 accuracy % on --eval-data",
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
        from .lint import lint_paths
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


def _finish(bdir: Path, ver: dict) -> None:
    files = sorted(p.name for p in bdir.iterdir() if p.is_file())
    ver["files"] = {name: _sha256(bdir / name) for name in files}
    text = json.dumps(ver, indent=2, sort_keys=True) + "\n"
    (bdir / VERIFICATION_FILE).write_text(text, encoding="utf-8")
    lines = [f"{_sha256(bdir / name)}  {name}\n"
             for name in sorted(p.name for p in bdir.iterdir() if p.is_file())
             if name != SUMS_FILE]
    (bdir / SUMS_FILE).write_text("".join(lines), encoding="utf-8")
