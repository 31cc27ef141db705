"""Converting an FP32 ONNX model to the planned precision with onnxruntime's tools.

Methods (`choose_method` picks one from the plan; `convert` runs it):

* `static-qdq`: INT8 post-training quantization in QDQ format (per-channel weights, MinMax
  calibration) with a `CalibrationDataReader` over the user's calibration .npz. Without
  calibration data a synthetic set is generated; the result says so (`synthetic: true`) and
  the bundle repeats it in its output and in verification.json, because activation ranges
  from random inputs are not the ranges the model will see.
* `dynamic`: INT8 weights with activations quantized at run time, for MatMul/LSTM/attention
  graphs that run on a CPU (no calibration needed).
* `fp16`: onnxruntime's float16 converter, keeping float32 inputs and outputs.
* `none`: the model is already at the planned precision (FP32 plans; QAT/QDQ models).

Before quantizing, `prepare_float_model` turns weights held in `Constant`/`ConstantOfShape`
nodes into initializers (the quantizer only quantizes initializers), takes initializers out
of the graph inputs (IR < 4), raises opsets below 13 to 13 (per-channel QDQ needs it) and
runs onnxruntime's quantization pre-processing (shape inference, BatchNorm folding).
Models over 2 GB are written with external data.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from planner.bundle.contents import Progress
from planner.errors import BundleError, InputError

SYNTHETIC_SAMPLES = 16
CALIBRATION_BATCH = 32
LABEL_KEYS = ("labels", "label", "y")
_TWO_GB = 2 * 1024**3 - 64 * 1024**2          # leave room for the graph itself
MIN_QDQ_OPSET = 13


@dataclass
class Conversion:
    method: str
    precision: str
    calibration: dict = field(default_factory=dict)   # source, file, samples, synthetic
    notes: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return bool(self.calibration.get("synthetic"))

    def as_dict(self) -> dict:
        return asdict(self)


def _noop(stage, done, total, message=""):
    return None


# ---------------------------------------------------------------- data files

def load_npz(path, input_specs: list[tuple[str, str, list]], *, what: str):
    """Read model inputs (and labels, if present) from an .npz or .npy file.

    `input_specs` is [(name, numpy dtype, shape)] of the model inputs. Arrays are matched by
    input name; a model with one input also takes the file's only non-label array. The leading
    axis of every array counts samples. Pickled objects are refused."""
    import numpy as np

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError("no such file", file=p, field=what)
    try:
        loaded = np.load(p, allow_pickle=False)
    except ValueError as e:
        raise InputError(f"cannot read as numpy data ({e})", file=p, field=what) from None
    except Exception as e:
        raise InputError(f"not an .npz/.npy file ({type(e).__name__})", file=p,
                         field=what) from None
    if isinstance(loaded, np.ndarray):
        arrays = {"": loaded}
    else:
        try:
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise InputError(f"cannot read as numpy data ({type(e).__name__}: {e})", file=p,
                             field=what) from None
    labels = None
    for k in LABEL_KEYS:
        if k in arrays and k not in {n for n, _, _ in input_specs}:
            labels = np.asarray(arrays.pop(k)).reshape(-1)
            break
    out = {}
    names = [n for n, _, _ in input_specs]
    if all(n in arrays for n in names):
        out = {n: arrays[n] for n in names}
    elif len(names) == 1 and len(arrays) == 1:
        out = {names[0]: next(iter(arrays.values()))}
    else:
        raise InputError(f"expected arrays named {', '.join(repr(n) for n in names)} "
                         f"(the model's inputs); the file has "
                         f"{', '.join(repr(k) for k in arrays) or 'none'}", file=p, field=what)
    n_rows = None
    for name, dtype, shape in input_specs:
        a = out[name]
        if a.dtype.kind not in "biuf":
            raise InputError(f"array {name!r} holds {a.dtype}, not numbers", file=p, field=what)
        if a.ndim != len(shape) and not (shape and a.ndim == len(shape) - 1):
            raise InputError(f"array {name!r} has shape {list(a.shape)}; the model input is "
                             f"{shape}", file=p, field=what)
        if a.ndim == len(shape) - 1:      # one sample without its batch axis
            a = a[None]
        for got, want in zip(a.shape[1:], shape[1:]):
            if isinstance(want, int) and want > 0 and got != want:
                raise InputError(f"array {name!r} has shape {list(a.shape)}; the model input "
                                 f"is {shape}", file=p, field=what)
        out[name] = _cast_checked(a, dtype, name, p, what)
        if n_rows is None:
            n_rows = a.shape[0]
        elif a.shape[0] != n_rows:
            raise InputError("arrays disagree on the number of samples", file=p, field=what)
    if not n_rows:
        raise InputError("the file holds no samples", file=p, field=what)
    if labels is not None:
        if len(labels) != n_rows:
            raise InputError(f"{len(labels)} labels for {n_rows} samples", file=p, field=what)
        labels = class_labels(labels, p, what)
    return out, labels


def _first_bad(mask) -> str:
    import numpy as np
    idx = np.argwhere(mask)[0]
    return f"at row {int(idx[0])}" if len(idx) else ""


def _cast_checked(a, dtype: str, name: str, p: str, what: str):
    """`a` as the model input's dtype, refusing values the model was never meant to see:
    NaN or infinity, and numbers the input's type cannot hold (an int64 of 10**12 fed to a
    uint8 input would wrap silently; 1e300 would become float32 infinity). A bundle verified
    on such data would prove nothing."""
    import numpy as np

    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            kind = "NaN" if np.isnan(a).any() else "infinity"
            raise InputError(f"array {name!r} holds {kind} {_first_bad(bad)}; give finite "
                             "numbers", file=p, field=what)
    target = np.dtype(dtype)
    if a.size and target.kind in "iub" and a.dtype != target:
        info = np.iinfo(target) if target.kind in "iu" else None
        lo, hi = (info.min, info.max) if info else (0, 1)
        bad = (a < lo) | (a > hi)
        if a.dtype.kind == "f":
            bad |= a != np.round(a)
        if bad.any():
            raise InputError(f"array {name!r} holds {a[bad].flat[0].item()!r} {_first_bad(bad)}, "
                             f"which the model's {target} input cannot hold (range {lo} to "
                             f"{hi})", file=p, field=what)
    elif a.size and target.kind == "f" and a.dtype != target:
        # integers must convert exactly (float32 holds every integer up to 2**24), floats
        # must stay finite
        exact = a.dtype.kind in "iub"
        limit = 2.0 ** (np.finfo(target).nmant + 1) if exact else float(np.finfo(target).max)
        bad = np.abs(a.astype(np.float64)) > limit
        if bad.any():
            raise InputError(f"array {name!r} holds {a[bad].flat[0].item()!r} {_first_bad(bad)}, "
                             f"beyond what the model's {target} input holds "
                             f"{'exactly ' if exact else ''}({limit:.3g})", file=p, field=what)
    return a.astype(target, copy=False)


def class_labels(labels, p: str, what: str, n_classes: int | None = None):
    """Eval labels as int64 class indices: integers (or integral floats) from 0 to
    n_classes - 1. Strings or out-of-range classes are bad input, not a 0 % accuracy."""
    import numpy as np

    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind not in "biuf":
        raise InputError(f"labels hold {labels.dtype}, not class indices (integers from 0)",
                         file=p, field=what)
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if bad.any():
            raise InputError(f"label {labels[bad][0].item()!r} {_first_bad(bad)} is not a class "
                             "index (integers from 0)", file=p, field=what)
    bad = labels < 0
    if n_classes is not None:
        bad |= labels >= n_classes
    if bad.any():
        top = f" to {n_classes - 1} (the model's {n_classes} classes)" if n_classes else ""
        raise InputError(f"label {labels[bad][0].item()!r} {_first_bad(bad)} is outside 0"
                         f"{top}", file=p, field=what)
    return labels.astype(np.int64)


def synthetic_inputs(input_specs, n: int, seed: int = 0) -> dict:
    """Deterministic random inputs: standard normal floats, small non-negative integers."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for name, dtype, shape in input_specs:
        dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape[1:]]
        full = [n] + dims
        if np.dtype(dtype).kind == "f":
            out[name] = rng.standard_normal(full).astype(dtype)
        elif np.dtype(dtype).kind == "b":
            out[name] = rng.integers(0, 2, size=full).astype(dtype)
        else:
            out[name] = rng.integers(0, 2, size=full).astype(dtype)
    return out


