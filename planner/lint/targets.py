"""Finding the documents: files, directories and globs to lint, each once, in a stable order."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from planner.errors import InputError

# ---------------------------------------------------------------- finding the documents

_GLOB_CHARS = re.compile(r"[*?\[]")


_EDGEPLAN_DOC = re.compile(r"^\s*(apiVersion:\s*['\"]?edgeplan/|kind:\s*['\"]?(Deployment|Spec)\b)",
                           re.MULTILINE)


_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Target:
    path: str            # where to read it
    explicit: bool       # named on the command line: linted whatever it contains
    display: str = ""    # how reports name it (relative to the working directory)

    @property
    def name(self) -> str:
        return self.display or self.path


def expand_targets(paths, *, cwd: str | None = None) -> list[Target]:
    """Files, directories (recursive, *.yaml/*.yml) and globs, in a stable order, each once.
    A path that does not exist, or a glob that matches nothing, is a usage error."""
    out: list[Target] = []
    seen: set[str] = set()

    def add(p: str, explicit: bool):
        key = os.path.normpath(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(Target(p, explicit, _display(p, cwd)))

    for raw in paths:
        p = os.fspath(raw)
        if p == "-":
            if "-" not in seen:
                seen.add("-")
                out.append(Target("-", True))
            continue
        if os.path.isdir(p):
            for f in _walk(p):
                add(f, False)
        elif os.path.exists(p):
            add(p, True)
        elif _GLOB_CHARS.search(p):
            import glob
            hits = sorted(glob.glob(p, recursive=True))
            if not hits:
                raise InputError(f"no files match {p!r}", field="PATHS")
            for h in hits:
                if os.path.isdir(h):
                    for f in _walk(h):
                        add(f, False)
                elif h.endswith(_YAML_SUFFIXES):
                    add(h, False)
        else:
            raise InputError("no such file or directory", file=p)
    return out


def _walk(d: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(d):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x not in
                         ("node_modules", "__pycache__", "venv", ".venv"))
        for f in sorted(files):
            if f.endswith(_YAML_SUFFIXES):
                found.append(os.path.join(root, f))
    return found


def _display(p: str, cwd: str | None) -> str:
    base = os.path.abspath(cwd or os.getcwd())
    ap = os.path.abspath(p)
    if not os.path.isabs(p) and cwd is None:
        return os.path.normpath(p).replace(os.sep, "/")
    try:
        rel = os.path.relpath(ap, base)
    except ValueError:                    # another drive on Windows
        return p
    return p if rel.startswith("..") else rel.replace(os.sep, "/")
