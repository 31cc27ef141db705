"""Baselines: adopt lint in a repository that already has findings, and fail only on new ones.

`edgeplan lint --write-baseline .edgeplan-baseline.json deploy/` records every current finding
by file, YAML path and rule id, never by line number, so moving a block (or editing around it)
keeps it baselined; a workload is named by its `name`, not its position. `--baseline FILE`
then reports only findings the baseline does not hold, and lists baselined findings that are
gone, so the baseline can shrink (`--strict-baseline` fails on them). File paths are stored
relative to the baseline file, so the same baseline works from any working directory.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass

from planner.errors import InputError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class BaselineEntry:
    file: str           # relative to the baseline file's directory, with /
    path: str           # dotted YAML path (workloads by name)
    rule: str
    count: int = 1      # findings with this key (a rule may flag one place more than once)

    def as_dict(self) -> dict:
        return {"file": self.file, "path": self.path, "rule": self.rule, "count": self.count}


def _key_file(finding_file: str, base_dir: str) -> str:
    if finding_file == "<stdin>" or finding_file == "-":
        return finding_file
    rel = os.path.relpath(os.path.abspath(finding_file), base_dir)
    return rel.replace(os.sep, "/")


def baseline_text(report, baseline_path: str) -> str:
    """The baseline of a report's findings (suppressed ones are not baselined: the source
    already says why), as JSON text, sorted."""
    base_dir = os.path.dirname(os.path.abspath(baseline_path))
    counts = Counter((_key_file(f.file, base_dir), f.path, f.rule) for f in report.findings)
    entries = [BaselineEntry(file, path, rule, n).as_dict()
               for (file, path, rule), n in sorted(counts.items())]
    return json.dumps({"version": FORMAT_VERSION, "tool": "edgeplan", "findings": entries},
                      indent=2) + "\n"


def load_baseline(path: str) -> list[BaselineEntry]:
    """Read a baseline file; a missing, unreadable or malformed one is an InputError naming
    the file and the entry."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError("baseline file does not exist (write one with --write-baseline)",
                         file=path, field="--baseline") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read baseline: {e}", file=path, field="--baseline") from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", file=path, line=e.lineno,
                         column=e.colno) from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or \
            not isinstance(data.get("findings"), list):
        raise InputError(f"not an edgeplan baseline (expected version {FORMAT_VERSION} and a "
                         "findings list)", file=path)
    out = []
    for i, e in enumerate(data["findings"]):
        ok = isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("file", "path",
                                                                              "rule"))
        count = e.get("count", 1) if isinstance(e, dict) else None
        if not ok or not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InputError("each entry needs file, path and rule (strings) and a count >= 1",
                             file=path, field=f"findings[{i}]")
        out.append(BaselineEntry(e["file"], e["path"], e["rule"], count))
    return out


def apply_baseline(report, entries: list[BaselineEntry], baseline_path: str) -> None:
    """Move the findings the baseline holds from `report.findings` to `report.baselined`,
    and list the baselined findings that no longer occur in `report.stale_baseline`. Only
    entries for the files this run linted can be stale."""
    base_dir = os.path.dirname(os.path.abspath(baseline_path))
    left = Counter()
    for e in entries:
        left[(e.file, e.path, e.rule)] += e.count
    kept, baselined = [], []
    for f in report.findings:
        k = (_key_file(f.file, base_dir), f.path, f.rule)
        if left[k] > 0:
            left[k] -= 1
            baselined.append(f)
        else:
            kept.append(f)
    linted = {_key_file(f, base_dir) for f in report.files}
    report.findings = kept
    report.baselined = baselined
    report.stale_baseline = [BaselineEntry(file, path, rule, n)
                             for (file, path, rule), n in sorted(left.items())
                             if n > 0 and file in linted]
