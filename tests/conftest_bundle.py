"""Fixtures shared by test_profile.py and test_bundle.py (imported by them, so the suite's
conftest.py stays untouched): a small self-contained catalog with one device of each
bundle target family that matters (a CPU board, a Jetson with a DLA, an Edge TPU) and its
op-support tables, and helpers that write manifests."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "models"
CNN = EXAMPLES / "digits_cnn.onnx"
MLP = EXAMPLES / "digits_mlp.onnx"


def zoo(name: str) -> Path:
    import onnx
    return Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light" / \
        f"light_{name}.onnx"


CATALOG_YAML = textwrap.dedent("""\
    devices:
      - id: test-pi
        name: Test Pi board
        vendor: Test
        family: raspberry-pi
        form_factor: sbc
        memory: {total_gb: 8, available_gb: 6, bandwidth_gbs: 17, source: test fixture}
        units:
          - {id: cpu, kind: cpu, peak_tops: {fp32: 0.05, int8: 0.1}, runtimes: [onnxruntime],
             source: test fixture}
        power: {idle_w: 3, modes: [{id: default, power_w: 8}], source: test fixture}
        price: {usd: 80, source: test fixture}
      - id: test-jetson
        name: Test Jetson
        vendor: Test
        family: jetson
        form_factor: dev-kit
        memory: {total_gb: 8, available_gb: 6, bandwidth_gbs: 68, source: test fixture}
        units:
          - {id: gpu, kind: gpu, peak_tops: {fp32: 1, fp16: 2, int8: 4},
             runtimes: [tensorrt, onnxruntime], source: test fixture}
          - {id: dla0, kind: dla, peak_tops: {fp16: 2, int8: 4}, runtimes: [tensorrt],
             op_support: test-dla, source: test fixture}
        power: {idle_w: 3, modes: [{id: 15w, power_w: 15}], source: test fixture}
        price: {usd: 500, source: test fixture}
      - id: test-coral
        name: Test Coral
        vendor: Test
        family: coral
        form_factor: usb-accelerator
        memory: {total_gb: 4, available_gb: 3, bandwidth_gbs: 10, source: test fixture}
        units:
          - {id: tpu, kind: tpu, peak_tops: {int8: 4}, runtimes: [edgetpu], on_chip_memory_mb: 8,
             static_shapes_only: true, op_support: test-edgetpu, source: test fixture}
        power: {idle_w: 3, modes: [{id: default, power_w: 5}], source: test fixture}
        price: {usd: 60, source: test fixture}
    op_support:
      - id: test-edgetpu
        name: Test Edge TPU ops
        supported_ops: [Conv, Relu, MaxPool, Gemm, Add, MatMul]
        tflite_ops: {CONV_2D: [Conv], RELU: [Relu], MAX_POOL_2D: [MaxPool],
                     FULLY_CONNECTED: [Gemm, MatMul], ADD: [Add]}
        source: test fixture
      - id: test-dla
        name: Test DLA ops
        supported_ops: [Conv, Relu, MaxPool]
        source: test fixture
    """)


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bundle-catalog")
    (d / "devices.yaml").write_text(CATALOG_YAML)
    return d


@pytest.fixture(scope="session")
def bundle_catalog(catalog_dir):
    from planner.catalog.loader import load_catalog
    return load_catalog([catalog_dir], builtin=False, use_env=False)


def leftovers(parent: Path) -> list[str]:
    """The temporary bundle directories a build left beside its target (none, if it cleaned
    up)."""
    return [p.name for p in parent.iterdir() if p.name.startswith(".edgeplan-bundle-")]


def write_manifest(path: Path, *workloads: dict, name: str = "digits") -> Path:
    """A deployment manifest with these workloads (and their devices)."""
    import yaml
    devices = sorted({w["device"] for w in workloads})
    data = {"apiVersion": "edgeplan/v1", "kind": "Deployment", "name": name,
            "devices": [{"id": d} for d in devices], "workloads": list(workloads)}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def workload(name="digits", model="digits-cnn", device="test-pi", precision="int8", **kw):
    w = {"name": name, "model": model, "precision": precision, "device": device}
    if precision == "int8":
        w["technique"] = "ptq"
    w.update(kw)
    return w


@pytest.fixture
def only_test_catalog(monkeypatch, catalog_dir):
    """CLI runs (in-process) see only the test catalog: the tests do not depend on the
    built-in catalog's contents. Pass `--catalog` with the returned directory."""
    import planner.catalog.loader as cat
    monkeypatch.setattr(cat, "builtin_dirs", lambda: [])
    monkeypatch.delenv("EDGEPLAN_CATALOG", raising=False)
    return catalog_dir
