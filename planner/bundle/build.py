"""`edgeplan bundle`: from a plan and an ONNX model to a verified deployment directory.

    profile -> convert (planner.bundle.quantize) -> render (templates/bundle) -> verify -> move

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

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

from planner.atomicfile import temp_name, test_pause
from planner.bundle.contents import (
    BUNDLE_MARKERS,
    CALIBRATION_FILE,
    MODEL_FILE,
    SAFE_NAME,
    SAMPLES_FILE,
    SUMS_FILE,
    VERIFICATION_FILE,
    BundleOptions,
    BundleResult,
    Progress,
    _fixed_batch,
    _write_npz,
)
from planner.bundle.render import render, targets
from planner.bundle.verify import _enforce, _verify
from planner.errors import BundleError, InfeasibleError, InputError


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


# ---------------------------------------------------------------- input documents

def load_plan(path, catalog):
    """The deployment manifest to bundle, and the directory its relative paths start from.
    A document with `apiVersion` is a manifest unless its kind is Spec; a spec is solved
    first (planner.solve)."""
    from planner.manifest import parse_manifest
    from planner.yamlio import load_mapping
    data, pos = load_mapping(path)
    base = Path(os.fspath(path)).resolve().parent
    if "apiVersion" in data and data.get("kind", "Deployment") != "Spec":
        return parse_manifest(data, pos), base
    from planner.solve.pipeline import solve_spec_file
    result = solve_spec_file(path, catalog=catalog)
    if getattr(result, "manifest", None) is None:
        err = InfeasibleError("the spec has no feasible plan to bundle; `edgeplan solve "
                              f"{os.fspath(path)}` explains why", result)
        err.file = os.fspath(path)
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
    from planner.errors import did_you_mean
    raise InputError(f"no workload {name!r}{did_you_mean(name, names)}", file=file,
                     field="--workload")


# ---------------------------------------------------------------- output directory

# test hook (documented in the README): when set to a file path F, the build writes the target
# into F.waiting just before it locks the target's parent and moves the bundle into place, and
# waits until F exists, so that a test can create the target or send a signal at that point
PAUSE_BEFORE_MOVE = "EDGEPLAN_TEST_PAUSE_BEFORE_MOVE"


def _check_target(out: Path, force: bool):
    """Refuse early what the final move would refuse; returns what is at the target now (see
    `_identity`), which is all the move may replace."""
    if out.is_symlink():
        raise InputError("the output path is a symbolic link; give a real directory",
                         file=str(out), field="--output")
    if out.exists():
        if not out.is_dir():
            raise InputError("the output path exists and is not a directory", file=str(out),
                             field="--output")
        if any(out.iterdir()):
            if not force:
                raise InputError("the output directory exists; pass --force to replace it",
                                 file=str(out), field="--output")
            _refuse_unless_intact(out)
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} is not a directory", file=str(out),
                                 field="--output")
            break
    return _identity(out)


def _identity(out: Path):
    """None when nothing is at `out`, else (device, inode) of what is there."""
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _refuse_unless_intact(out: Path) -> None:
    """`--force` replaces only an edgeplan bundle exactly as it was written: every file in it
    listed in its SHA256SUMS with a matching hash. Anything else (a file the user added or
    changed, a directory, a link) is named and the run refused before anything is touched."""
    problem = _not_intact(out)
    if problem is not None:
        raise InputError(f"{problem}; --force replaces only an unchanged edgeplan bundle, "
                         "nothing was changed", file=str(out), field="--output")


_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def _not_intact(out: Path, shown: str | None = None) -> str | None:
    """The first reason `out` is not an unchanged bundle, or None when it is one; files are
    named `shown/relative-path` (default: the directory's own name)."""
    shown = shown or out.name
    if not any((out / m).exists() for m in BUNDLE_MARKERS):
        return "the output directory is not empty and is not an edgeplan bundle (no " \
               f"{VERIFICATION_FILE} or {SUMS_FILE})"
    sums = out / SUMS_FILE
    if sums.is_symlink() or not sums.is_file():
        return f"{SUMS_FILE} is missing, so the bundle's files cannot be checked"
    listed: dict[str, str] = {}
    try:
        text = sums.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return f"{SUMS_FILE} cannot be read ({e})"
    for n, line in enumerate(text.splitlines(), 1):
        m = _SUMS_LINE.match(line)
        if not m:
            return f"{SUMS_FILE} line {n} is not `<sha256>  <file>`"
        listed[m.group(2)] = m.group(1)
    for rel, entry in _entries(out):
        if rel == SUMS_FILE:
            continue
        if entry is None or rel not in listed:
            return f"{shown}/{rel} is not listed in {SUMS_FILE}"
        if _sha256(entry) != listed[rel]:
            return f"{shown}/{rel} was changed since the bundle was written (its sha256 " \
                   f"does not match {SUMS_FILE})"
    return None


def _entries(d: Path, rel: str = ""):
    """(relative path, Path) for every regular file under `d`, sorted, depth first; for
    anything else (a link, an empty directory, a device) the Path is None."""
    items = sorted(os.scandir(d), key=lambda e: e.name)
    if not items and rel:
        yield rel.rstrip("/") + "/", None
    for e in items:
        name = rel + e.name
        if e.is_symlink():
            yield name, None
        elif e.is_dir():
            yield from _entries(Path(e.path), name + "/")
        elif e.is_file():
            yield name, Path(e.path)
        else:
            yield name, None


def _make_parents(out: Path, made: list[Path]) -> None:
    """Create the missing parents of the output directory, recording each in `made` (deepest
    first) as soon as it exists, so that a failed or interrupted build removes them again."""
    missing = []
    for parent in out.parents:
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        parent.mkdir()
        made.insert(0, parent)


@contextlib.contextmanager
def _parent_locked(parent: Path):
    """An exclusive flock on the target's parent directory while deciding and moving, so
    that two edgeplan runs never interleave their checks and renames. Where directories cannot
    be locked (some network file systems), a lock file `.edgeplan-lock` there is locked
    instead; without fcntl (not POSIX), the renames alone guard the target."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            fd = os.open(parent / ".edgeplan-lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename `src` to `dst` only if nothing is at `dst` (FileExistsError otherwise):
    renameat2(RENAME_NOREPLACE) where the kernel and file system have it; elsewhere a check
    under the parent's lock, then rename(2), which never replaces a non-empty directory or a
    file with a directory."""
    import ctypes
    import errno
    fn = _renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), os.fspath(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(dst))
    os.rename(src, dst)


