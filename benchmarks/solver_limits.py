"""Does `--time-limit` hold, and is memory bounded, on hostile-sized input (issue 20)? Run:

    python benchmarks/solver_limits.py [--time-limit 2] [--cases small,eight,...] [--dir DIR]

Writes synthetic user catalogs (benchmarks/synthetic.py devices, as YAML files a user would
pass with --catalog) and specs, runs `edgeplan solve --time-limit T` on each in a fresh process,
and prints one line per case: exit code, status (or the error), wall time against the limit
(+1 s allowed) and the process's peak memory (max RSS)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml  # noqa: E402
from synthetic import make_catalog  # noqa: E402

# name -> (devices, workloads, max_devices, budgets, workload extras[, command: solve])
CASES = {
    "300-devices": (300, 1, 1, {}, {}),
    "3000-devices": (3000, 1, 1, {}, {}),
    "8-workloads": (300, 8, 8, {}, {}),
    "16-workloads": (300, 16, 4, {}, {}),
    "infeasible-1W": (300, 8, 8, {"power_w": 1}, {}),
    "64-workloads": (300, 64, 16, {}, {}),
    "floor-99": (300, 8, 8, {}, {"accuracy_floor": 99}),
    # `edgeplan report` under the same limit: the plan, runners-up, sensitivity, fronts
    "report-300": (300, 1, 1, {}, {}, "report"),
    "report-8-workloads": (300, 8, 8, {}, {}, "report"),
}


def write_catalog(path: str, n_devices: int, seed: int = 1) -> str:
    """A user catalog directory of `n_devices` synthetic devices (two power modes each)."""
    os.makedirs(path, exist_ok=True)
    cat = make_catalog(n_devices, 0, seed=seed, modes_per_device=2)
    devs = [d.model_dump(mode="json", exclude_none=True) for d in cat.devices.values()]
    with open(os.path.join(path, "devices.yaml"), "w") as f:
        yaml.safe_dump({"devices": devs}, f, sort_keys=False)
    return path


def write_spec(path: str, workloads: int, max_devices: int, budgets: dict, extra: dict) -> str:
    tasks = ("classification", "detection")
    spec = {"name": os.path.basename(path).removesuffix(".yaml"),
            "workloads": [{"name": f"w{i}", "task": tasks[i % 2], "rate_fps": 10,
                           "latency_budget_ms": 100, **extra} for i in range(workloads)],
            "budgets": {"max_devices": max_devices, **budgets},
            "objective": ["min power", "max accuracy", "min cost"]}
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    return path


def run_case(cmd: list[str]) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak RSS in MB, the first line of output (or of the error)."""
    t = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    wall = time.monotonic() - t
    # the child's own rusage (resource.RUSAGE_CHILDREN would be the maximum over all cases)
    ru = p._rusage if hasattr(p, "_rusage") else None
    peak = ru.ru_maxrss / 1024 if ru else float("nan")
    first = next((ln for ln in (out + err).splitlines()
                  if ln.startswith(("status:", "cut short", "edgeplan: error",
                                    "edgeplan: wrote"))), "")
    extra = next((ln for ln in out.splitlines() if ln.startswith("cut short")), "")
    return p.returncode, wall, peak, (first + ("  |  " + extra if extra and extra != first
                                               else ""))


class _Popen(subprocess.Popen):
    """Popen that keeps the child's rusage (os.wait4) for its peak memory."""

    def _try_wait(self, wait_flags):
        pid, sts, ru = os.wait4(self.pid, wait_flags)
        if pid == self.pid:
            self._rusage = ru
        return pid, sts


subprocess.Popen = _Popen   # for run_case only: this script runs nothing else


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--dir", default=None, help="where to write catalogs and specs")
    a = ap.parse_args()
    root = a.dir or tempfile.mkdtemp(prefix="edgeplan-limits-")
    cats: dict[int, str] = {}
    print(f"time limit {a.time_limit:g} s (allowed: {a.time_limit + 1:g} s); files in {root}")
    print(f"{'case':<16} {'exit':>4} {'wall s':>7} {'peak MB':>8}  within  result")
    for name in a.cases.split(","):
        n, w, md, budgets, extra, *verb = CASES[name]
        if n not in cats:
            cats[n] = write_catalog(os.path.join(root, f"catalog-{n}"), n)
        spec = write_spec(os.path.join(root, f"{name}.yaml"), w, md, budgets, extra)
        cmd = verb[0] if verb else "solve"
        out = ["-o", os.path.join(root, f"{name}.html")] if cmd == "report" else []
        rc, wall, peak, line = run_case([sys.executable, "-m", "planner.cli", cmd, spec,
                                         "--catalog", cats[n], "--time-limit",
                                         str(a.time_limit), *out])
        ok = "yes" if wall <= a.time_limit + 1 else "NO"
        print(f"{name:<16} {rc:>4} {wall:>7.2f} {peak:>8.0f}  {ok:<6}  {line}", flush=True)


if __name__ == "__main__":
    main()
