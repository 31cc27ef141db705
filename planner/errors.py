"""Typed errors. The library raises these and never prints or exits; cli.py maps them to
messages and exit codes (see planner/exitcodes.py)."""
from __future__ import annotations

import difflib


class EdgeplanError(Exception):
    """Root of every error edgeplan raises on purpose."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field

    def one_line(self) -> str:
        """`file:line:col: field: message`, leaving out the parts that are unknown."""
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}".replace("\n", " ")


class InputError(EdgeplanError):
    """Bad user input: YAML that does not parse, a field of the wrong type or unit."""


class UnknownIdError(InputError):
    """A device, model, unit, runtime or precision id that is not in the catalog."""


class CatalogError(InputError):
    """A catalog or profile file that does not validate."""


class EstimateError(EdgeplanError):
    """A combination the estimator cannot estimate (e.g. a precision the unit does not run)."""


class InfeasibleError(EdgeplanError):
    """No plan satisfies the spec; carries the explanation."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class BundleError(EdgeplanError):
    """A bundle could not be built or failed verification."""


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.5)
    if not close:
        # ids are long and hyphenated: also try a substring match
        close = [c for c in sorted(choices) if word.lower() in c][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


class SolveTimeout(EdgeplanError):
    """The time limit ran out before any plan was found."""


class ModelTooLarge(EdgeplanError):
    """The spec's candidate grid or CP-SAT model would exceed the memory budget."""


class AccuracyBudgetError(BundleError):
    """The converted model breaks the accuracy budget (floor or allowed drop)."""


class VerificationError(BundleError):
    """infer.py failed to run, or its outputs disagree with the FP32 reference."""


class MissingExtraError(EdgeplanError):
    """An optional toolchain the step needs is not installed; `extra` names the package extra
    (`pip install 'edgeplan[<extra>]'`) that brings it."""

    def __init__(self, message: str, *, extra: str, **kw):
        super().__init__(message, **kw)
        self.extra = extra
