"""Safe YAML loading that remembers where every value came from.

`load_yaml` returns plain Python data plus a `Positions` map from a path such as
`("devices", 3, "memory", "total_gb")` to its (line, column), so a validation error can name
the file, line and field. Duplicate keys, recursive or exponentially aliased documents and
oversized files are refused with an InputError instead of hanging or silently losing data.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from planner.errors import InputError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

Path = tuple


@dataclass
class Positions:
    file: str
    where: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        """Line and column (1-based) of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if p in self.where:
                return self.where[p]
            if not p:
                return (None, None)
            p = p[:-1]

    def error(self, cls, message: str, path: Path = ()) -> Exception:
        line, col = self.locate(path)
        return cls(message, file=self.file, line=line, column=col,
                   field=dotted(path) or None)


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Builder:
    def __init__(self, pos: Positions):
        self.pos = pos
        self.count = 0
        self._ctor = yaml.constructor.SafeConstructor()

    def build(self, node, path: Path, depth: int):
        self.count += 1
        if self.count > MAX_NODES:
            raise self.pos.error(InputError, f"document is too large (over {MAX_NODES} values "
                                 "after alias expansion)", path[:2])
        if depth > MAX_DEPTH:
            raise self.pos.error(InputError, f"document nests deeper than {MAX_DEPTH} levels "
                                 "(recursive alias?)", path[:2])
        self.pos.where.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            self._ctor.flatten_mapping(node)
            out: dict = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    raise InputError("mapping keys must be plain scalars", file=self.pos.file,
                                     line=knode.start_mark.line + 1,
                                     column=knode.start_mark.column + 1, field=dotted(path) or None)
                key = self._ctor.construct_object(knode)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    key = str(key)
                if key in out:
                    raise InputError(f"duplicate key {key!r}", file=self.pos.file,
                                     line=knode.start_mark.line + 1,
                                     column=knode.start_mark.column + 1,
                                     field=dotted(path + (key,)))
                sub = path + (key,)
                self.pos.where[sub] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                out[key] = self.build(vnode, sub, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, path + (i,), depth + 1) for i, v in enumerate(node.value)]
        return self._ctor.construct_object(node)


def loads_yaml(text: str, file: str) -> tuple[object, Positions]:
    pos = Positions(file)
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(f"not valid YAML: {problem}", file=file,
                         line=mark.line + 1 if mark else None,
                         column=mark.column + 1 if mark else None) from None
    except RecursionError:
        raise InputError("not valid YAML: nesting too deep", file=file) from None
    if node is None:
        return None, pos
    try:
        return _Builder(pos).build(node, (), 0), pos
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(e, 'problem', e)}", file=file,
                         line=mark.line + 1 if mark else None) from None


def load_yaml(path: str | os.PathLike) -> tuple[object, Positions]:
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise InputError(f"file is {size} bytes; the limit is {MAX_FILE_BYTES}", file=path)
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a YAML file", file=path) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=path) from None
    return loads_yaml(text, path)


_CACHE_VERSION = "2"      # bump when the parsed form or the positions change


