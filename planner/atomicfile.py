"""Writing a file whole or not at all, for every file edgeplan writes (plans, reports, lint
reports, baselines, fixed manifests, cache entries)."""
from __future__ import annotations

import os
import stat
import tempfile


def replace_file(path, data: str | bytes) -> None:
    """Write into a temporary file beside `path`, fsync it, then rename it over `path`, so a
    failure leaves the old file (or none) and no temporary file behind. Through a symlink the
    target is written, and a replaced file keeps its mode. Raises OSError."""
    real = os.path.realpath(path)
    d, base = os.path.split(real)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=d)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(real):
            os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode))
        else:                          # a new file gets the usual mode, not mkstemp's 0600
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, real)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
