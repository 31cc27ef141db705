"""The one calibration of a catalog, for every command.

Fitting the calibration (a regression over every measured point) is the slow part of an
estimate. `calibration_for` fits it once per catalog object, and keeps it as plain JSON in a
cache directory, so `estimate`, `solve`, `report`, `bundle` and `lint` all read one fit.

The cache key is what the fit reads, not where files sit: the calibrating points themselves
(each measurement with the roofline terms and factors it gets from its device, model and
runtime) and the source of the code that turns points into a fit. Moving or copying a
catalog keeps its cache entry; changing any fact a point depends on, or the code, makes a
new one. A catalog extended with a spec's ONNX `model_files` shares its base's calibration:
models nobody measured add no point.

The cache holds numbers and strings only, so a planted or damaged file can at worst be
ignored, never run. Any problem with the cache falls back to fitting, silently.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from planner.cachedir import cache_dir, write_json_atomic
from planner.estimate.calibrate import Calibration, measurement_points

# the code a fit depends on besides its points (the points carry the roofline's terms)
_FIT_CODE = ("estimate/calibrate.py", "estimate/roofline.py", "estimate/layers.py",
             "catalog/layers.py", "catalog/schema.py",
             "vocabulary.py", "units.py")
_KEEP_FILES = 8          # newest cache files kept; older ones are removed


def calibration_for(catalog) -> Calibration:
    """The calibration of a catalog: kept on the catalog object, else read from the cache,
    else fitted (and cached)."""
    cal = getattr(catalog, "_calibration", None)
    if cal is not None:
        return cal
    base = getattr(catalog, "_calibration_base", None)
    if base is not None:                 # extended with model files: the base's fit
        cal = calibration_for(base)
    else:
        points = measurement_points(catalog)
        cdir = cache_dir()
        cal = _cached(points, cdir) if cdir is not None else Calibration(points)
    catalog._calibration = cal
    return cal


def _code_digest() -> str:
    h = hashlib.sha256(sys.version.encode())
    root = Path(__file__).resolve().parent.parent
    for name in _FIT_CODE:
        h.update(name.encode() + b"\x00" + (root / name).read_bytes() + b"\x00")
    return h.hexdigest()


def calibration_key(points) -> str:
    """What identifies a fit: the code's digest and every calibrating point, by value."""
    h = hashlib.sha256(_code_digest().encode())
    h.update(repr(points).encode())
    return h.hexdigest()[:32]


def _cached(points, cdir: Path) -> Calibration:
    try:
        path = cdir / f"calibration-{calibration_key(points)}.json"
    except OSError:                      # the code is not readable as files (a zip import)
        return Calibration(points)
    try:
        cal = Calibration.from_data(json.loads(path.read_text(encoding="utf-8")))
        cal.points = points
        return cal
    except Exception:                    # missing, stale or not ours: fit it
        pass
    cal = Calibration(points)
    write_json_atomic(path, json.dumps(cal.to_data()), keep=_KEEP_FILES,
                      pattern="calibration-*.json")
    return cal
