"""Wall time of `edgeplan lint` on one manifest, as CI runs it: a fresh process each time.

    python benchmarks/lint_speed.py                       # examples/ci/deploy.yaml, 20 runs
    python benchmarks/lint_speed.py path/to/deploy.yaml --runs 50 --check 0.4
    python benchmarks/lint_speed.py deploy.yaml -- --catalog my-devices/   # args for lint

Prints the median, min and max wall time and the command. With --check SECONDS it exits 1
when the median is slower (the README's target is 0.4 s). The first run is a warm-up (it
fills the OS file cache and edgeplan's catalog cache) and is not counted.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def edgeplan_command() -> list[str]:
    exe = shutil.which("edgeplan")
    return [exe] if exe else [sys.executable, "-c", "from planner.cli import main; main()"]


def measure(manifest: str, runs: int, extra: list[str]) -> dict:
    cmd = edgeplan_command() + ["lint", manifest, *extra]
    env = dict(os.environ)
    env.pop("EDGEPLAN_CATALOG", None)

    def once() -> float:
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        dt = time.perf_counter() - t
        if p.returncode not in (0, 1):
            raise SystemExit(f"edgeplan lint exited {p.returncode}: {p.stderr.strip()}")
        return dt

    once()                                             # warm-up
    times = [once() for _ in range(runs)]
    return {"command": " ".join(["edgeplan", "lint", manifest, *extra]), "runs": runs,
            "median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
            "max_s": round(max(times), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest", nargs="?", default="examples/ci/deploy.yaml")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--check", type=float, metavar="SECONDS",
                    help="exit 1 when the median is slower than this")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    a = ap.parse_args(argv)
    r = measure(a.manifest, a.runs, extra)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{r['command']}: median {r['median_s']:.3f} s over {r['runs']} runs "
              f"(min {r['min_s']:.3f} s, max {r['max_s']:.3f} s)")
    if a.check is not None and r["median_s"] > a.check:
        print(f"slower than {a.check} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