def load_yaml_cached(path: str | os.PathLike) -> tuple[object, Positions]:
    """`load_yaml`, answered from the cache when the same bytes were parsed before. Only data
    that survives a JSON round trip unchanged is cached, so the answer is always the same."""
    import hashlib
    import json

    from planner.cachedir import cache_dir, write_json_atomic
    cdir = cache_dir()
    path = os.fspath(path)
    if cdir is None:
        return load_yaml(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError:
        return load_yaml(path)         # the error, as load_yaml words it
    key = hashlib.sha256(f"{_CACHE_VERSION}\x00{yaml.__version__}\x00".encode() + raw)
    entry = cdir / "yaml" / f"{key.hexdigest()[:32]}.json"
    where = entry.with_suffix(".where.json")
    try:
        return json.loads(entry.read_text(encoding="utf-8")), _CachedPositions(path, where)
    except Exception:                  # missing or not ours: parse it
        pass
    data, pos = load_yaml(path)
    try:
        text = json.dumps(data, allow_nan=False)
        same = _same_types(json.loads(text), data) and json.loads(text) == data
    except (TypeError, ValueError):    # dates, NaN, non-string keys: parse every time
        same = False
    if same:
        # positions first: a data file is only ever read with its positions beside it
        write_json_atomic(where, json.dumps([[list(p), ln, col]
                                             for p, (ln, col) in pos.where.items()]),
                          keep=2048, pattern="*.json")
        write_json_atomic(entry, text, keep=2048, pattern="*.json")
    return data, pos


class _CachedPositions(Positions):
    """Positions read from the cache only when an error needs them (most loads need none)."""

    def __init__(self, file: str, where_file):
        self.file = file
        self._where_file = where_file
        self._where = None

    @property
    def where(self) -> dict:
        if self._where is None:
            import json
            try:
                self._where = {tuple(p): (ln, col) for p, ln, col in
                               json.loads(self._where_file.read_text(encoding="utf-8"))}
            except Exception:          # gone meanwhile: parse the file again for them
                self._where = load_yaml(self.file)[1].where
        return self._where


def _same_types(a, b) -> bool:
    """JSON keeps 1 and 1.0 apart, but == does not: compare the types too."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return all(_same_types(a[k], b[k]) for k in b)
    if isinstance(a, list):
        return all(_same_types(x, y) for x, y in zip(a, b))
    return True


def load_mapping(path: str | os.PathLike, *, cached: bool = False) -> tuple[dict, Positions]:
    """A YAML file whose top level is a mapping. cached=True keeps the parsed data and its
    positions as JSON in the cache directory, keyed by the file's bytes (catalog files: a
    command reads dozens, and parsing them is most of its start-up)."""
    data, pos = load_yaml_cached(path) if cached else load_yaml(path)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise InputError(f"expected a YAML mapping at the top level, got {kind}",
                         file=pos.file, line=1)
    return data, pos


def _model_at(model, loc: tuple):
    """The pydantic model class that holds the field at `loc` (list indexes and dict keys
    are stepped over), or None where the path leaves the models."""
    import typing

    from pydantic import BaseModel

    def inner(tp):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
        for a in typing.get_args(tp):
            found = inner(a)
            if found is not None:
                return found
        return None

    for part in loc:
        if model is None:
            return None
        if isinstance(part, str) and part in model.model_fields:
            model = inner(model.model_fields[part].annotation)
    return model


def _duplicate_loc(msg: str, data) -> tuple:
    """A duplicate workload name is reported at the duplicate's own `name:` (the second
    occurrence), not at the document's first line."""
    m = re.match(r"duplicate workload name '(.*)'$", msg)
    if not m or not isinstance(data, dict) or not isinstance(data.get("workloads"), list):
        return ()
    seen = 0
    for i, w in enumerate(data["workloads"]):
        if isinstance(w, dict) and w.get("name") == m.group(1):
            seen += 1
            if seen == 2:
                return ("workloads", i, "name")
    return ()


def validation_error(pos: Positions, exc, cls=InputError, *, model=None,
                     data=None) -> Exception:
    """Turn the first error of a pydantic ValidationError into our one-line error. With the
    `model` class validated, an unknown field gets a did-you-mean among its siblings; with the
    `data`, an error of the whole document points at the line it is about."""
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if not loc and data is not None:
        loc = _duplicate_loc(msg, data)
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
        holder = _model_at(model, loc[:-1]) if model is not None and loc else None
        if holder is not None and isinstance(loc[-1], str):
            from planner.errors import did_you_mean
            msg += did_you_mean(loc[-1], holder.model_fields)
    elif err.get("type") == "missing":
        msg = "required field is missing"
    return pos.error(cls, msg, loc)
