"""What a bundle is made of: its file names, the options that build it and the result, and
the sample files its script reads."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

Progress = Callable[[str, int, int, str], None]   # (stage, done, total, message)


MODEL_FILE = "model.onnx"
SAMPLES_FILE = "sample_inputs.npz"
CALIBRATION_FILE = "calibration.npz"
VERIFICATION_FILE = "verification.json"
SUMS_FILE = "SHA256SUMS"
BUNDLE_MARKERS = (VERIFICATION_FILE, SUMS_FILE)


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
PROVIDER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*ExecutionProvider$")


DEFAULT_SAMPLES = 32
DEFAULT_BENCHMARK_RUNS = 50
DEFAULT_MIN_COSINE = 0.9
FP32_RTOL = 1e-3            # an unconverted model must reproduce the reference this closely


@dataclass
class BundleOptions:
    out_dir: str | os.PathLike
    model: str | os.PathLike | None = None
    workload: str | None = None
    calibration_data: str | os.PathLike | None = None
    eval_data: str | os.PathLike | None = None
    force: bool = False
    quantization: str = "auto"              # auto | static | dynamic
    samples: int = DEFAULT_SAMPLES
    benchmark_runs: int = DEFAULT_BENCHMARK_RUNS
    accuracy_floor: float | None = None      # overrides the workload's
    max_accuracy_drop: float | None = None   # points, FP32 -> converted, on eval data
    min_agreement: float | None = None       # top-1 agreement %, on the samples
    min_cosine: float = DEFAULT_MIN_COSINE
    timeout_s: float = 600.0


@dataclass
class BundleResult:
    out_dir: Path
    verification: dict
    warnings: list[str] = field(default_factory=list)


def _fixed_batch(specs) -> int | None:
    first = specs[0][2][0] if specs[0][2] else None
    return first if isinstance(first, int) and first > 0 else None


def _write_npz(path: Path, arrays: dict, labels) -> None:
    import io

    import numpy as np
    data = dict(arrays)
    if labels is not None:
        data["labels"] = np.asarray(labels)
    buf = io.BytesIO()
    np.savez_compressed(buf, **data)          # fixed zip timestamps: byte-identical
    path.write_bytes(buf.getvalue())
