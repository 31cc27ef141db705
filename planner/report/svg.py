"""Inline SVG charts for the report: plain strings, no JavaScript, no external fonts or
requests, readable in print and in any browser. Every text that comes from data is escaped.

- `scatter(front)`: a Pareto chart from `pareto.Front.as_dict()` — labelled front points
  joined by a step line, dominated options faint, the chosen plan marked, budget lines with the
  out-of-budget side shaded, axes with units and which way is better.
- `budget_bars(rows)`: how much of each budget the plan uses (the "how close to the edge"
  picture), binding budgets marked.
- `ranges(rows)`: per budget, the range over which the chosen plan stays the same
  (sensitivity), with the current limit marked.
- `relaxations(conflicts)`: infeasible specs — each conflicting budget's limit and the value
  that restores a plan.

Colours follow one palette (`COLORS`); shapes, not only colours, tell kinds apart (circle:
option, diamond: chosen, cross: breaks a budget) so the charts survive greyscale printing.
"""
from __future__ import annotations

import math
from html import escape

from planner.text import num

COLORS = {
    "front": "#1a5fb4", "dominated": "#8c959f", "chosen": "#c64600", "limit": "#c01c28",
    "out": "#c01c28", "axis": "#444c56", "grid": "#e4e7eb", "text": "#1f2328",
    "ok": "#2a7f3f", "marginal": "#b7791f", "binding": "#c64600", "band": "#1a5fb4",
}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
CHAR_W = 6.1        # average glyph width at 11 px, for label placement


def _e(s) -> str:
    return escape(str(s), quote=True)


def _f(v: float) -> str:
    """Coordinates: two decimals, stable text."""
    return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


# ---------------------------------------------------------------- scales

class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool):
        self.log = log
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi - lo < 1e-12:
            pad = abs(lo) * 0.1 or 1.0
            lo, hi = lo - pad, hi + pad
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        if self.log:
            v = math.log10(max(v, 1e-300))
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def tick_text(self, t: float) -> str:
        """Tick labels precise enough that neighbours differ (a step of 0.25 shows 2 decimals)."""
        if self.log:
            return num(t)
        step = _nice((self.hi - self.lo) / 5)
        if step >= 1 or t == 0:
            return num(t, digits=max(3, len(str(int(abs(t))))))
        dec = max(0, -math.floor(math.log10(step) + 1e-9))
        if step * 10 ** dec % 1 > 1e-6:
            dec += 1
        return f"{t:.{dec}f}"

    def ticks(self) -> list[float]:
        if self.log:
            out = []
            for k in range(math.floor(self.lo), math.ceil(self.hi) + 1):
                for m in (1, 2, 5):
                    v = m * 10.0 ** k
                    if self.lo - 1e-9 <= math.log10(v) <= self.hi + 1e-9:
                        out.append(v)
            if len(out) > 9:
                out = [v for v in out if f"{v:.0e}".startswith("1")]
            return out
        step = _nice((self.hi - self.lo) / 5)
        first = math.ceil(self.lo / step - 1e-9) * step
        out = []
        v = first
        while v <= self.hi + step * 1e-9:
            out.append(round(v, 12))
            v += step
        return out


def _nice(raw: float) -> float:
    if raw <= 0:
        return 1.0
    k = math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** k >= raw - 1e-12:
            return m * 10 ** k
    return 10 ** (k + 1)


def _domain(values: list[float], log: bool) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if log:
        return lo / 1.25, hi * 1.25
    span = hi - lo
    pad = span * 0.08 if span > 0 else (abs(hi) * 0.1 or 1.0)
    lo2 = lo - pad
    if lo >= 0 and lo2 < 0:
        lo2 = 0.0
    return lo2, hi + pad


# ---------------------------------------------------------------- scatter