def _appeared(out: Path) -> InputError:
    return InputError("something appeared at the output path while the bundle was being built;"
                      " refusing to replace it (it was left as it is, the new bundle was "
                      "discarded)", file=str(out), field="--output")


def _move_into_place(built: Path, out: Path, aside: Path, before, force: bool) -> None:
    """Move the finished bundle to `out`, replacing only what `_check_target` saw there when
    the build started: nothing, the same empty directory, or (with --force) the same bundle,
    still unchanged. Anything else that is there now is left alone and the move refused."""
    with _parent_locked(out.parent):
        now = _identity(out)
        if now is None:
            try:
                _rename_noreplace(built, out)
            except FileExistsError:
                raise _appeared(out) from None
            return
        if now != before or out.is_symlink() or not out.is_dir():
            raise _appeared(out)
        if not any(out.iterdir()):
            try:                  # rename(2) replaces an empty directory, never a full one
                os.rename(built, out)
            except OSError:
                raise _appeared(out) from None
            return
        if not force:
            raise _appeared(out)
        # --force: move the old bundle aside (where nobody adds to it), check it there, and
        # move the new one in; on any failure or interruption the old one goes back
        os.rename(out, aside)
        placed = False
        try:
            problem = _not_intact(aside, out.name)
            if problem is not None:
                raise InputError(f"{problem} "
                                 "(changed while the bundle was being built); --force replaces"
                                 " only an unchanged edgeplan bundle, it was left as it is",
                                 file=str(out), field="--output")
            try:
                _rename_noreplace(built, out)
            except FileExistsError:
                raise _appeared(out) from None
            placed = True
        finally:
            if not placed:
                _put_back(aside, out)


