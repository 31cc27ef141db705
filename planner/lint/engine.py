"""The lint engine: find the documents, parse them, run the rules, apply suppressions and
select/ignore, and decide the exit code. Rules live one per module (`rules/ep101.py`, ...) and
are listed in `rules.RULES`; output formats live in `formats.py`.

What it reads: deployment manifests (`apiVersion: edgeplan/v1`, `kind: Deployment`) and specs
(`kind: Spec`). Paths may be files, directories (searched recursively) and globs. A file named
on the command line is always linted; in directories and globs only files that say they are
edgeplan documents are (so `edgeplan lint .` skips CI workflows and catalog files).

Every number a rule uses comes from the estimator (`planner.estimate`), the same one `solve`
uses, so a plan `solve` emits lints clean and an option it rejects is flagged by the rule whose
`solver_reason` names the rejection.

The library never prints or exits: `lint_paths` returns a `LintReport` whose `exit_code`
the CLI passes on. Heavy modules (ortools, onnx, onnxruntime, numpy) are never imported here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from planner.catalog.loader import load_catalog
from planner.errors import EdgeplanError, InputError
from planner.lint.baseline import apply_baseline, load_baseline
from planner.lint.context import ManifestContext, SpecContext, dotted_path
from planner.lint.model import ALWAYS_ON, SEVERITIES, Finding, LintReport, Notice
from planner.lint.select import enabled_rules, registry
from planner.lint.suppressions import Suppression, parse_suppressions
from planner.lint.targets import _EDGEPLAN_DOC, Target, expand_targets

# ---------------------------------------------------------------- linting one document

def classify(data) -> str | None:
    """manifest | spec | None, from apiVersion/kind (and the shape when kind is missing)."""
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    api = data.get("apiVersion")
    if kind == "Deployment":
        return "manifest"
    if kind == "Spec":
        return "spec"
    if kind is None and isinstance(api, str) and api.startswith("edgeplan/"):
        return "manifest" if isinstance(data.get("devices"), list) else "spec"
    if kind is None and api is None:
        # a spec may leave out both (they default): workloads that name tasks or models
        ws = data.get("workloads")
        if isinstance(ws, list) and ws and all(
                isinstance(w, dict) and "device" not in w and
                ({"task", "models", "model_files"} & set(w)) for w in ws):
            return "spec"
    return None


@dataclass
class _Doc:
    file: str
    findings: list = field(default_factory=list)  # (rule_id, path, message, fix, line, col, edit)
    notices: list = field(default_factory=list)
    suppressions: list = field(default_factory=list)
    data: object = None
    pos: object = None
    linted: bool = False


def _invalid(doc: _Doc, err: EdgeplanError | str, line=None, col=None):
    if isinstance(err, EdgeplanError):
        msg = (f"{err.field}: " if err.field else "") + err.message
        line, col = err.line, err.column
    else:
        msg = err
    doc.findings.append(("EP001", (), msg, None, line or 1, col or 1, None))


def _read_text(target: Target, doc: _Doc, stdin_text: str | None) -> str | None:
    from planner.yamlio import MAX_FILE_BYTES
    if target.path == "-":
        return stdin_text or ""
    try:
        size = os.path.getsize(target.path)
        if size > MAX_FILE_BYTES:
            _invalid(doc, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
            return None
        with open(target.path, "rb") as f:
            raw = f.read()
    except OSError as e:
        _invalid(doc, f"cannot read: {e.strerror or e}")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        _invalid(doc, "not UTF-8 text")
        return None


def _looks_like_spec(text: str, name: str) -> bool:
    """A YAML file without `apiVersion`/`kind` that has a spec's shape (what `solve` reads):
    lint skips it in a directory or glob, and says so (`LintReport.skipped_specs`)."""
    from planner.yamlio import loads_yaml
    try:
        data, _ = loads_yaml(text, name)
    except EdgeplanError:
        return False
    return isinstance(data, dict) and classify(data) == "spec"


def lint_document(target: Target, catalog_loader, rule_ids: list[str], *,
                  skip_other: bool = False, stdin_text: str | None = None,
                  feasibility=None, skipped_specs: list | None = None) -> _Doc | None:
    """Parse and check one file. Returns None when the file is skipped (not an edgeplan
    document in a directory or glob, or with skip_other)."""
    from planner.yamlio import loads_yaml
    doc = _Doc(target.name)
    text = _read_text(target, doc, stdin_text)
    if text is None:
        return doc
    may_skip = skip_other or not target.explicit
    if may_skip and not _EDGEPLAN_DOC.search(text):
        if skipped_specs is not None and _looks_like_spec(text, target.name):
            skipped_specs.append(target.name)
        return None
    try:
        data, pos = loads_yaml(text, target.name)
    except EdgeplanError as e:
        _invalid(doc, e)
        return doc
    kind = classify(data)
    if kind is None:
        if may_skip:
            return None
        _invalid(doc, "not an edgeplan manifest or spec: expected `apiVersion: edgeplan/v1` "
                 "and `kind: Deployment` or `kind: Spec`")
        return doc
    doc.data, doc.pos = data, pos
    doc.suppressions = parse_suppressions(text, target.name, doc.notices)
    base_dir = os.path.dirname(os.path.abspath(target.path)) if target.path != "-" \
        else os.getcwd()
    try:
        if kind == "manifest":
            from planner.manifest import parse_manifest
            parsed = parse_manifest(data, pos)
        else:
            from planner.spec import parse_spec
            parsed = parse_spec(data, pos)
    except EdgeplanError as e:
        _invalid(doc, e)
        return doc
    catalog = catalog_loader()
    if kind == "manifest":
        ctx = ManifestContext(target.name, text, data, pos, catalog, base_dir, manifest=parsed)
    else:
        ctx = SpecContext(target.name, text, data, pos, catalog, base_dir, spec=parsed,
                          feasibility=feasibility)
    rules = registry()
    for rid in rule_ids:
        cls = rules[rid]
        if kind not in cls.applies_to:
            continue
        try:
            for p in cls.check(ctx):
                line, col = pos.locate(p.path)
                doc.findings.append((rid, tuple(p.path), p.message, p.fix, line, col, p.edit))
        except Exception as e:          # a bug in one rule must not hide the others' findings
            if os.environ.get("EDGEPLAN_DEBUG"):
                raise
            doc.notices.append(Notice(target.name, None, None,
                                      f"internal error in rule {rid} ({type(e).__name__}: {e}); "
                                      "please report it (EDGEPLAN_DEBUG=1 shows the traceback)"))
    doc.linted = True
    return doc


def _fingerprint(rule: str, file: str, logical: str, n: int) -> str:
    import hashlib
    h = hashlib.sha256(f"{rule}\x00{file}\x00{logical}\x00{n}".encode()).hexdigest()
    return h[:32]


# ---------------------------------------------------------------- the entry point

def lint_paths(paths, *, select=None, ignore=(), fail_on: str = "error", catalog=None,
               catalog_dirs=(), builtin_catalog: bool = True, skip_other: bool = False,
               stdin_text: str | None = None, cwd: str | None = None,
               severity: dict[str, str] | None = None, baseline: str | None = None,
               strict_baseline: bool = False, feasibility=None) -> LintReport:
    """Lint files, directories and globs. `catalog` (a loaded Catalog) wins over
    `catalog_dirs`; the catalog is loaded once, and only when a document needs it.
    `severity`: rule id -> severity overriding the rule's own (the config's `severity:`).
    `baseline`: a baseline file whose findings are not reported (see `lint.baseline`).
    `feasibility`: (spec, catalog, base_dir) -> None when a plan exists, else `solve`'s
    explanation (conflict sets and smallest corrections); EP105 runs it on specs, and is skipped without one (lint
    never imports the solver; the CLI passes `planner.cli.lint_cmd.spec_feasibility`).
    Raises InputError for usage problems (no such path, unknown rule id, nothing to lint)."""
    if fail_on not in SEVERITIES:
        raise InputError(f"fail-on must be one of {', '.join(SEVERITIES)}, got {fail_on!r}",
                         field="--fail-on")
    rule_ids = enabled_rules(select, ignore)
    targets = expand_targets(paths, cwd=cwd)
    loaded: list = [catalog]

    def catalog_loader():
        if loaded[0] is None:
            loaded[0] = load_catalog(catalog_dirs, builtin=builtin_catalog)
        return loaded[0]

    docs, skipped_specs = [], []
    for t in targets:
        d = lint_document(t, catalog_loader, rule_ids, skip_other=skip_other,
                          stdin_text=stdin_text, feasibility=feasibility,
                          skipped_specs=skipped_specs)
        if d is not None:
            docs.append(d)
    if not docs and not skip_other:
        where = ", ".join(str(p) for p in paths) or "."
        raise InputError(f"no edgeplan manifests or specs found in {where}", field="PATHS")
    report = _assemble(docs, rule_ids, fail_on, severity or {})
    report.skipped_specs = skipped_specs
    if baseline is not None:
        apply_baseline(report, load_baseline(baseline), baseline)
        report.strict_baseline = strict_baseline
    if loaded[0] is not None and catalog is None:
        report.catalog_notices = list(loaded[0].notices)
    return report


def _assemble(docs: list[_Doc], rule_ids: list[str], fail_on: str,
              severity: dict[str, str]) -> LintReport:
    rules = registry()
    findings, suppressed, notices = [], [], []
    for doc in docs:
        line_paths: dict[int, set] = {}
        if doc.pos is not None:
            for p, (ln, _) in doc.pos.where.items():
                line_paths.setdefault(ln, set()).add(p)
        counter: dict[tuple, int] = {}
        for rid, path, msg, fix, line, col, edit in doc.findings:
            cls = rules[rid]
            logical = dotted_path(path, doc.data)
            n = counter.get((rid, logical), 0)
            counter[(rid, logical)] = n + 1
            f = Finding(rid, cls.name, severity.get(rid, cls.severity), msg, fix, doc.file,
                        line, col, logical,
                        _fingerprint(rid, doc.file, logical, n), edit=edit)
            s = _suppression_for(doc, rid, path, line, line_paths)
            if s is not None:
                s.used.add(rid)
                f.suppressed = s.reason or ""
                suppressed.append(f)
            else:
                findings.append(f)
        notices.extend(doc.notices)
        if doc.linted:
            for s in doc.suppressions:
                for rid in s.rules:
                    if rid in rule_ids and rid not in s.used:
                        notices.append(Notice(doc.file, s.line, s.column,
                                              f"suppression of {rid} suppresses nothing"))
    key = (lambda f: (f.file, f.line or 0, f.column or 0, f.rule, f.message))
    findings.sort(key=key)
    suppressed.sort(key=key)
    notices.sort(key=lambda n: (n.file, n.line or 0, n.column or 0, n.message))
    return LintReport(findings, suppressed, notices, [d.file for d in docs], rule_ids, fail_on,
                      severity_overrides=dict(severity))


def _suppression_for(doc: _Doc, rid: str, path: tuple, line: int | None,
                     line_paths: dict[int, set]) -> Suppression | None:
    if rid in ALWAYS_ON:
        return None
    prefixes = {path[:k] for k in range(len(path) + 1)}
    for s in doc.suppressions:
        if rid not in s.rules:
            continue
        if s.target_line is None:
            return s
        if s.target_line == line or (line_paths.get(s.target_line, set()) & prefixes - {()}):
            return s
    return None
