"""Output formats of `edgeplan lint`, one function each, all pure (report in, text out):

text    `file:line:col: ID severity message`, then `  fix: ...`, notices, a summary line
json    findings, suppressed findings, notices and counts, for scripts
sarif   SARIF 2.1.0: one run, one rule per registry entry, one result per finding (in-source
        suppressions carried as `suppressions`), stable `partialFingerprints`
github  `::error file=...,line=...,col=...,title=...::message` workflow commands (GitHub caps
        annotations per step, so the text report follows them)
"""
from __future__ import annotations

import json

from planner import version

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/edgeplan/edgeplan"
FINGERPRINT_KEY = "edgeplan/v1"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def render(report, fmt: str) -> str:
    if fmt not in FORMATS:
        from planner.errors import InputError
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}",
                         field="--format")
    return {"text": text, "json": as_json, "sarif": sarif, "github": github}[fmt](report)


def _where(file: str, line, col) -> str:
    out = file
    if line is not None:
        out += f":{line}"
        if col is not None:
            out += f":{col}"
    return out


# ---------------------------------------------------------------- text

def summary(report) -> str:
    c = report.counts()
    n_files = len(report.files)
    files = f"{n_files} file{'s' if n_files != 1 else ''}"
    if not report.findings:
        line = f"no findings in {files}"
    else:
        parts = [f"{c[s]} {s}{'s' if c[s] != 1 and s != 'info' else ''}"
                 for s in ("error", "warning", "info") if c[s]]
        line = f"{', '.join(parts)} in {files}"
    if report.suppressed:
        line += f" ({len(report.suppressed)} suppressed)"
    return line


def text(report) -> str:
    lines = []
    for f in report.findings:
        lines.append(f"{_where(f.file, f.line, f.column)}: {f.rule} {f.severity} {f.message}")
        if f.fix:
            lines.append(f"  fix: {f.fix}")
    for n in report.notices:
        lines.append(f"{_where(n.file, n.line, n.column)}: note: {n.message}")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- json

def as_json(report) -> str:
    data = {
        "version": 1,
        "files": report.files,
        "findings": [f.as_dict() for f in report.findings],
        "suppressed": [f.as_dict() for f in report.suppressed],
        "notices": [n.as_dict() for n in report.notices],
        "counts": report.counts(),
        "fail_on": report.fail_on,
        "exit_code": report.exit_code,
    }
    return json.dumps(data, indent=2) + "\n"


# ---------------------------------------------------------------- sarif

def sarif_rules() -> list[dict]:
    from planner.lint.select import registry
    out = []
    for rid, cls in sorted(registry().items()):
        doc = cls.doc()
        props = {"tags": [cls.name.split("-")[0], f"prefix:{rid[:3]}xx"]}
        if cls.solver_reason:
            props["solverReason"] = cls.solver_reason
        if cls.aliases:
            props["aliases"] = list(cls.aliases)
        out.append({
            "id": rid,
            "name": "".join(p.capitalize() for p in cls.name.split("-")),
            "shortDescription": {"text": cls.short()},
            "fullDescription": {"text": doc},
            "help": {"text": doc, "markdown": f"**{rid} {cls.name}**\n\n{doc}"},
            "defaultConfiguration": {"level": _SARIF_LEVEL[cls.severity]},
            "properties": props,
        })
    return out


def _result(f, index: dict) -> dict:
    msg = f.message + (f" Fix: {f.fix}" if f.fix else "")
    region = {}
    if f.line is not None:
        region["startLine"] = f.line
        if f.column is not None:
            region["startColumn"] = f.column
    loc = {"physicalLocation": {"artifactLocation": _artifact(f.file)}}
    if region:
        loc["physicalLocation"]["region"] = region
    if f.path:
        loc["logicalLocations"] = [{"fullyQualifiedName": f.path, "kind": "member"}]
    res = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": _SARIF_LEVEL[f.severity],
        "message": {"text": msg},
        "locations": [loc],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
    }
    if f.suppressed is not None:
        s = {"kind": "inSource", "status": "accepted"}
        if f.suppressed:
            s["justification"] = f.suppressed
        res["suppressions"] = [s]
    return res


def _artifact(path: str) -> dict:
    """A relative path is relative to the repository root (%SRCROOT%), as code scanning
    expects; an absolute one becomes a file: URI."""
    import os
    from pathlib import Path
    from urllib.parse import quote
    if path == "-":
        return {"uri": "stdin"}
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"}


def sarif(report) -> str:
    rules = sarif_rules()
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = [_result(f, index) for f in report.findings + report.suppressed]
    results.sort(key=lambda r: (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                                r["locations"][0]["physicalLocation"].get("region", {})
                                .get("startLine", 0), r["ruleId"]))
    notes = []
    for n in report.notices:
        note = {"level": "note", "message": {"text": n.message}}
        if n.file:
            loc = {"physicalLocation": {"artifactLocation": _artifact(n.file)}}
            if n.line:
                loc["physicalLocation"]["region"] = {"startLine": n.line,
                                                     **({"startColumn": n.column}
                                                        if n.column else {})}
            note["locations"] = [loc]
        notes.append(note)
    invocation = {"executionSuccessful": True, "exitCode": report.exit_code}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "edgeplan", "version": version(),
                                "informationUri": INFORMATION_URI, "rules": rules}},
            "invocations": [invocation],
            "artifacts": [{"location": _artifact(f)} for f in report.files],
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(doc, indent=2) + "\n"


# ---------------------------------------------------------------- github

def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def github(report) -> str:
    lines = []
    for f in report.findings:
        props = [f"file={_gh_prop(f.file)}"]
        if f.line is not None:
            props.append(f"line={f.line}")
            if f.column is not None:
                props.append(f"col={f.column}")
        props.append(f"title={_gh_prop(f'{f.rule} {f.name}')}")
        msg = f.message + (f"\nfix: {f.fix}" if f.fix else "")
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::{_gh_data(msg)}")
    return "\n".join(lines) + ("\n" if lines else "") + text(report)
