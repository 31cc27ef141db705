"""The rule registry: every lint rule, by stable id. One module per rule (`ep101.py`
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

from planner.lint.rules.ep001 import InvalidDocument
from planner.lint.rules.ep101 import MemoryOverflow
from planner.lint.rules.ep102 import WeightsOffChip
from planner.lint.rules.ep103 import KvCacheOverflow
from planner.lint.rules.ep104 import ContextBeyondTraining
from planner.lint.rules.ep105 import SpecInfeasible
from planner.lint.rules.ep201 import PrecisionUnsupported
from planner.lint.rules.ep202 import Fp32OnAccelerator
from planner.lint.rules.ep203 import PtqWithoutCalibration
from planner.lint.rules.ep204 import AccuracyBelowFloor
from planner.lint.rules.ep205 import AccuracyFloorWithinEstimate
from planner.lint.rules.ep301 import LatencyBudget
from planner.lint.rules.ep302 import RateNotMet
from planner.lint.rules.ep303 import ComputeTooSmall
from planner.lint.rules.ep304 import MarginalBudget
from planner.lint.rules.ep305 import ClaimBeyondRoofline
from planner.lint.rules.ep306 import TtftBudget
from planner.lint.rules.ep311 import PowerBudget
from planner.lint.rules.ep312 import BatteryMaxPower
from planner.lint.rules.ep313 import CostBudget
from planner.lint.rules.ep401 import RuntimeUnavailable
from planner.lint.rules.ep402 import UnsupportedOps
from planner.lint.rules.ep403 import DynamicShapes
from planner.lint.rules.ep404 import BatchLatencyCritical
from planner.lint.rules.ep501 import SpecAccuracyUnreachable
from planner.lint.rules.ep502 import SpecPowerUnreachable
from planner.lint.rules.ep503 import SpecCostUnreachable
from planner.lint.rules.ep504 import SpecEmptyChoice
from planner.lint.rules.ep505 import SpecRateKind
from planner.lint.rules.ep506 import SpecCostMixesPriceKinds
from planner.lint.rules.ep507 import SpecLlmOptionWithoutLlm
from planner.lint.rules.ep901 import UnknownDevice
from planner.lint.rules.ep902 import UnknownModel
from planner.lint.rules.ep903 import UnknownUnit
from planner.lint.rules.ep904 import UnknownPowerMode
from planner.lint.rules.ep905 import UnknownOption
from planner.lint.rules.ep906 import ModelFileUnreadable
from planner.lint.rules.ep907 import UnknownName

RULES = {cls.id: cls for cls in (
    InvalidDocument,
    MemoryOverflow, WeightsOffChip, KvCacheOverflow, ContextBeyondTraining, SpecInfeasible,
    PrecisionUnsupported, Fp32OnAccelerator, PtqWithoutCalibration, AccuracyBelowFloor,
    AccuracyFloorWithinEstimate,
    LatencyBudget, RateNotMet, ComputeTooSmall, MarginalBudget, ClaimBeyondRoofline, TtftBudget,
    PowerBudget, BatteryMaxPower, CostBudget,
    RuntimeUnavailable, UnsupportedOps, DynamicShapes, BatchLatencyCritical,
    SpecAccuracyUnreachable, SpecPowerUnreachable, SpecCostUnreachable, SpecEmptyChoice,
    SpecRateKind,
    SpecCostMixesPriceKinds, SpecLlmOptionWithoutLlm,
    UnknownDevice, UnknownModel, UnknownUnit, UnknownPowerMode, UnknownOption,
    ModelFileUnreadable, UnknownName,
)}

# the reasons `solve` gives when it rejects an option, and the rules that flag the same cause
SOLVER_REASONS = ("precision", "runtime", "memory", "latency", "ttft", "rate", "accuracy",
                  "power", "cost", "context")


def rules_for_reason(reason: str) -> list[str]:
    """Rule ids whose `solver_reason` is `reason` (manifest and spec rules)."""
    return sorted(i for i, cls in RULES.items() if cls.solver_reason == reason)
