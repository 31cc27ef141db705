"""`edgeplan lint --fix`: the edits rules attach to their problems, made in the file's text.

A rule that knows its fix for certain attaches an `Edit` to the `Problem` (see
`planner/lint/model.py`): changes to scalars at YAML paths, or a missing key to add, and
whether the edit is safe. Which rules do, and why each edit is safe or unsafe:

  EP201 precision-unsupported  precision -> the highest-fidelity precision (fp32, fp16, int8,
        int4, in that order) the unit runs and the model's profile has: the fix message's
        first option. Safe: the manifest did not run at all, and nothing else changes. Unsafe
        when a stated `technique:` has no option at that precision and must change as well.
  EP401 runtime-unavailable    unit: -> the one unit of the device that runs the stated
        runtime at the stated precision. Safe when `unit:` was left out (the default unit,
        the first that runs the precision, is not the one the runtime needs, so the manifest
        did not run); unsafe when a stated `unit:` contradicts the runtime (which of the two
        was meant is a choice) or several units would do.
  EP202 fp32-on-accelerator    precision -> the first recommended precision, and on the
        host-CPU fallback (FP32 with no `unit:` on a Coral runs on the host CPU) `unit:` ->
        the accelerator, with the technique and runtime that go with them. Always unsafe: the
        manifest runs as written, and the edit changes what it computes (accuracy, INT8
        calibration) and where.

Only findings that are reported are fixed: a suppressed or baselined finding keeps its text.

The edits are made in the text, not by re-emitting the YAML: each change replaces the bytes
of one scalar (in its quoting style) or adds one `key: value` line (or `, key: value` in a
flow mapping) next to its siblings, at the positions PyYAML's composer records for every
node. Comments, key order, quoting, indentation, blank lines and line endings stay
byte-for-byte. (Round-trip emitters such as ruamel.yaml re-emit the whole document: they
re-indent sequences, re-wrap long flow mappings and rewrite `[{id: x}]` as `[id: x]`.) The
result is parsed again and must equal the old data with exactly the edit applied, or the
file is left alone. A node behind an anchor or alias, or in a mapping with a merge key
(`<<:`), is not edited: the change would reach other places.

The library writes nothing: `plan_fixes` returns each file's old and new text, and the CLI
writes it atomically.
"""
from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field

import yaml

from planner.errors import EdgeplanError
from planner.lint.model import Change, Edit, LintReport
from planner.lint.targets import expand_targets

_BOM = "\ufeff"
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
# plain scalars YAML 1.1 (PyYAML) reads as something other than a string
_NOT_STR = re.compile(r"(?i:y|yes|n|no|true|false|on|off|null|~|\.inf|\.nan)")


@dataclass
class Applied:
    """One finding's edit, applied (or, for --diff, to be applied)."""
    rule: str
    path: str            # dotted YAML path, as in the finding
    line: int | None
    what: str            # "precision: fp32 -> int8, unit: + tpu"
    safe: bool


@dataclass
class FileFix:
    """One file: its text before and after the edits, what was applied and what not."""
    path: str                    # where it is read and written
    name: str                    # how reports name it
    before: str                  # decoded, without a BOM
    after: str
    bom: bool = False
    applied: list[Applied] = field(default_factory=list)
    unsafe_skipped: list[Applied] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # edits that could not be made

    @property
    def changed(self) -> bool:
        return self.after != self.before

    def data(self) -> bytes:
        """The new contents, encoded as the old ones were."""
        return ((_BOM if self.bom else "") + self.after).encode("utf-8")

    def diff(self) -> str:
        """A unified diff (`patch -p0` applies it from the directory lint ran in)."""
        a, b = self.before.splitlines(keepends=True), self.after.splitlines(keepends=True)
        out = []
        for line in difflib.unified_diff(a, b, self.name, self.name):
            out.append(line)
            if not line.endswith("\n"):
                out.append("\n\\ No newline at end of file\n")
        return "".join(out)


class _CannotFix(Exception):
    pass


# ---------------------------------------------------------------- planning the fixes

def plan_fixes(report: LintReport, paths, *, unsafe: bool = False,
               cwd: str | None = None) -> list[FileFix]:
    """The edits of the report's findings, file by file (files without an edit are left
    out); what is suppressed or baselined is not in the report's findings, so not fixed."""
    by_file: dict[str, list] = {}
    for f in report.findings:
        by_file.setdefault(f.file, []).append(f)
    out = []
    for t in expand_targets(paths, cwd=cwd):
        findings = by_file.get(t.name)
        if t.path == "-" or not findings:
            continue
        fx = _plan_file(t, findings, unsafe)
        if fx is not None and (fx.applied or fx.unsafe_skipped or fx.notes):
            out.append(fx)
    return out