def _put_back(aside: Path, out: Path) -> None:
    try:
        _rename_noreplace(aside, out)
    except OSError:
        # something took its place meanwhile: keep the old bundle beside it, never delete it
        backup = Path(temp_name(os.fspath(out.parent), f"{out.name}.edgeplan-backup-"))
        os.rename(aside, backup)
        raise BundleError(f"the old bundle could not be put back at {out}: it is kept at "
                          f"{backup}") from None


# ---------------------------------------------------------------- the build

# lint findings that make a bundle meaningless: refuse before converting anything (the model
# itself may be an ONNX file that is not in the catalog, so EP902/EP905/EP906 do not block)
_BLOCKING_RULES = {"EP201", "EP401", "EP901", "EP903", "EP904"}


def _refuse_broken_references(plan_path, catalog) -> None:
    """An unknown device, unit or power mode, or a precision or runtime the unit cannot run is
    bad input (exit 2), found before the model is converted, not after."""
    from planner.lint.engine import lint_paths
    from planner.yamlio import load_mapping
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
    before = _check_target(out, opts.force)

    from planner.bundle import quantize
    from planner.onnxfile import profile as onnx_profile

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
        out0 = prof.outputs[0].shape if prof.outputs else []
        if len(out0) == 2 and isinstance(out0[1], int) and out0[1] > 0:
            quantize.class_labels(ev[1], str(opts.eval_data), "--eval-data", out0[1])
        fixed = _fixed_batch(specs)
        rows = len(ev[1])
        if fixed and rows % fixed:
            raise InputError(f"{rows} eval rows do not split into the model's fixed batch of "
                             f"{fixed}: give a multiple of {fixed} rows", file=str(opts.eval_data),
                             field="--eval-data")

    tdata = targets()
    from planner.bundle import openvino_ir, rknn_artifact, tflite_artifact
    ov_target = openvino_ir.is_target(runtime)
    tfl_target = tflite_artifact.is_target(runtime)
    rknn_tool = None
    # before anything is written: the toolchain, or which extra brings it
    if rknn_artifact.is_target(runtime) and rknn_artifact.builds(wl.precision, method):
        rknn_tool = rknn_artifact.require(dev, file=plan_file, field=f"{where}.runtime")
    elif ov_target:
        openvino_ir.require(wl.precision, method, file=plan_file, field=f"{where}.runtime")
    elif tfl_target:
        tflite_artifact.require(wl.precision, method, file=plan_file, field=f"{where}.runtime")
        try:
            tflite_artifact.variant(runtime, wl.precision, method)
        except BundleError as e:
            e.file, e.field = plan_file, f"{where}.precision"
            raise
    fam = tdata["families"].get(dev.family, {})
    steps = tdata["runtime_steps"].get(runtime) or tdata["family_steps"].get(dev.family)
    symmetric = runtime in tdata.get("symmetric_int8_runtimes", []) or \
        (steps in tdata.get("symmetric_int8_runtimes", []))

    made: list[Path] = []
    root = None
    done = False
    warnings: list[str] = []
    io_prof = prof             # inputs and outputs as deployed (static shapes may be fixed)
    try:
        _make_parents(out, made)
        for _ in range(100):       # the name is known before the directory exists
            root = Path(temp_name(os.fspath(out.parent), ".edgeplan-bundle-"))
            try:
                root.mkdir(mode=0o700)
                break
            except FileExistsError:    # not ours: never remove it
                root = None
        else:
            raise BundleError(f"no free temporary directory name in {out.parent}")
        bdir, work = root / "bundle", root / "work"
        bdir.mkdir()
        work.mkdir()
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
        artifact = None
        if ov_target:
            cal_arrays = None
            if method == "static-qdq":   # the very samples the QDQ model was calibrated on
                cal_arrays = cal[0] if cal else quantize.synthetic_inputs(
                    _input_specs(prof), quantize.SYNTHETIC_SAMPLES, seed=0)
            artifact = openvino_ir.build_ir(
                model_path, bdir, method=method, precision=wl.precision,
                input_specs=_input_specs(prof), calibration=cal_arrays,
                static_batch=int(wl.batch) if unit.static_shapes_only and prof.dynamic_shapes
                else None, work_dir=work, timeout_s=opts.timeout_s, progress=progress)
            conv.notes.append(f"vendor artifact: OpenVINO IR ({openvino_ir.IR_XML} + "
                              f"{openvino_ir.IR_BIN}), {artifact['method']}; {MODEL_FILE} is "
                              "the onnxruntime fallback")
        elif tfl_target:
            kind = tflite_artifact.variant(runtime, wl.precision, method)
            cal_arrays = None
            if "integer" in kind:        # the very samples the QDQ model was calibrated on
                cal_arrays = cal[0] if cal else quantize.synthetic_inputs(
                    _input_specs(prof), quantize.SYNTHETIC_SAMPLES, seed=0)
            batch = int(wl.batch)
            table = catalog.op_support.get(unit.op_support)
            edgetpu_ops = table.tflite_ops if runtime == "edgetpu" and table else None
            artifact = tflite_artifact.build_tflite(
                model_path, bdir, runtime=runtime, method=method, precision=wl.precision,
                input_specs=_input_specs(prof),
                output_specs=[(o.name, list(o.shape)) for o in prof.outputs],
                calibration=cal_arrays, static_batch=batch, work_dir=work,
                edgetpu_ops=edgetpu_ops, timeout_s=opts.timeout_s, progress=progress)
            if edgetpu_ops:
                pl = artifact["placement"] = tflite_artifact.compare_placement(
                    artifact["placement"], support["fallback_ops"], edgetpu_ops)
                warnings.extend(tflite_artifact.placement_warnings(pl))
            for i, (name, dtype, shape) in zip(artifact["io"]["inputs"], _input_specs(prof)):
                i["shape"] = [batch] + [d if isinstance(d, int) and d > 0 else 1
                                        for d in shape[1:]]
                i["dtype"] = dtype
            conv.notes.append(f"vendor artifact: TensorFlow Lite ({tflite_artifact.TFLITE_FILE}"
                              f"), {artifact['method']}; {MODEL_FILE} is the onnxruntime "
                              "fallback")
        elif rknn_tool is not None:        # built by infer.py itself, once it is rendered
            artifact = rknn_artifact.describe(rknn_tool)
            conv.notes.append(f"vendor artifact: RKNN ({rknn_artifact.RKNN_FILE}) for "
                              f"{rknn_tool['platform']}, built by rknn-toolkit2 "
                              f"{rknn_tool['rknn-toolkit2']} from {MODEL_FILE}; {MODEL_FILE} is "
                              "the onnxruntime fallback")
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
        ctx.update(_artifact_context(tdata, steps, artifact, dev, unit, runtime, io_prof))
        ctx["calibration_file"] = (bdir / CALIBRATION_FILE).exists()
        (bdir / "infer.py").write_text(render("bundle/infer.py.j2", **ctx), encoding="utf-8")
        (bdir / "requirements.txt").write_text(render("bundle/requirements.txt.j2", **ctx),
                                               encoding="utf-8")
        (bdir / "README.md").write_text(render("bundle/README.md.j2", **ctx), encoding="utf-8")
        if steps == "tensorrt":
            _write_script(bdir / ENGINE_SCRIPT, render("bundle/build_engine.sh.j2", **ctx))
        (bdir / "deployment.yaml").write_text(
            _deployment_yaml(manifest, idx, wl, conv, io_prof,
                             CALIBRATION_FILE if ctx["calibration_file"] else None),
            encoding="utf-8")
        _compile_check(bdir / "infer.py")
        progress("render", 1, 1, "")
        if rknn_tool is not None:
            placement = rknn_artifact.build_rknn(bdir, rknn_tool, timeout_s=opts.timeout_s,
                                                 progress=progress)
            artifact["placement"] = rknn_artifact.compare_placement(
                placement, support["fallback_ops"])

        ver = _verify(bdir, work, model_path, specs, sample_arrays, ev, wl, conv, opts,
                      catalog, progress, params=prof.params, artifact=artifact,
                      artifact_python=rknn_tool["python"] if rknn_tool else None)
        ver["vendor_artifact"] = _vendor_artifact_record(tdata, steps, artifact, ver)
        ver["target"] = {"deployment": manifest.name, "workload": wl.name, "model": wl.model,
                         "device": dev.id, "family": dev.family, "unit": unit.id,
                         "unit_kind": unit.kind, "runtime": runtime,
                         "precision": wl.precision, "technique": wl.technique}
        ver["conversion"] = conv.as_dict()
        ver["source_model"] = {"file": model_path.name, "sha256": _sha256(model_path),
                               "params": prof.params, "macs": prof.macs}
        ver["op_support"] = {"unit": unit.id, "op_support": support["op_support"],
                             "fallback_to": support["fallback_to"],
                             "fallback_ops": {k: v["count"]
                                              for k, v in support["fallback_ops"].items()}}
        ver["samples"] = {"file": SAMPLES_FILE, "source": sample_source,
                          "count": len(next(iter(sample_arrays.values())))}
        ver["warnings"] = warnings
        ver["tools"] = _tool_versions(
            () if artifact is None or rknn_tool else ("openvino", "nncf") if ov_target else
            ("onnx2tf", "tensorflow", "tf_keras", "ai-edge-litert"))
        _enforce(ver, opts, wl)
        ver["verdict"] = "verified"
        _finish(bdir, ver)
        progress("write", 0, 1, f"moving the bundle into {out}")
        test_pause(PAUSE_BEFORE_MOVE, os.fspath(out))
        _move_into_place(bdir, out, root / "old", before, opts.force)
        done = True
        progress("write", 1, 1, "")
        return BundleResult(out, ver, ver["warnings"])
    finally:
        if root is not None:
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


