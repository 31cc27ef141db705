"""`edgeplan bundle`. onnx, onnxruntime, numpy and jinja2 are
imported inside the commands, so the other verbs start fast."""
from __future__ import annotations

import json

import click

from planner.cli.common import catalog_option, load_catalog_for_cli
from planner.text import accuracy_change


def _progress_printer(quiet: bool):
    """Progress on stderr: each stage's start and end, and about every tenth step."""
    last: dict[str, int] = {}

    def show(stage, done, total, message=""):
        if quiet:
            return
        if message:
            click.echo(f"edgeplan: [{stage}] {message}", err=True)
            return
        if total <= 0:
            return
        tenth = max(1, total // 10)
        if done == total or done - last.get(stage, 0) >= tenth:
            last[stage] = done
            click.echo(f"edgeplan: [{stage}] {done}/{total}", err=True)
    return show


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--model", "-m", type=click.Path(dir_okay=False), default=None,
              help="The FP32 ONNX model (default: the workload's model_file).")
@click.option("--output", "-o", "out_dir", required=True, type=click.Path(),
              help="Directory to write the bundle to (created; see --force).")
@click.option("--workload", "-w", default=None,
              help="Workload to bundle when the deployment has several.")
@click.option("--calibration-data", type=click.Path(dir_okay=False), default=None,
              help="Representative inputs for static INT8 (.npz with an array per model "
                   "input). Without it INT8 calibration uses synthetic data, loudly.")
@click.option("--eval-data", type=click.Path(dir_okay=False), default=None,
              help="Labelled held-out inputs (.npz with the inputs and `labels`): accuracy "
                   "of the FP32 and the converted model, and the accuracy budget.")
@click.option("--quantization", type=click.Choice(["auto", "static", "dynamic"]),
              default="auto", show_default=True,
              help="INT8 method; auto: dynamic for MatMul/LSTM-heavy graphs on a CPU, static "
                   "(QDQ) otherwise.")
@click.option("--accuracy-floor", type=float, default=None,
              help="Lowest accepted accuracy on --eval-data, % (default: the workload's "
                   "accuracy_floor).")
@click.option("--max-accuracy-drop", type=float, default=None,
              help="Largest accepted FP32 -> converted accuracy drop on --eval-data, points.")
@click.option("--min-agreement", type=float, default=None,
              help="Lowest accepted top-1 agreement with the FP32 model on the samples, %.")
@click.option("--samples", type=click.IntRange(min=1), default=32, show_default=True,
              help="Samples in sample_inputs.npz (verification runs on them).")
@click.option("--benchmark", "benchmark_runs", type=click.IntRange(min=1), default=50,
              show_default=True, help="Timed runs for the host latency of each model.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=600,
              show_default=True, help="Seconds each infer.py run may take.")
@click.option("--force", is_flag=True,
              help="Replace an existing bundle in the output directory, only if it is "
                   "unchanged: every file listed in its SHA256SUMS with a matching hash.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Summary format (json: the verification record).")
