"""Benchmark tools' own outputs, read into measurement fields.

One reader per tool, each recognising its tool's output by content (not by file name) and
returning `Reading`s: what the output itself says (metric, value, batch, tool and version,
host, date, and the ids it names). What an output does not say (the catalog's device id,
most often) the caller supplies; `planner.measure.record` checks and writes them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from planner.errors import InputError
from planner.llmfile.shape import gguf_precision


@dataclass
class Reading:
    metric: str                  # latency_ms | throughput_fps | decode_tokens_per_s | prefill_tokens_per_s
    value: float
    tool: str
    what: str                    # where in the output the value came from, for `source`
    batch: int = 1
    tool_version: str | None = None
    host: str | None = None
    measured_on: str | None = None
    ids: dict = field(default_factory=dict)     # device, model, precision, unit, runtime, ...
    notes: str = ""
    context_tokens: int | None = None           # a decode rate's mean KV cache, where known


# ---------------------------------------------------------------- edgeplan's own infer.py

# what infer.py's session reports it ran, as the catalog's runtime id and unit kind: the
# record must name what was timed, not what the plan intended (a TensorRT plan's bundle run
# on a laptop times onnxruntime on its CPU)
_TFLITE_NAMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")


def _what_ran(ran: dict) -> tuple[str | None, str | None, str]:
    """(runtime id, unit kind or None when the run does not say, words for messages)."""
    name = ran.get("name")
    if name == "onnxruntime":
        provider = ran.get("provider") or ""
        if provider == "CPUExecutionProvider":
            return "onnxruntime", "cpu", "onnxruntime on the CPU (CPUExecutionProvider)"
        if provider == "TensorrtExecutionProvider":
            return "tensorrt", None, "TensorRT through onnxruntime's TensorrtExecutionProvider"
        return "onnxruntime", None, f"onnxruntime ({provider or 'provider not stated'})"
    if name == "openvino":
        device = str(ran.get("device") or "")
        return "openvino", ("cpu" if device.upper() == "CPU" else None), \
            f"openvino on {device or 'a device not stated'}"
    if name in _TFLITE_NAMES:
        if ran.get("device") == "EdgeTPU":
            return "edgetpu", "tpu", f"{name} with the Edge TPU delegate"
        return "tflite", "cpu", f"{name} on the CPU"
    return None, None, "a runtime the output does not name"


def _infer_py(doc, path: str) -> list[Reading]:
    b = doc["benchmark"]
    if not doc.get("measured_as"):
        raise InputError("this infer.py run timed another model than the bundled one (--model), "
                         "so what it measured is not known: benchmark the bundled model",
                         file=path, field="measured_as")
    ids = {k: v for k, v in doc["measured_as"].items() if v is not None}
    batch = int(b.get("batch") or ids.pop("batch", 1) or 1)
    ids.pop("batch", None)
    ran = doc.get("runtime") if isinstance(doc.get("runtime"), dict) else {}
    runtime, unit_kind, ran_text = _what_ran(ran)
    notes = f"timed {ran_text}"
    if runtime and runtime != ids.get("runtime"):
        notes += f"; the bundle's plan was {ids.get('runtime')} on {ids.get('unit')}"
        ids["runtime"] = runtime
    if unit_kind:
        ids["unit_kind"] = unit_kind     # checked against the plan's unit by the caller
    version = doc.get("runtime_version") or (f"onnxruntime {doc['onnxruntime']}"
                                             if doc.get("onnxruntime") else None)
    return [Reading("latency_ms", float(b["median_ms"]), "edgeplan infer.py",
                    f"benchmark.median_ms of {b.get('runs')} runs", batch=batch,
                    tool_version=version, host=doc.get("host"), measured_on=doc.get("date"),
                    ids=ids, notes=notes)]


# ---------------------------------------------------------------- llama.cpp's llama-bench

# llama.cpp backends that run on a GPU; BLAS, CPU (and ggml's CPU extras) run on the CPU
_GPU_BACKENDS = ("CUDA", "METAL", "VULKAN", "SYCL", "ROCM", "HIP", "OPENCL", "KOMPUTE", "MUSA",
                 "CANN")


def _llama_unit_kind(backends: str, ngl) -> str | None:
    names = {b.strip().upper() for b in backends.split(",") if b.strip()}
    if names & set(_GPU_BACKENDS):
        return "cpu" if ngl in (0, "0") else "gpu"
    return "cpu" if names else None


def _llama_test(n_prompt: int, n_gen: int, depth: int, where: str, path: str):
    """(metric, the test as llama-bench names it, a decode rate's context_tokens) of one
    llama-bench test; (None, None, None) for a combined pp+tg test, which mixes both regimes
    and is not one figure. `-d D` runs a test after D tokens already in the KV cache: a decode
    test of N tokens then reads D + N/2 on average (None at depth 0: a short prompt). A
    prompt's rate at depth is refused, naming the row: edgeplan times a prompt from an empty
    cache."""
    at = f" @ d{depth}" if depth > 0 else ""
    if n_gen > 0 and n_prompt == 0:
        return "decode_tokens_per_s", f"tg{n_gen}{at}", depth + n_gen // 2 if at else None
    if n_prompt > 0 and n_gen == 0:
        if at:
            raise InputError(f"{where} (pp{n_prompt}{at}) times a prompt {depth} tokens deep "
                             "into the context; edgeplan reads prompt rates from an empty "
                             "cache: keep the pp rows of depth 0 (llama-bench -d 0)", file=path)
        return "prefill_tokens_per_s", f"pp{n_prompt}", None
    return None, None, None


def _llama_reading(metric, value, test, model_type, backends, ngl, version, host, date,
                   where, filename="", context_tokens=None) -> Reading:
    ids = {"runtime": "llama.cpp"}
    prec = gguf_precision(model_type)
    if prec:
        ids["precision"] = prec
    kind = _llama_unit_kind(backends, ngl)
    if kind:
        ids["unit_kind"] = kind
    return Reading(metric, value, "llama-bench", f"{where} ({test}) tokens/s", batch=1,
                   tool_version=version, host=host or None, measured_on=date, ids=ids,
                   notes=(f"{filename + ': ' if filename else ''}{model_type}, "
                          f"backend {backends or 'not stated'}, n_gpu_layers {ngl}"),
                   context_tokens=context_tokens)


def _llama_bench(rows: list, path: str) -> list[Reading]:
    """`llama-bench -o json` (or jsonl): one object per test."""
    out = []
    for i, r in enumerate(rows):
        metric, test, context = _llama_test(int(r.get("n_prompt", 0)), int(r.get("n_gen", 0)),
                                            int(r.get("n_depth") or 0), f"row {i}", path)
        if metric is None:
            continue
        build = r.get("build_commit")
        version = (f"{build} (build {r['build_number']})" if build and r.get("build_number")
                   else build)
        host = ", ".join(str(r[k]) for k in ("cpu_info", "gpu_info") if r.get(k))
        out.append(_llama_reading(metric, float(r["avg_ts"]), test, str(r.get("model_type", "")),
                                  str(r.get("backends") or r.get("backend") or ""),
                                  r.get("n_gpu_layers"), version, host,
                                  str(r.get("test_time", ""))[:10] or None, f"row {i}",
                                  str(r.get("model_filename", "")), context))
    if not out:
        raise InputError("llama-bench output without a pure prompt (pp) or generation (tg) "
                         "test", file=path)
    return out


_MD_ROW = re.compile(r"^\|(.+)\|\s*$")


def _llama_bench_md(doc, text: str, path: str) -> list[Reading] | None:
    """llama-bench's default Markdown table (`| model | size | params | backend | ngl | test |
    t/s |`), with the `build: <commit> (<number>)` line under it."""
    lines = [ln for ln in text.splitlines() if _MD_ROW.match(ln.strip())]
    if doc is not None or not lines:
        return None
    head = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    if not {"model", "backend", "test", "t/s"} <= set(head):
        return None
    build = re.search(r"^build: (\S+) \((\d+)\)", text, re.M)
    version = f"{build.group(1)} (build {build.group(2)})" if build else None
    host = ", ".join(m.strip() for m in re.findall(r"^\s*Device \d+: (.+)$", text, re.M))
    out = []
    for n, ln in enumerate(lines[2:], 1):     # after the header and the --- row
        cells = dict(zip(head, (c.strip() for c in ln.strip().strip("|").split("|"))))
        t = re.match(r"^(pp|tg)\s*(\d+)(?:\s*@\s*d(\d+))?$", cells.get("test", ""))
        v = re.match(r"^([\d.]+)", cells.get("t/s", ""))
        if not (t and v):
            continue
        k = int(t.group(2))
        metric, test, context = _llama_test(k if t.group(1) == "pp" else 0,
                                            k if t.group(1) == "tg" else 0,
                                            int(t.group(3) or 0), f"table row {n}", path)
        out.append(_llama_reading(metric, float(v.group(1)), test, cells.get("model", ""),
                                  cells.get("backend", ""), cells.get("ngl"), version, host,
                                  None, f"table row {n}", context_tokens=context))
    return out or None


# ---------------------------------------------------------------- TensorRT's trtexec

_TRT_VERSION = (re.compile(r"TensorRT version:\s*([\d.]+)"),
                re.compile(r"\[TensorRT v(\d+)\]"))
_TRT_LATENCY = re.compile(r"\]\s*Latency:.*?median = ([\d.]+) ms")
_TRT_THROUGHPUT = re.compile(r"\]\s*Throughput:\s*([\d.]+) qps")


def _trtexec(text: str, path: str) -> list[Reading]:
    m = _TRT_LATENCY.search(text)
    if not m:
        raise InputError("trtexec output without a 'Latency: ... median = N ms' line "
                         "(the === Performance summary === block)", file=path)
    version = None
    v = _TRT_VERSION[0].search(text)
    if v:
        version = v.group(1)
    else:
        v = _TRT_VERSION[1].search(text)
        if v:       # the banner's number: major * 1000 + minor * 100 + patch (8602 = 8.6.2)
            n = int(v.group(1))
            version = f"{n // 1000}.{n % 1000 // 100}.{n % 100}"
    ids: dict = {"runtime": "tensorrt"}
    dla = re.search(r"--useDLACore[= ](\d+)", text)
    if dla:
        ids["unit"] = f"dla{dla.group(1)}"
    else:
        ids["unit_kind"] = "gpu"
    if re.search(r"--int8\b", text) or re.search(r"Precision:.*INT8", text):
        ids["precision"] = "int8"
    elif re.search(r"--fp16\b", text) or re.search(r"Precision:.*FP16", text):
        ids["precision"] = "fp16"
    elif re.search(r"Precision:\s*FP32\s*$", text, re.M):
        ids["precision"] = "fp32"
    batch = 1
    shapes = re.search(r"--shapes=[^:\s]+:(\d+)x", text)
    bflag = re.search(r"--batch=(\d+)", text)
    if shapes:
        batch = int(shapes.group(1))
    elif bflag:
        batch = int(bflag.group(1))
    onnx = re.search(r"--onnx=(\S+)", text)
    thr = _TRT_THROUGHPUT.search(text)
    return [Reading("latency_ms", float(m.group(1)), "trtexec",
                    "Performance summary: Latency median (host latency: H2D + compute + D2H)",
                    batch=batch, tool_version=version, ids=ids,
                    notes=(f"model {onnx.group(1)}; " if onnx else "") +
                          (f"throughput {thr.group(1)} qps" if thr else ""))]


# ---------------------------------------------------------------- OpenVINO's benchmark_app

_OV_UNIT = {"CPU": "cpu", "GPU": "gpu", "NPU": "npu", "MYRIAD": "vpu"}


def _benchmark_app(doc, text: str, path: str) -> list[Reading] | None:
    """benchmark_app's console report: `[ INFO ] Latency:` then `Median: N ms`."""
    med = re.search(r"\[ INFO \] Latency:\s*\n.*?Median:\s*([\d.]+) ms", text, re.S)
    if doc is not None or not med or "benchmark_app" not in text and "OpenVINO" not in text:
        return None
    ids: dict = {"runtime": "openvino"}
    dev = re.search(r"\s-d\s+([A-Z]+)", text)
    if dev and dev.group(1) in _OV_UNIT:
        ids["unit_kind"] = _OV_UNIT[dev.group(1)]
    model = re.search(r"\s-m\s+(\S+)", text)
    if model:
        # Open Model Zoo layout: .../FP16/model.xml, .../FP16-INT8/model.xml
        folder = re.search(r"/(FP32|FP16|FP16-INT8|INT8)/", model.group(1))
        if folder:
            ids["precision"] = "int8" if "INT8" in folder.group(1) else folder.group(1).lower()
    build = re.search(r"Build \.+ (\S+)", text)
    batch = re.search(r"Model batch size: (\d+)", text)
    thr = re.search(r"Throughput:\s*([\d.]+) FPS", text)
    hint = re.search(r"-hint (\w+)", text)
    return [Reading("latency_ms", float(med.group(1)), "benchmark_app",
                    "Latency Median", batch=int(batch.group(1)) if batch else 1,
                    tool_version=build.group(1) if build else None, ids=ids,
                    notes=(f"model {model.group(1)}; " if model else "") +
                          (f"performance hint {hint.group(1)}; " if hint else "") +
                          (f"throughput {thr.group(1)} FPS" if thr else ""))]


# ---------------------------------------------------------------- Hailo's hailortcli

def _hailortcli_benchmark(doc, text: str, path: str) -> list[Reading] | None:
    """`hailortcli benchmark`'s Summary: `FPS (hw_only) = N`, `(streaming) = N`."""
    stream = re.search(r"\(streaming\)\s*=\s*([\d.]+)", text)
    if doc is not None or not stream or "FPS" not in text:
        return None
    hw = re.search(r"\(hw_only\)\s*=\s*([\d.]+)", text)
    lat = re.search(r"Latency \(hw\)\s*=\s*([\d.]+) ms", text)
    power = re.search(r"Power in streaming mode \(average\)\s*=\s*([\d.]+) W", text)
    notes = "; ".join(x for x in (
        f"hw_only {hw.group(1)} FPS" if hw else "", f"hw latency {lat.group(1)} ms" if lat else "",
        f"average power {power.group(1)} W" if power else "") if x)
    return [Reading("throughput_fps", float(stream.group(1)), "hailortcli benchmark",
                    "Summary FPS (streaming)", ids={"runtime": "hailort", "unit_kind": "npu"},
                    notes=notes)]


# readers that recognise their output themselves: (doc or None, text, path) -> readings | None
_OTHER_READERS: list = [_llama_bench_md, _benchmark_app, _hailortcli_benchmark]


# ---------------------------------------------------------------- dispatch

def read_result(path: str) -> list[Reading]:
    """The readings in one benchmark output file, whichever tool wrote it."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read it: {e}", file=path) from None
    doc, bad_json = None, None
    if text.lstrip()[:1] in "[{":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            try:        # llama-bench -o jsonl: one object per line
                doc = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
            except json.JSONDecodeError:
                bad_json = e    # or a console log that starts with "[Step 1/11]"
    try:
        if isinstance(doc, dict) and "benchmark" in doc:
            return _infer_py(doc, path)
        if isinstance(doc, list) and doc and all(isinstance(r, dict) and "avg_ts" in r
                                                 for r in doc):
            return _llama_bench(doc, path)
        if doc is None and "=== Performance summary ===" in text:
            return _trtexec(text, path)
        for reader in _OTHER_READERS:
            got = reader(doc, text, path)
            if got is not None:
                return got
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"a benchmark output with a missing or malformed field ({e})",
                         file=path) from None
    if bad_json is not None and text.lstrip()[:1] == "{":
        raise InputError(f"not valid JSON: {bad_json.msg} at line {bad_json.lineno}",
                         file=path)
    raise InputError("not an output edgeplan reads: expected infer.py --benchmark --json, "
                     "llama-bench (JSON, JSONL or its table), trtexec, benchmark_app or "
                     "hailortcli benchmark output",
                     file=path)
