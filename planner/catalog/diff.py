"""What changed between two catalogs: devices, models, measurements, op-support tables and
runtimes added, removed, and the facts that changed (`id: field.path old -> new`), for
reviewing a catalog update (`edgeplan catalog diff OLD_DIR [NEW_DIR]`).

Each side is read on its own: every file is checked against the schema, but references
between entries (a measurement's device, a unit's op-support class) are not resolved, so a
directory of measurements can be compared without the devices they name. A directory that
holds `catalog/` or `profiles/` (a checkout of edgeplan, or an unpacked release) is read as
the built-in layout, both of them together.

Entries are matched by id; measurements, which have none, by what they measured (device,
model, precision, unit, runtime, power mode, batch, metric), in file order where two share
that key. Lists of entries with an id (units, power modes) are matched by id, and a model's
options by precision/technique, so a path reads `units[gpu].peak_tops.int8`. Output order is
deterministic: by kind, then id, then path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import CatalogError

KINDS = ("device", "model", "measurement", "op_support", "runtime")
_SECTIONS = {"device": "devices", "model": "models", "measurement": "measurements",
             "op_support": "op_support", "runtime": "runtimes"}
_MEASUREMENT_KEY = ("device", "model", "precision", "unit", "runtime", "power_mode", "batch",
                    "metric")


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    path: str
    old: object
    new: object

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "path": self.path, "old": self.old,
                "new": self.new}


@dataclass
class CatalogDiff:
    added: dict[str, list[str]] = field(default_factory=dict)     # kind -> ids
    removed: dict[str, list[str]] = field(default_factory=dict)
    changed: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (any(self.added.values()) or any(self.removed.values()) or self.changed)

    def summary(self) -> dict[str, dict[str, int]]:
        return {k: {"added": len(self.added.get(k, [])), "removed": len(self.removed.get(k, [])),
                    "changed": len({c.id for c in self.changed if c.kind == k})}
                for k in KINDS}

    def as_dict(self) -> dict:
        return {"summary": self.summary(),
                "added": {k: self.added.get(k, []) for k in KINDS},
                "removed": {k: self.removed.get(k, []) for k in KINDS},
                "changed": [c.as_dict() for c in self.changed]}


def catalog_dirs(path) -> list[Path]:
    """The directories one side of a diff reads: `path`, or its catalog/ and profiles/ where
    it holds them (the built-in layout)."""
    p = Path(path)
    if not p.is_dir():
        raise CatalogError("catalog directory does not exist", file=str(path))
    layout = [p / n for n in ("catalog", "profiles") if (p / n).is_dir()]
    return layout or [p]


def read_entries(dirs) -> dict[str, dict[str, dict]]:
    """Every entry of the catalog directories, schema-checked, as JSON data: kind -> key ->
    entry (fields left at their defaults omitted, so adding a default changes nothing)."""
    from planner.catalog.loader import _parse_file, _yaml_files
    out: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
    for d in dirs:
        for f in _yaml_files(Path(d)):
            cf, pos = _parse_file(f)
            for kind in KINDS:
                section = _SECTIONS[kind]
                for i, item in enumerate(getattr(cf, section)):
                    data = item.model_dump(mode="json", exclude_defaults=True)
                    if kind == "measurement":
                        base = "/".join("-" if getattr(item, k) is None else str(getattr(item, k))
                                        for k in _MEASUREMENT_KEY)
                        key, n = base, 1
                        while key in out[kind]:
                            n += 1
                            key = f"{base}#{n}"
                    else:
                        key = item.id
                        if key in out[kind]:
                            raise pos.error(CatalogError, f"{kind} id {key!r} is defined twice "
                                            f"on this side of the diff", (section, i, "id"))
                    out[kind][key] = data
    return out


def _keyed(items: list) -> dict | None:
    """A list of mappings that each name themselves (id, or precision/technique for model
    options) as a mapping by that name; None where the list is not one."""
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    if all("id" in x for x in items):
        keys = [str(x["id"]) for x in items]
    elif all("precision" in x and "technique" in x for x in items):
        keys = [f"{x['precision']}/{x['technique']}" for x in items]
    else:
        return None
    return dict(zip(keys, items)) if len(set(keys)) == len(keys) else None


def _walk(old, new, path: str, out: list[tuple[str, object, object]]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            sub = f"{path}.{k}" if path else str(k)
            _walk(old.get(k), new.get(k), sub, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        ko, kn = _keyed(old), _keyed(new)
        if ko is not None and kn is not None:
            for k in sorted(set(ko) | set(kn)):
                _walk(ko.get(k), kn.get(k), f"{path}[{k}]", out)
            return
    out.append((path, old, new))


def diff_entries(old: dict[str, dict[str, dict]], new: dict[str, dict[str, dict]]) -> CatalogDiff:
    d = CatalogDiff()
    for kind in KINDS:
        o, n = old.get(kind, {}), new.get(kind, {})
        d.added[kind] = sorted(set(n) - set(o))
        d.removed[kind] = sorted(set(o) - set(n))
        for key in sorted(set(o) & set(n)):
            facts: list[tuple[str, object, object]] = []
            _walk(o[key], n[key], "", facts)
            d.changed += [Change(kind, key, p, a, b) for p, a, b in facts]
    return d


def diff_catalogs(old_dir, new_dir=None) -> CatalogDiff:
    """The difference from the catalog in `old_dir` to the one in `new_dir` (default: the
    built-in catalog and profiles)."""
    from planner.catalog.loader import builtin_dirs
    old = read_entries(catalog_dirs(old_dir))
    new = read_entries(catalog_dirs(new_dir) if new_dir is not None else builtin_dirs())
    return diff_entries(old, new)


def _short(v, width: int = 80) -> str:
    import json
    s = "(none)" if v is None else v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return s if len(s) <= width else s[:width - 3] + "..."


def _pair(old, new, width: int = 80) -> tuple[str, str]:
    """Both values of a change, shortened alike: two long strings that share a beginning are
    shown from a little before their first difference, so the change is what one sees."""
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > width:
        p = 0
        while p < min(len(old), len(new)) and old[p] == new[p]:
            p += 1
        if p > 20:
            cut = p - 20
            return _short("..." + old[cut:], width), _short("..." + new[cut:], width)
    return _short(old, width), _short(new, width)


def render_text(d: CatalogDiff) -> str:
    if d.empty:
        return "no differences"
    lines = []
    for kind in KINDS:
        s = d.summary()[kind]
        if any(s.values()):
            lines.append(f"{_SECTIONS[kind]}: {s['added']} added, {s['removed']} removed, "
                         f"{s['changed']} changed")
    for kind in KINDS:
        lines += [f"+ {kind} {i}" for i in d.added.get(kind, [])]
        lines += [f"- {kind} {i}" for i in d.removed.get(kind, [])]
        lines += [f"~ {kind} {c.id}: {c.path} {' -> '.join(_pair(c.old, c.new))}"
                  for c in d.changed if c.kind == kind]
    return "\n".join(lines)
