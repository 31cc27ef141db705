"""What lint is made of: rules and the problems they yield, findings, notices and the
report. A leaf: every other lint module imports it, it imports none of them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from planner import exitcodes

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")     # most severe first


SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}




ALWAYS_ON = ("EP001",)          # an unreadable document cannot be ignored or suppressed


# ---------------------------------------------------------------- rules and findings

@dataclass(frozen=True)
class Change:
    """One change to a document: set the scalar at `path` (a path into the YAML, as a
    Problem's) to `value`; with `insert`, add the key `path[-1]`, missing so far, with `value`
    to the mapping at `path[:-1]`."""
    path: tuple
    value: str | int | float | bool
    insert: bool = False


@dataclass(frozen=True)
class Edit:
    """The fix as changes `edgeplan lint --fix` can make itself, all or none.

    safe  the fix is certain and keeps what the document means wherever it ran before
          (applied by --fix); an unsafe one changes what runs, or picks one of several
          answers (applied only with --unsafe-fixes). See planner/lint/fixes.py."""
    changes: tuple[Change, ...]
    safe: bool = True


@dataclass(frozen=True)
class Problem:
    """What a rule's `check` yields: where (a path into the YAML), what, and the fix (in
    words, and where lint can make it itself, as an `Edit`)."""
    path: tuple
    message: str
    fix: str | None = None
    edit: Edit | None = None


class Rule:
    """Base of every rule. A rule module defines one subclass with:

    id            stable id, grouped by prefix (EP1xx memory, EP2xx precision, ...)
    name          stable kebab-case name (also accepted by --select/--ignore)
    severity      error | warning | info
    solver_reason the reason `solve` gives when it rejects an option for the same cause, or None
    applies_to    the document kinds it checks: ("manifest",), ("spec",) or both
    aliases       old ids of a renamed rule (still accepted, never reused)
    check(ctx)    a pure generator of `Problem`s

    The class docstring is the user documentation: first line the short description, then the
    anti-pattern and the fix."""
    id: str = ""
    name: str = ""
    severity: str = "error"
    solver_reason: str | None = None
    applies_to: tuple[str, ...] = ("manifest",)
    aliases: tuple[str, ...] = ()

    @staticmethod
    def check(ctx) -> Iterator[Problem]:     # pragma: no cover - every rule overrides it
        return iter(())

    @classmethod
    def short(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0].strip()

    @classmethod
    def doc(cls) -> str:
        import textwrap
        text = cls.__doc__ or ""
        first, _, rest = text.partition("\n")
        return (first.strip() + "\n" + textwrap.dedent(rest)).strip()


@dataclass
class Finding:
    rule: str
    name: str
    severity: str
    message: str
    fix: str | None
    file: str
    line: int | None
    column: int | None
    path: str                    # dotted YAML path, workloads by name (stable across edits)
    fingerprint: str = ""
    suppressed: str | None = None   # the suppression's reason when suppressed in source
    edit: object = None             # the rule's certain fix (an Edit), for --fix; not output

    def as_dict(self) -> dict:
        d = {"rule": self.rule, "name": self.name, "severity": self.severity,
             "message": self.message, "fix": self.fix, "file": self.file, "line": self.line,
             "column": self.column, "path": self.path, "fingerprint": self.fingerprint}
        if self.suppressed is not None:
            d["suppressed"] = self.suppressed
        return d


@dataclass
class Notice:
    """Not a finding: an unused or malformed suppression, a skipped file."""
    file: str
    line: int | None
    column: int | None
    message: str

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column,
                "message": self.message}


@dataclass
class LintReport:
    findings: list[Finding]               # not suppressed, sorted by file, line, column, rule
    suppressed: list[Finding]
    notices: list[Notice]
    files: list[str]                      # documents linted
    rules: list[str]                      # rule ids that ran
    fail_on: str = "error"
    catalog_notices: list[str] = field(default_factory=list)   # e.g. a user entry overriding
    # rule id -> severity, where the config overrides a rule's own (findings carry it already)
    severity_overrides: dict[str, str] = field(default_factory=dict)
    baselined: list[Finding] = field(default_factory=list)   # held by --baseline, not reported
    stale_baseline: list = field(default_factory=list)       # baselined, no longer found
    strict_baseline: bool = False                            # stale entries fail the run
    # spec-shaped YAML without apiVersion/kind, skipped in a directory or glob
    skipped_specs: list[str] = field(default_factory=list)

    def severity_of(self, rule) -> str:
        """A rule's severity in this run: the config's override, else the rule's own."""
        return self.severity_overrides.get(rule.id, rule.severity)

    @property
    def exit_code(self) -> int:
        if any(f.rule in ALWAYS_ON for f in self.findings):
            return exitcodes.USAGE            # a file that cannot be read, parsed or validated
        floor = SEVERITY_RANK[self.fail_on]
        if any(SEVERITY_RANK[f.severity] >= floor for f in self.findings):
            return exitcodes.FINDINGS
        if self.strict_baseline and self.stale_baseline:
            return exitcodes.FINDINGS         # the baseline must shrink with the fixes
        return exitcodes.OK

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            out[f.severity] += 1
        return out