def scatter(front: dict, *, width: int = 900, height: int = 440) -> str:
    """A Pareto chart from `Front.as_dict()`."""
    pts = front["points"]
    xa, ya = front["x"], front["y"]
    ml, mr, mt, mb = 66, 18, 14, 78
    pw, ph = width - ml - mr, height - mt - mb
    xs = [p["x"] for p in pts]
    ys = [p["y"] for p in pts]
    lim_x = [lm["value"] for lm in front["limits"] if lm["axis"] == "x"]
    lim_y = [lm["value"] for lm in front["limits"] if lm["axis"] == "y"]
    allx = [v for v in xs + lim_x if v is not None]
    ally = [v for v in ys + lim_y if v is not None]
    if not allx:
        allx, ally = [0.0, 1.0], [0.0, 1.0]
    log_x = min(allx) > 0 and max(allx) / min(allx) >= 20
    x0, x1 = _domain(allx, log_x)
    y0, y1 = _domain(ally, False)
    X = _Scale(x0, x1, ml, ml + pw, log_x)
    Y = _Scale(y0, y1, mt + ph, mt, False)
    title = front["title"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" class="chart" '
           f'aria-labelledby="{_e(front["id"])}-t" font-family="{_e(FONT)}" font-size="11">',
           f'<title id="{_e(front["id"])}-t">{_e(title)}: {len(pts)} options, '
           f'{sum(1 for p in pts if p["front"])} on the Pareto front</title>',
           f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fff" '
           f'stroke="{COLORS["grid"]}"/>']
    # out-of-budget side of each limit, shaded
    out.append('<g class="out-of-budget">')
    for lm in front["limits"]:
        v = lm["value"]
        if lm["axis"] == "x":
            px = min(max(X(v), ml), ml + pw)
            out.append(f'<rect x="{_f(px)}" y="{mt}" width="{_f(ml + pw - px)}" height="{ph}" '
                       f'fill="{COLORS["out"]}" fill-opacity="0.06"/>')
        else:
            py = min(max(Y(v), mt), mt + ph)
            if ya["sense"] == "max":        # a floor: below it is out
                out.append(f'<rect x="{ml}" y="{_f(py)}" width="{pw}" '
                           f'height="{_f(mt + ph - py)}" fill="{COLORS["out"]}" '
                           'fill-opacity="0.06"/>')
            else:
                out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{_f(py - mt)}" '
                           f'fill="{COLORS["out"]}" fill-opacity="0.06"/>')
    out.append("</g>")
    # grid and ticks
    out.append(f'<g class="axes" fill="{COLORS["axis"]}">')
    for t in X.ticks():
        px = X(t)
        out.append(f'<line x1="{_f(px)}" y1="{mt}" x2="{_f(px)}" y2="{mt + ph}" '
                   f'stroke="{COLORS["grid"]}"/>')
        out.append(f'<text x="{_f(px)}" y="{mt + ph + 15}" text-anchor="middle">'
                   f'{_e(X.tick_text(t))}</text>')
    for t in Y.ticks():
        py = Y(t)
        out.append(f'<line x1="{ml}" y1="{_f(py)}" x2="{ml + pw}" y2="{_f(py)}" '
                   f'stroke="{COLORS["grid"]}"/>')
        out.append(f'<text x="{ml - 6}" y="{_f(py + 4)}" text-anchor="end">'
                   f'{_e(Y.tick_text(t))}</text>')
    out.append(f'<line x1="{ml}" y1="{mt + ph}" x2="{ml + pw}" y2="{mt + ph}" '
               f'stroke="{COLORS["axis"]}"/>')
    out.append(f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{mt + ph}" stroke="{COLORS["axis"]}"/>')
    xl = f'{xa["label"]}{" (log scale)" if log_x else ""} — lower is better' \
        if xa["sense"] == "min" else f'{xa["label"]} — higher is better'
    yl = f'{ya["label"]} — {"higher" if ya["sense"] == "max" else "lower"} is better'
    out.append(f'<text x="{ml + pw / 2:.1f}" y="{mt + ph + 33}" text-anchor="middle" '
               f'font-size="12" fill="{COLORS["text"]}">{_e(xl)}</text>')
    out.append(f'<text transform="translate(16 {mt + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle" font-size="12" fill="{COLORS["text"]}">{_e(yl)}</text>')
    out.append("</g>")
    # budget lines, labelled where no other label or line is
    boxes: list[tuple[float, float, float, float]] = []
    for lm in front["limits"]:
        if lm["axis"] == "x" and ml <= X(lm["value"]) <= ml + pw:
            boxes.append((X(lm["value"]) - 2, mt + 16, X(lm["value"]) + 2, mt + ph))
    out.append(f'<g class="limits" stroke="{COLORS["limit"]}" fill="{COLORS["limit"]}">')
    for lm in front["limits"]:
        v = lm["value"]
        if lm["axis"] == "x":
            px = X(v)
            if not ml <= px <= ml + pw:
                continue
            out.append(f'<line x1="{_f(px)}" y1="{mt}" x2="{_f(px)}" y2="{mt + ph}" '
                       'stroke-dasharray="5 3" stroke-width="1.3"/>')
            tries = [(px - 4, mt + 12, "end"), (px + 4, mt + 12, "start"),
                     (px - 4, mt + ph - 6, "end"), (px + 4, mt + ph - 6, "start")]
        else:
            py = Y(v)
            if not mt <= py <= mt + ph:
                continue
            out.append(f'<line x1="{ml}" y1="{_f(py)}" x2="{ml + pw}" y2="{_f(py)}" '
                       'stroke-dasharray="5 3" stroke-width="1.3"/>')
            tries = [(ml + pw - 4, py - 4, "end"), (ml + pw - 4, py + 13, "end"),
                     (ml + 4, py - 4, "start"), (ml + 4, py + 13, "start")]
        spot = _free(tries, lm["label"], boxes, ml, mt, pw, ph)
        if spot is not None:
            tx, ty, anchor = spot
            out.append(f'<text x="{_f(tx)}" y="{_f(ty)}" text-anchor="{anchor}" '
                       f'stroke="none">{_e(lm["label"])}</text>')
    out.append("</g>")
    # the front as a step line: everything below/right of it is attainable only worse
    fr = sorted((p for p in pts if p["front"]), key=lambda p: (p["x"], p["y"]))
    if len(fr) > 1:
        d = [f"M{_f(X(fr[0]['x']))} {_f(Y(fr[0]['y']))}"]
        for a, b in zip(fr, fr[1:]):
            d.append(f"H{_f(X(b['x']))} V{_f(Y(b['y']))}")
        out.append(f'<path class="front-line" d="{" ".join(d)}" fill="none" '
                   f'stroke="{COLORS["front"]}" stroke-width="1.4" stroke-opacity="0.55"/>')
    # points: dominated first (faint), then the front, then the chosen plan on top
    out.append('<g class="dominated">')
    for p in pts:
        if p["front"] or p["chosen"]:
            continue
        px, py = X(p["x"]), Y(p["y"])
        tip = f'<title>{_e(_tip(p, xa, ya))}</title>'
        if p.get("breaks"):
            out.append(f'<path d="M{_f(px - 3)} {_f(py - 3)} l6 6 m0 -6 l-6 6" '
                       f'stroke="{COLORS["dominated"]}" stroke-opacity="0.6" '
                       f'stroke-width="1.4">{tip}</path>')
        else:
            out.append(f'<circle cx="{_f(px)}" cy="{_f(py)}" r="3" fill="{COLORS["dominated"]}" '
                       f'fill-opacity="0.35">{tip}</circle>')
    out.append("</g>")
    out.append('<g class="front">')
    for p in fr:
        if p["chosen"]:
            continue
        px, py = X(p["x"]), Y(p["y"])
        tip = f'<title>{_e(_tip(p, xa, ya))}</title>'
        if p.get("breaks"):
            out.append(f'<path d="M{_f(px - 4)} {_f(py - 4)} l8 8 m0 -8 l-8 8" '
                       f'stroke="{COLORS["front"]}" stroke-width="2">{tip}</path>')
        else:
            out.append(f'<circle cx="{_f(px)}" cy="{_f(py)}" r="4.5" fill="{COLORS["front"]}" '
                       f'stroke="#fff" stroke-width="1">{tip}</circle>')
    out.append("</g>")
    # labels: the chosen plan first, then the front from the fastest option; markers are
    # obstacles too, so no label covers a point
    for p in fr + [q for q in pts if q["chosen"]]:
        px, py = X(p["x"]), Y(p["y"])
        r = 8 if p["chosen"] else 5
        boxes.append((px - r, py - r, px + r, py + r))
    labels = []
    for p in [q for q in pts if q["chosen"]] + [q for q in fr if not q["chosen"]]:
        text = _label(p)
        px, py = X(p["x"]), Y(p["y"])
        placed = _place(px, py, text, boxes, ml, mt, pw, ph, gap=11 if p["chosen"] else 8)
        if placed is None and p["chosen"]:
            # the chosen plan is always named: further away, with a leader line, and at
            # worst over whatever is there
            far = [(px + sx * 11, py + dy, a) for dy in (-24, 30, -40, 46, -56, 62, -72, 78)
                   for sx, a in ((1, "start"), (-1, "end"))]
            placed = _free(far, text, boxes, ml, mt, pw, ph)
            if placed is None:
                w = CHAR_W * len(text)
                right = px + 11 + w <= ml + pw
                placed = (px + 11 if right else px - 11, min(max(py + 4, mt + 12), mt + ph - 4),
                          "start" if right else "end")
        if placed is not None:
            labels.append((p, placed))
            if p["chosen"] and abs(placed[1] - 4 - py) > 12:
                lx = placed[0]
                out.append(f'<line class="leader" x1="{_f(px)}" y1="{_f(py)}" x2="{_f(lx)}" '
                           f'y2="{_f(placed[1] - 4)}" stroke="{COLORS["chosen"]}" '
                           'stroke-width="0.8"/>')
    for p in pts:
        if not p["chosen"]:
            continue
        px, py = X(p["x"]), Y(p["y"])
        out.append(f'<g class="chosen"><path d="M{_f(px)} {_f(py - 8)} L{_f(px + 8)} {_f(py)} '
                   f'L{_f(px)} {_f(py + 8)} L{_f(px - 8)} {_f(py)} Z" '
                   f'fill="{COLORS["chosen"]}" stroke="#fff" stroke-width="1.5">'
                   f'<title>{_e("chosen plan: " + _tip(p, xa, ya))}</title></path></g>')
    out.append(f'<g class="labels" fill="{COLORS["text"]}">')
    for p, (tx, ty, anchor) in labels:
        weight = ' font-weight="600"' if p["chosen"] else ""
        color = f' fill="{COLORS["chosen"]}"' if p["chosen"] else ""
        text = _label(p)
        out.append(f'<text x="{_f(tx)}" y="{_f(ty)}" text-anchor="{anchor}"{weight}{color}>'
                   f'{_e(text)}</text>')
    out.append("</g>")
    # legend
    ly = height - 16
    lx = ml
    legend = [("circle", COLORS["front"], "Pareto front"),
              ("circle-faint", COLORS["dominated"], "dominated option"),
              ("diamond", COLORS["chosen"], "chosen plan")]
    if any(p.get("breaks") for p in pts):
        legend.append(("cross", COLORS["dominated"], "breaks a budget (hover for which)"))
    if front["limits"]:
        legend.append(("dash", COLORS["limit"], "budget (shaded: outside it)"))
    out.append(f'<g class="legend" fill="{COLORS["text"]}">')
    for kind, color, text in legend:
        if kind == "circle":
            out.append(f'<circle cx="{lx + 5}" cy="{ly - 4}" r="4.5" fill="{color}"/>')
        elif kind == "circle-faint":
            out.append(f'<circle cx="{lx + 5}" cy="{ly - 4}" r="3" fill="{color}" '
                       'fill-opacity="0.35"/>')
        elif kind == "diamond":
            out.append(f'<path d="M{lx + 5} {ly - 11} l7 7 l-7 7 l-7 -7 Z" fill="{color}"/>')
        elif kind == "cross":
            out.append(f'<path d="M{lx + 2} {ly - 7} l6 6 m0 -6 l-6 6" stroke="{color}" '
                       'stroke-width="1.4"/>')
        else:
            out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 12}" y2="{ly - 4}" '
                       f'stroke="{color}" stroke-dasharray="4 2" stroke-width="1.4"/>')
        out.append(f'<text x="{lx + 16}" y="{ly}">{_e(text)}</text>')
        lx += 26 + CHAR_W * len(text)
    out.append("</g>")
    if front.get("hidden"):
        out.append(f'<text x="{ml + pw}" y="{height - 2}" text-anchor="end" '
                   f'fill="{COLORS["axis"]}">{front["hidden"]} more dominated options not drawn'
                   '</text>')
    out.append("</svg>")
    return "\n".join(out)


