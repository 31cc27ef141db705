"""The spec (`spec.yaml`): what a team needs. `edgeplan schema spec` prints its JSON Schema
(draft-07), usable from a `# yaml-language-server: $schema=...` line."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from planner.errors import InputError
from planner.units import quantity
from planner.vocabulary import (
    FiniteFloat,
    KVCacheType,
    Precision,
    PriceKind,
    Score,
    Strict,
    Technique,
    WeightFormat,
    whole,
)
from planner.yamlio import Positions, load_mapping, validation_error

SPEC_API_VERSION = "edgeplan/v1"

OBJECTIVE_TERMS = {
    "power": "min",      # total board power of the chosen power modes (W)
    "cost": "min",       # total device price (USD)
    "accuracy": "max",   # sum over workloads of accuracy in each profile's metric
    "latency": "min",    # sum over workloads of p50 latency (ms)
    "energy": "min",     # sum over workloads of energy per second at the asked rate (W)
    "devices": "min",    # number of devices
    "memory": "min",     # total memory used (GB)
}


_GIVEN = {"not": {"type": "null"}}

# the workload's cross-field rules (its validator below), written for editors as JSON Schema
_WORKLOAD_RULES = {
    "anyOf": [{"required": [k], "properties": {k: _GIVEN}}
              for k in ("task", "models", "model_files")],
    "not": {"required": ["rate_fps", "tokens_per_s"],
            "properties": {"rate_fps": _GIVEN, "tokens_per_s": _GIVEN}},
}


# one item of a lexicographic objective: 'min power', 'max accuracy', ... (each term only in
# its own direction); for editors only: the validator below names what is wrong
OBJECTIVE_TERM_PATTERN = (r"^\s*(?:min\s+(?:" + "|".join(
    t for t, d in OBJECTIVE_TERMS.items() if d == "min") + r")|max\s+(?:" + "|".join(
    t for t, d in OBJECTIVE_TERMS.items() if d == "max") + r"))\s*$")
_OBJECTIVE_LIST_SCHEMA = {"type": "array", "minItems": 1,
                          "items": {"type": "string", "pattern": OBJECTIVE_TERM_PATTERN}}


# workload fields only an LLM reads
LLM_ONLY_FIELDS = ("ttft_budget_ms", "prompt_tokens", "kv_cache", "weight_format")


def llm_fields_without_llm(w: "SpecWorkload", models) -> list[str]:
    """The LLM-only fields a workload sets though none of its candidates (`models`, the
    catalog models it may use) can be an LLM: not an llm task, no LLM among the models, no
    model file but ONNX ones. Empty when it has no candidates at all (other checks say so).
    Solve refuses the first (exit 2), lint's EP507 flags each."""
    given = [k for k in LLM_ONLY_FIELDS if getattr(w, k) is not None]
    if not given or not models or w.task == "llm" or any(m.llm is not None for m in models) \
            or any(not f.lower().endswith(".onnx") for f in w.model_files or ()):
        return []
    return given


def llm_field_message(w: "SpecWorkload", key: str) -> str:
    return (f"{key} is for LLM workloads; " + (
        f"the {w.task} task has no LLM" if w.task else "none of its models is an LLM"))


