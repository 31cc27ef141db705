"""`edgeplan lint`: findings in deployment manifests and specs, in the formats CI reads."""
from __future__ import annotations

import sys

import click

from planner import exitcodes
from planner.cli.common import catalog_option, write_atomic
from planner.lint.formats import FORMATS
from planner.lint.model import SEVERITIES


@click.command()
@click.argument("paths", nargs=-1, metavar="[PATHS]...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Report format (default: text, or lint.format in the config).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 1 when a finding is at least this severe (default: error).")
@click.option("--select", multiple=True, metavar="IDS",
              help="Only these rules: ids, names, prefixes (EP1, EP3xx) or ALL; comma "
                   "separated, repeatable. Replaces lint.select of the config.")
@click.option("--ignore", multiple=True, metavar="IDS",
              help="Skip these rules (same forms as --select); added to lint.ignore.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default: the nearest .edgeplan.yaml, or pyproject.toml with "
                   "[tool.edgeplan], from the current directory up).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the report to this file instead of stdout (the summary goes to stderr).")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
              help="Report only findings this baseline file does not hold (and list baselined "
                   "findings that are gone); default: lint.baseline in the config.")
@click.option("--write-baseline", "write_baseline_path", type=click.Path(dir_okay=False),
              help="Record every current finding (by file, YAML path and rule, not line) in "
                   "this baseline file, and exit 0 unless a document is invalid.")
@click.option("--strict-baseline", is_flag=True, default=None,
              help="Exit 1 when the baseline holds findings that are gone (shrink it with "
                   "--write-baseline); also lint.strict-baseline.")
@click.option("--skip-other-yaml", is_flag=True,
              help="Skip named YAML files that are not edgeplan manifests or specs (for "
                   "pre-commit, which passes every changed YAML file).")
@click.option("--fix", "fix", is_flag=True,
              help="Apply the safe fixes of the reported findings (EP201 precision, EP401 "
                   "missing unit:) to the files in place, keeping comments and order; then "
                   "report what remains.")
@click.option("--unsafe-fixes", is_flag=True,
              help="With --fix or --diff: also apply fixes that change what runs (EP202 "
                   "FP32 -> FP16/INT8, a stated unit:).")
@click.option("--diff", "show_diff", is_flag=True,
              help="Print the fixes as a unified diff (to -o FILE if given) and write "
                   "nothing else: exit 1 when there is something to fix, else 0.")
@catalog_option
def lint(paths, fmt, fail_on, select, ignore, config_path, output, baseline_path,
         write_baseline_path, strict_baseline, skip_other_yaml, fix, unsafe_fixes, show_diff,
         catalog_dirs, no_builtin):
    """Check deployment manifests and specs for anti-patterns, with rule ids, file:line:col
    and a fix for each finding.

    PATHS are files, directories (searched for edgeplan documents) and globs; default: the
    current directory; `-` reads standard input. Exit codes: 0 clean, 1 findings at or above
    --fail-on, 2 usage, config or input error (including a file that does not parse or
    validate, reported as EP001). Suppress a finding in the file with
    `# edgeplan: disable=EP101 -- why`. To adopt lint where findings already exist, record
    them once with --write-baseline and lint with --baseline: only new findings fail.
    --fix edits the files for the findings whose fix is certain (--unsafe-fixes: also those
    that change what runs); --diff shows the edits instead.

    Example: edgeplan lint deploy.yaml --format sarif -o edgeplan.sarif
    """
    from planner.lint.config import load_config
    from planner.lint.engine import lint_paths
    from planner.lint.formats import render, summary

    fixing = fix or show_diff
    if fixing and "-" in paths:
        raise click.UsageError("standard input (-) cannot be fixed in place: name the file "
                               "(or lint - without --fix and --diff)")
    if unsafe_fixes and not fixing:
        raise click.UsageError("--unsafe-fixes goes with --fix or --diff")
    if fixing and write_baseline_path:
        raise click.UsageError("--write-baseline records the findings as they are: fix first, "
                               "then record the baseline in a second run")
    cfg = load_config(config_path)
    stdin_text = sys.stdin.read() if "-" in paths else None
    if write_baseline_path and baseline_path:
        raise click.UsageError("--write-baseline records every current finding: give it "
                               "without --baseline")
    baseline = None if write_baseline_path else (baseline_path or cfg.baseline)
    all_catalog_dirs = list(cfg.catalog) + list(catalog_dirs)
    catalog = None
    if fixing:        # loaded once, for the lint and the lint after the fixes
        from planner.cli.common import load_catalog_for_cli
        catalog = load_catalog_for_cli(all_catalog_dirs, no_builtin)

    def run_lint():
        return lint_paths(
            list(paths) or ["."],
            select=list(select) or cfg.select,
            ignore=list(cfg.ignore) + list(ignore),
            fail_on=fail_on or cfg.fail_on or "error",
            catalog=catalog,
            catalog_dirs=all_catalog_dirs,
            builtin_catalog=not no_builtin,
            skip_other=skip_other_yaml,
            stdin_text=stdin_text,
            severity=cfg.severity,
            baseline=baseline,
            strict_baseline=cfg.strict_baseline if strict_baseline is None else strict_baseline,
            feasibility=spec_feasibility)

    report = run_lint()
    for n in report.catalog_notices:
        click.echo(f"edgeplan: note: {n}", err=True)
    _say_skipped_specs(report)
    if fixing:
        from planner.lint.fixes import plan_fixes
        fixes = plan_fixes(report, list(paths) or ["."], unsafe=unsafe_fixes)
        changed = any(f.changed for f in fixes)
        if show_diff:
            out = "".join(f.diff() for f in fixes if f.changed)
            if output:
                write_atomic(output, out)
            else:
                click.echo(out, nl=False)
            sys.stdout.flush()
            for f in fixes:
                _say_fixes(f, "would apply")
            _say_nothing_to_fix(fixes)
            click.get_current_context().exit(exitcodes.FINDINGS if changed else exitcodes.OK)
        for f in fixes:
            if f.changed:
                write_atomic(f.path, f.data(), what="the fixes")
            _say_fixes(f, "applied")
        _say_nothing_to_fix(fixes)
        if changed:
            report = run_lint()       # what remains
    if write_baseline_path:
        from planner.lint.baseline import baseline_text
        write_atomic(write_baseline_path, baseline_text(report, write_baseline_path))
        click.echo(f"edgeplan: wrote {len(report.findings)} finding(s) to the baseline "
                   f"{write_baseline_path}", err=True)
        invalid = report.exit_code == exitcodes.USAGE
        click.get_current_context().exit(exitcodes.USAGE if invalid else exitcodes.OK)
    if baseline is not None:
        _say_baseline(report, baseline)
    out = render(report, fmt or cfg.format or "text")
    if output:
        write_atomic(output, out)
        click.echo(summary(report), err=True)
    else:
        click.echo(out, nl=False)
    sys.stdout.flush()
    click.get_current_context().exit(report.exit_code)


