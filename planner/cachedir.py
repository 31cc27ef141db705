"""Where edgeplan keeps what it can always recompute: parsed catalog files and fitted
calibrations. EDGEPLAN_CACHE_DIR, else $XDG_CACHE_HOME/edgeplan, else ~/.cache/edgeplan;
EDGEPLAN_NO_CACHE=1 turns every cache off. Caches hold plain JSON data, never code."""
from __future__ import annotations

import os
from pathlib import Path

from planner.atomicfile import replace_file


def cache_dir() -> Path | None:
    if os.environ.get("EDGEPLAN_NO_CACHE"):
        return None
    d = os.environ.get("EDGEPLAN_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgeplan"


def write_json_atomic(path: Path, text: str, *, keep: int, pattern: str) -> None:
    """Write a cache file whole (`replace_file`), then keep only the newest `keep` files
    matching `pattern` beside it. Any failure (a read-only home, a full disk) is silent: a
    cache is never needed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, text)
        old = sorted(path.parent.glob(pattern), key=lambda p: p.stat().st_mtime)
        for p in old[:-keep]:
            p.unlink(missing_ok=True)
    except OSError:
        pass
