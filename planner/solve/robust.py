"""`--robust`: check latency, rate and accuracy budgets against the pessimistic end of their
intervals instead of the central estimate.

The intervals are the estimator's own: latency and throughput carry an 80 % interval from the
calibration's fit (a published measurement of exactly the combination spreads 10 %), and an
estimated accuracy carries the range its published evidence allows (the profiles'
`accuracy_range`, or on a runtime that runs another quantizer's model than the one a
published figure was measured on, that quantizer's `elsewhere_range`; a published accuracy
is otherwise a point). Robust mode checks the high end of
latency, the low end of throughput (so the high end of each workload's unit share) and the
pessimistic end of accuracy (the low end; the high end of a lower-is-better metric such as
WER). The objective still ranks plans by the central estimates.

Like the deadline, the mode is in force for a block (`running(True)`), so every re-solve of
one verb (runners-up, binding budgets, explanations, the report's sensitivity and fronts)
reads the same budgets.
"""
from __future__ import annotations

import contextlib
import contextvars

_ROBUST: contextvars.ContextVar = contextvars.ContextVar("edgeplan_robust", default=False)


def active() -> bool:
    """Whether budgets are checked at the pessimistic end of their intervals."""
    return _ROBUST.get()


@contextlib.contextmanager
def running(robust: bool):
    """Check budgets at the pessimistic end inside the block (False: as they are)."""
    if not robust:
        yield active()
        return
    token = _ROBUST.set(True)
    try:
        yield True
    finally:
        _ROBUST.reset(token)
