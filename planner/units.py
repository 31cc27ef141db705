"""Quantities with units, parsed once at the boundary.

YAML may say `8 GB`, `15 W`, `30 fps`, `2.5 ms`, `68 GB/s`, `4 TOPS`, `$249`; a bare number is
taken in the unit the field name carries (`memory_gb: 8`). Every field type below converts to
that unit, so the rest of edgeplan only ever sees plain floats in known units.
"""
from __future__ import annotations

import math
import re
from typing import Annotated

from annotated_types import Interval
from pydantic import BeforeValidator

# unit text (lower case) -> (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {}


def _add(dim: str, factor: float, *names: str) -> None:
    for n in names:
        _UNITS[n.lower()] = (dim, factor)


# bytes: base GB (decimal, as datasheets use)
_add("bytes", 1e-9, "b", "byte", "bytes")
_add("bytes", 1e-6, "kb")
_add("bytes", 1e-3, "mb")
_add("bytes", 1.0, "gb")
_add("bytes", 1e3, "tb")
_add("bytes", 1024 / 1e9, "kib")
_add("bytes", 1024**2 / 1e9, "mib")
_add("bytes", 1024**3 / 1e9, "gib")
_add("bytes", 1024**4 / 1e9, "tib")
# bandwidth: base GB/s
_add("bandwidth", 1e-3, "mb/s", "mbps_bytes")
_add("bandwidth", 1.0, "gb/s", "gbytes/s")
_add("bandwidth", 1e3, "tb/s")
_add("bandwidth", 1 / 8, "gbit/s", "gbps", "gb/s_bits")
_add("bandwidth", 1 / 8000, "mbit/s", "mbps")
# power: base W
_add("power", 1e-3, "mw")
_add("power", 1.0, "w", "watt", "watts")
# time: base ms
_add("time", 1e-3, "us", "µs")
_add("time", 1.0, "ms")
_add("time", 1e3, "s", "sec")
# rate: base per second
_add("rate", 1.0, "fps", "hz", "/s", "ips", "qps", "rps", "inferences/s")
_add("rate", 1.0, "tokens/s", "tok/s", "token/s", "tps")
# compute: base TOPS
_add("ops", 1e-3, "gops", "gflops")
_add("ops", 1.0, "tops", "tflops")
# macs: base GMACs
_add("macs", 1e-3, "mmacs", "mmac")
_add("macs", 1.0, "gmacs", "gmac")
# money: base USD
_add("money", 1.0, "usd", "$")
# fraction: base percent
_add("percent", 1.0, "%", "percent")

_DIM_OF_FIELD_UNIT = {
    "GB": ("bytes", 1.0), "MB": ("bytes", 1e-3), "GB/s": ("bandwidth", 1.0),
    "W": ("power", 1.0), "ms": ("time", 1.0), "fps": ("rate", 1.0),
    "tokens/s": ("rate", 1.0), "TOPS": ("ops", 1.0), "GMACs": ("macs", 1.0),
    "USD": ("money", 1.0), "%": ("percent", 1.0), "s": ("time", 1e3),
}

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QTY = re.compile(rf"^\s*(?P<pre>\$)?\s*(?P<num>{_NUM})\s*(?P<unit>[^\d\s][^\s]*(?:\s*/\s*\w+)?)?\s*$")


