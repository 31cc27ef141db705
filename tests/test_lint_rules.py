"""The rule registry: ids, names, severities, documentation and solver reasons, as the README
and SARIF present them."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from planner.lint.model import SEVERITIES, Rule
from planner.lint.rules import RULES, SOLVER_REASONS, rules_for_reason

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = {"EP0": "document", "EP1": "memory", "EP2": "precision", "EP3": "budgets",
            "EP4": "runtime", "EP5": "spec", "EP9": "references"}


@pytest.mark.parametrize("rid", sorted(RULES))
def test_rule_shape(rid):
    cls = RULES[rid]
    assert issubclass(cls, Rule)
    assert cls.id == rid and re.fullmatch(r"EP\d{3}", rid) and rid[:3] in PREFIXES
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cls.name)
    assert cls.severity in SEVERITIES
    assert cls.solver_reason is None or cls.solver_reason in SOLVER_REASONS
    assert set(cls.applies_to) <= {"manifest", "spec"} and cls.applies_to
    # one module per rule, named after the id
    assert cls.__module__ == f"planner.lint.rules.{rid.lower()}"
    assert importlib.import_module(cls.__module__)
    # the docstring is the documentation: a short first line, then the anti-pattern and fix
    short, doc = cls.short(), cls.doc()
    assert short.endswith(".") and len(short) <= 100
    assert "Anti-pattern" in doc and "Fix:" in doc, f"{rid}: document the anti-pattern and fix"
    for alias in cls.aliases:
        assert alias not in RULES


def test_names_are_unique():
    names = [c.name for c in RULES.values()]
    assert len(names) == len(set(names))


def test_severities_are_deliberate():
    """Changing a severity changes what fails CI for users: do it on purpose, here."""
    errors = {r for r, c in RULES.items() if c.severity == "error"}
    warnings = {r for r, c in RULES.items() if c.severity == "warning"}
    assert warnings == {"EP102", "EP104", "EP202", "EP203", "EP205", "EP304", "EP312", "EP402",
                        "EP404", "EP505", "EP506"}
    assert errors == set(RULES) - warnings


def test_every_solver_reason_has_a_rule():
    for reason in SOLVER_REASONS:
        assert rules_for_reason(reason), f"no rule flags what solve rejects for {reason!r}"
    assert rules_for_reason("memory") == ["EP101"]
    assert rules_for_reason("context") == ["EP103"]
    assert rules_for_reason("rate") == ["EP302", "EP303"]


def test_docs_list_every_rule():
    from planner.lint.pages import rules_markdown
    doc = (ROOT / "README.md").read_text()
    assert rules_markdown() in doc, "regenerate the table: edgeplan rules --format markdown"
