"""Plain words for plans and budgets: labels, option and placement text, what changed
between two plans."""
from __future__ import annotations

from planner.text import num

# ---------------------------------------------------------------- labels

def budget_label(name: str) -> str:
    """`memory:toy-gpu#0` -> `memory on toy-gpu #0`, `latency:classify` -> `classify: latency`."""
    if name in ("power", "cost", "devices"):
        return {"power": "total power", "cost": "device cost", "devices": "number of devices"}[name]
    if name == "memory":
        return "memory headroom"
    if name == "compute":
        return "compute headroom"
    kind, _, rest = name.partition(":")
    if kind == "memory":
        return f"memory on {rest.replace('#', ' #')}"
    if kind == "rate" and "#" in rest:
        dev, _, unit = rest.partition("/")
        return f"compute time on {dev.replace('#', ' #')} {unit}"
    if kind in ("latency", "accuracy", "rate") and rest:
        return f"{rest}: {'rate' if kind == 'rate' else kind}"
    if kind in ("models", "precisions", "techniques"):
        return f"{rest}: allowed {kind}"
    group, _, which = name.partition(".")
    if group in ("devices", "families", "runtimes") and which in ("allow", "deny"):
        what = "device families" if group == "families" else group
        return f"{'allowed' if which == 'allow' else 'denied'} {what}"
    return name


def option_text(a: dict) -> str:
    tech = a["technique"]
    return f"{a['model']} {a['precision'].upper()}/{tech}"


def where_text(a: dict) -> str:
    inst = a.get("instance")
    inst = f" #{inst}" if inst else ""
    return f"{a['device']}{inst} [{a['power_mode']}]"


def plan_description(plan: dict) -> str:
    """Each workload's option, placement, unit and runtime (`solve.plan.plan_summary` without
    the unit and runtime is the short form)."""
    return "; ".join(f"{a['workload']}: {option_text(a)} on {where_text(a)}, "
                     f"{a['unit']}/{a['runtime']}" for a in plan["assignments"])


def _plan_key(plan):
    from planner.report.pareto import plan_key
    return plan_key(plan)


def plan_changes(old: dict, new: dict, *, options: bool = True) -> list[str]:
    """What differs in `new` from `old`, as short phrases: per workload the new option
    (`options`), accuracy, and the totals."""
    out = []
    olda = {a["workload"]: a for a in old["assignments"]}
    for a in new["assignments"]:
        o = olda.get(a["workload"])
        if o is None:
            continue
        before = f"{option_text(o)} on {where_text(o)} {o['unit']}/{o['runtime']}"
        after = f"{option_text(a)} on {where_text(a)} {a['unit']}/{a['runtime']}"
        if options and before != after:
            out.append(f"{a['workload']} → {after}")
        acc_o, acc_n = o["estimates"]["accuracy"], a["estimates"]["accuracy"]
        if acc_o["value"] != acc_n["value"]:
            out.append(f"{a['workload']} accuracy {num(acc_o['value'])} → "
                       f"{num(acc_n['value'])} {acc_n.get('metric', acc_n.get('unit', ''))}"
                       .rstrip())
        lat_o, lat_n = o["estimates"]["latency_ms"], a["estimates"]["latency_ms"]
        if not options and lat_o["value"] != lat_n["value"]:
            out.append(f"{a['workload']} latency {num(lat_o['value'])} → "
                       f"{num(lat_n['value'])} ms")
    to, tn = old["totals"], new["totals"]
    if to["power_w"] != tn["power_w"]:
        out.append(f"power {num(to['power_w'])} → {num(tn['power_w'])} W")
    if to["cost_usd"] != tn["cost_usd"]:
        out.append(f"cost ${num(to['cost_usd'])} → ${num(tn['cost_usd'])}")
    if to["devices"] != tn["devices"]:
        out.append(f"devices {to['devices']} → {tn['devices']}")
    return out


def qty(v, unit: str) -> str:
    """A value with its unit, for sentences: `5 W`, `1 device`, `$150`, `20 %`."""
    if v is None:
        return "—"
    if unit == "devices":
        return f"{num(v)} device{'' if v == 1 else 's'}"
    if unit == "USD":
        return f"${num(v)}"
    return f"{num(v)} {unit}".rstrip()


def _round(v):
    if v is None or isinstance(v, int):
        return v
    return float(f"{v:.6g}")
