"""Suppressions in source: `# edgeplan: disable=EP101 -- why` for one line,
`disable-file=` for the whole file."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from planner.errors import InputError
from planner.lint.model import Notice
from planner.lint.select import get_rule

# ---------------------------------------------------------------- suppressions

_SUPPRESS = re.compile(r"#\s*edgeplan:\s*(?P<kind>disable-file|disable)\s*=\s*"
                       r"(?P<ids>[A-Za-z0-9_, -]+?)\s*(?:(?<=\s)--\s*(?P<reason>.*?))?\s*$")


_MARKER = re.compile(r"#\s*edgeplan:")


@dataclass
class Suppression:
    line: int                 # line of the comment
    column: int
    target_line: int | None   # the line whose YAML nodes it covers (None: the whole file)
    rules: list[str]          # canonical ids
    reason: str | None
    used: set = field(default_factory=set)


def parse_suppressions(text: str, file: str, notices: list[Notice]) -> list[Suppression]:
    lines = text.splitlines()
    out = []
    for n, line in enumerate(lines, start=1):
        m = _MARKER.search(line)
        if not m or not _outside_quotes(line, m.start()):
            continue
        col = m.start() + 1
        s = _SUPPRESS.match(line, m.start())
        if not s:
            notices.append(Notice(file, n, col, "malformed suppression; expected "
                                  "'# edgeplan: disable=EP101 -- why'"))
            continue
        ids = []
        for raw in (x.strip() for x in s["ids"].split(",")):
            if not raw:
                continue
            try:
                ids.append(get_rule(raw).id)
            except InputError as e:
                notices.append(Notice(file, n, col, f"suppression: {e.message}"))
        reason = (s["reason"] or "").strip() or None
        if reason is None:
            notices.append(Notice(file, n, col, "suppression without a reason; write "
                                  "'# edgeplan: disable=ID -- why'"))
        target = None
        if s["kind"] == "disable":
            target = n
            if not line[:m.start()].strip():         # a comment line: covers the next line
                target = None
                for k in range(n, len(lines)):
                    nxt = lines[k].strip()
                    if nxt and not nxt.startswith("#"):
                        target = k + 1
                        break
                if target is None:
                    notices.append(Notice(file, n, col, "suppression is followed by no YAML"))
                    continue
        if ids:
            out.append(Suppression(n, col, target, ids, reason))
    return out


def _outside_quotes(line: str, idx: int) -> bool:
    single = double = False
    for ch in line[:idx]:
        if ch == "'" and not double:
            single = not single
        elif ch == '"' and not single:
            double = not double
    return not (single or double)


