"""Golden outputs of the edgeplan CLI, to prove a refactor changed no behaviour.

    python benchmarks/golden.py capture DIR    # run every command, write its outputs into DIR
    python benchmarks/golden.py compare DIR    # re-run DIR's commands, report every difference

Every output must stay byte-identical across a refactor that only moves code (for example
splitting `planner/` into subpackages). `capture` runs each command once, in a fresh process
(`python -m planner.cli ...`), and writes into DIR:

- `<verb>/<label>.stdout` and `<verb>/<label>.stderr` for every command;
- the files the commands write: `plans/<spec>.yaml` (`solve -o`), `reports/<spec>.md`
  (`report -o`);
- `index.json`: per command its name, arguments, working directory, exit code and the
  sha256 of each file above.

`compare` re-runs exactly the commands listed in DIR/index.json into a temporary directory
(so the estimate grid is the one captured), then prints a unified diff of the first
differing lines of every file that differs, is missing or is new, and every changed exit
code. It exits 1 when anything differs, 0 otherwise.

What is run (no `bundle`: it is slow and tested elsewhere): `solve` (json, yaml, and
`-o` manifest, whose stdout is the default text output) of examples/*.yaml and examples/bundle/spec.yaml (the infeasible example
exits 3, which is recorded); `report` of each spec (md via `-o`, html on stdout); `lint`
(text, json, sarif) of examples/ci/, each file in it, examples/bundle/deploy-*.yaml, and
each manifest `solve -o` wrote (github format for examples/ci/ too); `estimate --format
json` of 30 device x model x precision picks taken with fixed strides from the sorted
`catalog list` ids; `profile` of the two example ONNX models (json, with and without
`--device`, and text); `catalog list/show/validate`, `rules`, `schema`, `--help` of every
verb and `--version`.

Determinism: commands run with cwd = the repository root and relative paths, except the
lint of the written manifests, which runs in DIR/plans on their bare file names. Their
model_file paths are copied from the spec (relative to it), so the manifest of
examples/bundle/spec.yaml gets EP906 (no such file) there; that is recorded as it is.
Two runs gave identical bytes everywhere (CP-SAT runs with its fixed workers and seed, and
solve drops its timing stats). The only normalisation, applied to every captured file: the
output directory's absolute path -> `<OUT>` (solve -o and report -o name the file they wrote
on stderr) and the repository's -> `<ROOT>` (`catalog show` prints `defined_in:` as an
absolute path). EDGEPLAN_NO_CACHE=1 keeps
lint off the user's calibration cache, and EDGEPLAN_CATALOG and EDGEPLAN_DEBUG are unset.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EX = "examples"
SPECS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / EX).glob("*.yaml")) + [f"{EX}/bundle/spec.yaml"]
MODELS = [f"{EX}/models/digits_cnn.onnx", f"{EX}/models/digits_mlp.onnx"]
PROFILE_DEVICES = ["jetson-orin-nx-16gb", "coral-usb-on-rpi5"]
VERBS = ["bundle", "catalog", "estimate", "lint", "profile", "report", "rules", "schema", "solve"]
GRID, DEVICE_STRIDE, MODEL_STRIDE = 30, 13, 7     # coprime with 57 devices and 59 models


def label(path: str, spec: bool = False) -> str:
    """examples/bundle/spec.yaml -> bundle-spec (a spec), examples/ci/deploy.yaml -> ci-deploy.yaml"""
    rel = str(Path(path).relative_to(EX)).replace("/", "-")
    return rel.removesuffix(".yaml") if spec else rel


def cmd(name, *args, cwd=".", writes=()):
    return {"name": name, "args": list(args), "cwd": cwd, "writes": list(writes)}


def run(c, out: Path) -> dict:
    """Run one command (paths '{out}' -> out), write its normalised outputs, return its record."""
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEPLAN_CATALOG", "EDGEPLAN_DEBUG")}
    env["EDGEPLAN_NO_CACHE"] = "1"
    args = [a.replace("{out}", str(out)) for a in c["args"]]
    cwd = ROOT if c["cwd"] == "." else out / c["cwd"]
    for w in c["writes"]:
        (out / w).parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([sys.executable, "-m", "planner.cli", *args], cwd=cwd, env=env,
                       capture_output=True, timeout=600, check=False)
    files = {f"{c['name']}.stdout": p.stdout, f"{c['name']}.stderr": p.stderr}
    for w in c["writes"]:
        if (out / w).exists():
            files[w] = (out / w).read_bytes()
    shas = {}
    for rel, data in files.items():
        data = data.replace(str(out).encode(), b"<OUT>").replace(str(ROOT).encode(), b"<ROOT>")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        shas[rel] = hashlib.sha256(data).hexdigest()
    return {**c, "exit_code": p.returncode, "sha256": shas}


def edgeplan_json(*args):
    return json.loads(subprocess.run([sys.executable, "-m", "planner.cli", *args], cwd=ROOT,
                                     check=True, capture_output=True).stdout)


def estimate_grid():
    """GRID (device, model, precision) picks: fixed strides through the sorted ids, the
    i-th pick taking the i-th (mod) precision both support."""
    devs = sorted(edgeplan_json("catalog", "list", "devices", "--format", "json"), key=lambda d: d["id"])
    mods = sorted(edgeplan_json("catalog", "list", "models", "--format", "json"), key=lambda m: m["id"])
    picks = []
    for i in range(GRID):
        d, m = devs[i * DEVICE_STRIDE % len(devs)], mods[i * MODEL_STRIDE % len(mods)]
        common = [p for p in m["precisions"] if p in d["precisions"]] or m["precisions"]
        picks.append((d["id"], m["id"], common[i % len(common)]))
    return picks


def phase1():
    cs = []
    for s in SPECS:                                        # the slow ones first
        n = label(s, spec=True)
        cs += [cmd(f"report/{n}.md", "report", s, "-o", f"{{out}}/reports/{n}.md", writes=[f"reports/{n}.md"]),
               cmd(f"report/{n}.html", "report", s, "--format", "html")]
    for s in SPECS:
        n = label(s, spec=True)
        cs += [cmd(f"solve/{n}.json", "solve", s, "--format", "json"),
               cmd(f"solve/{n}.yaml", "solve", s, "--format", "yaml"),
               cmd(f"solve/{n}.o", "solve", s, "-o", f"{{out}}/plans/{n}.yaml", writes=[f"plans/{n}.yaml"])]
    ci = sorted(str(p.relative_to(ROOT)) for p in (ROOT / EX / "ci").iterdir() if p.is_file())
    targets = [f"{EX}/ci"] + ci + sorted(str(p.relative_to(ROOT)) for p in (ROOT / EX / "bundle").glob("deploy-*.yaml"))
    for t in targets:
        cs += [cmd(f"lint/{label(t)}.{f}", "lint", t, "--format", f)
               for f in ("text", "json", "sarif")]
    cs.append(cmd("lint/ci.github", "lint", f"{EX}/ci", "--format", "github"))
    for i, (d, m, p) in enumerate(estimate_grid()):
        cs.append(cmd(f"estimate/{i:02d}-{d}-{m}-{p}", "estimate", "-d", d, "-m", m, "-p", p, "--format", "json"))
    for m in MODELS:
        n = Path(m).stem
        cs += [cmd(f"profile/{n}.text", "profile", m), cmd(f"profile/{n}.json", "profile", m, "--format", "json")]
        cs += [cmd(f"profile/{n}-{d}.json", "profile", m, "--device", d, "--format", "json") for d in PROFILE_DEVICES]
    for kind in ("devices", "models"):
        cs += [cmd(f"catalog/list-{kind}.json", "catalog", "list", kind, "--format", "json"),
               cmd(f"catalog/list-{kind}.text", "catalog", "list", kind)]
    cs += [cmd("catalog/show-jetson-orin-nano-8gb.yaml", "catalog", "show", "jetson-orin-nano-8gb"),
           cmd("catalog/show-jetson-orin-nano-8gb.json", "catalog", "show", "jetson-orin-nano-8gb", "--format", "json"),
           cmd("catalog/show-coral-usb-on-rpi5.yaml", "catalog", "show", "coral-usb-on-rpi5"),
           cmd("catalog/show-mobilenet-v2.yaml", "catalog", "show", "mobilenet-v2"),
           cmd("catalog/validate", "catalog", "validate")]
    cs += [cmd(f"rules/list.{f}", "rules", "--format", f) for f in ("text", "json", "markdown")]
    cs.append(cmd("rules/EP202", "rules", "EP202"))
    cs += [cmd(f"schema/{t}", "schema", t) for t in ("spec", "manifest", "catalog")]
    cs += [cmd("help/edgeplan", "--help"), cmd("help/version", "--version")]
    cs += [cmd(f"help/{v}", v, "--help") for v in VERBS]
    return cs


def phase2(out: Path):
    """lint of every manifest phase 1 wrote, run in DIR/plans on the bare file name."""
    return [cmd(f"lint/plan-{p.stem}.{f}", "lint", p.name, "--format", f, cwd="plans")
            for p in sorted((out / "plans").glob("*.yaml")) for f in ("text", "json", "sarif")]


def run_all(phases, out: Path, workers: int):
    records = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for ph in phases:
            records += pool.map(lambda c: run(c, out), ph(out) if callable(ph) else ph)
    return records


def write_index(out: Path, records):
    idx = [{k: r[k] for k in ("name", "args", "cwd", "exit_code", "sha256")} | {"writes": r["writes"]}
           for r in records]
    (out / "index.json").write_text(json.dumps(idx, indent=1) + "\n", encoding="utf-8")


def capture(out: Path, workers: int) -> int:
    if out.exists() and any(out.iterdir()):
        sys.exit(f"golden: {out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    records = run_all([phase1(), phase2], out, workers)
    write_index(out, records)
    print(f"golden: {len(records)} commands, {sum(len(r['sha256']) for r in records)} files in {out}")
    return 0


def compare(golden: Path, workers: int, context: int = 20) -> int:
    idx = json.loads((golden / "index.json").read_text(encoding="utf-8"))
    strip = lambda r: {k: r[k] for k in ("name", "args", "cwd", "writes")}
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        new = Path(tmp)
        records = run_all([[strip(r) for r in idx if r["cwd"] == "."],
                           [strip(r) for r in idx if r["cwd"] != "."]], new, workers)
        bad = 0
        now = {r["name"]: r for r in records}
        for old in idx:
            r = now[old["name"]]
            if old["exit_code"] != r["exit_code"]:
                bad += 1
                print(f"EXIT {r['name']}: {old['exit_code']} -> {r['exit_code']}  (edgeplan {' '.join(old['args'])})")
        files = lambda d: {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()} - {"index.json"}
        for rel in sorted(files(golden) | files(new)):
            a, b = golden / rel, new / rel
            if a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes():
                continue
            bad += 1
            la = a.read_text(errors="replace").splitlines() if a.is_file() else []
            lb = b.read_text(errors="replace").splitlines() if b.is_file() else []
            state = "MISSING" if not b.is_file() else "NEW" if not a.is_file() else "DIFF"
            print(f"{state} {rel}")
            diff = list(difflib.unified_diff(la, lb, f"golden/{rel}", f"now/{rel}", n=1, lineterm=""))
            print("\n".join(diff[:context]) + ("\n..." if len(diff) > context else ""))
    print(f"golden: {len(records)} commands re-run, {bad} difference(s)")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["capture", "compare"])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--workers", type=int, default=2, help="commands run at once (default 2)")
    a = ap.parse_args()
    t0 = time.monotonic()
    rc = (capture if a.mode == "capture" else compare)(a.dir.resolve(), a.workers)
    print(f"golden: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
