"""`edgeplan calibrate add|show`: the user's own measurements into a user catalog."""
from __future__ import annotations

import json

import click

_CATALOG_DIR = click.option(
    "--catalog", "catalog_dir", required=True, type=click.Path(file_okay=False),
    help="Your catalog directory (created if missing); measurements go to "
         "measurements/calibrate-added.yaml in it, and every other command reads it with "
         "--catalog.")


@click.group()
def calibrate():
    """Feed your own measurements back, so estimates fit your hardware.

    Example: edgeplan calibrate add result.json --catalog my-catalog/
    """


@calibrate.command("add")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_CATALOG_DIR
@click.option("--device", "-d", help="Device id, where the output does not name one "
              "(edgeplan catalog list devices).")
@click.option("--model", "-m", help="Model id, where the output does not name one.")
@click.option("--precision", "-p", type=click.Choice(["fp32", "fp16", "int8", "int4"]),
              help="Precision, where the output does not say it.")
@click.option("--unit", "-u", help="Compute unit id (default: the unit the output names, "
              "else the device's first that runs the precision and runtime).")
@click.option("--runtime", "-r", help="Runtime, where the output does not say it.")
@click.option("--power-mode", help="Power mode the device ran in (default: its first).")
@click.option("--model-file", type=click.Path(exists=True, dir_okay=False),
              help="The ONNX file measured, where the catalog has no profile of its model "
                   "(a bundle of your own model): its profile is added to your catalog too.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def add(results, catalog_dir, device, model, precision, unit, runtime, power_mode, model_file,
        fmt):
    """Read benchmark outputs and add them as measurements to your catalog directory.

    Reads, recognised by content: the bundle's `python infer.py --benchmark 100 --json`
    (ids included), `llama-bench -o json` (or jsonl), `trtexec` console output, OpenVINO
    `benchmark_app` output and `hailortcli run` output. What an output does not say, give
    with the flags; a flag that contradicts the output is an error. A value faster than the
    unit's peak compute or memory bandwidth allows is refused with the ceiling named. Nothing
    is written unless every result is good.

    Example: edgeplan calibrate add trtexec.txt --catalog my-catalog/ --device
    jetson-orin-nano-8gb --model yolo11n
    """
    import os

    from planner.cli.common import load_catalog_for_cli
    from planner.measure.record import ADDED_FILE, add_measurements
    given = {"device": device, "model": model, "precision": precision, "unit": unit,
             "runtime": runtime, "power_mode": power_mode}
    cat = load_catalog_for_cli([catalog_dir] if os.path.isdir(catalog_dir) else [])
    added = add_measurements(cat, results, catalog_dir, given, model_file=model_file)
    target = os.path.join(catalog_dir, str(ADDED_FILE))
    if fmt == "json":
        click.echo(json.dumps({"file": target, "measurements": [
            {**a.measurement.model_dump(exclude_defaults=True), "result": a.file,
             "added": not a.duplicate} for a in added]}, indent=2))
        return
    for a in added:
        m = a.measurement
        tool = m.tool + (f" {m.tool_version}" if m.tool_version else "")
        click.echo(f"{'already there' if a.duplicate else 'added'}: {m.device} {m.model} "
                   f"{m.precision.upper()} {m.unit}/{m.runtime}"
                   f"{' [' + m.power_mode + ']' if m.power_mode else ''}: {m.metric} "
                   f"{m.value:g} (batch {m.batch}"
                   f"{f', context {m.context_tokens} tokens' if m.context_tokens else ''}; "
                   f"{tool}; {a.file})")
    n = sum(not a.duplicate for a in added)
    if n:
        click.echo(f"wrote {n} measurement{'s' if n != 1 else ''} to {target}; see how the "
                   f"estimates moved: edgeplan calibrate show --catalog {catalog_dir}")
    else:
        click.echo(f"nothing new: {target} unchanged")


@calibrate.command("show")
@_CATALOG_DIR
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def show(catalog_dir, fmt):
    """Show, per device you measured, how the estimates moved with your measurements: each
    measured combination and the catalog's other models of its task on the same unit,
    runtime and precision, before -> after, with the intervals.

    Example: edgeplan calibrate show --catalog my-catalog/
    """
    from planner.cli.common import load_catalog_for_cli
    from planner.measure.moves import estimate_moves, render_moves
    cat = load_catalog_for_cli([catalog_dir])
    moves = estimate_moves(cat, catalog_dir)
    click.echo(json.dumps(moves, indent=2) if fmt == "json" else render_moves(moves, catalog_dir))
