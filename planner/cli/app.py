"""The command line: a thin shell over the library. Each verb lives in its own module in this
package, imported only when it runs; this one builds the group, and turns library errors into
one-line messages and exit codes (all named in `planner.exitcodes`).

Heavy imports (ortools, onnx, onnxruntime, numpy, jinja2) happen inside the commands that
need them, so `catalog`, `estimate` and `lint` start fast."""
from __future__ import annotations

import importlib
import os
import signal
import threading
import time

import click

from planner import exitcodes
from planner.errors import (
    AccuracyBudgetError,
    EdgeplanError,
    InfeasibleError,
    ModelTooLarge,
    SolveTimeout,
    VerificationError,
)

# command name -> (module in planner.cli, attribute)
COMMANDS = {
    "bundle": ("bundle_cmd", "bundle"),
    "calibrate": ("calibrate_cmd", "calibrate"),
    "catalog": ("catalog_cmd", "catalog"),
    "estimate": ("estimate_cmd", "estimate"),
    "fit": ("fit_cmd", "fit"),
    "lint": ("lint_cmd", "lint"),
    "profile": ("profile_cmd", "profile"),
    "report": ("report_cmd", "report"),
    "rules": ("rules_cmd", "rules"),
    "schema": ("schema_cmd", "schema"),
    "solve": ("solve_cmd", "solve"),
    "toolchain": ("toolchain_cmd", "toolchain"),
}

# the library's errors carry no exit codes: the CLI alone decides them (most specific first)
ERROR_EXIT_CODES = ((AccuracyBudgetError, exitcodes.ACCURACY_BUDGET),
                    (VerificationError, exitcodes.VERIFY_FAILED),
                    (InfeasibleError, exitcodes.INFEASIBLE),
                    (SolveTimeout, exitcodes.TIMED_OUT),
                    (ModelTooLarge, exitcodes.TOO_LARGE),
                    (EdgeplanError, exitcodes.USAGE))


def exit_code_for(error: EdgeplanError) -> int:
    return next(code for cls, code in ERROR_EXIT_CODES if isinstance(error, cls))


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt for SIGINT, so that every
    `finally` and context manager runs: temporary files and directories are removed and a
    half-written output never replaces the old one. Not an Exception: no `except Exception`
    swallows it."""


# a second signal this soon after the first is ignored, so that the cleanup it started
# finishes (SIGKILL still stops edgeplan at once)
SIGNAL_GRACE_S = 5.0


def _install_signal_handlers() -> dict:
    """SIGTERM raises Terminated and SIGINT KeyboardInterrupt, once; returns the handlers to
    restore. Only in the main thread, and a signal the parent ignores stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    first: list[float] = []

    def handler(signum, frame):
        now = time.monotonic()
        if first and now - first[0] < SIGNAL_GRACE_S:
            return
        first[:] = [now]
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            old[sig] = signal.signal(sig, handler)
    return old


def _restore_signal_handlers(old: dict) -> None:
    for sig, h in old.items():
        signal.signal(sig, h if h is not None else signal.SIG_DFL)


class EdgeplanGroup(click.Group):
    """The verbs, each imported when it is used, and the one place errors become exit codes."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(f"planner.cli.{module}"), attr)

    def invoke(self, ctx):
        old_handlers = _install_signal_handlers()
        try:
            return super().invoke(ctx)
        except EdgeplanError as e:
            click.echo(f"edgeplan: error: {e.one_line()}", err=True)
            ctx.exit(exit_code_for(e))
        except KeyboardInterrupt:
            click.echo("edgeplan: interrupted", err=True)
            ctx.exit(exitcodes.INTERRUPTED)
        except Terminated:
            click.echo("edgeplan: terminated", err=True)
            ctx.exit(exitcodes.TERMINATED)
        except click.UsageError as e:
            # a bad flag value, a missing option, an unknown command: one line, as every
            # other input error, naming the flag and where the help is
            where = e.ctx.command_path if e.ctx is not None else "edgeplan"
            click.echo(f"edgeplan: error: {e.format_message()} (see '{where} --help')", err=True)
            ctx.exit(exitcodes.USAGE)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            ctx.exit(exitcodes.OK)
        except Exception as e:  # a bug: one line unless asked for the traceback
            if os.environ.get("EDGEPLAN_DEBUG"):
                raise
            click.echo(f"edgeplan: internal error: {type(e).__name__}: {e} "
                       "(set EDGEPLAN_DEBUG=1 for the traceback)", err=True)
            ctx.exit(exitcodes.INTERNAL)
        finally:
            _restore_signal_handlers(old_handlers)


@click.group(cls=EdgeplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeplan")
def main():
    """edgeplan: pick model x precision x device for edge AI, or prove nothing fits.

    Example: edgeplan solve examples/camera-classifier.yaml
    """