def _plan_file(target, findings, unsafe: bool) -> FileFix | None:
    from planner.yamlio import loads_yaml
    try:
        with open(target.path, "rb") as f:
            raw = f.read().decode("utf-8")
        bom = raw.startswith(_BOM)
        text = raw[1:] if bom else raw
        data, _ = loads_yaml(text, target.name)
    except (OSError, UnicodeDecodeError, EdgeplanError):
        return None                       # changed since it was linted: lint it again
    # the rules attached their certain fixes to the findings (suppressed and baselined
    # findings are not in the report, so they are not fixed)
    edits = [(Applied(f.rule, f.path, f.line, _describe(f.edit, data), f.edit.safe), f.edit)
             for f in findings if f.edit is not None]
    edits.sort(key=lambda e: (e[0].line or 0, e[0].rule, e[0].path))
    fx = FileFix(target.path, target.name, text, text, bom)
    if not edits:
        return fx
    root = yaml.compose(text, Loader=yaml.SafeLoader)   # pure Python: marks index characters
    taken: set[tuple] = set()
    chosen: list[Change] = []
    for a, e in edits:
        if not (e.safe or unsafe):
            fx.unsafe_skipped.append(a)
            continue
        paths = {c.path for c in e.changes}
        if paths & taken:
            fx.notes.append(f"{a.rule} at {a.path}: another fix changes the same value; "
                            "run --fix again")
            continue
        try:
            for c in e.changes:
                _splice_of(root, text, c)     # can it be made? (positions are recomputed)
        except _CannotFix as why:
            fx.notes.append(f"cannot fix {a.rule} at {a.path}: {why}")
            continue
        taken |= paths
        chosen.extend(e.changes)
        fx.applied.append(a)
    if not chosen:
        return fx
    try:
        fx.after = _apply(root, text, chosen, data, target.name)
    except _CannotFix as why:
        fx.notes.append(f"cannot fix {target.name}: {why}")
        fx.applied = []
    return fx


def _describe(edit: Edit, data) -> str:
    parts = []
    for c in edit.changes:
        key = c.path[-1]
        if c.insert:
            parts.append(f"{key}: + {c.value}")
        else:
            old = _get(data, c.path)
            parts.append(f"{key}: {'null' if old is None else old} -> {c.value}")
    return ", ".join(parts)


def _get(data, path):
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


# ---------------------------------------------------------------- editing the text

_MERGE = "tag:yaml.org,2002:merge"


def _child(node, part):
    if isinstance(node, yaml.MappingNode):
        if any(k.tag == _MERGE for k, _ in node.value):
            raise _CannotFix("the mapping has a merge key (<<)")
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                return v
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
            and 0 <= part < len(node.value):
        return node.value[part]
    return None


def _walk(root, path) -> list:
    """The nodes from the root to `path` (None where the path leaves the document)."""
    nodes, node = [root], root
    for part in path:
        node = _child(node, part) if node is not None else None
        nodes.append(node)
    return nodes


def _shared(root) -> set[int]:
    """Ids of nodes reached more than once (an anchor and its aliases)."""
    seen, shared, stack = set(), set(), [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            shared.add(id(n))
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            stack.extend(x for kv in n.value for x in kv)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return shared


def _render(value, style: str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    s = str(value)
    if style == "'":
        return "'" + s.replace("'", "''") + "'"
    if style is None and _PLAIN.fullmatch(s) and not _NOT_STR.fullmatch(s):
        return s
    import json
    return json.dumps(s)                 # a JSON string is a double-quoted YAML scalar


def _splice_of(root, text: str, c: Change) -> tuple[int, int, str]:
    """(start, end, new text) that makes the change in `text`."""
    nodes = _walk(root, c.path)
    shared = _shared(root)
    if any(n is not None and id(n) in shared for n in nodes):
        raise _CannotFix("the value is behind an anchor or alias")
    parent, node = nodes[-2], nodes[-1]
    nl = "\r\n" if "\r\n" in text else "\n"
    if not c.insert:
        if not isinstance(node, yaml.ScalarNode):
            raise _CannotFix("the value to change is not a scalar")
        if node.style not in (None, "'", '"') or node.start_mark.line != node.end_mark.line:
            raise _CannotFix("the value spans lines")
        start, end = node.start_mark.index, node.end_mark.index
        new = _render(c.value, node.style)
        if start == end:                 # `key:` with nothing after it
            new = " " + new
        return start, end, new
    if node is not None:
        raise _CannotFix(f"{c.path[-1]} is there already")
    if not isinstance(parent, yaml.MappingNode) or not parent.value:
        raise _CannotFix("there is no mapping to add the key to")
    entry = f"{_render(str(c.path[-1]), None)}: {_render(c.value, None)}"
    last = parent.value[-1][1]
    if parent.flow_style:
        return last.end_mark.index, last.end_mark.index, ", " + entry
    while isinstance(last, (yaml.MappingNode, yaml.SequenceNode)) and not last.flow_style \
            and last.value:
        last = last.value[-1][1] if isinstance(last, yaml.MappingNode) else last.value[-1]
    if isinstance(last, yaml.ScalarNode) and last.style in ("|", ">"):
        raise _CannotFix("the mapping ends in a block scalar")
    indent = parent.value[0][0].start_mark.column
    at = text.find("\n", last.end_mark.index)
    if at < 0:                           # the last line has no newline
        return len(text), len(text), nl + " " * indent + entry
    return at + 1, at + 1, " " * indent + entry + nl


def _apply(root, text: str, changes: list[Change], data, name: str) -> str:
    """The text with every change made; it must parse to the old data with exactly these
    changes."""
    from planner.yamlio import loads_yaml
    spans = sorted(((*_splice_of(root, text, c), k) for k, c in enumerate(changes)),
                   key=lambda s: (s[0], s[3]), reverse=True)
    prev_start = None
    for start, end, new, _ in spans:
        if prev_start is not None and end > prev_start:
            raise _CannotFix("two changes overlap")
        text = text[:start] + new + text[end:]
        prev_start = start
    expected = copy.deepcopy(data)
    for c in changes:
        parent = _get(expected, c.path[:-1])
        parent[c.path[-1]] = c.value
    try:
        got, _ = loads_yaml(text, name)
    except EdgeplanError as e:
        raise _CannotFix(f"the edited text would not parse ({e.message})") from None
    if got != expected:
        raise _CannotFix("the edited text would read differently from the edit")
    return text
