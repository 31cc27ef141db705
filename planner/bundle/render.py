"""Rendering a bundle's files from the templates in `planner/templates/bundle`: a sandboxed
jinja2 environment whose filters make every value that reaches generated code a Python
literal, Markdown text or a shell word."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from planner.bundle.contents import PROVIDER_NAME
from planner.errors import BundleError
from planner.text import md_prose

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


# ---------------------------------------------------------------- templates

def _py_literal(v):
    """A Python literal for plain data; anything else is refused."""
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_py_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_py_literal(str(k))}: {_py_literal(x)}"
                               for k, x in sorted(v.items())) + "}"
    raise BundleError(f"cannot render a {type(v).__name__} into generated code")


def _code(v) -> str:
    """A Markdown code span (backticks and line breaks cannot appear inside)."""
    s = str(v).replace("\r", " ").replace("\n", " ").replace("`", "'")
    return f"`{s}`"


def _shell(v) -> str:
    import shlex
    return shlex.quote(str(v))


@lru_cache(maxsize=1)
def bundle_environment():
    """The one jinja2 environment: sandboxed, strict about undefined names, cached."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
        keep_trailing_newline=True, autoescape=False, trim_blocks=False)
    env.filters["py"] = _py_literal
    env.filters["md"] = md_prose
    env.filters["code"] = _code
    env.filters["shell"] = _shell
    return env


def render(name: str, **ctx) -> str:
    return bundle_environment().get_template(name).render(**ctx)


@lru_cache(maxsize=1)
def targets() -> dict:
    """templates/bundle/targets.yaml: execution providers per family, vendor steps."""
    import yaml
    with open(TEMPLATES / "bundle" / "targets.yaml", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    for fam, t in data["families"].items():
        for p in t.get("providers", []):
            if not PROVIDER_NAME.match(p):
                raise BundleError(f"targets.yaml: bad provider name {p!r} for {fam}")
    return data
