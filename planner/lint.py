"""The lint engine: find the documents, parse them, run the rules, apply suppressions and
select/ignore, and decide the exit code. Rules live one per module (`rule_ep101.py`, ...) and
are listed in `lint_rules.RULES`; output formats live in `lint_output.py`.

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
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterator

from . import exitcodes
from .errors import EdgeplanError, InputError

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")     # most severe first
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
DOC_KINDS: tuple[str, ...] = ("manifest", "spec")
CONFIG_FILE = ".edgeplan.yaml"
ALWAYS_ON = ("EP001",)          # an unreadable document cannot be ignored or suppressed
_CONFIG_KEYS = ("select", "ignore", "fail-on", "format", "catalog")


# ---------------------------------------------------------------- rules and findings

@dataclass(frozen=True)
class Problem:
    """What a rule's `check` yields: where (a path into the YAML), what, and the fix."""
    path: tuple
    message: str
    fix: str | None = None


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

    @property
    def exit_code(self) -> int:
        if any(f.rule in ALWAYS_ON for f in self.findings):
            return exitcodes.USAGE            # a file that cannot be read, parsed or validated
        floor = SEVERITY_RANK[self.fail_on]
        if any(SEVERITY_RANK[f.severity] >= floor for f in self.findings):
            return exitcodes.FINDINGS
        return exitcodes.OK

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            out[f.severity] += 1
        return out


# ---------------------------------------------------------------- the registry, by selector

def registry() -> dict:
    from .lint_rules import RULES
    return RULES


def get_rule(rule_id: str):
    """The rule class for an id, alias or name; an unknown one raises with a did-you-mean."""
    rules = registry()
    key = rule_id.strip()
    if key.upper() in rules:
        return rules[key.upper()]
    for cls in rules.values():
        if key.lower() == cls.name or key.upper() in cls.aliases:
            return cls
    import difflib
    choices = list(rules) + [c.name for c in rules.values()]
    up = key.upper()
    if up[:2] == "EP":                       # EP1O1, EPl01: letters typed for digits
        digits = up[2:].translate(str.maketrans("OIL", "011"))
        close = [f"EP{digits}"] if f"EP{digits}" in rules else \
            difflib.get_close_matches(up, list(rules), n=1, cutoff=0.6)
    else:
        close = difflib.get_close_matches(key.lower(), choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else " (see `edgeplan rules`)"
    raise InputError(f"unknown rule {rule_id!r}{hint}")


def match_rules(selectors, option: str = "--select") -> set[str]:
    """Rule ids named by selectors: an id, an alias, a name, a prefix (`EP1`, `EP1xx`), ALL."""
    rules = registry()
    out: set[str] = set()
    for raw in selectors:
        for sel in (s.strip() for s in str(raw).split(",")):
            if not sel:
                continue
            if sel.upper() == "ALL":
                out |= set(rules)
                continue
            prefix = re.sub(r"[xX]+$", "", sel).upper()
            if re.fullmatch(r"EP\d{0,2}", prefix):
                hit = {r for r in rules if r.startswith(prefix)}
                if not hit:
                    raise InputError(f"no rule starts with {sel!r}", field=option)
                out |= hit
                continue
            try:
                out.add(get_rule(sel).id)
            except InputError as e:
                raise InputError(e.message, field=option) from None
    return out


def enabled_rules(select=None, ignore=()) -> list[str]:
    rules = registry()
    chosen = match_rules(select, "select") if select else set(rules)
    chosen -= match_rules(ignore, "ignore")
    chosen |= set(ALWAYS_ON)
    return sorted(chosen)


# ---------------------------------------------------------------- configuration

@dataclass
class LintConfig:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    fail_on: str | None = None
    format: str | None = None
    catalog: list[str] = field(default_factory=list)   # absolute or relative to `source`
    source: str | None = None


def _toml_loads(text: str):
    try:
        import tomllib                      # Python 3.11+
    except ModuleNotFoundError:             # pragma: no cover - 3.10 without tomli
        try:
            import tomli as tomllib         # type: ignore[no-redef]
        except ModuleNotFoundError:
            return None
    return tomllib.loads(text)


def _config_from_mapping(data, source: str, where: str) -> LintConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a mapping", file=source)
    lint = data.get("lint", {})
    catalog = data.get("catalog", [])
    extra = sorted(set(data) - {"lint", "catalog"})
    if extra:
        raise InputError(f"unknown key {extra[0]!r} in {where} (expected lint, catalog)",
                         file=source)
    if not isinstance(lint, dict):
        raise InputError(f"{where}.lint must be a mapping", file=source)
    for k in lint:
        if k.replace("_", "-") not in _CONFIG_KEYS:
            import difflib
            close = difflib.get_close_matches(k, _CONFIG_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"unknown key {k!r} in {where}.lint{hint}", file=source)
    lint = {k.replace("_", "-"): v for k, v in lint.items()}

    def str_list(v, key):
        if v is None:
            return None
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        if isinstance(v, list) and all(isinstance(s, str) for s in v):
            return list(v)
        raise InputError(f"{where}.{key} must be a list of strings", file=source)

    cfg = LintConfig(source=source)
    cfg.select = str_list(lint.get("select"), "lint.select")
    cfg.ignore = str_list(lint.get("ignore"), "lint.ignore") or []
    cfg.catalog = str_list(catalog, "catalog") or []
    base = os.path.dirname(os.path.abspath(source))
    cfg.catalog = [c if os.path.isabs(c) else os.path.join(base, c) for c in cfg.catalog]
    fo = lint.get("fail-on")
    if fo is not None and fo not in SEVERITIES:
        raise InputError(f"{where}.lint.fail-on must be one of {', '.join(SEVERITIES)}, "
                         f"got {fo!r}", file=source)
    cfg.fail_on = fo
    fmt = lint.get("format")
    from .lint_output import FORMATS
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"{where}.lint.format must be one of {', '.join(FORMATS)}, "
                         f"got {fmt!r}", file=source)
    cfg.format = fmt
    # an unknown rule id in the config is a config error, caught now
    if cfg.select:
        match_rules(cfg.select, f"{source}: lint.select")
    match_rules(cfg.ignore, f"{source}: lint.ignore")
    return cfg


