"""Bundle sizes, host latency and accuracy: what `edgeplan bundle` does to real models.

    python benchmarks/bundle_sizes.py [--runs 50] [--json results.json]

Builds real bundles (the same code path as `edgeplan bundle`: convert, render, run infer.py
in a subprocess, compare, time) for

  * the example CNN (examples/models/digits_cnn.onnx): static INT8 QDQ, calibrated on
    digits_cnn_cal.npz, accuracy on the 360 held-out digits of digits_cnn_eval.npz;
  * the example MLP (digits_mlp.onnx): dynamic INT8, same held-out digits;
  * the ResNet-50 graph the onnx wheel ships (onnx/backend/test/data/light): static INT8
    with synthetic calibration (the light graph's weights are constants, so it has no
    accuracy to measure; size and latency are what it shows). Its FP32 size is that of its
    weights at 4 bytes each, since the file generates them with ConstantOfShape.

and prints one Markdown table row per model: INT8 size / FP32 size (target <= 0.30), host
latency FP32 and INT8 (median of --runs runs after warm-up, onnxruntime CPU provider, same
infer.py), and the accuracy drop in points (target <= 1). The target device is a generic
CPU board from a throw-away catalog: the figures are the host's.
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
      - {id: cpu, kind: cpu, peak_tops: {fp32: 0.1, int8: 0.2}, runtimes: [onnxruntime],
         source: benchmark placeholder}
    power: {idle_w: 5, modes: [{id: default, power_w: 30}], source: benchmark placeholder}
    price: {usd: 100, source: benchmark placeholder}
"""


def cases():
    import onnx
    zoo = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"
    return [
        ("digits CNN (example)", MODELS / "digits_cnn.onnx", MODELS / "digits_cnn_cal.npz",
         MODELS / "digits_cnn_eval.npz", "auto"),
        ("digits MLP (example)", MODELS / "digits_mlp.onnx", None,
         MODELS / "digits_mlp_eval.npz", "auto"),
        ("ResNet-50 (onnx zoo light)", zoo / "light_resnet50.onnx", None, None, "static"),
    ]


def run(runs: int) -> list[dict]:
    from planner.bundle.build import BundleOptions, build_bundle
    from planner.catalog.loader import load_catalog

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "catalog").mkdir()
        (tmp / "catalog" / "devices.yaml").write_text(CATALOG)
        cat = load_catalog([tmp / "catalog"], builtin=False, use_env=False)
        for i, (label, model, cal, ev, quant) in enumerate(cases()):
            plan = tmp / f"deploy{i}.yaml"
            plan.write_text(
                "apiVersion: edgeplan/v1\nkind: Deployment\nname: bench\n"
                "devices: [{id: bench-cpu}]\n"
                f"workloads: [{{name: w{i}, model: m{i}, precision: int8, technique: ptq, "
                "device: bench-cpu}]\n")
            res = build_bundle(plan, cat, BundleOptions(
                out_dir=tmp / f"out{i}", model=model, calibration_data=cal, eval_data=ev,
                quantization=quant, benchmark_runs=runs, samples=8 if ev is None else 32))
            v = res.verification
            rows.append({
                "model": label, "method": v["conversion"]["method"],
                "synthetic_calibration": v["conversion"]["calibration"].get("synthetic", False),
                "fp32_bytes": v["sizes"]["fp32_bytes"],
                "int8_bytes": v["sizes"]["converted_bytes"], "ratio": v["sizes"]["ratio"],
                "fp32_ms": round(v["latency_ms"]["fp32"]["median_ms"], 4),
                "int8_ms": round(v["latency_ms"]["converted"]["median_ms"], 4),
                "fp32_acc": v.get("accuracy", {}).get("fp32_pct"),
                "int8_acc": v.get("accuracy", {}).get("converted_pct"),
                "drop": v.get("accuracy", {}).get("drop_points"),
                "agreement": v["comparison"].get("top1_agreement_pct"),
            })
    return rows


def table(rows: list[dict]) -> str:
    out = ["| model | INT8 method | FP32 size | INT8 size | ratio | FP32 ms | INT8 ms | "
           "accuracy FP32 -> INT8 (drop) |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = (f"{r['fp32_acc']:.2f}% -> {r['int8_acc']:.2f}% ({r['drop']:.2f})"
               if r["drop"] is not None else "n/a (synthetic calibration, constant weights)")
        out.append(f"| {r['model']} | {r['method']} | {r['fp32_bytes'] / 1e6:.3f} MB | "
                   f"{r['int8_bytes'] / 1e6:.3f} MB | {r['ratio']:.3f} | {r['fp32_ms']:.3f} | "
                   f"{r['int8_ms']:.3f} | {acc} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="timed runs per model and precision")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    a = ap.parse_args(argv)
    rows = run(a.runs)
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    bad = [r["model"] for r in rows if r["ratio"] > 0.30 and ("CNN" in r["model"] or "ResNet" in r["model"])]
    bad += [r["model"] for r in rows if r["drop"] is not None and r["drop"] > 1.0]
    if bad:
        print(f"targets missed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
