"""The TensorFlow Lite targets: the bundle's vendor artifact as `model.tflite`, converted from
the FP32 source with onnx2tf (TensorFlow's converter underneath) and verified with the LiteRT
interpreter (`ai-edge-litert`) on the host CPU.

* runtime `edgetpu` (Coral): full-integer INT8 (`*_full_integer_quant.tflite`: INT8 inputs and
  outputs, per-tensor quantization as the Edge TPU wants), calibrated on the same samples as
  the ONNX QDQ path. The Edge TPU-compiled `model_edgetpu.tflite` is NOT built here:
  `edgetpu_compiler` is Coral's Debian package; README.md gives the exact command, and the
  Edge TPU runs the same integer graph the interpreter ran.
* runtime `tflite` (Raspberry Pi / Android CPUs, XNNPACK): INT8 with float inputs and outputs
  and per-channel weights (`*_integer_quant.tflite`), dynamic-range INT8 where the ONNX path
  picks dynamic, FP16 (`*_float16.tflite`) or FP32.

Four-dimensional inputs become NHWC (the layout TFLite kernels and the Edge TPU use); the
bundle's `infer.py` takes NCHW arrays like the ONNX model and transposes them, quantizes INT8
inputs with the model's own scale and zero point, and dequantizes INT8 outputs.

onnx2tf rewrites the ONNX file it converts (it names unnamed ops in place), so it converts
a copy in the work directory; the user's model is never touched.

onnx2tf, tensorflow and ai-edge-litert are an optional extra (`pip install
'edgeplan[tflite]'`), imported only in the conversion process. The conversion runs in a fresh
Python process (TensorFlow is heavy and logs on its own); rebuilt from the same inputs the
.tflite is byte-identical (tests/test_bundle_tflite.py checks it).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from planner.bundle.contents import Progress
from planner.errors import BundleError, MissingExtraError

TFLITE_FILE = "model.tflite"
RUNTIMES = ("tflite", "edgetpu")
EXTRA = "tflite"
INSTALL = "pip install 'edgeplan[tflite]'"
# import name -> what to say
_NEEDED = (("onnx2tf", "onnx2tf"), ("tensorflow", "tensorflow"), ("tf_keras", "tf_keras"),
           ("onnx_graphsurgeon", "onnx_graphsurgeon"), ("sng4onnx", "sng4onnx"),
           ("ai_edge_litert", "ai-edge-litert"))


def is_target(runtime: str) -> bool:
    return runtime in RUNTIMES


def require(precision: str, method: str, *, file: str | None = None,
            field: str = "runtime") -> None:
    """Check, without importing TensorFlow here, that the toolchain is installed;
    MissingExtraError (exit 2) naming the extra when it is not."""
    import importlib.util
    missing = []
    for mod, shown in _NEEDED:
        try:
            if sys.modules.get(mod, 0) is None or importlib.util.find_spec(mod) is None:
                missing.append(shown)
        except (ImportError, ValueError):
            missing.append(shown)
    if missing:
        raise MissingExtraError(
            f"the plan runs on TensorFlow Lite, and its {precision.upper()} .tflite needs "
            f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            f"installed: {INSTALL}", extra=EXTRA, file=file, field=field)


def variant(runtime: str, precision: str, method: str) -> str:
    """Which of onnx2tf's outputs the bundle ships."""
    if precision == "fp32" or (precision == "int8" and method == "none"):
        if precision == "int8":
            raise BundleError("an already-quantized (QDQ) model cannot be converted to TFLite "
                              "by onnx2tf here: bring the float model")
        return "float32"
    if precision == "fp16":
        if runtime == "edgetpu":
            raise BundleError("the Edge TPU runs INT8 only: plan INT8", field="precision")
        return "float16"
    if runtime == "edgetpu":
        return "full_integer_quant"
    return "dynamic_range_quant" if method == "dynamic" else "integer_quant"


