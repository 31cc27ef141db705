"""Devices: at most max_devices devices in the bill."""
from __future__ import annotations

from planner.solve.budgets.model import Term


def add(pm):
    term = Term("devices", [(1, u) for u in pm.used], "min", 1.0)
    if pm.S > pm.spec.budgets.max_devices:
        pm.enforce(pm.m.Add(term.expr <= pm.spec.budgets.max_devices), "devices")
    return (term,)
