"""Bundle sizes, host latency and accuracy: what `edgeplan bundle` does to real models, per
target artifact.

    python benchmarks/bundle_sizes.py [--runs 50] [--json results.json] [--no-resnet]
    python benchmarks/bundle_sizes.py --zoo --targets tflite-int8 --runs 5

Builds real bundles (the same code path as `edgeplan bundle`: convert, render, run infer.py
in a subprocess, compare, time) for

  * the example CNN (examples/models/digits_cnn.onnx), calibrated on digits_cnn_cal.npz,
    accuracy and top-1 agreement with FP32 on the 360 held-out digits of digits_cnn_eval.npz;
  * the example MLP (digits_mlp.onnx), same held-out digits;
  * the ResNet-50 graph the onnx wheel ships (onnx/backend/test/data/light): static INT8
    with synthetic calibration (the light graph's weights are constants, so it has no
    accuracy to measure; size and latency are what it shows). Its FP32 size is that of its
    weights at 4 bytes each, since the file generates them with ConstantOfShape.

and for each target artifact:

  * onnx-int8: model.onnx, INT8 by onnxruntime's quantizer (static QDQ for the CNN, dynamic
    for the MLP), run with onnxruntime's CPU provider;
  * openvino-fp16 / openvino-int8: OpenVINO IR (model.xml + model.bin) by openvino's
    converter, INT8 by NNCF (nncf.quantize on the same calibration samples; weight
    compression for the MLP), run with openvino on the CPU (needs the [openvino] extra;
    skipped, and said, without it);
  * tflite-fp16 / tflite-int8: model.tflite by onnx2tf (INT8: float I/O, per-channel;
    dynamic-range INT8 for the MLP), run with the LiteRT interpreter (ai-edge-litert) on the
    CPU; edgetpu-int8: the full-integer per-tensor model.tflite an Edge TPU plan gets (before
    edgetpu_compiler, which the bundle does not run), same interpreter; the FP32 column of
    the TFLite rows is the FP32 ONNX model with onnxruntime (needs the [tflite] extra);
  * rknn-int8: model.rknn for an RK3588 by rknn-toolkit2 from the INT8 QDQ model.onnx, run
    in the toolkit's simulator on the host (the same graph, rebuilt: the simulator cannot
    load a .rknn file; its latency is the simulator's, not the NPU's); the FP32 column is the
    FP32 ONNX model with onnxruntime (needs `edgeplan toolchain install rknn`).

With --zoo it bundles every light model-zoo graph of the onnx wheel (AlexNet, DenseNet-121,
Inception v1 and v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512) the ResNet-50 way
instead: which ones each converter takes, and the converter's message for those it refuses.

It prints one Markdown table row per model and target: artifact size / FP32 size (target
<= 0.30 for INT8), top-1 agreement with FP32 (target >= 95 %), accuracy drop in points
(target <= 1), host latency FP32 and artifact (median of --runs runs after warm-up, batch
1, through the bundle's own infer.py in the artifact's runtime: the FP32 column is the FP32
ONNX model run by that same runtime). The target device is a generic CPU from a throw-away
catalog: the figures are the host's.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODELS = ROOT / "examples" / "models"

CATALOG = """\
devices:
  - id: bench-cpu
    name: Benchmark host CPU
    vendor: any
    family: host
    form_factor: desktop
    memory: {total_gb: 16, available_gb: 12, bandwidth_gbs: 20, source: benchmark placeholder}
    units:
      - {id: cpu, kind: cpu, peak_tops: {fp32: 0.1, fp16: 0.1, int8: 0.2},
         runtimes: [onnxruntime, openvino, tflite], source: benchmark placeholder}
    power: {idle_w: 5, modes: [{id: default, power_w: 30}], source: benchmark placeholder}
    price: {usd: 100, source: benchmark placeholder}
  - id: bench-tpu
    name: Benchmark Edge TPU (verified on the host CPU)
    vendor: any
    family: coral
    form_factor: usb-accelerator
    memory: {total_gb: 4, available_gb: 3, bandwidth_gbs: 10, source: benchmark placeholder}
    units:
      - {id: tpu, kind: tpu, peak_tops: {int8: 4}, runtimes: [edgetpu], static_shapes_only: true,
         source: benchmark placeholder}
    power: {idle_w: 3, modes: [{id: default, power_w: 5}], source: benchmark placeholder}
    price: {usd: 60, source: benchmark placeholder}
  - id: bench-rk3588
    name: Benchmark RK3588 NPU (verified in rknn-toolkit2's simulator)
    vendor: any
    family: rockchip
    form_factor: sbc
    memory: {total_gb: 8, available_gb: 7, bandwidth_gbs: 30, source: benchmark placeholder}
    units:
      - {id: npu, kind: npu, peak_tops: {fp16: 3, int8: 6}, runtimes: [rknn],
         static_shapes_only: true, source: benchmark placeholder}
    power: {idle_w: 2, modes: [{id: default, power_w: 9}], source: benchmark placeholder}
    price: {usd: 120, source: benchmark placeholder}
"""
DEVICES = {"edgetpu": "bench-tpu", "rknn": "bench-rk3588"}   # others: bench-cpu


TARGETS = [("onnx-int8", "onnxruntime", "int8"), ("openvino-fp16", "openvino", "fp16"),
           ("openvino-int8", "openvino", "int8"), ("tflite-fp16", "tflite", "fp16"),
           ("tflite-int8", "tflite", "int8"), ("edgetpu-int8", "edgetpu", "int8"),
           ("rknn-int8", "rknn", "int8")]
EXTRAS = {"openvino": ("openvino", ("openvino", "nncf")),
          "tflite": ("tflite", ("onnx2tf", "tensorflow", "ai_edge_litert")),
          "edgetpu": ("tflite", ("onnx2tf", "tensorflow", "ai_edge_litert")),
          "rknn": ("rknn", ())}      # its own environment, not an extra


ZOO = {"bvlc_alexnet": "AlexNet", "densenet121": "DenseNet-121", "inception_v1": "Inception v1",
       "inception_v2": "Inception v2", "resnet50": "ResNet-50", "shufflenet": "ShuffleNet",
       "squeezenet": "SqueezeNet", "vgg19": "VGG-19", "zfnet512": "ZFNet-512"}


def cases(resnet: bool = True, zoo_all: bool = False):
    import onnx
    zoo = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"
    if zoo_all:       # every light graph, as the onnx wheel ships them, and nothing else
        return [(f"{label} (onnx zoo light)", zoo / f"light_{name}.onnx", None, None, "static")
                for name, label in ZOO.items()]
    out = [
        ("digits CNN (example)", MODELS / "digits_cnn.onnx", MODELS / "digits_cnn_cal.npz",
         MODELS / "digits_cnn_eval.npz", "auto"),
        ("digits MLP (example)", MODELS / "digits_mlp.onnx", MODELS / "digits_mlp_cal.npz",
         MODELS / "digits_mlp_eval.npz", "auto"),
    ]
    if resnet:
        out.append(("ResNet-50 (onnx zoo light)", zoo / "light_resnet50.onnx", None, None,
                    "static"))
    return out


def have(runtime: str) -> bool:
    import importlib.util
    if runtime == "rknn":
        from planner.bundle.rknn_artifact import find_toolchain
        return find_toolchain() is not None
    return all(importlib.util.find_spec(m) is not None for m in EXTRAS[runtime][1])


def run(runs: int, resnet: bool = True, only=None,
        zoo_all: bool = False) -> tuple[list[dict], list[str]]:
    from planner.bundle.build import BundleOptions, build_bundle
    from planner.catalog.loader import load_catalog

    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "catalog").mkdir()
        (tmp / "catalog" / "devices.yaml").write_text(CATALOG)
        cat = load_catalog([tmp / "catalog"], builtin=False, use_env=False)
        n = 0
        for label, model, cal, ev, quant in cases(resnet, zoo_all):
            for target, runtime, precision in TARGETS:
                if only and target not in only:
                    continue
                if runtime in EXTRAS and not have(runtime):
                    skipped.append(f"{label} {target} (" + (
                        "edgeplan toolchain install rknn" if runtime == "rknn" else
                        f"pip install 'edgeplan[{EXTRAS[runtime][0]}]'") + ")")
                    continue
                if ev is None and precision == "fp16":
                    continue      # nothing to learn from FP16 of a constant-weight graph
                n += 1
                plan = tmp / f"deploy{n}.yaml"
                tech = ", technique: ptq" if precision == "int8" else ""
                device = DEVICES.get(runtime, "bench-cpu")
                plan.write_text(
                    "apiVersion: edgeplan/v1\nkind: Deployment\nname: bench\n"
                    f"devices: [{{id: {device}}}]\n"
                    f"workloads: [{{name: w{n}, model: m{n}, precision: {precision}{tech}, "
                    f"device: {device}, runtime: {runtime}}}]\n")
                # the MLP's onnx-int8 is dynamic: it needs no calibration data
                dynamic_mlp = "MLP" in label and target == "onnx-int8"
                from planner.errors import BundleError
                try:
                    res = build_bundle(plan, cat, BundleOptions(
                        out_dir=tmp / f"out{n}", model=model,
                        calibration_data=None if dynamic_mlp else cal, eval_data=ev,
                        quantization=quant, benchmark_runs=runs,
                        samples=8 if ev is None else 360))
                except BundleError as e:     # the converter refused the model
                    skipped.append(f"{label} {target}: {e.message[:160]}")
                    continue
                v = res.verification
                rows.append({
                    "model": label, "target": target,
                    "runtime": f"{v['runtime']['name']} {v['runtime']['version'].split('-')[0]}",
                    "method": (v.get("vendor_artifact") or {}).get("method")
                    or v["conversion"]["method"],
                    "synthetic_calibration": v["conversion"]["calibration"].get("synthetic",
                                                                                False),
                    "fp32_bytes": v["sizes"]["fp32_bytes"],
                    "artifact_bytes": v["sizes"]["converted_bytes"],
                    "ratio": v["sizes"]["ratio"], "precision": precision,
                    "fp32_ms": round(v["latency_ms"]["fp32"]["median_ms"], 4),
                    "artifact_ms": round(v["latency_ms"]["converted"]["median_ms"], 4),
                    "fp32_acc": v.get("accuracy", {}).get("fp32_pct"),
                    "acc": v.get("accuracy", {}).get("converted_pct"),
                    "drop": v.get("accuracy", {}).get("drop_points"),
                    "agreement": v["comparison"].get("top1_agreement_pct"),
                    "compared_samples": v["samples"]["count"],
                })
    return rows, skipped


def table(rows: list[dict]) -> str:
    out = ["| model | target | runtime | size FP32 -> artifact | ratio | top-1 agreement | "
           "accuracy FP32 -> artifact (drop) | host ms FP32 / artifact |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = (f"{r['fp32_acc']:.2f}% -> {r['acc']:.2f}% ({r['drop']:.2f})"
               if r["drop"] is not None else "n/a (synthetic calibration, constant weights)")
        agree = (f"{r['agreement']:.2f}% of {r['compared_samples']}"
                 if r["agreement"] is not None else "n/a")
        out.append(f"| {r['model']} | {r['target']} | {r['runtime']} | "
                   f"{r['fp32_bytes'] / 1e6:.3f} -> {r['artifact_bytes'] / 1e6:.3f} MB | "
                   f"{r['ratio']:.3f} | {agree} | {acc} | "
                   f"{r['fp32_ms']:.3f} / {r['artifact_ms']:.3f} |")
    return "\n".join(out)


def missed(rows: list[dict]) -> list[str]:
    bad = []
    for r in rows:
        name = f"{r['model']} {r['target']}"
        if r["precision"] == "int8" and r["ratio"] > 0.30:
            bad.append(f"{name}: size {r['ratio']:.3f}x > 0.30x")
        if r["drop"] is not None and r["drop"] > 1.0:
            bad.append(f"{name}: accuracy drop {r['drop']:.2f} > 1 point")
        if r["agreement"] is not None and r["drop"] is not None and r["agreement"] < 95.0:
            bad.append(f"{name}: agreement {r['agreement']:.2f}% < 95%")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="timed runs per model and target")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--no-resnet", action="store_true",
                    help="leave out ResNet-50 (faster; --zoo bundles every zoo graph)")
    ap.add_argument("--targets", help="comma-separated subset of: "
                    + ", ".join(t for t, _, _ in TARGETS))
    ap.add_argument("--zoo", action="store_true",
                    help="instead of the digits models and ResNet-50, every light model-zoo "
                         "graph the onnx wheel ships (INT8 targets, synthetic calibration); "
                         "a graph a converter refuses is listed with its message")
    a = ap.parse_args(argv)
    only = set(a.targets.split(",")) if a.targets else None
    rows, skipped = run(a.runs, resnet=not a.no_resnet, only=only, zoo_all=a.zoo)
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(table(rows))
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    bad = missed(rows)
    for b in bad:
        print(f"target missed: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
