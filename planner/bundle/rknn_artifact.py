"""The RKNN target (Rockchip NPUs): the bundle's vendor artifact as `model.rknn`, built by
Rockchip's rknn-toolkit2 from the bundle's INT8 QDQ `model.onnx` (the toolkit loads QDQ
graphs as quantization-aware models, so the .rknn keeps the scales calibrated on the
bundle's calibration data), and verified with the toolkit's simulator on the host.

rknn-toolkit2 pins numpy<=1.26.4, onnx<=1.18.0, protobuf<=4.25.4 and torch<=2.4.0, which
clash with edgeplan's own numpy, onnx and protobuf, so it cannot be an extra of edgeplan's
environment. It runs in a separate environment that edgeplan makes and finds:

* `edgeplan toolchain install rknn` creates it (a venv under `toolchain_dir()`, or `--dir`)
  with the toolkit and the packages it imports, pinned in `RKNN_REQUIREMENTS`;
* `EDGEPLAN_RKNN_PYTHON` names any other Python that imports `rknn.api`.

The bundle step never imports the toolkit: it runs the bundle's own `infer.py` with that
Python. `infer.py --export-rknn model.rknn` builds the artifact, and `infer.py --runtime rknn`
(on a host, where rknn-toolkit-lite2 is absent) builds the same graph again with the same
settings and runs it in the simulator: the toolkit's simulator cannot load a .rknn file
("RKNN model that loaded by 'load_rknn' not support inference on the simulator"), and two
builds of one graph are not byte-identical (the toolkit writes memory addresses into the
file), so the bytes of model.rknn themselves run only on the board.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from planner.bundle.contents import Progress
from planner.errors import BundleError, InputError, MissingExtraError

RKNN_FILE = "model.rknn"
RUNTIMES = ("rknn",)
TOOLKIT = "rknn-toolkit2"
TOOLKIT_VERSION = "2.5.0"
PYTHON_ENV = "EDGEPLAN_RKNN_PYTHON"
INSTALL = "edgeplan toolchain install rknn"
# what rknn-toolkit2 2.5.0 declares (Requires-Dist of its wheel), installed beside it with
# --no-deps, with two deliberate changes: opencv-python-headless for opencv-python (the same
# cv2 module without the GUI libraries, which a build host or CI machine may lack), and torch
# left to `--torch`: the toolkit imports torch when it loads but uses it only for PyTorch
# sources (load_pytorch), and its pin torch<=2.4.0 means a CUDA build of several GB on
# Linux x86-64 from PyPI, where a CPU build is enough
RKNN_REQUIREMENTS = (
    "numpy==1.26.4", "onnx==1.18.0", "protobuf==4.25.4", "onnxruntime>=1.17.0",
    "psutil>=5.9.0", "ruamel.yaml>=0.17.21", "scipy>=1.9.3", "tqdm>=4.64.1",
    "opencv-python-headless>=4.5.5.64", "fast-histogram>=0.11",
    "setuptools<81",       # the toolkit imports pkg_resources, which setuptools 81 removed
)
DEFAULT_TORCH = "torch>=1.10.1,<=2.4.0"       # the toolkit's own pin
# the toolkit's target platforms (rknn-toolkit2 2.5.0 config(target_platform=...)), as they
# appear in a device's id or name
PLATFORMS = ("rk3588", "rk3576", "rk3568", "rk3566", "rk3562", "rk2118",
             "rv1106b", "rv1103b", "rv1106", "rv1103", "rv1126b")
_PLATFORM = re.compile(r"(?<![a-z0-9])(" + "|".join(PLATFORMS) + r")(?:s|j)?(?![0-9])",
                       re.IGNORECASE)


def is_target(runtime: str) -> bool:
    return runtime in RUNTIMES


def toolchain_dir() -> Path:
    """Where `edgeplan toolchain install rknn` puts the environment by default:
    $XDG_CACHE_HOME/edgeplan/toolchains/rknn-toolkit2-<version> (~/.cache when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgeplan" / "toolchains" / f"{TOOLKIT}-{TOOLKIT_VERSION}"


def _venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def platform_of(device) -> str:
    """The toolkit's target platform for a catalog device, read from its id or name
    (`rk3588-orange-pi-5-8gb`, `Orange Pi 5 (RK3588S, 8GB)` -> rk3588)."""
    for text in (device.id, device.name):
        m = _PLATFORM.search(text or "")
        if m:
            return m.group(1).lower()
    raise BundleError(f"device {device.id!r} names no Rockchip SoC rknn-toolkit2 targets "
                      f"({', '.join(PLATFORMS)}) in its id or name")


def _probe(python: str) -> dict | None:
    """{'python': ..., 'rknn-toolkit2': version} when `python` imports rknn.api, else None."""
    code = ("import json, sys, importlib.metadata as m; import rknn.api; "
            "print(json.dumps({'rknn-toolkit2': m.version('rknn-toolkit2'), "
            "'python_version': sys.version.split()[0]}))")
    try:
        p = subprocess.run([python, "-c", code], check=False, capture_output=True, text=True,
                           timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    try:
        info = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return {"python": python, **info}


def find_toolchain() -> dict | None:
    """The Python that runs rknn-toolkit2: $EDGEPLAN_RKNN_PYTHON, else the environment
    `edgeplan toolchain install rknn` made; None when neither imports rknn.api."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        return _probe(os.path.abspath(named))    # infer.py runs with the bundle as its cwd
    py = _venv_python(toolchain_dir())
    return _probe(os.fspath(py)) if py.exists() else None


def why_not_found() -> str:
    """Why find_toolchain() found nothing, and what to do, in one clause."""
    named = os.environ.get(PYTHON_ENV)
    if not named:
        return f"it is not installed: {INSTALL}"
    where = f"{PYTHON_ENV}={named}"
    if not os.path.exists(named):
        problem = "does not exist"
    elif os.path.isdir(named):
        problem = "is a directory (point it at the environment's bin/python)"
    else:
        problem = "does not import rknn.api"
    return (f"{where} {problem}: fix it, or unset it to use the environment {INSTALL} "
            "makes")


def builds(precision: str, method: str) -> bool:
    """Whether the bundle builds model.rknn for this plan: INT8 static QDQ only, since
    rknn-toolkit2 2.5.0 does not load the FP16 ONNX graph the bundle makes (its Cast nodes:
    `KeyError: 'graph_input_cast_0'`); other plans say so (targets.yaml, vendor_artifacts)."""
    return precision == "int8" and method == "static-qdq"


def require(device, *, file: str | None = None, field: str = "runtime") -> dict:
    """The toolchain and target platform an INT8 RKNN plan needs, checked before anything
    is written: MissingExtraError (exit 2) saying how to install it when it is absent."""
    try:
        platform = platform_of(device)
    except BundleError as e:
        e.file, e.field = file, field
        raise
    found = find_toolchain()
    if found is None:
        raise MissingExtraError(
            f"the plan runs on RKNN, and its .rknn needs {TOOLKIT}, which edgeplan runs in its "
            f"own environment (its pins numpy<=1.26.4, onnx<=1.18.0, protobuf<=4.25.4 clash "
            f"with edgeplan's); {why_not_found()}", extra="rknn", file=file, field=field)
    return dict(found, platform=platform)


def describe(tool: dict) -> dict:
    """What the bundle says about the artifact before it is built (README.md, infer.py)."""
    return {"format": "RKNN", "files": [RKNN_FILE], "platform": tool["platform"],
            "method": f"INT8 for {tool['platform']}, from the QDQ model.onnx with the scales "
                      "calibrated here (rknn-toolkit2 loads it as a quantization-aware model)",
            "converter": {TOOLKIT: tool[TOOLKIT], "python": tool["python_version"]},
            "deterministic": False,
            "simulated": f"the {TOOLKIT} simulator ran the graph {TOOLKIT} builds from "
                         f"model.onnx with the settings {RKNN_FILE} was built with (build_rknn in "
                         f"infer.py): the simulator cannot load a .rknn file, and two builds are "
                         f"not byte-identical (the toolkit writes memory addresses into the "
                         f"file), so the bytes of {RKNN_FILE} run only on the board"}


def build_rknn(bdir: Path, tool: dict, *, timeout_s: float = 1800.0,
               progress: Progress | None = None) -> dict:
    """Write model.rknn into `bdir` by running the bundle's own infer.py with the toolchain's
    Python (`infer.py --export-rknn`). Returns where the toolkit placed the ops (its own
    layer table: NPU or CPU per op)."""
    from planner.bundle.verify import run_infer
    progress = progress or (lambda *a: None)
    progress("convert", 0, 1, f"rknn-toolkit2 {tool[TOOLKIT]}: building {RKNN_FILE} for "
                              f"{tool['platform']}")
    try:
        done = run_infer(bdir, ["--export-rknn", RKNN_FILE], timeout_s, tool["python"],
                         error=BundleError)
    except BundleError as e:
        raise BundleError(f"rknn-toolkit2 could not build the model: {e.message}") from None
    if not (Path(bdir) / RKNN_FILE).is_file() or "placement" not in done:
        raise BundleError(f"infer.py --export-rknn reported no {RKNN_FILE} and placement")
    progress("convert", 1, 1, "")
    return done["placement"]


def compare_placement(placement: dict, table_fallback: dict) -> dict:
    """The converter's placement beside edgeplan's op table for the unit: how many ops the
    toolkit put on the NPU and on the CPU, and which op types the two disagree on (CPU in
    the build but supported in the table, or the reverse). The toolkit's op types are its
    own (a Gemm becomes a Conv), so only types both name are compared."""
    npu = placement["ops"].get("NPU", {})
    cpu = {t: n for target, ops in placement["ops"].items() if target != "NPU"
           for t, n in ops.items()}
    table = set(table_fallback)
    return {"unit": "NPU", "unit_ops": sum(npu.values()), "cpu_ops": cpu,
            "cpu_layers": placement["cpu_layers"][:20],
            "cpu_but_table_supported": sorted(t for t in cpu if t not in table),
            "table_fallback_but_unit": sorted(t for t in npu if t in table),
            "checked_by": "rknn-toolkit2's own layer table (its verbose build log)",
            "note": "the op table (catalog/op_support.yaml) lists what the toolkit accepts, "
                    "the build decides per op"}


def install(root: Path | None = None, *, python: str | None = None,
            torch: str = DEFAULT_TORCH, progress: Progress | None = None) -> dict:
    """Create the toolchain environment at `root` (default `toolchain_dir()`): a venv made
    with `python` (default: this one; the toolkit has wheels for CPython 3.6-3.12), then
    rknn-toolkit2 without its dependencies, the packages it imports, and `torch`. Needs the
    package registry, like `pip install`; returns what `find_toolchain` would."""
    import shutil
    progress = progress or (lambda *a: None)
    root = Path(root).absolute() if root is not None else toolchain_dir()
    if root.exists() and any(root.iterdir()) and not _venv_python(root).exists():
        raise InputError("the directory exists and is not a Python environment; give "
                         "another --dir or remove it", file=os.fspath(root), field="--dir")
    made = not root.exists() or not any(root.iterdir())    # ours to remove on failure
    base = python or sys.executable
    py = os.fspath(_venv_python(root))
    steps = [
        ("creating the environment", [base, "-m", "venv", os.fspath(root)]),
        (f"installing {TOOLKIT} {TOOLKIT_VERSION}",
         [py, "-m", "pip", "install", "-q", "--no-deps", f"{TOOLKIT}=={TOOLKIT_VERSION}"]),
        ("installing what it imports",
         [py, "-m", "pip", "install", "-q", *RKNN_REQUIREMENTS, torch]),
    ]
    try:
        for i, (what, cmd) in enumerate(steps):
            progress("install", i, len(steps), what)
            try:
                p = subprocess.run(cmd, check=False, capture_output=True, text=True)
            except OSError as e:
                raise InputError(f"cannot run {cmd[0]}: {e.strerror}", file=cmd[0],
                                 field="--python" if i == 0 else None) from None
            if p.returncode != 0:
                tail = [ln for ln in (p.stderr or p.stdout).strip().splitlines()
                        if ln.strip()][-2:]
                raise BundleError(f"{what} failed: " + (" | ".join(tail) or
                                                        f"exit code {p.returncode}"))
        progress("install", len(steps), len(steps), "")
        found = _probe(py)
        if found is None:
            raise BundleError(f"the environment at {root} was made but does not import "
                              "rknn.api")
    except BaseException:
        if made:        # a half-made environment would be found, and fail, later
            shutil.rmtree(root, ignore_errors=True)
        raise
    return found
