"""The report in a real browser: Debian's chromium renders the page headless (no network, no
GPU), takes a screenshot and dumps the DOM. The charts and tables must be drawn (the page is
not blank, the chart colours are on screen) and the plan's text must be in the rendered DOM;
the page must also print to PDF. Skipped, with the reason, where chromium is not installed
(`.ci/run` installs it)."""
import os
import shutil
import struct
import subprocess
import zlib

import pytest
from conftest import spec_from

from planner.report.build import build_report
from planner.report.render import render_report
from planner.report.svg import COLORS

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]

SPEC = """
name: camera
description: A door camera that classifies visitors.
workloads:
  - {name: classify, task: classification, rate_fps: 30, latency_budget_ms: 20, accuracy_floor: 74}
budgets: {power_w: 12, cost_usd: 600}
"""


def _browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not on PATH (Debian: apt-get install -y chromium); "
                ".ci/run installs it")


def read_png(path) -> tuple[int, int, int, bytes]:
    """(width, height, channels, pixels): an 8-bit RGB/RGBA PNG decoded with zlib + struct."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (2, 6)
            ch = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = w * ch
    out = bytearray(h * stride)
    prev = bytearray(stride)
    i = 0
    for y in range(h):
        f = raw[i]
        cur = bytearray(raw[i + 1:i + 1 + stride])
        i += stride + 1
        if f == 1:
            for x in range(ch, stride):
                cur[x] = (cur[x] + cur[x - ch]) & 255
        elif f == 2:
            cur = bytearray((a + b) & 255 for a, b in zip(cur, prev))
        elif f == 3:
            for x in range(stride):
                left = cur[x - ch] if x >= ch else 0
                cur[x] = (cur[x] + ((left + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = cur[x - ch] if x >= ch else 0
                b = prev[x]
                c = prev[x - ch] if x >= ch else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[x] = (cur[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y * stride:(y + 1) * stride] = cur
        prev = cur
    return w, h, ch, bytes(out)


def _rgb(hexcolor: str) -> tuple[int, int, int]:
    return tuple(int(hexcolor[k:k + 2], 16) for k in (1, 3, 5))


@pytest.fixture(scope="module")
def page(tmp_path_factory, mini_catalog):
    tmp = tmp_path_factory.mktemp("browser")
    rep = build_report(spec_from(SPEC), mini_catalog, top=2)
    html = tmp / "review.html"
    html.write_text(render_report(rep, "html"), encoding="utf-8")
    return rep, html, tmp


def _chromium(tmp, *args, timeout=90):
    env = dict(os.environ, HOME=str(tmp))     # no profile or crash reports outside tmp
    return subprocess.run([_browser(), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_chromium_draws_the_charts_and_the_plan(page):
    rep, html, tmp = page
    shot = tmp / "review.png"
    r = _chromium(tmp, f"--screenshot={shot}", "--dump-dom", "--window-size=1200,4000",
                  html.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    # the plan's text, every section and every chart are in the rendered DOM
    assert rep["plan"]["summary"] in dom
    for section in ("question", "answer", "why", "tradeoff", "sensitivity", "runners-up",
                    "rejected", "manifest"):
        assert f'id="{section}"' in dom
    assert dom.count("<svg") == len(rep["fronts"]) + 2      # fronts, budget bars, ranges
    assert dom.count("<table") >= 8
    # the screenshot is not blank, and the charts' colours are on screen
    w, h, ch, px = read_png(shot)
    assert (w, h) == (1200, 4000)
    n = w * h
    non_white = sum(1 for k in range(0, len(px), ch * 7)
                    if px[k] < 245 or px[k + 1] < 245 or px[k + 2] < 245)
    assert non_white > 0.03 * n / 7, "the page looks blank"
    colours = {}
    for name in ("front", "chosen", "limit"):
        rgb = bytes(_rgb(COLORS[name]))
        colours[name] = sum(1 for k in range(0, len(px), ch) if px[k:k + 3] == rgb)
    assert all(v >= 20 for v in colours.values()), colours
    # kept for people to look at: $EDGEPLAN_SCREENSHOT_DIR/report.png
    keep = os.environ.get("EDGEPLAN_SCREENSHOT_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(shot, os.path.join(keep, "report.png"))


def test_chromium_prints_the_page_to_pdf(page):
    _, html, tmp = page
    pdf = tmp / "review.pdf"
    r = _chromium(tmp, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") >= 2
