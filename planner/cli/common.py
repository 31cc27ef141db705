"""What the verbs share: the --catalog option, loading the catalog with its notices, and
writing an output file atomically."""
from __future__ import annotations

import os

import click


def catalog_option(f):
    """--catalog DIR (repeatable) and --no-builtin, for every command that reads the catalog."""
    f = click.option("--no-builtin", "no_builtin", is_flag=True,
                     help="Use only the --catalog directories, not the built-in catalog.")(f)
    return click.option(
        "--catalog", "catalog_dirs", multiple=True, type=click.Path(file_okay=False),
        help="Extra catalog directory with your own devices, profiles and measurements "
             "(repeatable; also EDGEPLAN_CATALOG, a path list). Same ids override built-ins.")(f)


def load_catalog_for_cli(catalog_dirs, no_builtin=False):
    from planner.catalog.loader import load_catalog
    cat = load_catalog(catalog_dirs, builtin=not no_builtin)
    for n in cat.notices:
        click.echo(f"edgeplan: note: {n}", err=True)
    return cat


def write_atomic(path: str, data: str | bytes, *, what: str = "") -> None:
    """Write a file whole or not at all: into a temporary file beside it, then renamed over
    it, so a failure leaves the old file (or none) and no temporary file behind. Through a
    symlink the target is written, and a replaced file keeps its mode. `what` names the
    content in the error ("the fixes")."""
    import stat
    import tempfile

    from planner.errors import InputError
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
    except OSError as e:
        where = f" {what}" if what else ""
        raise InputError(f"cannot write{where}: {e.strerror or e}", file=path) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