def build_tflite(src, bdir: Path, *, runtime: str, method: str, precision: str, input_specs,
                 output_specs, calibration, static_batch: int | None, work_dir,
                 edgetpu_ops: dict | None = None, timeout_s: float = 1800.0,
                 progress: Progress | None = None) -> dict:
    """Write model.tflite into `bdir`. `calibration` is the arrays the QDQ path calibrated on
    (needed for the integer variants). Returns what was done, with the input/output mapping
    infer.py needs (`io`), and, given `edgetpu_ops` (the op table's `tflite_ops`), where the
    Edge TPU compiler would place each op of the converted graph (`placement`)."""
    from planner.bundle.contents import _write_npz
    progress = progress or (lambda *a: None)
    kind = variant(runtime, precision, method)
    work = Path(work_dir)
    job = {"src": os.fspath(Path(src).resolve()), "bdir": os.fspath(Path(bdir).resolve()),
           "work": os.fspath((work / "tflite").resolve()), "variant": kind,
           "per_tensor": runtime == "edgetpu",
           "input_specs": [[n, d, list(sh)] for n, d, sh in input_specs],
           "output_specs": [[n, list(sh)] for n, sh in output_specs],
           "batch": static_batch or 1, "calibration": None, "edgetpu_ops": edgetpu_ops,
           "result": os.fspath((work / "tflite_result.json").resolve())}
    if kind in ("integer_quant", "full_integer_quant"):
        if calibration is None:
            raise BundleError("INT8 TFLite needs calibration samples")
        cal = work / "tflite_calibration.npz"
        _write_npz(cal, calibration, None)
        job["calibration"] = os.fspath(cal.resolve())
    job_file = work / "tflite_job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    progress("convert", 0, 1, f"TFLite: onnx2tf conversion ({kind.replace('_', ' ')})")
    root = os.fspath(Path(__file__).resolve().parent.parent.parent)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from planner.bundle.tflite_artifact import _child; sys.exit(_child(sys.argv[2]))")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", TF_CPP_MIN_LOG_LEVEL="3",
               CUDA_VISIBLE_DEVICES="-1", PYTHONHASHSEED="0")
    try:
        p = subprocess.run([sys.executable, "-c", code, root, os.fspath(job_file)],
                           capture_output=True, text=True, timeout=timeout_s, env=env,
                           cwd=job["work"] if Path(job["work"]).is_dir() else None)
    except subprocess.TimeoutExpired:
        raise BundleError(f"the TFLite conversion ran over {timeout_s:g} s") from None
    result = Path(job["result"])
    data = json.loads(result.read_text(encoding="utf-8")) if result.exists() else None
    if p.returncode != 0 or data is None or "error" in data:
        tail = [ln for ln in (p.stdout + "\n" + p.stderr).strip().splitlines()
                if ln.strip() and not ln.startswith(("W0000", "I0000", "WARNING: All log"))]
        msg = (data or {}).get("error") or "onnx2tf failed: " + " | ".join(tail[-3:])
        raise BundleError(msg[:600])
    progress("convert", 1, 1, "")
    return data


