"""The rules' documentation, generated from their docstrings: the README's table, one page
per rule (docs/rules/EPxxx.md, the page `edgeplan rules EPxxx` prints and SARIF's helpUri
points at) and the index of the pages (docs/rules/README.md).

A rule's docstring, dedented (`Rule.doc()`), is the short description on the first line,
prose, then four parts, each starting at the left margin with its label:

    Anti-pattern: what it shows:    then the document the rule flags, as an indented block
    Why it matters: prose ...       ending in one or more `Source: title <https://...>`
    Fix: prose ...
    Passing example: what it shows: then a document the rule accepts, as an indented block

Indented blocks are YAML; a `Source:` entry may wrap onto the following lines. Regenerate
the pages after editing a docstring:

    python -m planner.lint.pages docs/rules
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from planner.lint.select import registry

SECTIONS: tuple[str, ...] = ("Anti-pattern", "Why it matters", "Fix", "Passing example")
INDEX = "README.md"
REGENERATE = "python -m planner.lint.pages docs/rules"

_LABEL = re.compile(r"^(Anti-pattern|Why it matters|Fix|Passing example)"
                    r"(?: \(([^)]*)\))?:[ \t]*(.*)$")
_SOURCE = re.compile(r"^Source:\s*(.+?)\s*<(https?://[^\s>]+)>$")
_KINDS = {"manifest": "manifests", "spec": "specs"}


def rules_markdown() -> str:
    """The rules table of the README (a test checks the README holds this table)."""
    lines = ["| id | name | severity | checks | solve reason | what it flags |",
             "|---|---|---|---|---|---|"]
    for rid, cls in sorted(registry().items()):
        kinds = ", ".join(cls.applies_to)
        lines.append(f"| {rid} | {cls.name} | {cls.severity} | {kinds} | "
                     f"{cls.solver_reason or ''} | {cls.short().replace('|', '/')} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- a docstring, in parts

@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass
class RuleDoc:
    """A rule's docstring in parts. `blocks` maps a part (or "intro", the prose before the
    first part) to its blocks in order: ("text", lines), ("code", text) or ("sources", [])."""
    short: str
    blocks: dict[str, list] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)

    def code(self, part: str) -> list[str]:
        """The indented (YAML) blocks of a part."""
        return [b for kind, b in self.blocks.get(part, ()) if kind == "code"]


def _split(lines: list[str]) -> list[tuple[str, object]]:
    """Paragraphs (runs of unindented lines) and indented blocks (dedented, blank lines
    inside kept)."""
    out: list[tuple[str, object]] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
        elif lines[i].startswith(" "):
            j = i
            while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                j += 1
            block = lines[i:j]
            while not block[-1].strip():
                block.pop()
            out.append(("code", textwrap.dedent("\n".join(block))))
            i = j
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not lines[j].startswith(" "):
                j += 1
            out.append(("text", lines[i:j]))
            i = j
    return out


def _sources(rid: str, para: list[str]) -> tuple[list[str], list[Source]]:
    """A paragraph's prose lines and the `Source:` entries that end it."""
    starts = [k for k, line in enumerate(para) if line.startswith("Source:")]
    if not starts:
        return para, []
    prose, found = para[:starts[0]], []
    for a, b in zip(starts, starts[1:] + [len(para)]):
        entry = " ".join(line.strip() for line in para[a:b])
        m = _SOURCE.match(entry)
        if not m:
            raise ValueError(f"{rid}: a source is `Source: title <https://...>`, got {entry!r}")
        found.append(Source(m.group(1).rstrip(","), m.group(2)))
    return prose, found


def rule_doc(cls) -> RuleDoc:
    """Parse a rule's docstring into its parts (ValueError when a part repeats or a source is
    malformed)."""
    lines = cls.doc().splitlines()
    doc = RuleDoc(short=lines[0].strip() if lines else "")
    parts: dict[str, list[str]] = {"intro": []}
    current = "intro"
    for line in lines[1:]:
        m = _LABEL.match(line)
        if m:
            current = m.group(1)
            if current in parts:
                raise ValueError(f"{cls.id}: {current!r} twice in the docstring")
            lead = m.group(3) or (f"{m.group(2)}:" if m.group(2) else "")
            parts[current] = [lead] if lead.strip() else []
        else:
            parts[current].append(line)
    for part, part_lines in parts.items():
        blocks = _split(part_lines)
        if part == "Why it matters":
            kept = []
            for kind, b in blocks:
                if kind == "text":
                    prose, found = _sources(cls.id, b)
                    doc.sources += found
                    if prose:
                        kept.append(("text", prose))
                    if found:
                        kept.append(("sources", found))
                else:
                    kept.append((kind, b))
            blocks = kept
        doc.blocks[part] = blocks
    return doc