def _label(p: dict) -> str:
    s = ("chosen: " if p["chosen"] else "") + p["label"]
    if p.get("also"):
        s += f" (+{len(p['also'])} alike)"
    return s


def _tip(p: dict, xa: dict, ya: dict) -> str:
    s = (f'{p["detail"]} — {xa["name"]} {num(p["x"])} {xa["unit"]}, '
         f'{ya["name"]} {num(p["y"])} {ya["unit"]}')
    if p.get("breaks"):
        s += "; breaks " + ", ".join(p["breaks"])
    return s


def _place(px, py, text, boxes, ml, mt, pw, ph, gap: float = 8):
    """A spot for a label near (px, py) that overlaps no earlier label and stays inside the
    plot; None when there is none (the point keeps its tooltip, the table lists it)."""
    g = gap
    tries = [(g, 4, "start"), (g, -9, "start"), (g, 16, "start"),
             (-g, 4, "end"), (-g, -9, "end"), (-g, 16, "end"), (0, -g - 4, "middle"),
             (0, g + 14, "middle")]
    return _free([(px + dx, py + dy, a) for dx, dy, a in tries], text, boxes, ml, mt, pw, ph)


def _free(tries, text, boxes, ml, mt, pw, ph):
    """The first (x, y, anchor) whose text box stays in the plot and overlaps no box."""
    w = CHAR_W * len(text)
    h = 12.0
    for tx, ty, anchor in tries:
        x0 = tx if anchor == "start" else (tx - w if anchor == "end" else tx - w / 2)
        box = (x0, ty - h + 2, x0 + w, ty + 2)
        if box[0] < ml + 2 or box[2] > ml + pw - 2 or box[1] < mt + 1 or box[3] > mt + ph - 1:
            continue
        if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3])
               for b in boxes):
            continue
        boxes.append(box)
        return tx, ty, anchor
    return None


