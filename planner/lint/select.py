"""Rule selection: ids, aliases, names and prefixes (`EP1`, `EP1xx`, `ALL`) to rule ids."""
from __future__ import annotations

import re

from planner.errors import InputError
from planner.lint.model import ALWAYS_ON

# ---------------------------------------------------------------- the registry, by selector

def registry() -> dict:
    from planner.lint.rules import RULES
    return RULES


def get_rule(rule_id: str):
    """The rule class for an id, alias or name; an unknown one raises with a did-you-mean."""
    rules = registry()
    key = rule_id.strip()
    if key.upper() in rules:
        return rules[key.upper()]
    for cls in rules.values():
        if key.lower() == cls.name or key.upper() in cls.aliases:
            return cls
    import difflib
    choices = list(rules) + [c.name for c in rules.values()]
    up = key.upper()
    if up[:2] == "EP":                       # EP1O1, EPl01: letters typed for digits
        digits = up[2:].translate(str.maketrans("OIL", "011"))
        close = [f"EP{digits}"] if f"EP{digits}" in rules else \
            difflib.get_close_matches(up, list(rules), n=1, cutoff=0.6)
    else:
        close = difflib.get_close_matches(key.lower(), choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else " (see `edgeplan rules`)"
    raise InputError(f"unknown rule {rule_id!r}{hint}")


def match_rules(selectors, option: str = "--select") -> set[str]:
    """Rule ids named by selectors: an id, an alias, a name, a prefix (`EP1`, `EP1xx`), ALL."""
    rules = registry()
    out: set[str] = set()
    for raw in selectors:
        for sel in (s.strip() for s in str(raw).split(",")):
            if not sel:
                continue
            if sel.upper() == "ALL":
                out |= set(rules)
                continue
            prefix = re.sub(r"[xX]+$", "", sel).upper()
            if re.fullmatch(r"EP\d{0,2}", prefix):
                hit = {r for r in rules if r.startswith(prefix)}
                if not hit:
                    raise InputError(f"no rule starts with {sel!r}", field=option)
                out |= hit
                continue
            try:
                out.add(get_rule(sel).id)
            except InputError as e:
                raise InputError(e.message, field=option) from None
    return out


def enabled_rules(select=None, ignore=()) -> list[str]:
    rules = registry()
    chosen = match_rules(select, "select") if select else set(rules)
    chosen -= match_rules(ignore, "ignore")
    chosen |= set(ALWAYS_ON)
    return sorted(chosen)