def load_config(path: str | None = None, start: str | None = None) -> LintConfig:
    """The lint configuration: `path` when given, else the first `.edgeplan.yaml` or
    `pyproject.toml` with a `[tool.edgeplan]` table found from `start` (the current directory)
    upwards. No file: the defaults. Python 3.10 without tomli skips pyproject.toml."""
    if path is not None:
        return _read_config(str(path), explicit=True) or LintConfig(source=str(path))
    d = Path(start or os.getcwd()).resolve()
    for folder in (d, *d.parents):
        for name in (CONFIG_FILE, "pyproject.toml"):
            p = folder / name
            if p.is_file():
                cfg = _read_config(str(p), explicit=False)
                if cfg is not None:
                    return cfg
    return LintConfig()


def _read_config(path: str, explicit: bool) -> LintConfig | None:
    if not os.path.isfile(path):
        raise InputError("config file does not exist", file=path)
    if path.endswith(".toml"):
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read config: {e}", file=path) from None
        if "[tool.edgeplan" not in text:
            return None if not explicit else LintConfig(source=path)
        try:
            data = _toml_loads(text)
        except ValueError as e:
            raise InputError(f"not valid TOML: {e}", file=path) from None
        if data is None:
            return None                    # Python 3.10 and no tomli: skip pyproject.toml
        tool = data.get("tool", {}).get("edgeplan")
        if tool is None:
            return None if not explicit else LintConfig(source=path)
        return _config_from_mapping(tool, path, "[tool.edgeplan]")
    from .yamlio import load_yaml
    data, _ = load_yaml(path)
    return _config_from_mapping(data, path, CONFIG_FILE)


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


# ---------------------------------------------------------------- the document contexts

