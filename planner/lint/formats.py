"""Output formats of `edgeplan lint`, one function each, all pure (report in, text out):

text    `file:line:col: ID severity message`, then `  fix: ...`, notices, a summary line
json    findings, suppressed findings, notices and counts, for scripts
sarif   SARIF 2.1.0: one run, one rule per registry entry, one result per finding (in-source
        suppressions carried as `suppressions`), stable `partialFingerprints`
github  `::error file=...,line=...,col=...,title=...::message` workflow commands (GitHub caps
        annotations per step, so the text report follows them)
junit   JUnit XML (GitLab, Jenkins, Azure DevOps): a <testsuite> per file, a <testcase> per
        finding; a finding at or above --fail-on is a <failure> (EP001, a document that cannot
        be read, an <error>), one below it passes with the finding in <system-out>, a
        suppressed one is <skipped>; a file without findings has one passing <testcase>
gitlab  GitLab Code Quality JSON: an array of issues (description, check_name, fingerprint,
        severity, location); severities error -> major (EP001 -> critical), warning -> minor,
        info -> info; suppressed findings are left out

Every format is deterministic: the same files give the same bytes (no times, no host names).
"""
from __future__ import annotations

import json

from planner import version
from planner.lint.model import ALWAYS_ON, SEVERITY_RANK

FORMATS = ("text", "json", "sarif", "github", "junit", "gitlab")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/edgeplan/edgeplan"
FINGERPRINT_KEY = "edgeplan/v1"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
_GITLAB_SEVERITY = {"error": "major", "warning": "minor", "info": "info"}
_GITLAB_UNREADABLE = "critical"      # EP001: the document could not be read, parsed or validated


def render(report, fmt: str) -> str:
    if fmt not in FORMATS:
        from planner.errors import InputError
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}",
                         field="--format")
    return {"text": text, "json": as_json, "sarif": sarif, "github": github, "junit": junit,
            "gitlab": gitlab}[fmt](report)


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

def rule_help_uri(rule_id: str) -> str:
    """The rule's documentation page in the repository, `docs/rules/<ID>.md`."""
    return f"{INFORMATION_URI}/blob/main/docs/rules/{rule_id}.md"


def sarif_rules(report=None) -> list[dict]:
    """One descriptor per registry entry; with a report, each default level is the rule's
    severity in that run (the config's `severity:` override, else the rule's own)."""
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
            "helpUri": rule_help_uri(rid),
            "help": {"text": doc, "markdown": f"**{rid} {cls.name}**\n\n{doc}"},
            "defaultConfiguration": {"level": _SARIF_LEVEL[
                report.severity_of(cls) if report is not None else cls.severity]},
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
    rules = sarif_rules(report)
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


# ---------------------------------------------------------------- junit

def _xml_text(s: str) -> str:
    """XML 1.0 cannot carry most control characters, even escaped: show them as U+FFFD."""
    return "".join(c if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd"
                   or c >= "\U00010000" else "\ufffd" for c in s)


def _finding_body(f) -> str:
    lines = [f"{_where(f.file, f.line, f.column)}: {f.rule} {f.severity} {f.message}"]
    if f.fix:
        lines.append(f"fix: {f.fix}")
    if f.path:
        lines.append(f"path: {f.path}")
    lines.append(f"rule: {f.rule} {f.name} ({rule_help_uri(f.rule)})")
    return _xml_text("\n".join(lines) + "\n")


def _testcase_name(f) -> str:
    return _xml_text(f"{f.rule} {f.name}" + (f" {f.path}" if f.path else ""))


def junit(report) -> str:
    """JUnit XML, one <testsuite> per linted file. The report's --fail-on decides what fails,
    so the XML agrees with the exit code: a finding at or above it is a <failure> (an EP001
    finding, a document that cannot be read, parsed or validated, is an <error>); one below
    it is a passing <testcase> with the finding in <system-out>; a suppressed finding is
    <skipped> with the reason; a file with no findings has one passing <testcase>."""
    import xml.etree.ElementTree as ET
    floor = SEVERITY_RANK[report.fail_on]
    files = list(report.files)
    extra = {f.file for f in report.findings + report.suppressed} | {n.file for n in
                                                                      report.notices}
    files += sorted(x for x in extra - set(files) if x)
    linted = set(report.files)
    root = ET.Element("testsuites", {"name": "edgeplan lint"})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for file in files:
        cls = _xml_text(file)
        suite = ET.SubElement(root, "testsuite", {"name": cls})
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", {"name": "fail-on", "value": report.fail_on})
        findings = [f for f in report.findings if f.file == file]
        suppressed = [f for f in report.suppressed if f.file == file]
        for f in findings + suppressed:
            case = ET.SubElement(suite, "testcase", {"name": _testcase_name(f), "classname": cls})
            counts["tests"] += 1
            attrs = {"message": _xml_text(f.message), "type": f"{f.rule} {f.severity}"}
            if f.suppressed is not None:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", {
                    "message": _xml_text("suppressed in source"
                                         + (f": {f.suppressed}" if f.suppressed else ""))})
                ET.SubElement(case, "system-out").text = _finding_body(f)
            elif f.rule in ALWAYS_ON:
                counts["errors"] += 1
                ET.SubElement(case, "error", attrs).text = _finding_body(f)
            elif SEVERITY_RANK[f.severity] >= floor:
                counts["failures"] += 1
                ET.SubElement(case, "failure", attrs).text = _finding_body(f)
            else:
                ET.SubElement(case, "system-out").text = _finding_body(f)
        if not findings and file in linted:
            ET.SubElement(suite, "testcase", {"name": "edgeplan lint", "classname": cls})
            counts["tests"] += 1
        notes = [f"{_where(n.file, n.line, n.column)}: note: {n.message}"
                 for n in report.notices if n.file == file]
        if notes:
            ET.SubElement(suite, "system-out").text = _xml_text("\n".join(notes) + "\n")
        for k, v in counts.items():
            suite.set(k, str(v))
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")


# ---------------------------------------------------------------- gitlab

def _gitlab_path(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def gitlab(report) -> str:
    """GitLab Code Quality: a JSON array of issues with the fields GitLab reads. Severity
    error -> major (EP001 -> critical), warning -> minor, info -> info; the fingerprint is the
    finding's own (stable across edits that do not move it to another rule, file or YAML
    path); an issue without a line is placed on line 1 (GitLab requires one). Suppressed
    findings are not issues and are left out."""
    issues = []
    for f in report.findings:
        issues.append({
            "description": f.message + (f" Fix: {f.fix}" if f.fix else ""),
            "check_name": f.rule,
            "fingerprint": f.fingerprint,
            "severity": _GITLAB_UNREADABLE if f.rule in ALWAYS_ON
            else _GITLAB_SEVERITY[f.severity],
            "location": {"path": _gitlab_path(f.file), "lines": {"begin": f.line or 1}},
        })
    issues.sort(key=lambda i: (i["location"]["path"], i["location"]["lines"]["begin"],
                               i["check_name"], i["fingerprint"]))
    return json.dumps(issues, indent=2) + "\n"