# ---------------------------------------------------------------- bars

def _columns(rows, width: int, right_key: str, min_bar: int = 200) -> tuple[int, int, int]:
    """Label column, bar column and text column widths that fit the longest texts (each
    column at most a third of the chart; longer texts are cut with an ellipsis)."""
    cap = width // 3
    lw = min(cap, int(max(len(r["label"]) for r in rows) * CHAR_W) + 14)
    rw = min(cap, int(max(len(str(r.get(right_key) or "")) for r in rows) * CHAR_W) + 14)
    bw = max(min_bar, width - lw - rw)
    return lw, bw, width - lw - bw


def _fit(text: str, px: float) -> str:
    room = max(4, int(px / CHAR_W))
    return text if len(text) <= room else text[:room - 1] + "…"


def budget_bars(rows: list[dict], *, width: int = 900) -> str:
    """Rows: {label, used, limit, unit, status (ok|marginal|binding|over), text, floor}.
    Each row has its own scale from 0 to 1.15 x max(used, limit); the tick is the limit."""
    if not rows:
        return ""
    lw, bw, rw = _columns(rows, width, "text")
    rh = 24
    height = rh * len(rows) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" class="chart bars" '
           f'font-family="{_e(FONT)}" font-size="11">',
           '<title>How much of each budget the plan uses</title>']
    for i, r in enumerate(rows):
        y = 8 + i * rh
        hi = max(abs(r["used"]), abs(r["limit"])) * 1.15 or 1.0
        used_w = bw * min(abs(r["used"]) / hi, 1.0)
        lim_x = lw + bw * abs(r["limit"]) / hi
        color = COLORS.get(r["status"], COLORS["ok"])
        out.append(f'<text x="{lw - 8}" y="{y + 13}" text-anchor="end" '
                   f'fill="{COLORS["text"]}">{_e(_fit(r["label"], lw - 10))}</text>')
        out.append(f'<rect x="{lw}" y="{y + 3}" width="{bw}" height="14" '
                   f'fill="{COLORS["grid"]}" fill-opacity="0.6"/>')
        out.append(f'<rect x="{lw}" y="{y + 3}" width="{_f(used_w)}" height="14" '
                   f'fill="{color}"><title>{_e(r["text"])}</title></rect>')
        out.append(f'<line x1="{_f(lim_x)}" y1="{y}" x2="{_f(lim_x)}" y2="{y + 20}" '
                   f'stroke="{COLORS["limit"]}" stroke-width="2"/>')
        out.append(f'<text x="{lw + bw + 8}" y="{y + 13}" fill="{COLORS["text"]}">'
                   f'{_e(_fit(r["text"], rw - 10))}</text>')
    ly = height - 8
    out.append(f'<g fill="{COLORS["text"]}">'
               f'<rect x="{lw}" y="{ly - 9}" width="12" height="9" fill="{COLORS["ok"]}"/>'
               f'<text x="{lw + 16}" y="{ly}">used</text>'
               f'<line x1="{lw + 60}" y1="{ly - 11}" x2="{lw + 60}" y2="{ly + 1}" '
               f'stroke="{COLORS["limit"]}" stroke-width="2"/>'
               f'<text x="{lw + 66}" y="{ly}">limit (a floor: the bar must pass it)</text>'
               f'<rect x="{lw + 290}" y="{ly - 9}" width="12" height="9" '
               f'fill="{COLORS["binding"]}"/><text x="{lw + 306}" y="{ly}">binding</text>'
               f'<rect x="{lw + 360}" y="{ly - 9}" width="12" height="9" '
               f'fill="{COLORS["marginal"]}"/><text x="{lw + 376}" y="{ly}">marginal</text>'
               '</g>')
    out.append("</svg>")
    return "\n".join(out)