def _samples(specs, n, ev, cal, batch: int = 1):
    from planner.bundle.quantize import synthetic_inputs
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
    from importlib import metadata

    from planner.onnxfile.profile import _bytes, _human
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
    # the inputs at static shapes: a symbolic batch at the plan's, other symbols at 1
    static_inputs = [[t.name, [d if isinstance(d, int) else int(wl.batch) if i == 0 else 1
                               for i, d in enumerate(t.shape)]] for t in io_prof.inputs]
    shapes_flag = ""
    if io_prof.dynamic_shapes and all(re.match(r"^[A-Za-z0-9_.:/-]+$", t.name)
                                      for t in io_prof.inputs):
        shapes_flag = "--shapes=" + ",".join(f"{name}:{'x'.join(map(str, dims))}"
                                             for name, dims in static_inputs)
    pins = []
    for pkg in ("onnxruntime", "numpy") + (("openvino",) if any(
            n.startswith("vendor artifact: OpenVINO IR") for n in conv.notes) else ()) + (
            ("ai-edge-litert",) if any(n.startswith("vendor artifact: TensorFlow Lite")
                                       for n in conv.notes) else ()):
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
        "fallback_to": support["fallback_to"],
        "op_support": support["op_support"], "steps": steps, "source_model": src_name,
        "source_sha256": _sha256(model_path), "first_input": first.name,
        "first_input_rank": len(first.shape),
        "shapes_flag": shapes_flag, "batch": int(wl.batch), "static_inputs": static_inputs,
        **_trtexec_flags(wl.precision, _dla_core(unit), shapes_flag),
        "measured_as": {"device": dev.id, "model": wl.model, "precision": wl.precision,
                        "technique": wl.technique, "unit": unit.id, "runtime": runtime,
                        "power_mode": next((d.power_mode for d in manifest.devices
                                            if d.id == dev.id), None),
                        "batch": int(wl.batch)},
    }


