"""The deployment manifest (`deploy.yaml`): what `solve -o` writes and what `lint` and
`bundle` read. Versioned by `apiVersion`; hand-written manifests use the same schema."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, model_validator

from planner.errors import InputError
from planner.units import Fps, Ms, TokPerS, Usd, Watts, quantity
from planner.vocabulary import (
    KVCacheType,
    Precision,
    Score,
    Strict,
    Technique,
    WeightFormat,
    whole,
)
from planner.yamlio import load_mapping, validation_error

API_VERSION = "edgeplan/v1"


class DeviceEntry(Strict):
    id: str = Field(description="Device id from the catalog.")
    power_mode: str | None = Field(default=None, description="Power mode id (default: the device's first mode).")
    count: whole(ge=1) = Field(default=1, description="How many of this device the deployment uses.")


class ManifestWorkload(Strict):
    """One workload of a deployment: which model runs where, and what it must meet."""
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Workload name (unique).")
    model: str = Field(description="Model id from the profiles, or a name for model_file.")
    model_file: str | None = Field(default=None, description="Path to the model deployed (relative to the manifest): an ONNX file, or for an LLM a Hugging Face folder, its config.json or a GGUF file.")
    precision: Precision = Field(description="Precision the model runs at on the unit.")
    technique: Technique | None = Field(default=None, description="How that precision was reached: baseline, ptq, qat, weight-only, pruned, distilled (default: the profile's most accurate way to this precision).")
    device: str = Field(description="Device id (one of `devices`).")
    instance: whole(ge=0) = Field(default=0, description="Which of `count` devices of that id (0-based).")
    unit: str | None = Field(default=None, description="Compute unit id (default: the device's first).")
    runtime: str | None = Field(default=None, description="Runtime (default: the unit's first).")
    batch: whole(ge=1) = Field(default=1, description="Inputs per inference.")
    rate_fps: Fps | None = Field(default=None, description="Required inferences per second.")
    tokens_per_s: TokPerS | None = Field(default=None, description="Required decode rate for LLMs (tokens/s).")
    latency_budget_ms: Ms | None = Field(default=None, description="Latency budget per inference (ms).")
    latency_critical: bool = Field(default=False, description="Real-time workload (batching hurts).")
    accuracy_floor: Score | None = Field(default=None, description="Lowest acceptable accuracy in the profile's metric (0-100).")
    context_tokens: whole(ge=1) | None = Field(default=None, description="LLM context length to hold in the KV cache.")
    ttft_budget_ms: Ms | None = Field(default=None, description="LLM time-to-first-token budget for a prompt of prompt_tokens (ms).")
    prompt_tokens: whole(ge=1) | None = Field(default=None, description="LLM prompt length the time to first token is for (tokens; default context_tokens).")
    weight_format: WeightFormat | None = Field(default=None, description="LLM weights in a named format, with its bits per weight: GGUF q4_0, q4_k_s, q4_k_m, q8_0 (llama.cpp), q4f16_1, q4f32_1 (MLC LLM), mlx-4bit, mlx-8bit (MLX), awq-w4g128, gptq-w4g128 (TensorRT).")
    kv_cache: KVCacheType | None = Field(default=None, description="LLM KV cache element type: fp16 (the default), q8_0 or q4_0 (llama.cpp's --cache-type-k/-v).")
    calibration_data: str | None = Field(default=None, description="Calibration data used for INT8 PTQ (path).")
    dynamic_shapes: bool | None = Field(default=None, description="The deployed graph has dynamic input shapes (default: from the profile or model_file).")
    expected_latency_ms: quantity("ms", gt=0) | None = Field(default=None, description="A claimed p50 latency per inference (per generated token for an LLM), e.g. from a vendor's blog (ms). A claim, not a budget: lint checks it against the unit's physical ceiling (EP305).")
    expected_fps: quantity("fps", gt=0) | None = Field(default=None, description="A claimed throughput in inferences per second over the whole batch and every core of the unit (fps). A claim, not a budget: lint checks it against the unit's physical ceiling (EP305).")
    expected_tokens_per_s: quantity("tokens/s", gt=0) | None = Field(default=None, description="A claimed LLM decode rate, summed over the batch's sequences (tokens/s). A claim, not a budget: lint checks it against the memory bandwidth and compute ceiling (EP305).")

    @model_validator(mode="after")
    def _prompt_in_context(self):
        if self.prompt_tokens is not None and self.context_tokens is not None and \
                self.prompt_tokens > self.context_tokens:
            raise ValueError(f"prompt_tokens {self.prompt_tokens} is more than context_tokens "
                             f"{self.context_tokens}: the KV cache holds the prompt")
        return self


class ManifestBudgets(Strict):
    """The deployment's budgets, as the plan was solved under."""
    power_w: Watts | None = Field(default=None, description="Total power budget (W).")
    cost_usd: Usd | None = Field(default=None, description="Total device cost (USD).")
    memory_headroom_pct: quantity("%", le=90) = Field(default=10.0, description="Memory kept free on every device (%).")
    compute_headroom_pct: quantity("%", le=90) = Field(default=10.0, description="Compute time kept free on every unit (%).")
    headroom_pct: quantity("%", le=90) = Field(default=10.0, description="Below this slack a met budget is marginal (%).")


class Manifest(Strict):
    apiVersion: Literal["edgeplan/v1"] = Field(description="Manifest format version.")
    kind: Literal["Deployment"] = Field(default="Deployment")
    name: str = Field(default="deployment", description="Deployment name.")
    devices: list[DeviceEntry] = Field(min_length=1, description="The bill of devices.")
    workloads: list[ManifestWorkload] = Field(min_length=1, description="What runs where.")
    budgets: ManifestBudgets = Field(default_factory=ManifestBudgets, description="Deployment-wide budgets.")

    @model_validator(mode="after")
    def _consistent(self):
        names = [w.name for w in self.workloads]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate workload name {sorted(dup)[0]!r}")
        ids = {d.id for d in self.devices}
        for w in self.workloads:
            if w.device not in ids:
                raise ValueError(f"workload {w.name!r} runs on {w.device!r}, which is not in devices")
        return self


def parse_manifest(data: dict, pos) -> Manifest:
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        raise validation_error(pos, e, InputError, model=Manifest, data=data) from None


def load_manifest(path) -> tuple[Manifest, object]:
    """Returns the manifest and the YAML positions (for findings with line numbers)."""
    data, pos = load_mapping(path)
    return parse_manifest(data, pos), pos