def batches(arrays: dict, fixed_batch: int | None) -> list[dict]:
    """Split sample arrays into feeds the model accepts: chunks of the model's fixed batch
    size (a remainder that does not fill one is left out), or of CALIBRATION_BATCH rows when
    the batch dimension is symbolic."""
    n = len(next(iter(arrays.values())))
    if fixed_batch:
        starts = range(0, n - fixed_batch + 1, fixed_batch)
        step = fixed_batch
    else:
        starts = range(0, n, CALIBRATION_BATCH)
        step = CALIBRATION_BATCH
    return [{k: v[s:s + step] for k, v in arrays.items()} for s in starts]


# ---------------------------------------------------------------- the reader

def _reader_class():
    from onnxruntime.quantization import CalibrationDataReader

    class NpzCalibrationReader(CalibrationDataReader):
        """Feeds calibration batches and reports progress as the calibrator reads them."""

        def __init__(self, feeds: list[dict], progress: Progress):
            self.feeds = feeds
            self.i = 0
            self.progress = progress

        def get_next(self):
            if self.i >= len(self.feeds):
                return None
            feed = self.feeds[self.i]
            self.i += 1
            self.progress("calibrate", self.i, len(self.feeds), "")
            return feed

        def rewind(self):
            self.i = 0

    return NpzCalibrationReader


