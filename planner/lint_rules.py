"""The rule registry: every lint rule, by stable id. One module per rule (`rule_ep101.py`
...); the class docstring is its documentation (`edgeplan rules EP101`).

Ids are grouped by prefix and never reused; a renamed rule keeps its old id as an alias:

    EP0xx  the document itself (YAML, schema)
    EP1xx  memory and fit
    EP2xx  precision and quantization
    EP3xx  performance, power and cost budgets
    EP4xx  runtime, operators, shapes, batching
    EP5xx  specs (contradictions found before solving)
    EP9xx  references (unknown ids, missing files)
"""
from __future__ import annotations

from .rule_ep001 import InvalidDocument
from .rule_ep101 import MemoryOverflow
from .rule_ep102 import WeightsOffChip
from .rule_ep103 import KvCacheOverflow
from .rule_ep104 import ContextBeyondTraining
from .rule_ep201 import PrecisionUnsupported
from .rule_ep202 import Fp32OnAccelerator
from .rule_ep203 import PtqWithoutCalibration
from .rule_ep204 import AccuracyBelowFloor
from .rule_ep301 import LatencyBudget
from .rule_ep302 import RateNotMet
from .rule_ep303 import ComputeTooSmall
from .rule_ep304 import MarginalBudget
from .rule_ep311 import PowerBudget
from .rule_ep312 import BatteryMaxPower
from .rule_ep313 import CostBudget
from .rule_ep401 import RuntimeUnavailable
from .rule_ep402 import UnsupportedOps
from .rule_ep403 import DynamicShapes
from .rule_ep404 import BatchLatencyCritical
from .rule_ep501 import SpecAccuracyUnreachable
from .rule_ep502 import SpecPowerUnreachable
from .rule_ep503 import SpecCostUnreachable
from .rule_ep504 import SpecEmptyChoice
from .rule_ep505 import SpecRateKind
from .rule_ep901 import UnknownDevice
from .rule_ep902 import UnknownModel
from .rule_ep903 import UnknownUnit
from .rule_ep904 import UnknownPowerMode
from .rule_ep905 import UnknownOption
from .rule_ep906 import ModelFileUnreadable
from .rule_ep907 import UnknownName

RULES = {cls.id: cls for cls in (
    InvalidDocument,
    MemoryOverflow, WeightsOffChip, KvCacheOverflow, ContextBeyondTraining,
    PrecisionUnsupported, Fp32OnAccelerator, PtqWithoutCalibration, AccuracyBelowFloor,
    LatencyBudget, RateNotMet, ComputeTooSmall, MarginalBudget,
    PowerBudget, BatteryMaxPower, CostBudget,
    RuntimeUnavailable, UnsupportedOps, DynamicShapes, BatchLatencyCritical,
    SpecAccuracyUnreachable, SpecPowerUnreachable, SpecCostUnreachable, SpecEmptyChoice,
    SpecRateKind,
    UnknownDevice, UnknownModel, UnknownUnit, UnknownPowerMode, UnknownOption,
    ModelFileUnreadable, UnknownName,
)}

# the reasons `solve` gives when it rejects an option, and the rules that flag the same cause
SOLVER_REASONS = ("precision", "runtime", "memory", "latency", "rate", "accuracy", "power",
                  "cost", "context")


def rules_for_reason(reason: str) -> list[str]:
    """Rule ids whose `solver_reason` is `reason` (manifest and spec rules)."""
    return sorted(i for i, cls in RULES.items() if cls.solver_reason == reason)