def dotted_path(path: tuple, data) -> str:
    """Dotted YAML path with workloads named by their name: stable when items are reordered."""
    out = ""
    cur = data
    for part in path:
        nxt = None
        if isinstance(cur, (list, dict)):
            try:
                nxt = cur[part]
            except (KeyError, IndexError, TypeError):
                nxt = None
        if isinstance(part, int):
            label = None
            if isinstance(nxt, dict):
                label = nxt.get("name") if isinstance(nxt.get("name"), str) else None
                if label is None and isinstance(nxt.get("id"), str):
                    label = nxt["id"]
            out += f"[{label}]" if label else f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
        cur = nxt
    return out


class BaseContext:
    kind = ""

    def __init__(self, file: str, text: str, data: dict, pos, catalog, base_dir: str):
        self.file = file
        self.text = text
        self.data = data
        self.pos = pos
        self.catalog = catalog
        self.base_dir = base_dir
        self._onnx: dict[str, object] = {}

    def path_to(self, rel: str | None) -> str | None:
        if rel is None:
            return None
        return rel if os.path.isabs(rel) else os.path.join(self.base_dir, rel)

    def onnx(self, rel: str):
        """The ops and inputs of an ONNX file (cached), or the error reading it."""
        if rel not in self._onnx:
            from .onnx_ops_lite import read_onnx
            try:
                self._onnx[rel] = read_onnx(self.path_to(rel))
            except EdgeplanError as e:
                self._onnx[rel] = e
        return self._onnx[rel]


@dataclass
class Resolved:
    """One manifest workload resolved against the catalog, step by step as the estimator does;
    the first step that fails records its error (the rule for that step reports it). The
    model is looked up on its own, so device-side rules still run for a `model_file` that is
    not in the catalog."""
    index: int
    workload: object
    entry_index: int | None = None
    entry: object = None
    model: object = None
    device: object = None
    mode: object = None
    unit: object = None
    runtime: str | None = None
    option: object = None
    query: object = None
    estimate: object = None
    model_error: EdgeplanError | None = None   # the model id is not in the catalog
    error: EdgeplanError | None = None
    error_step: str | None = None    # device | mode | unit | precision | runtime | model | option | estimate

    @property
    def ok(self) -> bool:
        return self.estimate is not None


