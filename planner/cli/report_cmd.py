"""`edgeplan report`: the design-review document."""
from __future__ import annotations

import os

import click

from planner import exitcodes
from planner.cli.common import catalog_option, load_catalog_for_cli, write_atomic


@click.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default="-",
              show_default=True, help="Where to write the report ('-': standard output).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default=None,
              help="html: one self-contained page with charts; md: GitHub-flavoured Markdown "
                   "for a pull-request comment. Default: from the -o extension (.md), else html.")
@click.option("--top", default=3, show_default=True, type=click.IntRange(0, 20),
              help="Runners-up to find and show.")
@click.option("--no-sensitivity", is_flag=True,
              help="Skip the re-solves that find where each budget changes the plan.")
@click.option("--fail-on-infeasible", is_flag=True,
              help="Exit 3 when nothing fits (the report is still written).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="CP-SAT search workers (fixed, with a fixed seed, for reproducible output).")
@click.option("--time-limit", type=click.FloatRange(min=0.01), default=None,
              help="Seconds for the whole report; sections not finished in time are left out "
                   "and the page says which. Exit 6 if not even the plan was found in time.")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory budget for the candidate grids and models (e.g. 4G); exit 7 "
                   "when the spec would need more. Default: half the RAM.")
@click.option("--robust", is_flag=True,
              help="Check latency, rate and accuracy budgets against the pessimistic end of "
                   "their intervals in every solve of the report (as `solve --robust`).")
@catalog_option
def report(spec_file, out, fmt, top, no_sensitivity, fail_on_infeasible, workers, time_limit,
           max_memory, robust, catalog_dirs, no_builtin):
    """Write a design review for SPEC: the question in plain words, the plan with estimates,
    intervals, provenance and lint findings, why (binding budgets and slack), exact Pareto
    fronts drawn as inline SVG, runners-up, rejected options by budget, sensitivity of the
    plan to every budget, and — when nothing fits — the conflicting budgets and their
    relaxations. The HTML page is one file that works offline and prints cleanly.

    Exit codes: 0 the report was written (also when nothing fits, unless
    --fail-on-infeasible: then 3), 2 bad input or usage, 6 no plan found within
    --time-limit, 7 the spec would exceed --max-memory.

    Estimated accuracies show the range their published evidence allows (one measured on
    another toolchain's quantized model, the range its rule gives other quantizers); budgets whose
    interval reaches past the limit are marked marginal, and --robust checks them at the
    pessimistic end instead.

    Example: edgeplan report examples/drone-detect-pose.yaml -o review.html --robust
    """
    from planner.cli.solve_cmd import memory_option
    from planner.solve.deadline import Deadline
    deadline = (Deadline(time_limit, max_memory=memory_option(max_memory))
                if time_limit is not None or max_memory is not None else None)
    from planner.onnxfile.spec_models import model_file_profiles
    from planner.report.build import build_report, shown_path
    from planner.report.render import render_report
    from planner.spec import load_spec

    if fmt is None:
        fmt = "md" if out.lower().endswith((".md", ".markdown")) else "html"
    spec, _ = load_spec(spec_file)
    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    extra = model_file_profiles(spec, os.path.dirname(os.path.abspath(spec_file)))
    with open(spec_file, encoding="utf-8-sig") as f:
        spec_text = f.read()
    data = build_report(spec, cat, top=top, workers=workers, extra_models=extra,
                        with_sensitivity=not no_sensitivity,
                        source=shown_path(spec_file).replace(os.sep, "/"),
                        spec_text=spec_text, deadline=deadline, robust=robust)
    text = render_report(data, fmt)
    if out == "-":
        click.echo(text, nl=False)
    else:
        write_atomic(out, text)
        click.echo(f"edgeplan: wrote {out} ({data['status']})", err=True)
    if fail_on_infeasible and data["status"] == "infeasible":
        raise SystemExit(exitcodes.INFEASIBLE)