# ---------------------------------------------------------------- preparing a float model

@contextlib.contextmanager
def quiet_onnxruntime():
    """onnxruntime.quantization logs advice on the root logger; keep it out of our output
    while it runs (a filter on the root logger, removed afterwards)."""
    class _F(logging.Filter):
        def filter(self, record):
            return record.levelno >= logging.ERROR
    f = _F()
    root = logging.getLogger()
    root.addFilter(f)
    handlers = list(root.handlers)
    for h in handlers:
        h.addFilter(f)
    try:
        yield
    finally:
        root.removeFilter(f)
        for h in handlers:
            h.removeFilter(f)


def save_model(model, path: Path) -> None:
    import onnx
    path = Path(path)
    if model.ByteSize() > _TWO_GB:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data", size_threshold=1024)
    else:
        onnx.save_model(model, str(path))


def prepare_float_model(src, dst) -> Path:
    """Write a copy of `src` that onnxruntime's quantizer handles: weights as initializers,
    no initializers among the inputs, opset >= 13, shapes inferred, BatchNorm folded."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    dst = Path(dst)
    try:
        model = onnx.load(os.fspath(src), load_external_data=True)
    except Exception as e:
        raise InputError(f"cannot load the model with its data ({type(e).__name__}: "
                         f"{str(e)[:120]})", file=os.fspath(src)) from None
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    orig_inits = set(inits)
    nodes = []
    for n in g.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            g.initializer.append(t)
            inits[t.name] = t
            continue
        if n.op_type == "ConstantOfShape" and n.input and n.input[0] in inits:
            shape = numpy_helper.to_array(inits[n.input[0]]).astype(np.int64).reshape(-1)
            val = np.zeros(1, np.float32)
            for a in n.attribute:
                if a.name == "value":
                    val = numpy_helper.to_array(a.t).reshape(-1)
            arr = np.full(tuple(int(x) for x in shape), val[0], dtype=val.dtype)
            t = numpy_helper.from_array(arr, n.output[0])
            g.initializer.append(t)
            inits[t.name] = t
            continue
        nodes.append(n)
    if len(nodes) != len(g.node):
        del g.node[:]
        g.node.extend(nodes)
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        for sub in _subgraph_inputs(g):
            used.add(sub)
        keep = [t for t in g.initializer if t.name in used]
        del g.initializer[:]
        g.initializer.extend(keep)
    real = [i for i in g.input if i.name not in orig_inits]
    if len(real) != len(g.input):
        del g.input[:]
        g.input.extend(real)
    model.ir_version = max(model.ir_version, 7)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset and opset < MIN_QDQ_OPSET:
        from onnx import version_converter
        try:
            model = version_converter.convert_version(model, MIN_QDQ_OPSET)
        except Exception as e:
            raise BundleError(f"cannot raise the model's opset {opset} to {MIN_QDQ_OPSET} for "
                              f"quantization: {str(e)[:160]}", file=os.fspath(src)) from None
    raw = dst.with_name(dst.stem + ".raw.onnx")
    save_model(model, raw)
    del model
    from onnxruntime.quantization.shape_inference import quant_pre_process
    try:
        with quiet_onnxruntime():
            quant_pre_process(str(raw), str(dst), skip_symbolic_shape=True,
                              save_as_external_data=os.path.getsize(raw) > _TWO_GB,
                              external_data_location=dst.name + ".data")
    except Exception as e:
        raise BundleError(f"onnxruntime could not pre-process the model for quantization: "
                          f"{type(e).__name__}: {str(e)[:200]}", file=os.fspath(src)) from None
    finally:
        for f in (raw, raw.with_name(raw.name + ".data")):
            if f.exists():
                f.unlink()
    return dst


def _subgraph_inputs(g):
    import onnx
    for n in g.node:
        for a in n.attribute:
            graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else \
                list(a.graphs) if a.type == onnx.AttributeProto.GRAPHS else []
            for sg in graphs:
                for sn in sg.node:
                    yield from (i for i in sn.input if i)
                yield from _subgraph_inputs(sg)


# ---------------------------------------------------------------- choosing and converting

def choose_method(prof, precision: str, technique: str, unit_kind: str,
                  requested: str | None = None) -> str:
    """The conversion for a plan. `requested` (from --quantization) wins where it applies."""
    if precision == "int4":
        raise BundleError("INT4 bundles are not supported: onnxruntime's tools here convert to "
                          "FP16 and INT8 (plan INT8 or FP16, or bring a weight-only INT4 model "
                          "for your runtime)", field="precision")
    if prof.quantized:
        if precision != "int8":
            raise BundleError(f"the model is already quantized (INT8); the plan asks for "
                              f"{precision.upper()}: bring the float model", field="precision")
        return "none"
    if precision == "fp32":
        if prof.precision == "fp16":
            raise BundleError("the model holds FP16 weights; the plan asks for FP32: bring the "
                              "float32 model", field="precision")
        return "none"
    if precision == "fp16":
        return "none" if prof.precision == "fp16" else "fp16"
    # int8
    if technique == "qat":
        raise BundleError("the plan says INT8 by QAT, but the model has no quantization "
                          "nodes: export the QAT model with its QuantizeLinear/DequantizeLinear "
                          "nodes", field="technique")
    if requested in ("static", "static-qdq"):
        return "static-qdq"
    if requested == "dynamic":
        return "dynamic"
    if technique == "weight-only":
        return "dynamic"
    if unit_kind == "cpu" and prof.sequence_mac_share >= 0.5 and not any(
            k.split(".")[-1] in ("Conv", "ConvTranspose") for k in prof.macs_by_op):
        return "dynamic"
    return "static-qdq"


def convert(src, dst, *, method: str, precision: str, input_specs, calibration=None,
            activation_symmetric: bool = False, work_dir=None,
            progress: Progress | None = None) -> Conversion:
    """Convert `src` to `dst`. `calibration` is (path or None, arrays or None): the arrays
    from `load_npz`, already read. Returns what was done."""
    progress = progress or _noop
    dst = Path(dst)
    work = Path(work_dir) if work_dir else dst.parent
    conv = Conversion(method=method, precision=precision)
    if method == "none":
        progress("convert", 0, 1, "no conversion: the model is already " + precision.upper())
        _copy_model(src, dst)
        progress("convert", 1, 1, "")
        return conv
    if method == "fp16":
        progress("convert", 0, 1, "FP16 conversion")
        _to_fp16(src, dst)
        conv.notes.append("weights and math in FP16; inputs and outputs stay float32")
        progress("convert", 1, 1, "")
        return conv

    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    progress("convert", 0, 1, "preparing the float model for quantization")
    prepared = prepare_float_model(src, work / "prepared.onnx")
    big = os.path.getsize(prepared) > _TWO_GB or (work / "prepared.onnx.data").exists()
    try:
        if method == "dynamic":
            progress("convert", 0, 1, "dynamic INT8 quantization (weights INT8, activations "
                                      "quantized at run time)")
            with quiet_onnxruntime():
                quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8,
                                 per_channel=False, use_external_data_format=big)
            conv.calibration = {"source": "none (dynamic quantization needs no calibration)",
                                "synthetic": False, "samples": 0}
            conv.notes.append("activations are quantized at run time: MatMul-heavy graphs on "
                              "CPUs; accelerators that need full INT8 want static-qdq")
        elif method == "static-qdq":
            cal_path, arrays = calibration if calibration else (None, None)
            if arrays is None:
                arrays = synthetic_inputs(input_specs, SYNTHETIC_SAMPLES, seed=0)
                conv.calibration = {"source": "SYNTHETIC random inputs (no --calibration-data)",
                                    "synthetic": True, "samples": SYNTHETIC_SAMPLES}
                conv.notes.append("INT8 ranges come from SYNTHETIC random inputs, not real data: "
                                  "accuracy is unknown until you calibrate with "
                                  "--calibration-data")
            else:
                n = len(next(iter(arrays.values())))
                conv.calibration = {"source": "user data", "file": Path(cal_path).name,
                                    "synthetic": False, "samples": int(n)}
            first = input_specs[0][2][0] if input_specs and input_specs[0][2] else None
            feeds = batches(arrays, first if isinstance(first, int) and first > 0 else None)
            if not feeds:
                raise InputError(f"fewer calibration samples than the model's batch size "
                                 f"{input_specs[0][2][0]}", field="calibration-data")
            reader = _reader_class()(feeds, progress)
            extra = {"WeightSymmetric": True, "ActivationSymmetric": bool(activation_symmetric)}
            with quiet_onnxruntime():
                quantize_static(str(prepared), str(dst), reader, quant_format=QuantFormat.QDQ,
                                per_channel=True,
                                activation_type=QuantType.QInt8 if activation_symmetric
                                else QuantType.QUInt8,
                                weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax,
                                use_external_data_format=big, extra_options=extra)
            conv.notes.append("static INT8, QDQ format, per-channel weights, MinMax calibration"
                              + (", symmetric activations" if activation_symmetric else ""))
        else:
            raise BundleError(f"unknown conversion method {method!r}")
    except (InputError, BundleError):
        raise
    except Exception as e:
        raise BundleError(f"onnxruntime could not quantize the model ({method}): "
                          f"{type(e).__name__}: {str(e)[:200]}") from None
    finally:
        for f in (prepared, prepared.with_name(prepared.name + ".data")):
            if f.exists():
                f.unlink()
    progress("convert", 1, 1, "")
    return conv


def _copy_model(src, dst: Path) -> None:
    """Copy an ONNX file; one with external data is rewritten with its data beside it under
    the bundle's own file name."""
    import onnx
    m = onnx.load(os.fspath(src), load_external_data=False)
    has_ext = any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    if not has_ext:
        shutil.copyfile(os.fspath(src), dst)
        return
    del m
    save_model(onnx.load(os.fspath(src), load_external_data=True), dst)


