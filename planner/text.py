"""Text for people, shared by every stage: numbers for messages and pages, the sentences an
estimate, a plan and a report share, and the two Markdown escapes (prose in a bundle's
README, cells in a report's tables)."""
from __future__ import annotations

import math
import re


def num(x, digits: int = 3) -> str:
    """A number for people: 3 significant digits, thousands separated, no exponent for
    everyday sizes, no trailing zeros."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x):
        return "∞" if x > 0 else ("-∞" if x < 0 else "n/a")
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    s = f"{x:.{digits}g}"
    if "e" in s:
        s = f"{x:.{digits + 3}f}".rstrip("0").rstrip(".")
    return s


def pct(share: float) -> str:
    """A share (0-1) as a whole percentage: `0.42` -> `42 %`."""
    return f"{share * 100:.0f} %"


def accuracy_change(drop_points: float) -> str:
    """An accuracy change in words, from a drop in points (FP32 minus converted): "a drop of
    0.28 points", "a gain of 0.11 points" or "no change" (at two decimals), never a drop with
    a sign in front."""
    d = round(drop_points, 2)
    if d == 0:
        return "no change"
    return f"a {'drop' if d > 0 else 'gain'} of {abs(d):.2f} points"


def accuracy_elsewhere(value: str, metric: str, precision: str, quantized_by: dict,
                       runtime: str, what: str | None = None, bounds=None) -> str:
    """The sentence for a published accuracy measured on another toolchain's quantized model
    than the one `runtime` runs (the estimate's note, the plan's and the report's), with the
    range other quantizers may reach where one is known."""
    of, model = (f" of {what}", "the model") if what else ("", f"the {precision.upper()} model")
    ran = f", run by {', '.join(quantized_by['runtimes'])}" if quantized_by["runtimes"] else ""
    rng = (f"range {num(bounds[0])}-{num(bounds[1])} for other quantizers" if bounds else
           "with no range (--robust checks it as it stands)")
    return (f"accuracy {value} {metric}{of} was measured on {model} made by "
            f"{quantized_by['toolchain']}{ran}; {runtime} runs the one its own conversion "
            f"makes, which this figure was not measured on: an estimate, {rng}")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def md_prose(v) -> str:
    """Text for Markdown prose: one line, with the characters that start markup escaped."""
    s = str(v).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_table_cell(v) -> str:
    """Text for one GitHub-flavoured Markdown table cell: one line, pipes and the characters
    that start HTML escaped."""
    s = "" if v is None else str(v)
    s = s.replace("\r", " ").replace("\n", " ").replace("\\", "\\\\").replace("|", "\\|")
    return s.replace("<", "&lt;").replace(">", "&gt;") or " "