@catalog_option
def bundle(plan, model, out_dir, workload, calibration_data, eval_data, quantization,
           accuracy_floor, max_accuracy_drop, min_agreement, samples, benchmark_runs,
           timeout_s, force, quiet, fmt, catalog_dirs, no_builtin):
    """Build a verified deployment bundle from a deployment manifest (or a spec, which is
    solved first) and an ONNX model: the model converted to the planned precision, infer.py
    for the device's runtime, pinned requirements.txt, deployment.yaml, README.md with the
    vendor compiler steps, verification.json and SHA256SUMS.

    Where the device loads a vendor artifact that a registry toolchain builds, the bundle
    holds it and verification runs it: OpenVINO IR (pip install 'edgeplan[openvino]'),
    .tflite for TFLite and the Edge TPU ('edgeplan[tflite]'), .rknn for Rockchip NPUs
    (rknn-toolkit2 in its own environment: edgeplan toolchain install rknn, or
    EDGEPLAN_RKNN_PYTHON); TensorRT plans get build_engine.sh for the Jetson.

    infer.py is run in a subprocess on the bundle's samples and compared with the FP32
    model; nothing is written unless it passes. Nothing at the output path is replaced
    unless it was checked when the run started (see --force). Exit codes: 2 for bad input or
    an output path it will not replace, 4 when the accuracy budget is broken, 5 when
    verification fails, 143 / 130 on SIGTERM / SIGINT (temporary files removed).

    \b
    Example: edgeplan bundle examples/bundle/deploy-cnn.yaml --eval-data examples/models/digits_cnn_eval.npz -o out/digits-cnn
    """
    from planner.bundle.build import BundleOptions, build_bundle

    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    opts = BundleOptions(out_dir=out_dir, model=model, workload=workload,
                         calibration_data=calibration_data, eval_data=eval_data, force=force,
                         quantization=quantization, samples=samples,
                         benchmark_runs=benchmark_runs, accuracy_floor=accuracy_floor,
                         max_accuracy_drop=max_accuracy_drop, min_agreement=min_agreement,
                         timeout_s=timeout_s)
    res = build_bundle(plan, cat, opts, progress=_progress_printer(quiet))
    for w in res.warnings:
        click.echo(f"edgeplan: WARNING: {w}", err=True)
    v = res.verification
    if fmt == "json":
        click.echo(json.dumps(v, indent=2, sort_keys=True))
        return
    t, c, cmp = v["target"], v["conversion"], v["comparison"]
    lines = [f"bundle written to {res.out_dir} (verified)",
             f"  {t['model']} at {t['precision'].upper()} ({c['method']}) for {t['device']} "
             f"{t['unit']} via {t['runtime']}; model {v['sizes']['converted_bytes']:,} bytes "
             f"= {v['sizes']['ratio']:.3f}x the FP32 model"]
    va = v.get("vendor_artifact") or {}
    if va.get("built"):
        ran = va.get("verified_with") or {}
        lines.append(f"  vendor artifact: {va['format']} ({', '.join(va['files'])}), verified "
                     f"with {ran.get('name')} {ran.get('version', '')} on {ran.get('device')}")
        if va.get("placement"):
            pl = va["placement"]
            cpu = ", ".join(f"{t} x{n}" for t, n in sorted(pl["cpu_ops"].items()))
            lines.append(f"  op placement: {pl['unit_ops']} ops on the {pl['unit']}, "
                         f"{sum(pl['cpu_ops'].values())} on the CPU"
                         + (f" ({cpu})" if cpu else "") + f"; from {pl['checked_by']}")
            if pl.get("first_cpu_op"):
                f = pl["first_cpu_op"]
                lines.append(f"    first CPU op: {f['op']} (op {f['index']}): {f['reason']}")
        if va.get("not_built"):
            lines.append(f"  NOT built: {va['not_built']['artifact']} (compile it: README.md, "
                         "Vendor steps)")
    elif va.get("needed"):
        lines.append(f"  vendor artifact NOT built: {va['artifact']} (see README.md); what was "
                     f"verified is model.onnx")
    if c["calibration"].get("synthetic"):
        lines.append("  calibration: SYNTHETIC random inputs (accuracy unknown)")
    elif c["calibration"].get("samples"):
        lines.append(f"  calibration: {c['calibration']['samples']} samples from "
                     f"{c['calibration'].get('file', 'user data')}")
    agree = cmp.get("top1_agreement_pct")
    lines.append(f"  vs FP32 on {v['samples']['count']} samples: "
                 + (f"top-1 agreement {agree:.2f}%, " if agree is not None else "")
                 + f"max abs error {cmp['max_abs_error']:.4g}, cosine {cmp['cosine_mean']:.5f} "
                 f"(provider {v['provider']['used']})")
    if "accuracy" in v:
        a = v["accuracy"]
        lines.append(f"  accuracy on eval data ({a['samples']}): FP32 {a['fp32_pct']:.2f}% -> "
                     f"{a['converted_pct']:.2f}% ({accuracy_change(a['drop_points'])})")
    lat = v["latency_ms"]
    simulated = (v.get("runtime") or {}).get("device") == "simulator"
    lines.append(f"  host latency (median): FP32 {lat['fp32']['median_ms']:.3f} ms, converted "
                 f"{lat['converted']['median_ms']:.3f} ms"
                 + (" (in the simulator: says nothing of the device)" if simulated else ""))
    fb = v["op_support"]["fallback_ops"]
    if fb:
        lines.append(f"  ONNX ops {t['unit']}'s op table does not list (they go to "
                     f"{v['op_support'].get('fallback_to', 'the host CPU')}): "
                     + ", ".join(f"{k} x{n}" for k, n in fb.items())
                     + ("; the op placement above is the converted model's" if
                        (va.get("placement") or {}) else ""))
    click.echo("\n".join(lines))