def parse_quantity(value: object, unit: str) -> float:
    """Return `value` in `unit` (one of the field units above). Raises ValueError with a
    message that names what was expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected a quantity in {unit}, got a boolean")
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        m = _QTY.match(value.replace(",", ""))
        if not m:
            raise ValueError(f"expected a quantity like '8 {unit}', got {value!r}")
        x = float(m["num"])
        u = (m["unit"] or "").replace(" ", "")
        if m["pre"]:
            if u:
                raise ValueError(f"unexpected unit after '$' in {value!r}")
            u = "$"
        if u:
            if u.lower() not in _UNITS:
                raise ValueError(f"unknown unit {u!r} in {value!r}; expected {unit}")
            dim, factor = _UNITS[u.lower()]
            want_dim, want_factor = _DIM_OF_FIELD_UNIT[unit]
            if dim != want_dim:
                raise ValueError(f"{value!r} is not a {want_dim} quantity (expected {unit})")
            # 15 significant digits: the decimal the text meant, not the binary noise of
            # the conversion (400 KB is 0.0004 GB, not 0.00039999999999999996)
            x = float(f"{x * factor / want_factor:.15g}")
    else:
        raise ValueError(f"expected a quantity in {unit}, got {type(value).__name__}")
    if not math.isfinite(x):
        raise ValueError(f"expected a finite quantity in {unit}, got {value!r}")
    if x < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return x


def _q(unit: str):
    def conv(v: object) -> object:
        return v if v is None else parse_quantity(v, unit)
    return BeforeValidator(conv)


def _ci(text: str) -> str:
    """`text` as a case-insensitive ECMA-262 regex (JSON Schema patterns have no flags)."""
    out = []
    for c in text:
        # the parser lower-cases the unit: a letter matches what lower-cases to it ('µ' has
        # no such capital: 'Μ' is Greek and lower-cases to 'μ')
        cases = sorted({x for x in (c, c.upper()) if len(x) == 1 and x.lower() == c})
        if len(cases) > 1:
            out.append(f"[{''.join(cases)}]")
        elif c == "/":
            out.append(r"\s*/\s*")
        else:
            out.append(re.escape(c))
    return "".join(out)


def quantity_pattern(unit: str, positive: bool = False) -> str:
    """The strings `parse_quantity(value, unit)` accepts, as a JSON Schema pattern: a
    non-negative number (commas allowed as thousands separators) with an optional unit of the
    field's dimension, or `$` before the number for money. `positive` also refuses a number
    whose digits are all zero. Upper bounds are not expressed (a pattern cannot compare
    numbers): edgeplan itself checks them."""
    dim = _DIM_OF_FIELD_UNIT[unit][0]
    names = sorted((n for n, (d, _) in _UNITS.items() if d == dim), key=lambda n: (-len(n), n))
    units = "|".join(_ci(n) for n in names if n != "$")
    nonzero = "(?=[0-9.,]*[1-9])" if positive else ""
    num = rf"\+?{nonzero}(?:[0-9,]+(?:\.[0-9,]*)?|\.[0-9,]+)(?:[eE][-+]?[0-9]+)?"
    tail = rf"(?:\s*(?:{units}))?"
    if dim == "money":
        return rf"^\s*(?:\$\s*{num}|{num}(?:\s*(?:{units}|\$))?)\s*$"
    return rf"^\s*{num}{tail}\s*$"


class _QuantitySchema:
    """A quantity's JSON Schema: the number the field holds (with its bounds) or a string with
    a unit, as the parser takes them, so editors accept what edgeplan accepts."""

    def __init__(self, unit: str, positive: bool):
        self.unit, self.positive = unit, positive

    def __get_pydantic_json_schema__(self, core_schema, handler):
        number = handler(core_schema)
        return {"anyOf": [number, {"type": "string",
                                   "pattern": quantity_pattern(self.unit, self.positive)}]}


def quantity(unit: str, *, gt: float | None = None, lt: float | None = None,
             le: float | None = None):
    """The field type of a quantity in `unit`: a number, or a string such as '30 fps',
    converted to a float in `unit`. Never negative; the bounds given here are part of the
    type (not of `Field`), so they hold and appear in the JSON Schema on optional fields
    too."""
    bounds = Interval(gt=gt, ge=None if gt is not None else 0, lt=lt, le=le)
    return Annotated[float, bounds, _q(unit), _QuantitySchema(unit, gt is not None and gt >= 0)]


GB = quantity("GB")
MB = quantity("MB")
GBps = quantity("GB/s")
Watts = quantity("W")
Ms = quantity("ms")
Seconds = quantity("s")
Fps = quantity("fps")
TokPerS = quantity("tokens/s")
Tops = quantity("TOPS")
GMacs = quantity("GMACs")
Usd = quantity("USD")
Percent = quantity("%")