def ranges(rows: list[dict], *, width: int = 900) -> str:
    """Sensitivity rows: {label, now, used, range: {lo, hi}, short, text} — the plan stays
    the same for a limit in [lo, hi] (None: open). Drawn on a per-row scale with the spec's
    limit (tick) and the tightest limit the plan meets (dot)."""
    rows = [r for r in rows if r.get("now") is not None or r.get("used") is not None]
    if not rows:
        return ""
    lw, bw, rw = _columns(rows, width, "short")
    rh = 26
    height = rh * len(rows) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" class="chart ranges" '
           f'font-family="{_e(FONT)}" font-size="11">',
           '<title>For each budget, the range of values over which the chosen plan stays the '
           'same</title>']
    for i, r in enumerate(rows):
        y = 8 + i * rh
        vals = [v for v in (r["range"]["lo"], r["range"]["hi"], r.get("now"), r.get("used"))
                if v is not None]
        hi = max(vals) * 1.25 if vals and max(vals) > 0 else 1.0
        S = _Scale(0.0, hi, lw, lw + bw, False)
        lo, hi_ = r["range"]["lo"], r["range"]["hi"]
        a = S(lo) if lo is not None else lw
        b = S(hi_) if hi_ is not None else lw + bw
        out.append(f'<text x="{lw - 8}" y="{y + 14}" text-anchor="end" '
                   f'fill="{COLORS["text"]}">{_e(_fit(r["label"], lw - 10))}</text>')
        out.append(f'<line x1="{lw}" y1="{y + 10}" x2="{lw + bw}" y2="{y + 10}" '
                   f'stroke="{COLORS["grid"]}" stroke-width="2"/>')
        out.append(f'<rect x="{_f(a)}" y="{y + 4}" width="{_f(max(b - a, 1.5))}" height="12" '
                   f'fill="{COLORS["band"]}" fill-opacity="0.28"><title>{_e(r["text"])}</title>'
                   '</rect>')
        if hi_ is None:
            out.append(f'<path d="M{lw + bw - 6} {y + 5} l6 5 l-6 5" fill="none" '
                       f'stroke="{COLORS["band"]}" stroke-width="1.5"/>')
        if lo is None:
            out.append(f'<path d="M{lw + 6} {y + 5} l-6 5 l6 5" fill="none" '
                       f'stroke="{COLORS["band"]}" stroke-width="1.5"/>')
        if r.get("now") is not None:
            px = S(r["now"])
            out.append(f'<line x1="{_f(px)}" y1="{y + 1}" x2="{_f(px)}" y2="{y + 19}" '
                       f'stroke="{COLORS["limit"]}" stroke-width="2"/>')
        if r.get("used") is not None:
            px = S(r["used"])
            out.append(f'<circle cx="{_f(px)}" cy="{y + 10}" r="3.5" fill="{COLORS["chosen"]}"/>')
        out.append(f'<text x="{lw + bw + 8}" y="{y + 14}" fill="{COLORS["text"]}">'
                   f'{_e(_fit(r["short"], rw - 10))}</text>')
    ly = height - 8
    out.append(f'<g fill="{COLORS["text"]}">'
               f'<rect x="{lw}" y="{ly - 9}" width="14" height="9" fill="{COLORS["band"]}" '
               f'fill-opacity="0.28"/><text x="{lw + 18}" y="{ly}">plan unchanged</text>'
               f'<line x1="{lw + 120}" y1="{ly - 11}" x2="{lw + 120}" y2="{ly + 1}" '
               f'stroke="{COLORS["limit"]}" stroke-width="2"/>'
               f'<text x="{lw + 126}" y="{ly}">the spec\'s limit</text>'
               f'<circle cx="{lw + 230}" cy="{ly - 4}" r="3.5" fill="{COLORS["chosen"]}"/>'
               f'<text x="{lw + 238}" y="{ly}">the tightest limit the plan meets</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def relaxations(rows: list[dict], *, width: int = 900) -> str:
    """Infeasible specs. Rows: {label, limit, relax_to, unit, text}; numeric rows are drawn
    as an arrow from the limit to the value that restores a plan, the rest as text."""
    if not rows:
        return ""
    lw, bw, rw = _columns(rows, width, "text")
    rh = 30
    height = rh * len(rows) + 34
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" class="chart relax" '
           f'font-family="{_e(FONT)}" font-size="11">',
           '<title>Conflicting budgets: the limit now, and the value that restores a plan'
           '</title>',
           '<defs><marker id="relax-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           f'<path d="M0 0 L10 5 L0 10 z" fill="{COLORS["ok"]}"/></marker></defs>']
    for i, r in enumerate(rows):
        y = 10 + i * rh
        out.append(f'<text x="{lw - 8}" y="{y + 14}" text-anchor="end" '
                   f'fill="{COLORS["text"]}">{_e(_fit(r["label"], lw - 10))}</text>')
        lim, to = r.get("limit"), r.get("relax_to")
        if isinstance(lim, (int, float)) and isinstance(to, (int, float)) \
                and not isinstance(lim, bool):
            hi = max(abs(lim), abs(to)) * 1.2 or 1.0
            S = _Scale(0.0, hi, lw, lw + bw, False)
            out.append(f'<line x1="{lw}" y1="{y + 10}" x2="{lw + bw}" y2="{y + 10}" '
                       f'stroke="{COLORS["grid"]}" stroke-width="2"/>')
            a, b = S(abs(lim)), S(abs(to))
            out.append(f'<line x1="{_f(a)}" y1="{y + 10}" x2="{_f(b)}" y2="{y + 10}" '
                       f'stroke="{COLORS["ok"]}" stroke-width="2.5" '
                       'marker-end="url(#relax-arrow)"/>')
            out.append(f'<line x1="{_f(a)}" y1="{y + 1}" x2="{_f(a)}" y2="{y + 19}" '
                       f'stroke="{COLORS["limit"]}" stroke-width="2.5"/>')
            out.append(f'<text x="{lw + bw + 8}" y="{y + 14}" fill="{COLORS["text"]}">'
                       f'{_e(_fit(r["text"], rw - 10))}</text>')
        else:
            room = int((width - lw - 8) / CHAR_W)
            text = r["text"] if len(r["text"]) <= room else r["text"][:room - 1] + "…"
            out.append(f'<text x="{lw}" y="{y + 14}" fill="{COLORS["text"]}">'
                       f'<title>{_e(r["text"])}</title>{_e(text)}</text>')
    ly = height - 8
    numeric = any(isinstance(r.get("limit"), (int, float)) and
                  isinstance(r.get("relax_to"), (int, float)) for r in rows)
    if numeric:
        out.append(f'<g fill="{COLORS["text"]}">'
                   f'<line x1="{lw}" y1="{ly - 10}" x2="{lw}" y2="{ly + 1}" '
                   f'stroke="{COLORS["limit"]}" stroke-width="2.5"/>'
                   f'<text x="{lw + 6}" y="{ly}">limit in the spec</text>'
                   f'<line x1="{lw + 110}" y1="{ly - 4}" x2="{lw + 140}" y2="{ly - 4}" '
                   f'stroke="{COLORS["ok"]}" stroke-width="2.5" '
                   'marker-end="url(#relax-arrow)"/>'
                   f'<text x="{lw + 146}" y="{ly}">the smallest change that restores a plan '
                   '(each alone)</text></g>')
    out.append("</svg>")
    return "\n".join(out)
