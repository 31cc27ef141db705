"""`edgeplan solve`: the planner."""
from __future__ import annotations

import json
import os

import click

from planner import exitcodes
from planner.cli.common import catalog_option, load_catalog_for_cli, write_atomic


@click.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "yaml"]), default="text",
              show_default=True)
@click.option("--top", "top", default=0, show_default=True, type=click.IntRange(0, 20),
              help="Also find the next K best distinct plans (runners-up).")
@click.option("-o", "--output", "manifest_out", type=click.Path(dir_okay=False),
              help="Write the deployment manifest (deploy.yaml) that lint and bundle read.")
@click.option("--time-limit", type=click.FloatRange(min=0.01), default=None,
              help="Seconds for the whole command (candidates, every solve, runners-up, "
                   "binding budgets, explanations); on expiry the best plan so far with "
                   "status 'feasible' and the steps cut short, or exit 6 if none was found.")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory budget for the candidate grids and the model (e.g. 4G); a spec "
                   "that would need more is refused up front, exit 7. Default: half the RAM.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="CP-SAT search workers (fixed, with a fixed seed, for reproducible output).")
@click.option("--no-binding", is_flag=True, help="Skip the re-solves that find binding budgets.")
@click.option("--robust", is_flag=True,
              help="Check latency, rate and accuracy budgets against the pessimistic end of "
                   "their intervals: the high end of the estimator's 80 % latency interval, "
                   "the low end of its throughput interval, the low end of an estimated "
                   "accuracy's published range. Without it a plan whose interval straddles "
                   "a budget is flagged marginal.")
@catalog_option
def solve(spec_file, fmt, top, manifest_out, time_limit, max_memory, workers, no_binding,
          robust, catalog_dirs, no_builtin):
    """Pick model, precision, device and runtime for every workload in SPEC under its
    budgets, or prove nothing fits and say which budgets conflict and how far each must move.

    A workload's `techniques` default to all of them (baseline, ptq, qat, weight-only, pruned,
    distilled); a plan that picks QAT or a pruned option says it needs that training run.
    Estimated accuracies come with the range their published evidence allows (a figure
    measured on another toolchain's quantized model than the runtime's, with the range its
    rule gives other quantizers, where one does); --robust checks floors (and latency and
    rate budgets) at the pessimistic end.

    Exit codes: 0 a plan, 2 bad input or usage, 3 infeasible, 6 no plan found within
    --time-limit, 7 the model would exceed --max-memory.

    Example: edgeplan solve examples/drone-detect-pose.yaml --top 2 -o deploy.yaml --robust
    """
    from planner.solve.deadline import Deadline
    # the limit counts from here: loading the catalog is part of what the user waits for
    deadline = Deadline(time_limit, max_memory=memory_option(max_memory))
    from planner.onnxfile.spec_models import model_file_profiles
    from planner.solve.pipeline import solve as run
    from planner.spec import load_spec

    spec, _ = load_spec(spec_file)
    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    extra = model_file_profiles(spec, os.path.dirname(os.path.abspath(spec_file)))
    res = run(spec, cat, top=top, deadline=deadline, workers=workers,
              binding=not no_binding, extra_models=extra, robust=robust)
    d = res.as_dict()
    d.pop("stats", None)  # timings vary run to run; keep outputs byte-identical
    if fmt == "json":
        click.echo(json.dumps(d, indent=2))
    elif fmt == "yaml":
        import yaml
        click.echo(yaml.safe_dump(d, sort_keys=False).rstrip())
    else:
        from planner.solve.render import render_plan_text
        click.echo(render_plan_text(d))
    if manifest_out and res.manifest is not None:
        from planner.solve.plan import manifest_yaml
        write_atomic(manifest_out, manifest_yaml(res.manifest))
        click.echo(f"edgeplan: wrote {manifest_out}", err=True)
    if res.status == "infeasible":
        raise SystemExit(exitcodes.INFEASIBLE)


def memory_option(text):
    """--max-memory SIZE -> bytes (None: the default budget)."""
    if text is None:
        return None
    from planner.solve.deadline import parse_memory
    try:
        return parse_memory(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size like 4G, 512M or 2000000000",
                                 param_hint="--max-memory") from None