def _to_fp16(src, dst: Path) -> None:
    import onnx
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except Exception:  # pragma: no cover - depends on the onnxruntime build
        try:
            from onnxconverter_common.float16 import convert_float_to_float16
        except Exception:
            raise BundleError("no FP16 converter is installed (onnxruntime.transformers or "
                              "onnxconverter-common)") from None
    model = onnx.load(os.fspath(src), load_external_data=True)
    try:
        with quiet_onnxruntime():
            model = convert_float_to_float16(model, keep_io_types=True,
                                             disable_shape_infer=model.ByteSize() > _TWO_GB)
    except Exception as e:
        raise BundleError(f"FP16 conversion failed: {type(e).__name__}: {str(e)[:200]}") from None
    save_model(model, dst)


def make_static(path, batch: int) -> list[str]:
    """Fix the symbolic dimensions of a model's inputs and outputs for a compiler that needs
    static shapes: the leading (batch) dimension becomes `batch`. Any other symbolic
    dimension cannot be guessed and raises BundleError. Returns what was fixed."""
    import onnx
    path = Path(path)
    model = onnx.load(str(path), load_external_data=True)
    g = model.graph
    init = {t.name for t in g.initializer}
    fixed = []
    for v in list(g.input) + list(g.output):
        if v.name in init or not v.type.HasField("tensor_type"):
            continue
        for i, d in enumerate(v.type.tensor_type.shape.dim):
            if d.HasField("dim_value"):
                continue
            if i != 0:
                raise BundleError(f"{v.name!r} has a symbolic dimension {d.dim_param or '?'} "
                                  f"at axis {i}, and the unit compiles static shapes only: "
                                  "export the model with static shapes")
            name = d.dim_param or "?"
            d.Clear()
            d.dim_value = batch
            fixed.append(f"{v.name}[{i}] {name} -> {batch}")
    if fixed:
        # intermediate shapes that still say N would contradict the inputs: let runtimes infer
        del g.value_info[:]
        save_model(model, path)
    return fixed