def _dla_core(unit) -> int | None:
    """The DLA core a DLA unit is (dla0 -> 0, dla1 -> 1); None for other units."""
    if unit.kind != "dla":
        return None
    m = re.fullmatch(r"dla(\d+)", unit.id)
    return int(m.group(1)) if m else 0


def _trtexec_flags(precision: str, dla_core: int | None, shapes_flag: str) -> dict:
    """trtexec arguments for the engine build and the timed run (build_engine.sh and the
    README's vendor steps): the plan's precision, the plan's DLA core with GPU fallback for
    a DLA plan (the DLA runs FP16 and INT8 only), and the shapes of dynamic inputs."""
    build = {"int8": ["--int8"], "fp16": ["--fp16"]}.get(precision, [])
    run = []
    if dla_core is not None:
        build += [f"--useDLACore={dla_core}", "--allowGPUFallback"]
        run += [f"--useDLACore={dla_core}"]
    if shapes_flag:
        build.append(shapes_flag)
        run.append(shapes_flag)
    return {"trtexec_flags": build, "trtexec_run_flags": run}


def _artifact_context(tdata, steps, artifact, dev, unit, runtime: str, io_prof) -> dict:
    """Template values about the vendor artifact: the OpenVINO IR, the .tflite or the .rknn
    when this bundle has one, else what the device loads that edgeplan did not build, and
    why; and the compile step still to run on an artifact that was built (the Edge TPU
    compiler). An RKNN plan's target platform is named either way (the vendor steps use
    it), and a TensorRT plan's engine, which build_engine.sh builds on the device and
    infer.py then loads."""
    from planner.bundle import openvino_ir, rknn_artifact, tflite_artifact
    fmt = artifact["format"] if artifact else None
    ov, tfl, rk = fmt == "OpenVINO IR", fmt == "TensorFlow Lite", fmt == "RKNN"
    missing = (tdata.get("vendor_artifacts") or {}).get(steps) if artifact is None else \
        (tdata.get("compile_steps") or {}).get(steps)
    note = {}
    if ov:
        note = {"package_note": f"The OpenVINO IR runs with the openvino package pinned below "
                                f"(no onnxruntime plugin needed); {MODEL_FILE} runs with "
                                "onnxruntime where openvino is absent."}
    elif tfl:
        note = {"package_note": f"{tflite_artifact.TFLITE_FILE} runs with the LiteRT interpreter "
                                "(ai-edge-litert, pinned below; tflite_runtime or tensorflow "
                                f"work too); {MODEL_FILE} runs with onnxruntime where none is "
                                "installed."}
    elif rk:
        note = {"package_note": f"On the board, {rknn_artifact.RKNN_FILE} runs with "
                                "rknn-toolkit-lite2 (Rockchip's wheel for aarch64, from the "
                                "rknn-toolkit2 repository, with librknnrt.so in /usr/lib); "
                                f"{MODEL_FILE} runs with onnxruntime on the Cortex-A cores "
                                "where it is absent."}
    return {
        "ir_file": openvino_ir.IR_XML if ov else None,
        "ir_bin": openvino_ir.IR_BIN if ov else None,
        "tflite_file": tflite_artifact.TFLITE_FILE if tfl else None,
        "tflite_io": artifact["io"] if tfl else None,
        "placement": artifact.get("placement") if tfl else None,
        "engine_file": ENGINE_FILE if steps == "tensorrt" else None,
        "dla_core": _dla_core(unit) if steps == "tensorrt" else None,
        "rknn_file": rknn_artifact.RKNN_FILE if rk else None,
        "rknn_platform": artifact["platform"] if rk else _platform_or_none(dev)
        if runtime == "rknn" else None,
        "rknn_io": {"inputs": [[t.name, _NP[t.dtype], list(t.shape)] for t in io_prof.inputs],
                    "outputs": [t.name for t in io_prof.outputs]} if rk else None,
        "artifact_format": fmt or "",
        "artifact_method": artifact["method"] if artifact else "",
        "openvino_devices": [d for d in (tdata.get("openvino_devices") or {}).get(
            dev.family, []) if re.match(r"^[A-Z][A-Z0-9_.]*$", d)] if ov else [],
        "not_built": dict(missing) if missing else None,
        **note,
    }


