"""Writing a file whole or not at all, for every file edgeplan writes (plans, reports, lint
reports, baselines, fixed manifests, cache entries).

Interrupted (an exception, or SIGTERM / SIGINT, which the command line turns into exceptions
so that cleanup runs), a write leaves the old file or the new one, and no temporary file:
the temporary file's name is known before it is created, so a `finally` can always remove it.
"""
from __future__ import annotations

import os
import secrets
import stat
import time

# test hook (documented in the README): when set to a file path F, `replace_file` writes the
# path it replaces into F.waiting just before its final rename and waits until F exists, so
# that a test can send a signal at that point
PAUSE_BEFORE_REPLACE = "EDGEPLAN_TEST_PAUSE_BEFORE_REPLACE"


def test_pause(variable: str, what: str = "", *, limit_s: float = 120.0) -> None:
    """A test hook: when the environment variable `variable` names a file F, write `what`
    (the path about to be replaced) into F.waiting and wait (at most `limit_s`) until F
    exists. Unset or empty: nothing."""
    go = os.environ.get(variable)
    if not go:
        return
    with open(go + ".waiting", "w", encoding="utf-8") as f:
        f.write(what)
    deadline = time.monotonic() + limit_s
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.01)


test_pause.__test__ = False     # not a pytest test, whatever imports it


def temp_name(directory: str, prefix: str, suffix: str = "") -> str:
    """A fresh, not yet existing name in `directory` (create it with O_EXCL / mkdir, which
    fail if someone took the name meanwhile)."""
    return os.path.join(directory, f"{prefix}{secrets.token_hex(4)}{suffix}")


def replace_file(path, data: str | bytes) -> None:
    """Write into a temporary file beside `path`, fsync it, then rename it over `path`, so a
    failure leaves the old file (or none) and no temporary file behind. Through a symlink the
    target is written, and a replaced file keeps its mode. Raises OSError."""
    real = os.path.realpath(path)
    d, base = os.path.split(real)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        for _ in range(100):
            tmp = temp_name(d, f".{base}.", ".tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:    # not ours: never remove it
                tmp = None
        else:
            raise FileExistsError(f"no free temporary name beside {real}")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(real):
            os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode))
        else:                          # a new file gets the usual mode, not the 0600 above
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        test_pause(PAUSE_BEFORE_REPLACE, real)
        os.replace(tmp, real)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