class ManifestContext(BaseContext):
    kind = "manifest"

    def __init__(self, *a, manifest, **kw):
        super().__init__(*a, **kw)
        self.manifest = manifest

    # ------------------------------------------------------------ plain accessors

    def raw_workload(self, i: int) -> dict:
        try:
            w = self.data["workloads"][i]
            return w if isinstance(w, dict) else {}
        except (KeyError, IndexError, TypeError):
            return {}

    def given(self, i: int, key: str) -> bool:
        """The workload states `key` itself (not a schema default)."""
        return key in self.raw_workload(i)

    def entry_of(self, device_id: str):
        for j, e in enumerate(self.manifest.devices):
            if e.id == device_id:
                return j, e
        return None, None

    def workloads_on(self, entry_index: int) -> list[int]:
        e = self.manifest.devices[entry_index]
        return [i for i, w in enumerate(self.manifest.workloads) if w.device == e.id]

    @property
    def compute_cap(self) -> float:
        """Share of a unit's time a rate may use (1 - compute headroom, as `solve` uses)."""
        pct = getattr(self.manifest.budgets, "compute_headroom_pct", None) or 0.0
        return 1.0 - pct / 100.0

    @property
    def memory_cap_share(self) -> float:
        return 1.0 - self.manifest.budgets.memory_headroom_pct / 100.0

    # ------------------------------------------------------------ the estimator

    @cached_property
    def resolved(self) -> list[Resolved]:
        return [self._resolve(i, w) for i, w in enumerate(self.manifest.workloads)]

    def _resolve(self, i: int, w) -> Resolved:
        from .catalog import did_you_mean
        from .errors import EstimateError, UnknownIdError
        from .estimate import Query, estimate, resolve_runtime, resolve_unit
        r = Resolved(i, w)
        r.entry_index, r.entry = self.entry_of(w.device)
        try:
            r.model = self.catalog.model(w.model)
        except UnknownIdError as e:
            r.model_error = e

        def fail(step, err):
            r.error, r.error_step = err, step
            return r
        # the device chain, as the estimator resolves it: device, power mode, unit, runtime
        try:
            r.device = self.catalog.device(w.device)
        except UnknownIdError as e:
            return fail("device", e)
        mode_id = r.entry.power_mode if r.entry is not None else None
        try:
            r.mode = r.device.mode(mode_id)
        except KeyError:
            modes = [m.id for m in r.device.power.modes]
            return fail("mode", UnknownIdError(
                f"device {r.device.id!r} has no power mode {mode_id!r}"
                f"{did_you_mean(mode_id, modes)} (modes: {', '.join(modes)})",
                field="power_mode"))
        try:
            r.unit = resolve_unit(r.device, w.unit, w.precision)
        except UnknownIdError as e:
            return fail("unit", e)
        except EstimateError as e:
            return fail("precision", e)
        try:
            r.runtime = resolve_runtime(r.device, r.unit, w.runtime, self.catalog, r.model)
        except EstimateError as e:
            return fail("runtime", e)
        if r.model is None:
            return fail("model", r.model_error)
        technique = w.technique if self.given(i, "technique") else None
        try:
            r.option = r.model.option(w.precision, technique)
        except KeyError:
            have = ", ".join(f"{o.precision}/{o.technique}" for o in r.model.options)
            return fail("option", EstimateError(
                f"{r.model.id} has no {w.precision}{'/' + technique if technique else ''} "
                f"option (it has {have})", field="technique" if technique else "precision"))
        # no runtime given: estimate picks it as solve does (measured runtimes first, fastest)
        r.query = Query(model=r.model.id, precision=w.precision, device=r.device.id,
                        technique=r.option.technique, unit=r.unit.id, runtime=w.runtime,
                        batch=w.batch, context=w.context_tokens, power_mode=r.mode.id)
        try:
            r.estimate = estimate(self.catalog, r.query)
        except EdgeplanError as e:
            return fail("estimate", e)
        r.runtime = r.estimate.runtime
        return r

    def variant(self, r: Resolved, **changes):
        """The estimate for the same workload with some query fields changed, or None when
        that variant cannot run (used to suggest fixes)."""
        from dataclasses import replace

        from .estimate import estimate
        if r.query is None:
            return None
        q = replace(r.query, **changes)
        try:
            return estimate(self.catalog, q)
        except EdgeplanError:
            return None

    def rate_of(self, w) -> float | None:
        """The asked rate: tokens/s for an LLM when given, else inferences/s."""
        if w.tokens_per_s is not None:
            return w.tokens_per_s
        return w.rate_fps

    def device_power_w(self, entry_index: int) -> float | None:
        """Power of one device entry: its power mode's watts x count (as `solve` counts)."""
        e = self.manifest.devices[entry_index]
        for i in self.workloads_on(entry_index):
            r = self.resolved[i]
            if r.ok:
                return r.estimate.power_w.value * e.count
        dev = self.catalog.devices.get(e.id)
        if dev is None:
            return None
        try:
            return dev.mode(e.power_mode).power_w * e.count
        except KeyError:
            return None


class SpecContext(BaseContext):
    kind = "spec"

    def __init__(self, *a, spec, **kw):
        super().__init__(*a, **kw)
        self.spec = spec

    def allowed(self, allow_deny, value) -> bool:
        return (allow_deny.allow is None or value in allow_deny.allow) and \
            value not in allow_deny.deny

    def allowed_devices(self) -> list:
        s = self.spec
        return [d for _, d in sorted(self.catalog.devices.items())
                if self.allowed(s.devices, d.id) and self.allowed(s.families, d.family)]

    def candidate_models(self, w) -> list:
        """The catalog models a workload may use (model_files are not in the catalog)."""
        models = self.catalog.models
        if w.models:
            return [models[m] for m in w.models if m in models
                    and (w.task is None or models[m].task == w.task)]
        if w.task:
            return [m for _, m in sorted(models.items()) if m.task == w.task]
        return []

    def candidate_options(self, w, model) -> list:
        return [o for o in model.options
                if (w.precisions is None or o.precision in w.precisions)
                and (w.techniques is None or o.technique in w.techniques)]


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
    findings: list = field(default_factory=list)    # (rule_id, path, message, fix, line, col)
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
    doc.findings.append(("EP001", (), msg, None, line or 1, col or 1))