def _platform_or_none(dev):
    from planner.bundle import rknn_artifact
    try:
        return rknn_artifact.platform_of(dev)
    except BundleError:
        return None


def _vendor_artifact_record(tdata, steps, artifact, ver) -> dict:
    """verification.json's plain statement of what the device loads: the artifact built and
    verified here (and any compile step still to run on it), or that it was NOT built, why,
    and what was verified instead."""
    if artifact is not None:
        rec = {"built": True, "format": artifact["format"], "files": artifact["files"],
               "method": artifact["method"], "converter": artifact["converter"],
               "verified_with": ver.get("runtime"),
               **({"byte_identical_rebuilds": False, "simulated": artifact["simulated"]}
                  if artifact.get("deterministic") is False else {}),
               **({"placement": artifact["placement"]} if "placement" in artifact else {}),
               **({"static_shapes": artifact["static_shapes"]}
                  if "static_shapes" in artifact else {})}
        step = (tdata.get("compile_steps") or {}).get(steps)
        if step:
            rec["not_built"] = {"artifact": step["artifact"], "reason": step["reason"],
                                "next_step": "README.md, section Vendor steps"}
        return rec
    missing = (tdata.get("vendor_artifacts") or {}).get(steps)
    ran = ver.get("runtime") or {}
    verified = f"{MODEL_FILE} with {ran.get('name', 'onnxruntime')} " \
               f"({ran.get('provider', 'CPUExecutionProvider')}) on the build host"
    if missing is None:
        return {"built": False, "needed": False,
                "note": f"the device runs {MODEL_FILE} with onnxruntime; no vendor artifact is "
                        "needed", "verified": verified}
    return {"built": False, "needed": True, "artifact": missing["artifact"],
            "reason": missing["reason"],
            "verified": verified + f"; the {missing['artifact']} is not verified",
            "next_step": f"sh {ENGINE_SCRIPT} on the device (README.md, section Vendor steps)"
            if steps == "tensorrt" else "README.md, section Vendor steps"}


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