class SpecWorkload(Strict):
    """One workload of a spec: what must run, at what rate, with which candidates."""
    model_config = ConfigDict(json_schema_extra=_WORKLOAD_RULES)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="Workload name, unique in the spec (letters, digits, . _ -).")
    task: str | None = Field(default=None, min_length=1, description="Task: any catalog model of this task is a candidate (classification, detection, segmentation, pose, face-recognition, text-encoder, speech, keyword-spotting, audio-classification, llm).")
    models: list[str] | None = Field(default=None, min_length=1, description="Candidate model ids (instead of, or narrowing, task).")
    model_files: list[str] | None = Field(default=None, min_length=1, description="Model files to profile and plan with as candidates (paths relative to the spec): ONNX files; for LLMs a Hugging Face model folder or its config.json, or a GGUF file (needs the gguf extra). A file holds no accuracy: its accuracy is 'unknown'.")
    rate_fps: quantity("fps", gt=0) | None = Field(default=None, description="Inferences per second the workload must sustain ('30 fps').")
    tokens_per_s: quantity("tokens/s", gt=0) | None = Field(default=None, description="For LLMs: decode tokens per second ('10 tokens/s').")
    latency_budget_ms: quantity("ms", gt=0) | None = Field(default=None, description="Upper bound on p50 latency per inference, or per token for LLMs ('33 ms').")
    accuracy_floor: Score | None = Field(default=None, description="Lowest acceptable accuracy in the profile's metric (e.g. ImageNet top-1 %).")
    batch: whole(ge=1, le=1024) = Field(default=1, description="Inputs per inference.")
    context_tokens: whole(ge=1, le=10_000_000) | None = Field(default=None, description="For LLMs: context held in the KV cache (tokens).")
    ttft_budget_ms: quantity("ms", gt=0) | None = Field(default=None, description="For LLMs: upper bound on the time to first token, the prefill of a prompt of prompt_tokens ('2 s').")
    prompt_tokens: whole(ge=1, le=10_000_000) | None = Field(default=None, description="For LLMs: the prompt's length (tokens) that ttft_budget_ms is for; default context_tokens (a prompt that fills the context), else the estimator's default context. At most context_tokens.")
    weight_format: WeightFormat | None = Field(default=None, description="For LLMs: the weights in a named format: GGUF q4_0, q4_k_s, q4_k_m (INT4) and q8_0 (INT8) at the bits per weight of llama.cpp's whole files; MLC LLM's q4f16_1 and q4f32_1 (INT4, 4.5 and 5 bits) and MLX's mlx-4bit and mlx-8bit (4.5 and 8.5 bits) from their group layouts; AWQ and GPTQ checkpoints awq-w4g128 and gptq-w4g128 (INT4 in groups of 128, embedding and output head in 16 bits: each model's bits follow its embedding share, 5.71 for Llama 3.1 8B, 7.42 for Qwen2.5-0.5B). Planned on runtimes that load it (runtimes.yaml weight_formats); LLM options at other precisions are left out. Default: INT4 and INT8 at 4.5 and 8 bits.")
    kv_cache: KVCacheType | None = Field(default=None, description="For LLMs: the KV cache's element type: fp16 (the default), or llama.cpp's quantized q8_0 (8.5 bits per element) or q4_0 (4.5 bits), planned only on runtimes that keep it (runtimes.yaml kv_cache_types). Accuracy is not re-estimated for a quantized cache: the plan says so.")
    precisions: list[Precision] | None = Field(default=None, min_length=1, description="Allowed precisions (default: all).")
    techniques: list[Technique] | None = Field(default=None, min_length=1, description="Allowed techniques (default: all).")
    latency_critical: bool = Field(default=False, description="Real-time workload (lint flags batching).")

    @model_validator(mode="after")
    def _has_candidates(self):
        if not (self.task or self.models or self.model_files):
            raise ValueError("a workload needs a task, models or model_files")
        if self.rate_fps is not None and self.tokens_per_s is not None:
            raise ValueError("give rate_fps or tokens_per_s, not both")
        if self.prompt_tokens is not None and self.context_tokens is not None and \
                self.prompt_tokens > self.context_tokens:
            # a JSON Schema cannot compare two fields: edgeplan's own rule
            raise ValueError(f"prompt_tokens {self.prompt_tokens} is more than context_tokens "
                             f"{self.context_tokens}: the KV cache holds the prompt")
        return self


class SpecBudgets(Strict):
    """The spec's deployment-wide budgets."""
    power_w: quantity("W", gt=0) | None = Field(default=None, description="Total power of all devices in their chosen power modes ('10 W').")
    cost_usd: quantity("USD", gt=0) | None = Field(default=None, description="Total device price ('$500').")
    price_kinds: list[PriceKind] | None = Field(default=None, min_length=1, description="What the cost compares: only devices whose catalog price is of these kinds are candidates ('[dev-kit, system]': boards and systems that run as bought; a 'module' price leaves out its carrier board). Unset: every kind (lint EP506 warns when a cost budget then compares module prices with the others).")
    max_devices: whole(ge=1, le=16) = Field(default=1, description="Most devices the deployment may use.")
    memory_headroom_pct: quantity("%", lt=90) = Field(default=10.0, description="Memory kept free on every device ('10 %').")
    compute_headroom_pct: quantity("%", lt=90) = Field(default=10.0, description="Compute time kept free on every unit ('10 %').")
    headroom_pct: quantity("%", lt=90) = Field(default=10.0, description="A budget met with less slack than this is marginal (lint warns).")


class AllowDeny(Strict):
    """An allow list (None: everything) and a deny list, for devices, families or runtimes."""
    allow: list[str] | None = Field(default=None, min_length=1, description="Only these ids.")
    deny: list[str] = Field(default_factory=list, description="Never these ids.")

    @model_validator(mode="after")
    def _not_both(self):
        both = sorted(set(self.allow or ()) & set(self.deny))
        if both:
            raise ValueError(f"{both[0]!r} is both allowed and denied")
        return self

    def admits(self, value: str) -> bool:
        return (self.allow is None or value in self.allow) and value not in self.deny


