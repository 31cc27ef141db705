"""The command line: a thin shell over the library. Each verb lives in its own module here;
this one builds the group, and turns library errors into one-line messages and exit codes.

Heavy imports (ortools, onnx, onnxruntime, numpy, jinja2) happen inside the commands that
need them, so `catalog`, `estimate` and `lint` start fast."""
from __future__ import annotations

import os

import click

from .. import exitcodes
from ..errors import EdgeplanError


class EdgeplanGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgeplanError as e:
            click.echo(f"edgeplan: error: {e.one_line()}", err=True)
            ctx.exit(getattr(e, "exit_code", exitcodes.USAGE))
        except KeyboardInterrupt:
            click.echo("edgeplan: interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            ctx.exit(0)
        except Exception as e:  # a bug: one line unless asked for the traceback
            if os.environ.get("EDGEPLAN_DEBUG"):
                raise
            click.echo(f"edgeplan: internal error: {type(e).__name__}: {e} "
                       "(set EDGEPLAN_DEBUG=1 for the traceback)", err=True)
            ctx.exit(70)


def catalog_option(f):
    """--catalog DIR (repeatable) and --no-builtin, for every command that reads the catalog."""
    f = click.option("--no-builtin", "no_builtin", is_flag=True,
                     help="Use only the --catalog directories, not the built-in catalog.")(f)
    return click.option(
        "--catalog", "catalog_dirs", multiple=True, type=click.Path(file_okay=False),
        help="Extra catalog directory with your own devices, profiles and measurements "
             "(repeatable; also EDGEPLAN_CATALOG, a path list). Same ids override built-ins.")(f)


def load_catalog_for_cli(catalog_dirs, no_builtin=False):
    from ..catalog import load_catalog
    cat = load_catalog(catalog_dirs, builtin=not no_builtin)
    for n in cat.notices:
        click.echo(f"edgeplan: note: {n}", err=True)
    return cat


def write_atomic(path: str, text: str) -> None:
    """Write next to the target and rename, so a failure never leaves a half-written file
    (or destroys the old one)."""
    from ..errors import InputError
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


@click.group(cls=EdgeplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeplan")
def main():
    """edgeplan: pick model x precision x device for edge AI, or prove nothing fits.

    Example: edgeplan solve examples/camera-classifier.yaml
    """


# each module adds its commands to `main`
from . import (bundle_cmd, catalog_cmd, estimate_cmd, lint_cmd, report_cmd,  # noqa: E402,F401
               schema_cmd, solve_cmd)