def _read_text(target: Target, doc: _Doc, stdin_text: str | None) -> str | None:
    from .yamlio import MAX_FILE_BYTES
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


def lint_document(target: Target, catalog_loader, rule_ids: list[str], *,
                  skip_other: bool = False, stdin_text: str | None = None) -> _Doc | None:
    """Parse and check one file. Returns None when the file is skipped (not an edgeplan
    document in a directory or glob, or with skip_other)."""
    from .yamlio import loads_yaml
    doc = _Doc(target.name)
    text = _read_text(target, doc, stdin_text)
    if text is None:
        return doc
    may_skip = skip_other or not target.explicit
    if may_skip and not _EDGEPLAN_DOC.search(text):
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
            from .manifest import parse_manifest
            parsed = parse_manifest(data, pos)
        else:
            from .spec import parse_spec
            parsed = parse_spec(data, pos)
    except EdgeplanError as e:
        _invalid(doc, e)
        return doc
    catalog = catalog_loader()
    if kind == "manifest":
        ctx = ManifestContext(target.name, text, data, pos, catalog, base_dir, manifest=parsed)
    else:
        ctx = SpecContext(target.name, text, data, pos, catalog, base_dir, spec=parsed)
    rules = registry()
    for rid in rule_ids:
        cls = rules[rid]
        if kind not in cls.applies_to:
            continue
        try:
            for p in cls.check(ctx):
                line, col = pos.locate(p.path)
                doc.findings.append((rid, tuple(p.path), p.message, p.fix, line, col))
        except Exception as e:          # a bug in one rule must not hide the others' findings
            if os.environ.get("EDGEPLAN_DEBUG"):
                raise
            doc.notices.append(Notice(target.name, None, None,
                                      f"internal error in rule {rid} ({type(e).__name__}: {e}); "
                                      "please report it (EDGEPLAN_DEBUG=1 shows the traceback)"))
    doc.linted = True
    return doc


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


def num(x: float, digits: int = 3) -> str:
    """A number for a message: 3 significant digits, no exponent for everyday sizes."""
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def _fingerprint(rule: str, file: str, logical: str, n: int) -> str:
    import hashlib
    h = hashlib.sha256(f"{rule}\x00{file}\x00{logical}\x00{n}".encode()).hexdigest()
    return h[:32]


# ---------------------------------------------------------------- the catalog, cached

_CODE_FILES = ("schema.py", "catalog.py", "units.py", "estimate.py", "calibrate.py")


