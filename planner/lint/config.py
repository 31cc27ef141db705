"""The lint configuration: `.edgeplan.yaml`, or `[tool.edgeplan]` in pyproject.toml, found
from the working directory upwards."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import InputError
from planner.lint.model import ALWAYS_ON, SEVERITIES
from planner.lint.select import get_rule, match_rules

CONFIG_FILE = ".edgeplan.yaml"


_CONFIG_KEYS = ("select", "ignore", "fail-on", "format", "catalog", "severity", "baseline",
                "strict-baseline")


# ---------------------------------------------------------------- configuration

@dataclass
class LintConfig:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    fail_on: str | None = None
    format: str | None = None
    catalog: list[str] = field(default_factory=list)   # absolute or relative to `source`
    source: str | None = None
    severity: dict[str, str] = field(default_factory=dict)   # rule id -> severity
    baseline: str | None = None          # absolute (relative to `source` in the file)
    strict_baseline: bool = False


def _toml_loads(text: str):
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:             # pragma: no cover - 3.10 without tomli
        try:
            import tomli as tomllib  # type: ignore[no-redef]
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
    from planner.lint.formats import FORMATS
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"{where}.lint.format must be one of {', '.join(FORMATS)}, "
                         f"got {fmt!r}", file=source)
    cfg.format = fmt
    cfg.severity = _severity_overrides(lint.get("severity"), source, where)
    bl = lint.get("baseline")
    if bl is not None:
        if not isinstance(bl, str) or not bl:
            raise InputError(f"{where}.lint.baseline must be a file path", file=source)
        cfg.baseline = bl if os.path.isabs(bl) else os.path.join(base, bl)
    sb = lint.get("strict-baseline", False)
    if not isinstance(sb, bool):
        raise InputError(f"{where}.lint.strict-baseline must be true or false", file=source)
    cfg.strict_baseline = sb
    # an unknown rule id in the config is a config error, caught now
    if cfg.select:
        match_rules(cfg.select, f"{source}: lint.select")
    match_rules(cfg.ignore, f"{source}: lint.ignore")
    return cfg


def _severity_overrides(data, source: str, where: str) -> dict[str, str]:
    """`severity: {EP304: error, memory-overflow: info}`: rule (id, alias or name) ->
    severity, by canonical id. EP001 (a document that cannot be read) stays an error."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{where}.lint.severity must be a mapping of rule ids to "
                         f"{', '.join(SEVERITIES)}", file=source)
    out = {}
    for key, sev in data.items():
        try:
            rid = get_rule(str(key)).id
        except InputError as e:
            raise InputError(f"{where}.lint.severity: {e.message}", file=source) from None
        if sev not in SEVERITIES:
            raise InputError(f"{where}.lint.severity.{key} must be one of "
                             f"{', '.join(SEVERITIES)}, got {sev!r}", file=source)
        if rid in ALWAYS_ON and sev != "error":
            raise InputError(f"{where}.lint.severity.{key}: {rid} cannot be downgraded "
                             "(a document that cannot be read is always an error)",
                             file=source)
        out[rid] = sev
    return dict(sorted(out.items()))


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
    from planner.yamlio import load_yaml
    data, _ = load_yaml(path)
    return _config_from_mapping(data, path, CONFIG_FILE)