ENGINE_SCRIPT = "build_engine.sh"
ENGINE_FILE = "model.engine"          # what build_engine.sh writes and infer.py loads


def _write_script(path: Path, text: str) -> None:
    """A generated shell script, executable, checked by `sh -n` (a template bug, never user
    data, would fail here rather than on the device)."""
    import subprocess
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    p = subprocess.run(["sh", "-n", str(path)], check=False, capture_output=True, text=True)
    if p.returncode != 0:
        raise BundleError(f"generated {path.name} is not valid sh: {p.stderr.strip()}")


def _compile_check(path: Path) -> None:
    src = path.read_text(encoding="utf-8")
    try:
        compile(src, str(path.name), "exec")
    except SyntaxError as e:   # a template bug, never user data
        raise BundleError(f"generated infer.py does not compile: {e}") from None


def _tool_versions(extra=()) -> dict:
    from importlib import metadata
    out = {"python": sys.version.split()[0]}
    for pkg in ("edgeplan", "onnx", "onnxruntime", "numpy", "jinja2", *extra):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _finish(bdir: Path, ver: dict) -> None:
    files = sorted(p.name for p in bdir.iterdir() if p.is_file())
    ver["files"] = {name: _sha256(bdir / name) for name in files}
    text = json.dumps(ver, indent=2, sort_keys=True) + "\n"
    (bdir / VERIFICATION_FILE).write_text(text, encoding="utf-8")
    lines = [f"{_sha256(bdir / name)}  {name}\n"
             for name in sorted(p.name for p in bdir.iterdir() if p.is_file())
             if name != SUMS_FILE]
    (bdir / SUMS_FILE).write_text("".join(lines), encoding="utf-8")