def _child(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    try:
        info = _convert(job)
    except BundleError as e:
        info = {"error": e.message}
    except SystemExit as e:      # onnx2tf exits on errors it reports itself
        info = {"error": f"onnx2tf stopped (exit {e.code}); see its messages above"}
    Path(job["result"]).write_text(json.dumps(info, sort_keys=True), encoding="utf-8")
    return 1 if "error" in info else 0


def _convert(job: dict) -> dict:
    import contextlib
    import io
    import logging

    import numpy as np
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    work = Path(job["work"])
    work.mkdir(parents=True, exist_ok=True)
    specs = [tuple(s) for s in job["input_specs"]]
    kind = job["variant"]
    cind = None
    if job["calibration"]:
        with np.load(job["calibration"], allow_pickle=False) as z:
            cal = {k: z[k] for k in z.files}
        cind = []
        for name, _dtype, shape in specs:
            a = cal[name].astype(np.float32)
            if a.ndim == 4:
                a = a.transpose(0, 2, 3, 1)
            path = work / f"calib_{len(cind)}.npy"
            np.save(path, a)
            ones = (1,) * a.ndim
            cind.append([name, os.fspath(path), np.zeros(ones, np.float32),
                         np.ones(ones, np.float32)])
    import onnx2tf
    _no_downloads(work, specs)
    # onnx2tf rewrites the file it converts (it names unnamed ops in place): convert a copy
    src = work / "src" / Path(job["src"]).name
    src.parent.mkdir(exist_ok=True)
    shutil.copyfile(job["src"], src)
    data = Path(job["src"]).with_name(Path(job["src"]).name + ".data")
    if data.exists():
        shutil.copyfile(data, src.with_name(data.name))
    _prepare_copy(src)
    kw = dict(input_onnx_file_path=os.fspath(src), output_folder_path=os.fspath(work / "out"),
              copy_onnx_input_output_names_to_tflite=True, non_verbose=True,
              batch_size=int(job["batch"]), not_use_onnxsim=True)
    if kind in ("integer_quant", "full_integer_quant"):
        kw.update(output_integer_quantized_tflite=True,
                  quant_type="per-tensor" if job["per_tensor"] else "per-channel",
                  custom_input_op_name_np_data_path=cind, input_quant_dtype="int8",
                  output_quant_dtype="int8")
    elif kind == "dynamic_range_quant":
        kw.update(output_dynamic_range_quantized_tflite=True)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            onnx2tf.convert(**kw)
    except SystemExit:
        raise BundleError("onnx2tf could not convert the model: " + " | ".join(
            [ln for ln in buf.getvalue().splitlines() if ln.strip()][-3:]))
    except Exception as e:
        # Keras messages can quote whole weight arrays: keep the words
        text = re.sub(r"\[[\s\d.eE+\-\[\]]{40,}\]*", "[...] ", " ".join(str(e).split())).strip()
        raise BundleError(f"onnx2tf could not convert the model: {type(e).__name__}: "
                          f"{text[:300]}") from None
    stem = src.stem
    made = work / "out" / f"{stem}_{kind}.tflite"
    if not made.exists():
        raise BundleError(f"onnx2tf wrote no {made.name}")
    dst = Path(job["bdir"]) / TFLITE_FILE
    shutil.copyfile(made, dst)
    done = {"format": "TensorFlow Lite", "files": [TFLITE_FILE], "variant": kind,
            "method": _METHOD[kind] + (", per-tensor" if job["per_tensor"] and "integer" in kind
                                       else ""),
            "converter": {"onnx2tf": onnx2tf.__version__,
                          "tensorflow": __import__("tensorflow").__version__},
            "io": _io_map(dst, specs, [tuple(o) for o in job["output_specs"]])}
    if job.get("edgetpu_ops"):
        done["placement"] = edgetpu_placement(_graph(dst), job["edgetpu_ops"])
    return done


def _graph(path: Path) -> dict:
    """model.tflite's operators in execution order and its tensors, as plain data."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=os.fspath(path))
    tensors = {int(t["index"]): {"name": t["name"], "dtype": t["dtype"].__name__,
                                 "shape": [int(x) for x in t["shape"]],
                                 "shape_signature": [int(x) for x in t["shape_signature"]]}
               for t in it.get_tensor_details()}
    ops = [{"op": o["op_name"], "inputs": [int(i) for i in o["inputs"] if i >= 0],
            "outputs": [int(i) for i in o["outputs"] if i >= 0]}
           for o in it._get_ops_details()]      # the interpreter's only per-op listing
    return {"ops": ops, "tensors": tensors,
            "inputs": [int(d["index"]) for d in it.get_input_details()]}


EDGETPU_RULES = ("https://coral.ai/docs/edgetpu/models-intro/ (\"Model requirements\": "
                 "tensors 8-bit quantized, sizes constant at compile time, at most the 3 "
                 "innermost dimensions larger than 1; \"Supported operations\"; "
                 "\"Compiling\": one Edge TPU segment, from the first op it cannot map to "
                 "the end on the CPU)")


CPU_LAYERS_SHOWN = 20        # CPU ops listed one by one; cpu_ops counts them all


def edgetpu_placement(graph: dict, tflite_ops: dict) -> dict:
    """Where the Edge TPU compiler puts each op of a TFLite graph, by Coral's documented
    rules (EDGETPU_RULES): an op maps when it is in `tflite_ops`, none of its tensors is
    floating point, no tensor it reads or writes has a dynamic size, and no activation has
    more than 3 dimensions larger than 1 (a batch above 1 breaks that); the first op that
    does not map and every op after it run on the CPU. edgetpu_compiler itself is Coral's
    Debian package and is not run: this is the rule it documents, applied to the real
    converted graph. Returns counts per op type on each side, the first CPU_LAYERS_SHOWN
    CPU ops with the reason, and the ops the converter left in float."""
    tensors, ops = graph["tensors"], graph["ops"]
    produced = set(graph["inputs"]) | {i for o in ops for i in o["outputs"]}

    def is_float(op) -> bool:
        return any(tensors[i]["dtype"].startswith("float") for i in op["inputs"] + op["outputs"])

    # ops the converter left in float inside an integer graph (between a DEQUANTIZE and a
    # QUANTIZE): the model is not fully integer there
    float_ops: dict[str, int] = {}
    for op in ops:
        if op["op"] not in ("DEQUANTIZE", "QUANTIZE") and is_float(op):
            float_ops[op["op"]] = float_ops.get(op["op"], 0) + 1

    def why_not(op) -> str | None:
        if op["op"] == "DEQUANTIZE":
            after = sorted({o["op"] for o in ops if set(o["inputs"]) & set(op["outputs"])})
            return (f"DEQUANTIZE hands {', '.join(after) or 'the graph output'} a float tensor "
                    "(the converter left it in float; the Edge TPU runs 8-bit tensors only)")
        if op["op"] not in tflite_ops:
            return f"{op['op']} is not an Edge TPU operation"
        for i in op["inputs"] + op["outputs"]:
            t = tensors[i]
            if t["dtype"].startswith("float"):
                return f"tensor {t['name']} is {t['dtype']}, not 8-bit quantized"
            if any(d < 0 for d in t["shape_signature"]):
                return f"tensor {t['name']} has a dynamic size {t['shape_signature']}"
            if i in produced and any(d > 1 for d in t["shape"][:-3]):
                return (f"tensor {t['name']} is {t['shape']}: more than the 3 innermost "
                        "dimensions are larger than 1")
        return None

    on_unit: dict[str, int] = {}
    on_cpu: dict[str, int] = {}
    cpu_layers = []
    first = None
    for k, op in enumerate(ops):
        reason = why_not(op) if first is None else None
        if first is None and reason is None:
            on_unit[op["op"]] = on_unit.get(op["op"], 0) + 1
            continue
        if first is None:
            first = {"index": k, "op": op["op"], "reason": reason}
        else:
            reason = f"after {first['op']} (op {first['index']}): the compiler makes one Edge " \
                     "TPU segment"
        on_cpu[op["op"]] = on_cpu.get(op["op"], 0) + 1
        cpu_layers.append({"index": k, "op": op["op"], "reason": reason})
    return {"unit": "Edge TPU", "unit_ops": sum(on_unit.values()),
            "unit_op_types": dict(sorted(on_unit.items())), "cpu_ops": dict(sorted(on_cpu.items())),
            "cpu_layers": cpu_layers[:CPU_LAYERS_SHOWN],
            "cpu_layers_shown": f"{min(len(cpu_layers), CPU_LAYERS_SHOWN)} of {len(cpu_layers)}",
            "first_cpu_op": first, "float_ops": dict(sorted(float_ops.items())),
            "checked_by": "Coral's documented Edge TPU rules applied to model.tflite "
                          "(edgetpu_compiler not run)", "rules_source": EDGETPU_RULES}


def placement_warnings(placement: dict) -> list[str]:
    """What a user must not miss in the Edge TPU placement: ops the compiler will leave on
    the CPU, and ops the converter left in float (the model is then not fully integer)."""
    out = []
    first, cpu = placement["first_cpu_op"], sum(placement["cpu_ops"].values())
    if first is not None:
        out.append(f"the Edge TPU compiler will run {cpu} of {placement['unit_ops'] + cpu} ops "
                   f"of {TFLITE_FILE} on the CPU, from {first['op']} (op {first['index']}): "
                   f"{first['reason']}")
    if placement["float_ops"]:
        shown = ", ".join(f"{t} x{n}" for t, n in placement["float_ops"].items())
        out.append(f"onnx2tf left {sum(placement['float_ops'].values())} ops of {TFLITE_FILE} "
                   f"in float ({shown}): it is not fully integer there")
    return out


def compare_placement(placement: dict, table_fallback: dict, tflite_ops: dict) -> dict:
    """The Edge TPU placement beside edgeplan's ONNX op table for the unit: TFLite op types
    on the CPU that the table supports (the converter or a rule put them there), and ONNX op
    types the table sends to the CPU whose converted ops map to the Edge TPU."""
    table = set(table_fallback)
    onnx_on_unit = {o for t in placement["unit_op_types"] for o in tflite_ops.get(t, [])}
    return {**placement,
            "cpu_but_table_supported": sorted(
                t for t in placement["cpu_ops"] if t in tflite_ops
                and not table.intersection(tflite_ops[t])),
            "table_fallback_but_unit": sorted(onnx_on_unit & table)}


def _prepare_copy(path: Path) -> None:
    """Two rewrites of the work copy, where onnx2tf would take a valid graph wrong:
    * graphs written before ONNX IR 4 list every initializer as a graph input too; onnx2tf
      then takes the weights for inputs. IR 4 made the listing optional: drop it, and mark
      the copy IR 4, since under IR 3 shape inference ignores an initializer that is not an
      input and onnx2tf, left without shapes, multiplies NHWC activations by NCHW batch-norm
      factors (the light Inception v2 and DenseNet-121: "Dimensions must be equal");
    * a node whose inputs are all constants is a constant: write its outputs as the
      initializers they stand for (_fold_constants). The onnx wheel's "light" model-zoo graphs
      make every weight with a ConstantOfShape, and some reshape or unsqueeze them before use;
      onnx2tf reads a Conv's weights from the node's one-element value ("axes don't match
      array") and does not take a Gemm whose weights come from a Reshape ("Output tensors of
      a Functional model must be the output of a TensorFlow `Layer`").
    External data is left where it is (not loaded, not rewritten)."""
    import onnx
    m = onnx.load(os.fspath(path), load_external_data=False)
    g = m.graph
    init = {t.name for t in g.initializer}
    changed = False
    keep = [i for i in g.input if i.name not in init]
    if len(keep) < len(g.input):
        del g.input[:]
        g.input.extend(keep)
        m.ir_version = max(m.ir_version, 4)
        changed = True
    if _fold_constants(m):
        changed = True
    if changed:
        onnx.save(m, os.fspath(path))


# ops whose output is not a function of their inputs alone: never folded
_NOT_CONSTANT = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
                 "Multinomial", "Bernoulli", "Dropout"}


def _fold_constants(m) -> bool:
    """Replace each node of the main graph whose inputs are all in-file initializers (or that
    has none, as Constant and ConstantOfShape of a constant shape) with initializers holding
    its outputs, evaluated by onnx's reference implementation, in graph order so that folds
    chain. Nodes stay that have subgraphs, are of other domains or random, make a graph
    output (onnx2tf drops an output that is a constant), or evaluate to something that is not
    a tensor (a sequence, an optional). True when anything was folded."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator
    g = m.graph
    const = {t.name: t for t in g.initializer if not t.data_location}   # not external data
    outputs = {o.name for o in g.output}
    opsets = [o for o in m.opset_import if o.domain in ("", "ai.onnx")]
    folded = []
    for n in g.node:
        ins = [i for i in n.input if i]
        outs = [o for o in n.output if o]
        if (n.domain not in ("", "ai.onnx") or n.op_type in _NOT_CONSTANT
                or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                       for a in n.attribute)
                or any(i not in const for i in ins) or outputs.intersection(outs)):
            continue
        one = helper.make_model(
            helper.make_graph([n], "fold", [], [helper.make_tensor_value_info(
                o, onnx.TensorProto.UNDEFINED, None) for o in outs],
                initializer=[const[i] for i in dict.fromkeys(ins)]),
            opset_imports=opsets, ir_version=m.ir_version)
        try:
            values = ReferenceEvaluator(one).run(None, {})
        except Exception:       # an op the reference cannot evaluate: leave it to onnx2tf
            continue
        if not all(isinstance(v, np.ndarray) for v in values):
            continue
        for name, v in zip(outs, values):
            const[name] = numpy_helper.from_array(v, name)
            g.initializer.append(const[name])
        folded.append(n)
    if not folded:
        return False
    for n in folded:
        g.node.remove(n)
    # a value no node reads any more is dropped; a subgraph (If, Loop) reads names of the
    # graph around it too
    used = {o.name for o in g.output}
    todo = [g]
    while todo:
        sub = todo.pop()
        for n in sub.node:
            used.update(n.input)
            for a in n.attribute:
                todo.extend([a.g] if a.type == onnx.AttributeProto.GRAPH else a.graphs)
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    # the new initializers are not graph inputs: under IR 3 shape inference would not see them
    m.ir_version = max(m.ir_version, 4)
    return True


def _no_downloads(work: Path, specs) -> None:
    """onnx2tf fetches sample images from GitHub for its own check of models with 3-channel
    image inputs, unless the file is in the working directory. Nothing may download at run
    time: put a deterministic stand-in there, and make any other request fail loudly."""
    import numpy as np
    os.chdir(work)
    name = "calibration_image_sample_data_20x128x128x3_float32.npy"
    hw = next(([int(h), int(w)] for _n, _d, sh in specs if len(sh) == 4 and sh[1] == 3
               for h, w in [sh[2:4]] if isinstance(h, int) and isinstance(w, int)
               and h > 0 and w > 0), [128, 128])
    if not (work / name).exists():     # it feeds this to the model: the model's own H x W
        np.save(work / name, np.random.default_rng(0).random((20, *hw, 3), dtype=np.float32))
    try:
        import requests
    except ImportError:
        return

    def refuse(url, *a, **kw):
        raise BundleError(f"onnx2tf tried to download {url}; edgeplan downloads nothing at "
                          "run time")
    requests.get = refuse


_METHOD = {"full_integer_quant": "full-integer INT8 (INT8 inputs and outputs; onnx2tf -oiqt, "
                                 "TFLiteConverter calibrated on the calibration samples)",
           "integer_quant": "INT8 weights and activations, float inputs and outputs (onnx2tf "
                            "-oiqt, calibrated on the calibration samples), per-channel",
           "dynamic_range_quant": "dynamic-range INT8 (INT8 weights, float activations)",
           "float16": "FP16 weights (float32 inputs and outputs)",
           "float32": "FP32"}


def _io_map(path: Path, specs, output_specs) -> dict:
    """How infer.py feeds the .tflite: for each ONNX input, the tflite tensor name and the
    transpose to NHWC (None: same layout); for each ONNX output, the tflite tensor and the
    transpose back."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=os.fspath(path))
    ins, outs = it.get_input_details(), it.get_output_details()

    def norm(n):
        n = n.split(":")[0]
        return n[len("serving_default_"):] if n.startswith("serving_default_") else n

    def pick(details, name, i, what):
        by_name = {norm(d["name"]): d for d in details}
        d = by_name.get(name) or (details[i] if i < len(details) and len(details) == 1 or
                                  name not in by_name and i < len(details) else None)
        if d is None:
            raise BundleError(f"the .tflite has no {what} for {name!r}")
        return d, [int(x) for x in d["shape"]]
    inputs = []
    for i, (name, _dtype, shape) in enumerate(specs):
        d, t = pick(ins, name, i, "input")
        tr = [0, 2, 3, 1] if len(shape) == 4 and len(t) == 4 and _nhwc(shape, t) else None
        inputs.append({"onnx": name, "tflite": d["name"], "transpose": tr})
    outputs = []
    for i, (name, shape) in enumerate(output_specs):
        d, t = pick(outs, name, i, "output")
        tr = [0, 3, 1, 2] if len(shape) == 4 and len(t) == 4 and _nhwc(shape, t) else None
        outputs.append({"onnx": name, "tflite": d["name"], "transpose": tr})
    return {"inputs": inputs, "outputs": outputs}


def _nhwc(onnx_shape, tfl_shape) -> bool:
    c, h, w = onnx_shape[1], onnx_shape[2], onnx_shape[3]
    return all(not isinstance(a, int) or a <= 0 or a == b
               for a, b in ((h, tfl_shape[1]), (w, tfl_shape[2]), (c, tfl_shape[3])))
