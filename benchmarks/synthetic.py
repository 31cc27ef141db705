"""A synthetic catalog generator for scale benchmarks: plausible, seeded, not real devices.

Devices spread over families with log-uniform compute, memory and bandwidth; models spread
over sizes with accuracy rising with size; every model has the five usual options
(FP32, FP16, INT8 PTQ, INT8 QAT, INT4 weight-only)."""
from __future__ import annotations

import random

from planner.catalog.loader import Catalog
from planner.catalog.schema import Device, ModelProfile

SRC = "synthetic (benchmarks/synthetic.py)"


def _lu(rng, lo, hi):
    return lo * (hi / lo) ** rng.random()


def make_catalog(n_devices: int, n_models: int, *, tasks=("classification",), seed: int = 0,
                 modes_per_device: int = 1) -> Catalog:
    rng = random.Random(seed)
    cat = Catalog()
    for d in range(n_devices):
        tops = _lu(rng, 0.5, 200)
        mem = rng.choice([1, 2, 4, 8, 16, 32, 64])
        watts = _lu(rng, 2, 60)
        modes = [{"id": f"m{k}", "power_w": round(watts * (k + 1) / modes_per_device, 3),
                  "compute_scale": round((k + 1) / modes_per_device, 3)}
                 for k in range(modes_per_device)]
        dev = Device.model_validate({
            "id": f"dev-{d:04d}", "name": f"Synthetic device {d}", "vendor": "synthetic",
            "family": f"fam{d % 10}", "form_factor": "board",
            "memory": {"total_gb": mem, "available_gb": mem * 0.75,
                       "bandwidth_gbs": round(_lu(rng, 4, 400), 3), "source": SRC},
            "units": [{"id": "npu", "kind": "npu",
                       "peak_tops": {"fp32": round(tops / 8, 4), "fp16": round(tops / 2, 4),
                                     "int8": round(tops, 4)},
                       "weight_only": ["int4"], "runtimes": ["rt"], "source": SRC}],
            "power": {"idle_w": round(watts * 0.2, 3), "modes": modes, "source": SRC},
            "price": {"usd": round(_lu(rng, 30, 3000), 2), "source": SRC}})
        cat.devices[dev.id] = dev
    for m in range(n_models):
        task = tasks[m % len(tasks)]
        params = _lu(rng, 1, 300)
        acc = 50 + 10 * (params / 300) ** 0.3 * 3 + rng.uniform(-3, 3)
        model = ModelProfile.model_validate({
            "id": f"model-{m:04d}", "name": f"Synthetic model {m}", "family": f"mfam{m % 7}",
            "task": task,
            "size": {"params_m": round(params, 3), "macs_g": round(params * _lu(rng, 0.02, 0.2), 4),
                     "activation_mb": round(_lu(rng, 1, 200), 3), "input": "224x224",
                     "input_elements": 150528, "output_elements": 1000, "source": SRC},
            "onnx_ops": ["Conv", "Relu", "Gemm"], "metric": "top-1 %",
            "options": [
                {"precision": "fp32", "technique": "baseline", "accuracy": round(acc, 2), "source": SRC},
                {"precision": "fp16", "technique": "baseline", "accuracy": round(acc, 2), "source": SRC},
                {"precision": "int8", "technique": "ptq", "accuracy": round(acc - 1.5, 2), "source": SRC},
                {"precision": "int8", "technique": "qat", "accuracy": round(acc - 0.6, 2), "source": SRC},
                {"precision": "int4", "technique": "weight-only", "accuracy": round(acc - 3, 2), "source": SRC}]})
        cat.models[model.id] = model
    return cat
