"""One deadline and one memory budget for a whole `solve` (or `report`): made once at the
start, handed to every step (candidate grids, pruning, each CP-SAT pass, runners-up, binding
re-solves, explanations), so `--time-limit` bounds the command and not one solver call.

A step that runs out of time either stops early and records itself in `cut` (the plan found
so far stands, its status `feasible` where the optimisation itself was cut), or, when no plan
was found at all, raises `SolveTimeout`. A model that would need more memory than the budget
is refused before it is built (`ModelTooLarge`, with the size it would need).
"""
from __future__ import annotations

import os
import time

from planner.errors import ModelTooLarge, SolveTimeout

# what one (option x unit row) cell of a candidate grid costs in numpy arrays while it is
# estimated and checked (a dozen float64 and bool arrays of the grid's shape; 19-29 bytes measured where grids share the estimate cache)
GRID_BYTES_PER_CELL = 100
# what one Boolean of the CP-SAT model costs, with its share of the constraints, when
# CP-SAT copies, presolves and searches it with two workers (measured peak, rounded up)
MODEL_BYTES_PER_VAR = 8_000
MEMORY_SHARE = 0.5       # default memory budget: this share of the machine's RAM


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):   # pragma: no cover - non-POSIX
        return 8 << 30


def default_memory_budget() -> int:
    return int(machine_memory() * MEMORY_SHARE)


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


class Deadline:
    """`seconds`: the time limit (None: none); `max_memory`: bytes (None: the default share
    of the machine's RAM). `cut` lists the steps cut short, in the order they were."""

    def __init__(self, seconds: float | None = None, *, max_memory: int | None = None,
                 clock=time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self.start = clock()
        self.end = None if seconds is None else self.start + seconds
        self.max_memory = default_memory_budget() if max_memory is None else int(max_memory)
        self.cut: list[str] = []

    # ------------------------------------------------------------ time
    def left(self) -> float | None:
        """Seconds left (never below 0), None without a limit."""
        return None if self.end is None else max(0.0, self.end - self._clock())

    def expired(self) -> bool:
        return self.end is not None and self._clock() >= self.end

    def cut_short(self, step: str) -> None:
        if step not in self.cut:
            self.cut.append(step)

    def timeout(self, step: str) -> SolveTimeout:
        return SolveTimeout(f"no plan found in {self.seconds:g} s (the time limit ran out "
                            f"during {step}); raise --time-limit")

    def check(self, step: str) -> None:
        """Raise SolveTimeout when the time is up (between steps that have no plan yet)."""
        if self.expired():
            raise self.timeout(step)

    def limit(self, solver) -> None:
        """Give a CP-SAT solver the time left (at least 10 ms, CP-SAT's granularity)."""
        left = self.left()
        if left is not None:
            prev = solver.parameters.max_time_in_seconds
            solver.parameters.max_time_in_seconds = min(prev, max(0.01, left)) if prev else \
                max(0.01, left)

    def stopped(self, step: str):
        """The error for a CP-SAT solve that stopped with no plan: out of time, or (time
        left) out of memory."""
        if self.end is not None and self._clock() >= self.end - 0.05:
            return self.timeout(step)
        return ModelTooLarge(f"the CP-SAT search in {step} outgrew the memory budget of "
                             f"{_gb(self.max_memory)} before finding a plan; narrow the spec "
                             "(devices.allow, families.allow, models, max_devices) or raise "
                             "--max-memory")

    # ------------------------------------------------------------ memory
    def check_memory(self, what: str, need: int) -> None:
        """Refuse a model of `need` bytes when it exceeds the budget."""
        if need > self.max_memory:
            raise ModelTooLarge(f"{what} would need about {_gb(need)} of memory, more than the "
                                f"budget of {_gb(self.max_memory)}; narrow the spec (devices.allow, "
                                "families.allow, models, max_devices) or raise --max-memory")


def ensure(deadline: Deadline | None, time_limit: float | None = None) -> Deadline:
    """The deadline to use: the one given, else the one in force (`running`) when no
    `time_limit` is asked for, else a fresh one for `time_limit`."""
    if deadline is not None:
        return deadline
    if time_limit is None and active() is not None:
        return active()
    return Deadline(time_limit)


def parse_memory(text: str) -> int:
    """'8G', '512M', '2000000000' -> bytes (for --max-memory)."""
    t = str(text).strip().upper().removesuffix("B")
    mult = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}.get(t[-1:], None)
    num = t[:-1] if mult else t
    value = float(num) * (mult or 1)
    if not value > 0:
        raise ValueError(text)
    return int(value)


# ---------------------------------------------------------------- the deadline in force
# Set by `solve` (and `report`) for the duration of the call, so that every CP-SAT solver
# and candidate grid made under it, however deep in a re-solve, gets the time left.

import contextlib  # noqa: E402
import contextvars  # noqa: E402

_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("edgeplan_deadline", default=None)


def active() -> Deadline | None:
    return _ACTIVE.get()


@contextlib.contextmanager
def running(deadline: Deadline | None):
    """Make `deadline` the one in force inside the block (None: leave it as it is)."""
    if deadline is None:
        yield active()
        return
    token = _ACTIVE.set(deadline)
    try:
        yield deadline
    finally:
        _ACTIVE.reset(token)