class Objective(Strict):
    weights: dict[str, FiniteFloat] = Field(
        json_schema_extra={"propertyNames": {"enum": list(OBJECTIVE_TERMS)}, "minProperties": 1},
        description="Weighted sum: term -> weight (power, cost, accuracy, latency, energy, devices, memory); accuracy is maximized, the rest minimized.")

    @field_validator("weights")
    @classmethod
    def _known_terms(cls, v):
        for k in v:
            if k not in OBJECTIVE_TERMS:
                raise ValueError(f"unknown objective term {k!r}; expected one of "
                                 f"{', '.join(OBJECTIVE_TERMS)}")
        if not v:
            raise ValueError("weights must name at least one term")
        return v


class Spec(Strict):
    apiVersion: Literal["edgeplan/v1"] = Field(default="edgeplan/v1", description="Spec format version.")
    kind: Literal["Spec"] = Field(default="Spec")
    name: str = Field(default="deployment", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Deployment name (used in the manifest).")
    description: str = Field(default="", description="What this deployment is for, in words.")
    workloads: list[SpecWorkload] = Field(min_length=1, max_length=64, description="What must run.")
    budgets: SpecBudgets = Field(default_factory=SpecBudgets, description="Deployment-wide budgets.")
    devices: AllowDeny = Field(default_factory=AllowDeny, description="Allow/deny device ids.")
    families: AllowDeny = Field(default_factory=AllowDeny, description="Allow/deny device families.")
    runtimes: AllowDeny = Field(default_factory=AllowDeny, description="Allow/deny runtimes.")
    # where each value came from in the YAML, so later checks (unknown ids) can name the line
    _positions: Positions | None = PrivateAttr(default=None)
    objective: Annotated[list[str], WithJsonSchema(_OBJECTIVE_LIST_SCHEMA)] | Objective = Field(
        default_factory=lambda: ["min power", "max accuracy", "min cost"],
        description="Lexicographic list such as ['min power', 'max accuracy', 'min cost'], or {weights: {...}}.")

    @field_validator("objective", mode="before")
    @classmethod
    def _objective_shape(cls, v):
        # name the bad term here: the union's own error ("valid list") says nothing useful
        if isinstance(v, dict):
            weights = v.get("weights")
            if set(v) != {"weights"} or not isinstance(weights, dict):
                raise ValueError("objective must be a list like [min power, max accuracy] or "
                                 "{weights: {power: 1.0, ...}}")
            for k in weights:
                if k not in OBJECTIVE_TERMS:
                    from planner.errors import did_you_mean
                    raise ValueError(f"unknown objective term {k!r}"
                                     f"{did_you_mean(str(k), OBJECTIVE_TERMS)} (terms: "
                                     f"{', '.join(OBJECTIVE_TERMS)})")
        elif not isinstance(v, list):
            raise ValueError("objective must be a list like [min power, max accuracy] or "
                             "{weights: {power: 1.0, ...}}")
        return v

    @field_validator("objective")
    @classmethod
    def _objective_terms(cls, v):
        if isinstance(v, list):
            if not v:
                raise ValueError("objective must name at least one term")
            for item in v:
                parts = str(item).split()
                if len(parts) != 2 or parts[0] not in ("min", "max") or parts[1] not in OBJECTIVE_TERMS:
                    raise ValueError(f"objective term {item!r} is not 'min X' or 'max X' with X in "
                                     f"{', '.join(OBJECTIVE_TERMS)}")
                if parts[0] != OBJECTIVE_TERMS[parts[1]]:
                    raise ValueError(f"objective term {item!r}: {parts[1]} can only be "
                                     f"{OBJECTIVE_TERMS[parts[1]]}imized")
        return v

    @model_validator(mode="after")
    def _unique_names(self):
        names = [w.name for w in self.workloads]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate workload name {sorted(dup)[0]!r}")
        return self

    def objective_order(self) -> list[tuple[str, str]]:
        """[(term, 'min'|'max')] in priority order (a weighted objective: its terms, sorted)."""
        if isinstance(self.objective, list):
            return [(t.split()[1], t.split()[0]) for t in self.objective]
        return [(t, OBJECTIVE_TERMS[t]) for t in sorted(self.objective.weights)]


def rate_per_s(w) -> float | None:
    """The rate a workload of a spec or a manifest asks for: decode tokens/s for an LLM when
    given, else inferences/s; None when it asks for none."""
    return w.tokens_per_s if w.tokens_per_s is not None else w.rate_fps


def parse_spec(data: dict, pos: Positions) -> Spec:
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        raise validation_error(pos, e, InputError, model=Spec, data=data) from None
    spec._positions = pos
    return spec


def load_spec(path) -> tuple[Spec, Positions]:
    data, pos = load_mapping(path)
    return parse_spec(data, pos), pos


def draft07(model, title: str) -> dict:
    """Draft-07 JSON Schema of a pydantic model, for editors (yaml-language-server)."""
    import json
    schema = model.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["title"] = title
    # pydantic emits $defs (2019-09+); draft-07 readers expect definitions
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    return json.loads(json.dumps(schema).replace("#/$defs/", "#/definitions/"))
