"""`edgeplan rules`: the lint rules and their documentation."""
from __future__ import annotations

import json

import click

from planner import exitcodes
from planner.lint.pages import rule_page, rules_markdown


@click.command()
@click.argument("rule_id", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True)
def rules(rule_id, fmt):
    """List the lint rules, or print one rule's page.

    RULE_ID may be an id (EP101), an old id kept as an alias, or a name (memory-overflow).
    The page is the rule's documentation in Markdown, as in docs/rules/EP101.md: severity,
    what it checks, the anti-pattern, why it matters (with a source), the fix and a passing
    example. --format json gives the rule's fields, its docstring and the page.

    Example: edgeplan rules EP202
    """
    from planner.lint.select import get_rule, registry

    def row(cls):
        return {"id": cls.id, "name": cls.name, "severity": cls.severity,
                "applies_to": list(cls.applies_to), "solver_reason": cls.solver_reason,
                "aliases": list(cls.aliases), "short": cls.short()}

    if rule_id:
        cls = get_rule(rule_id)
        page = rule_page(cls)
        if fmt == "json":
            click.echo(json.dumps({**row(cls), "doc": cls.doc(), "page": page}, indent=2))
        else:                                     # text and markdown: the page as it is
            click.echo(page, nl=False)
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