def passing_example(cls) -> str | None:
    """The YAML of a rule's passing example (its first indented block), or None."""
    code = rule_doc(cls).code("Passing example")
    return code[0] + "\n" if code else None


# ---------------------------------------------------------------- rendering

def _capitalized(lines: list[str]) -> list[str]:
    first = lines[0]
    return [first[:1].upper() + first[1:]] + lines[1:]


def _render(part: str, blocks: list) -> list[str]:
    out: list[str] = []
    for n, (kind, b) in enumerate(blocks):
        if kind == "text":
            out += (_capitalized(b) if n == 0 else b) + [""]
        elif kind == "code":
            lang = "yaml" if part in ("Anti-pattern", "Passing example") else ""
            out += [f"```{lang}", b, "```", ""]
        elif kind == "sources":
            if len(b) == 1:
                out += [f"Source: [{b[0].title}]({b[0].url})", ""]
            else:
                out += ["Sources:", ""] + [f"- [{s.title}]({s.url})" for s in b] + [""]
    return out


def _kinds(cls) -> str:
    return " and ".join(_KINDS.get(k, k) for k in cls.applies_to)


def rule_page(cls) -> str:
    """The Markdown page of one rule: title, severity, what it checks, the solver reason,
    aliases, the prose, then the anti-pattern, why it matters, the fix and a passing example."""
    doc = rule_doc(cls)
    reason = (f"`{cls.solver_reason}` (`edgeplan solve` rejects an option for the same cause)"
              if cls.solver_reason else "none (lint only)")
    aliases = ", ".join(cls.aliases) if cls.aliases else "none"
    out = [f"# {cls.id} {cls.name}", "", doc.short, "",
           f"- **Severity:** {cls.severity}",
           f"- **Checks:** {_kinds(cls)}",
           f"- **Solve reason:** {reason}",
           f"- **Aliases:** {aliases}", ""]
    out += _render("intro", doc.blocks.get("intro", []))
    for part in SECTIONS:
        if part in doc.blocks:
            out += [f"## {part}", ""] + _render(part, doc.blocks[part])
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def rules_index() -> str:
    """docs/rules/README.md: a table of the rules, each linking to its page."""
    out = ["# Lint rules", "",
           "One page per rule of `edgeplan lint`: the anti-pattern, why it matters (with a "
           "source), the fix and a passing example. `edgeplan rules` lists the rules and "
           "`edgeplan rules EP101` prints a page.", "",
           "The pages are generated from the rules' docstrings (`planner/lint/rules/epNNN.py`):"
           f" edit the docstring, then run `{REGENERATE}`. `tests/test_rule_pages.py` checks "
           "that the pages are current and that every passing example lints clean.", "",
           "| rule | name | severity | checks | solve reason | what it flags |",
           "|---|---|---|---|---|---|"]
    for rid, cls in sorted(registry().items()):
        out.append(f"| [{rid}]({rid}.md) | {cls.name} | {cls.severity} | {_kinds(cls)} | "
                   f"{cls.solver_reason or ''} | {cls.short().replace('|', '/')} |")
    return "\n".join(out) + "\n"


def rule_pages() -> dict[str, str]:
    """Every page by file name: EPxxx.md for each registered rule, and the index."""
    pages = {f"{rid}.md": rule_page(cls) for rid, cls in sorted(registry().items())}
    pages[INDEX] = rules_index()
    return pages


def write_rule_pages(directory) -> list[Path]:
    """Write the pages into `directory` (created if missing), rewriting only the files whose
    text changed and removing the pages of rules no longer registered. Returns the files
    written or removed."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    pages = rule_pages()
    changed = []
    for stale in sorted(d.glob("EP*.md")):
        if stale.name not in pages:
            stale.unlink()
            changed.append(stale)
    for name, text in pages.items():
        p = d / name
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8", newline="\n")
            changed.append(p)
    return changed


if __name__ == "__main__":                       # python -m planner.lint.pages docs/rules
    import sys
    target = sys.argv[1] if len(sys.argv) > 1 else "docs/rules"
    done = write_rule_pages(target)
    sys.stdout.write(f"{len(done)} file(s) updated in {target}\n")
