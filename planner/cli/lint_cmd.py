"""`edgeplan lint` and `edgeplan rules`."""
from __future__ import annotations

import json
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
@click.option("--skip-other-yaml", is_flag=True,
              help="Skip named YAML files that are not edgeplan manifests or specs (for "
                   "pre-commit, which passes every changed YAML file).")
@catalog_option
def lint(paths, fmt, fail_on, select, ignore, config_path, output, skip_other_yaml,
         catalog_dirs, no_builtin):
    """Check deployment manifests and specs for anti-patterns, with rule ids, file:line:col
    and a fix for each finding.

    PATHS are files, directories (searched for edgeplan documents) and globs; default: the
    current directory; `-` reads standard input. Exit codes: 0 clean, 1 findings at or above
    --fail-on, 2 usage, config or input error (including a file that does not parse or
    validate, reported as EP001). Suppress a finding in the file with
    `# edgeplan: disable=EP101 -- why`.

    Example: edgeplan lint deploy.yaml --format sarif -o edgeplan.sarif
    """
    from planner.lint.config import load_config
    from planner.lint.engine import lint_paths
    from planner.lint.formats import render, summary

    cfg = load_config(config_path)
    stdin_text = sys.stdin.read() if "-" in paths else None
    report = lint_paths(
        list(paths) or ["."],
        select=list(select) or cfg.select,
        ignore=list(cfg.ignore) + list(ignore),
        fail_on=fail_on or cfg.fail_on or "error",
        catalog_dirs=list(cfg.catalog) + list(catalog_dirs),
        builtin_catalog=not no_builtin,
        skip_other=skip_other_yaml,
        stdin_text=stdin_text)
    for n in report.catalog_notices:
        click.echo(f"edgeplan: note: {n}", err=True)
    out = render(report, fmt or cfg.format or "text")
    if output:
        write_atomic(output, out)
        click.echo(summary(report), err=True)
    else:
        click.echo(out, nl=False)
    sys.stdout.flush()
    click.get_current_context().exit(report.exit_code)


@click.command()
@click.argument("rule_id", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True)
def rules(rule_id, fmt):
    """List the lint rules, or print one rule's documentation.

    RULE_ID may be an id (EP101), an old id kept as an alias, or a name (memory-overflow).

    Example: edgeplan rules EP202
    """
    from planner.lint.select import get_rule, registry

    def row(cls):
        return {"id": cls.id, "name": cls.name, "severity": cls.severity,
                "applies_to": list(cls.applies_to), "solver_reason": cls.solver_reason,
                "aliases": list(cls.aliases), "short": cls.short()}

    if rule_id:
        cls = get_rule(rule_id)
        if fmt == "json":
            click.echo(json.dumps({**row(cls), "doc": cls.doc()}, indent=2))
            return
        reason = f"; solve reason: {cls.solver_reason}" if cls.solver_reason else ""
        kinds = " and ".join(k + "s" for k in cls.applies_to)
        head = f"{cls.id} {cls.name} ({cls.severity}{reason}; checks {kinds})"
        body = cls.doc()
        if fmt == "markdown":
            click.echo(f"### {cls.id} {cls.name}\n\n{body}")
        else:
            click.echo(f"{head}\n\n{body}")
        return
    rows = [row(c) for _, c in sorted(registry().items())]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "markdown":
        click.echo(rules_markdown())
    else:
        w_name = max(len(r["name"]) for r in rows)
        for r in rows:
            click.echo(f"{r['id']}  {r['severity']:<7}  {r['name']:<{w_name}}  {r['short']}")
    click.get_current_context().exit(exitcodes.OK)


def rules_markdown() -> str:
    """The rules table of the README (a test checks the README holds this table)."""
    from planner.lint.select import registry
    lines = ["| id | name | severity | checks | solve reason | what it flags |",
             "|---|---|---|---|---|---|"]
    for rid, cls in sorted(registry().items()):
        kinds = ", ".join(cls.applies_to)
        lines.append(f"| {rid} | {cls.name} | {cls.severity} | {kinds} | "
                     f"{cls.solver_reason or ''} | {cls.short().replace('|', '/')} |")
    return "\n".join(lines)
