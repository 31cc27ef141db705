"""Wall time of the commands people run most, each in a fresh process, as CI and a shell run
them: `lint` and `estimate` of one item, `solve` and `report` of the README's first example,
and yamllint on the same manifest for scale.

    python benchmarks/startup.py              # 15 runs each, interleaved
    python benchmarks/startup.py --runs 31 --check
    git worktree add /tmp/old v0.1; python benchmarks/startup.py --compare-with /tmp/old

Modules are byte-compiled first (as `pip install` does), so a PYTHONDONTWRITEBYTECODE
environment does not time the compiler. Runs are interleaved (one of each command per round) so that a noisy shared machine slows
every row alike; the first round is a warm-up that fills the OS file cache and edgeplan's
calibration cache, and is not counted. Prints the median, min and max of each row and the
ratios the targets are stated in. --compare-with DIR also runs each command from another
checkout of edgeplan (its `planner` package first on the path), interleaved, and prints
the ratio of each row to that version's: a speed-up measured in one run. With --check it exits 1 when a target is missed:

    lint, estimate   <= 0.30 s median, and <= 3x yamllint on the same file
    solve            <= 1.2 s median (examples/drone-detect-pose.yaml)
    report           <= 2.0 s median (the same spec, Markdown)
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "examples/ci/deploy.yaml"
SPEC = "examples/drone-detect-pose.yaml"
TARGETS_S = {"lint": 0.30, "estimate": 0.30, "solve": 1.2, "report": 2.0}
MAX_RATIO_TO_YAMLLINT = 3.0


def edgeplan() -> list[str]:
    exe = shutil.which("edgeplan")
    return [exe] if exe else [sys.executable, "-m", "planner.cli"]


def other_edgeplan(checkout: str) -> list[str]:
    """The CLI of another checkout, found before this environment's edgeplan (an editable
    install's import hook would otherwise win over PYTHONPATH)."""
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
            "if 'editable' not in repr(f).lower()]; "
            f"sys.path.insert(0, {os.path.abspath(checkout)!r}); "
            "from planner.cli import main; sys.argv[0] = 'edgeplan'; main()")
    return [sys.executable, "-c", code]


def commands(out_dir: str, ep: list[str] | None = None, tag: str = "") -> dict[str, list[str]]:
    ep = ep or edgeplan()
    rows = {
        "lint": ep + ["lint", MANIFEST],
        "estimate": ep + ["estimate", "--device", "jetson-orin-nano-8gb", "--model",
                          "resnet-50", "--precision", "int8"],
        "solve": ep + ["solve", SPEC],
        "report": ep + ["report", SPEC, "-o", os.path.join(out_dir, f"review{tag}.md")],
    }
    if tag:
        return {k + tag: v for k, v in rows.items()}
    yl = shutil.which("yamllint")
    if yl:
        rows["yamllint"] = [yl, "-d", "relaxed", MANIFEST]
    return rows


def run_once(cmd, env) -> float:
    if isinstance(cmd, tuple):          # (command, its own environment)
        cmd, env = cmd
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr[-500:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--compare-with", metavar="DIR",
                    help="another edgeplan checkout to time alongside, interleaved")
    args = ap.parse_args()
    env = dict(os.environ)
    env.pop("EDGEPLAN_CATALOG", None)
    env.pop("EDGEPLAN_NO_CACHE", None)
    # as installed: pip byte-compiles a wheel, so time the compiled modules, not the compiler
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for tree in [ROOT] + ([Path(args.compare_with)] if args.compare_with else []):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "planner")],
                       check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as out_dir:
        rows = commands(out_dir)
        if args.compare_with:
            other = dict(env)
            rows.update({k: (v, other) for k, v in commands(
                out_dir, other_edgeplan(args.compare_with), " (other)").items()})
        times: dict[str, list[float]] = {k: [] for k in rows}
        for k, cmd in rows.items():         # warm-up round
            run_once(cmd, env)
        for _ in range(args.runs):
            for k, cmd in rows.items():
                times[k].append(run_once(cmd, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'command':<10} {'median s':>9} {'min s':>7} {'max s':>7}  target")
    missed = []
    for k, v in times.items():
        target = TARGETS_S.get(k)
        mark = ""
        if target is not None:
            ok = med[k] <= target
            mark = f"<= {target:g} s {'ok' if ok else 'MISSED'}"
            if not ok:
                missed.append(k)
        print(f"{k:<10} {med[k]:>9.3f} {min(v):>7.3f} {max(v):>7.3f}  {mark}")
    for k in TARGETS_S:
        if f"{k} (other)" in med:
            print(f"{k}: {med[k] / med[k + ' (other)']:.2f}x the other checkout's median")
    if "yamllint" in med:
        for k in ("lint", "estimate"):
            ratio = med[k] / med["yamllint"]
            ok = ratio <= MAX_RATIO_TO_YAMLLINT
            print(f"{k} / yamllint: {ratio:.2f}x  (<= {MAX_RATIO_TO_YAMLLINT:g}x "
                  f"{'ok' if ok else 'MISSED'})")
            if not ok:
                missed.append(f"{k}/yamllint")
    else:
        print("yamllint not installed (pip install yamllint): ratios not measured")
    print(f"runs: {args.runs} per command, interleaved, after one warm-up round; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
