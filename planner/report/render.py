"""Rendering a report's data with the templates in `planner/templates/`: one self-contained
HTML page, or GitHub-flavoured Markdown."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from planner.errors import InputError
from planner.text import md_table_cell, num

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


FORMATS = ("html", "md")


# ---------------------------------------------------------------- rendering

@lru_cache(maxsize=1)
def report_environment():
    """The one jinja2 environment of the report: sandboxed (spec text reaches it), strict
    about undefined names, autoescaping for HTML templates only; cached."""
    from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from markupsafe import Markup

    from planner.report import svg
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                     default_for_string=False, default=False),
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = num
    env.filters["md"] = md_table_cell
    env.globals["scatter"] = lambda f: Markup(svg.scatter(f))
    env.globals["budget_bars"] = lambda rows: Markup(svg.budget_bars(rows))
    env.globals["ranges"] = lambda rows: Markup(svg.ranges(rows))
    env.globals["relaxations"] = lambda rows: Markup(svg.relaxations(rows))
    env.globals["css"] = lambda: Markup(_css())
    return env


@lru_cache(maxsize=1)
def _css() -> str:
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")


def render_report(report: dict, fmt: str = "html") -> str:
    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}",
                         field="--format")
    name = "report.html.j2" if fmt == "html" else "report.md.j2"
    text = report_environment().get_template(name).render(r=report)
    if fmt == "md":
        # GitHub renders blank-line-separated blocks; collapse runs of blank lines
        lines, blank = [], 0
        for line in text.splitlines():
            blank = blank + 1 if not line.strip() else 0
            if blank <= 1:
                lines.append(line.rstrip())
        text = "\n".join(lines).strip() + "\n"
    return text