def cache_dir() -> Path | None:
    """Where the catalog calibration is cached: EDGEPLAN_CACHE_DIR, else $XDG_CACHE_HOME/edgeplan,
    else ~/.cache/edgeplan. EDGEPLAN_NO_CACHE=1 turns the cache off."""
    if os.environ.get("EDGEPLAN_NO_CACHE"):
        return None
    d = os.environ.get("EDGEPLAN_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgeplan"


def load_catalog_cached(extra_dirs=(), *, builtin: bool = True):
    """`load_catalog`, with the catalog's calibration (the slow part: a regression over
    every measured point) cached as JSON in the cache dir, keyed by every catalog file's
    path, size and mtime and by the code that fits it. The cache holds plain numbers, so a
    planted or damaged file can at worst be ignored, never run. Any problem with the cache
    falls back to fitting; errors in the YAML are raised as usual."""
    import hashlib
    import json
    import sys

    from .catalog import ENV_VAR, builtin_dirs, load_catalog
    cat = load_catalog(extra_dirs, builtin=builtin)
    cdir = cache_dir()
    if cdir is None:
        return cat
    dirs = [str(d) for d in builtin_dirs()] if builtin else []
    if os.environ.get(ENV_VAR):
        dirs += [p for p in os.environ[ENV_VAR].split(os.pathsep) if p]
    dirs += [str(d) for d in extra_dirs]
    h = hashlib.sha256(f"{sys.version}\x00{builtin}\x00{dirs}".encode())
    here = Path(__file__).resolve().parent
    try:
        for name in _CODE_FILES:
            st = os.stat(here / name)
            h.update(f"{name}\x00{st.st_mtime_ns}\x00{st.st_size}\x00".encode())
        for d in dirs:
            for f in sorted(Path(d).rglob("*")):
                if f.suffix in (".yaml", ".yml") and f.is_file():
                    st = f.stat()
                    h.update(f"{f}\x00{st.st_mtime_ns}\x00{st.st_size}\x00".encode())
    except OSError:
        return cat
    from .calibrate import Calibration, calibration_for
    path = cdir / f"calibration-{h.hexdigest()[:24]}.json"
    try:
        cat._calibration = Calibration.from_data(json.loads(path.read_text(encoding="utf-8")))
        return cat
    except Exception:                   # missing, stale or not ours: fit it
        pass
    cal = calibration_for(cat)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        cdir.mkdir(parents=True, exist_ok=True)
        for old in sorted(cdir.glob("calibration-*.json"),
                          key=lambda p: p.stat().st_mtime)[:-7]:
            old.unlink(missing_ok=True)
        tmp.write_text(json.dumps(cal.to_data()), encoding="utf-8")
        os.replace(tmp, path)
    except Exception:                   # a read-only home, a full disk: no cache, no error
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return cat


# ---------------------------------------------------------------- the entry point

def lint_paths(paths, *, select=None, ignore=(), fail_on: str = "error", catalog=None,
               catalog_dirs=(), builtin_catalog: bool = True, skip_other: bool = False,
               stdin_text: str | None = None, cwd: str | None = None) -> LintReport:
    """Lint files, directories and globs. `catalog` (a loaded Catalog) wins over
    `catalog_dirs`; the catalog is loaded once, and only when a document needs it.
    Raises InputError for usage problems (no such path, unknown rule id, nothing to lint)."""
    if fail_on not in SEVERITIES:
        raise InputError(f"fail-on must be one of {', '.join(SEVERITIES)}, got {fail_on!r}",
                         field="--fail-on")
    rule_ids = enabled_rules(select, ignore)
    targets = expand_targets(paths, cwd=cwd)
    loaded: list = [catalog]

    def catalog_loader():
        if loaded[0] is None:
            loaded[0] = load_catalog_cached(catalog_dirs, builtin=builtin_catalog)
        return loaded[0]

    docs = []
    for t in targets:
        d = lint_document(t, catalog_loader, rule_ids, skip_other=skip_other,
                          stdin_text=stdin_text)
        if d is not None:
            docs.append(d)
    if not docs and not skip_other:
        where = ", ".join(str(p) for p in paths) or "."
        raise InputError(f"no edgeplan manifests or specs found in {where}", field="PATHS")
    report = _assemble(docs, rule_ids, fail_on)
    if loaded[0] is not None and catalog is None:
        report.catalog_notices = list(loaded[0].notices)
    return report


def _assemble(docs: list[_Doc], rule_ids: list[str], fail_on: str) -> LintReport:
    rules = registry()
    findings, suppressed, notices = [], [], []
    for doc in docs:
        line_paths: dict[int, set] = {}
        if doc.pos is not None:
            for p, (ln, _) in doc.pos.where.items():
                line_paths.setdefault(ln, set()).add(p)
        counter: dict[tuple, int] = {}
        for rid, path, msg, fix, line, col in doc.findings:
            cls = rules[rid]
            logical = dotted_path(path, doc.data)
            n = counter.get((rid, logical), 0)
            counter[(rid, logical)] = n + 1
            f = Finding(rid, cls.name, cls.severity, msg, fix, doc.file, line, col, logical,
                        _fingerprint(rid, doc.file, logical, n))
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
    return LintReport(findings, suppressed, notices, [d.file for d in docs], rule_ids, fail_on)
