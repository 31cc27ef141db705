"""The house: one package per stage of the data flow, imports pointing one way, no cycles,
every package in the wheel, and the light commands importing nothing heavy."""
import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")   # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PLANNER = ROOT / "planner"

# the stages, in the order data flows (docs/ARCHITECTURE.md): a module imports only from its
# own stage or an earlier one
STAGES = [
    {"planner", "planner.errors", "planner.exitcodes", "planner.units", "planner.yamlio",
     "planner.vocabulary", "planner.text", "planner.cachedir", "planner.atomicfile"},
    {"planner.spec", "planner.manifest"},
    {"planner.catalog"},
    {"planner.estimate"},
    {"planner.onnxfile", "planner.llmfile"},
    {"planner.measure"},
    {"planner.solve"},
    {"planner.lint"},
    {"planner.report"},
    {"planner.bundle"},
    {"planner.cli"},
]


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PLANNER.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports_of(path: Path, known) -> set[str]:
    """Every planner module a file imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            if node.module and node.module.split(".")[0] == "planner":
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "planner"}
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(p, mods) - {m} for m, p in mods.items()}


def stage_of(module: str) -> int:
    for i, names in enumerate(STAGES):
        if module in names or any(module.startswith(n + ".") for n in names if n != "planner"):
            return i
    raise AssertionError(f"{module} belongs to no stage: add it to STAGES and ARCHITECTURE.md")


def test_every_module_belongs_to_a_stage_and_imports_point_one_way():
    g = graph()
    bad = [f"{m} (stage {stage_of(m)}) imports {d} (stage {stage_of(d)})"
           for m, deps in sorted(g.items()) for d in sorted(deps) if stage_of(d) > stage_of(m)]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    g = graph()
    seen, on_path, cycles = set(), [], []

    def visit(m):
        if m in on_path:
            cycles.append(on_path[on_path.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        on_path.append(m)
        for d in sorted(g.get(m, ())):
            visit(d)
        on_path.pop()

    for m in sorted(g):
        visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle(tmp_path):
    """The check is not vacuous: two modules importing each other (one inside a function)."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from planner.b import x\n")
    b.write_text("def f():\n    from planner.a import y\n")
    known = {"planner.a", "planner.b"}
    assert imports_of(a, known) == {"planner.b"} and imports_of(b, known) == {"planner.a"}


def test_no_rule_imports_another_rule_and_lint_never_imports_the_solver():
    g = graph()
    for m, deps in g.items():
        if m.startswith("planner.lint.rules.ep"):
            assert not [d for d in deps if d.startswith("planner.lint.rules.ep")], m
        if m.startswith("planner.lint"):
            assert not [d for d in deps if d.startswith("planner.solve")], m


def test_every_package_is_in_the_wheel():
    """pyproject lists packages explicitly (catalog/ and profiles/ map into planner/_data):
    a package missing from the list would be missing from the wheel while an editable
    install hides it."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in PLANNER.rglob("__init__.py")}
    assert on_disk <= listed, sorted(on_disk - listed)


HEAVY = ("ortools", "onnx", "onnxruntime", "numpy", "jinja2")


def imported_by(code: str, env=None) -> set[str]:
    """Top-level packages a fresh interpreter imports running `code`, read from
    `python -X importtime`."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    out = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            out.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return out


def test_importing_the_solver_imports_no_ortools_until_a_model_is_built():
    got = imported_by("import planner.solve.pipeline, planner.solve.cpsat, planner.solve.explain")
    assert "ortools" in imported_by("import planner.solve.cpsat as c\n"
                                    "from planner.solve.budgets.model import PlanModel\n"
                                    "c.make_solver(None, 1)")
    assert not got & set(HEAVY), sorted(got & set(HEAVY))


@pytest.mark.parametrize("argv", [
    ["estimate", "--device", "jetson-orin-nano-8gb", "--model", "resnet-50",
     "--precision", "int8"],
    ["catalog", "list", "devices"],
    ["lint", "examples/ci/deploy.yaml"],
], ids=["estimate", "catalog", "lint"])
def test_light_commands_import_nothing_heavy_on_a_warm_cache(argv, tmp_path):
    env = dict(os.environ, EDGEPLAN_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("EDGEPLAN_NO_CACHE", None)
    env.pop("EDGEPLAN_CATALOG", None)
    code = textwrap.dedent(f"""
        from planner.cli import main
        try:
            main({argv!r})
        except SystemExit as e:
            assert e.code in (0, 1), e.code
    """)
    cold = imported_by(code, env)
    assert not cold & {"ortools", "onnx", "onnxruntime", "jinja2"}, sorted(cold)
    warm = imported_by(code, env)
    assert not warm & set(HEAVY), sorted(warm & set(HEAVY))
    if argv[0] != "catalog":
        assert list((tmp_path / "cache").glob("calibration-*.json")), "no calibration cached"