def _say_fixes(f, verb: str) -> None:
    """One file, on stderr: the fixes applied (for --diff: that would be), the unsafe ones
    left out with the flag that applies them, and the fixes that could not be made."""
    for n in f.notes:
        click.echo(f"edgeplan: note: {f.name}: {n}", err=True)
    if f.applied and f.changed:
        n = len(f.applied)
        click.echo(f"edgeplan: {f.name}: {verb} {n} fix{'es' if n > 1 else ''} ("
                   + "; ".join(f"{a.rule} {a.what}" for a in f.applied) + ")", err=True)
    if f.unsafe_skipped:
        n = len(f.unsafe_skipped)
        click.echo(f"edgeplan: {f.name}: {n} unsafe fix{'es' if n > 1 else ''} not applied ("
                   + "; ".join(f"{a.rule} {a.what}" for a in f.unsafe_skipped)
                   + "); --unsafe-fixes applies them", err=True)


def _say_nothing_to_fix(fixes) -> None:
    if not any(f.changed or f.unsafe_skipped for f in fixes):
        click.echo("edgeplan: nothing to fix", err=True)


def _say_baseline(report, baseline: str) -> None:
    """What the baseline held back, and what in it is gone (on stderr: every format's
    report stays the findings alone)."""
    if report.baselined:
        click.echo(f"edgeplan: note: {len(report.baselined)} finding(s) held by the baseline "
                   f"{baseline} are not shown", err=True)
    for e in report.stale_baseline:
        click.echo(f"edgeplan: note: baselined {e.rule} at {e.file}: {e.path} no longer "
                   "occurs; shrink the baseline with --write-baseline", err=True)


def spec_feasibility(spec, catalog, base_dir):
    """EP105's checker, injected into lint (which never imports the solver): None when
    `solve` finds a plan, else its explanation (`explanation` of `solve --format json`: the
    minimal conflict sets and the smallest corrections), each budget and correction with
    `said`, the words `solve` prints for it, since lint cannot import the solver's render. Imported here, on the first spec only, so linting manifests
    never loads OR-Tools."""
    from planner.onnxfile.spec_models import model_file_profiles
    from planner.solve.pipeline import solve as run
    from planner.errors import InputError
    extra = model_file_profiles(spec, base_dir)
    try:
        res = run(spec, catalog, binding=False, extra_models=extra)
    except InputError as e:
        # a spec solve refuses outright: the spec rules name the field, but a weight format
        # or KV cache that no allowed runtime or device handles has no rule of its own
        if (e.field or "").rsplit(".", 1)[-1] in ("weight_format", "kv_cache"):
            return {"facts": [e.message]}
        return None
    if res.status != "infeasible":
        return None
    from planner.solve.render import budget_text, change_text
    why = res.as_dict().get("explanation") or {}
    for s in why.get("conflict_sets") or ():
        for row in s["budgets"]:
            row["said"] = budget_text(row)
    for f in why.get("corrections") or ():
        f["said"] = "; ".join(change_text(c) for c in f["changes"])
    return why


def _say_skipped_specs(report) -> None:
    """Specs without `apiVersion`/`kind` are skipped in directories and globs (so `lint .`
    never mistakes other YAML for one); say which, so a CI run does not pass on silence."""
    n = len(report.skipped_specs)
    if n:
        names = ", ".join(report.skipped_specs)
        click.echo(f"edgeplan: note: skipped {n} spec{'s' if n != 1 else ''} without "
                   f"`kind: Spec` ({names}): add `apiVersion: edgeplan/v1` and `kind: Spec` "
                   "to lint them in a directory, or name them on the command line", err=True)
