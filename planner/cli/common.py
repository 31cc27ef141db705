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


def write_atomic(path: str, text: str) -> None:
    """Write next to the target and rename, so a failure never leaves a half-written file
    (or destroys the old one)."""
    from planner.errors import InputError
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(f"cannot write: {e.strerror}", file=path) from None
