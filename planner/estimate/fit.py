"""The longest context an LLM holds on a device: memory left after weights, activations and
the headroom, divided among the KV cache layer by layer (`edgeplan fit`). Uses the same
estimate as every verb, so `fit`, `estimate`, `lint` (EP103) and `solve` agree."""
from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog.loader import Catalog
from planner.catalog.schema import LLMShape
from planner.errors import EstimateError
from planner.estimate.point import Query, estimate
from planner.vocabulary import KV_CACHE_BYTES


@dataclass
class Fit:
    query: Query
    model_name: str
    device_name: str
    unit: str
    runtime: str
    context_max: int                # the model's trained context
    fits_tokens: int                # the most tokens the memory holds (may exceed context_max)
    available_gb: float             # memory the device leaves for models
    headroom_pct: float
    weights_gb: float
    activations_gb: float
    kv_room_gb: float               # what is left for the KV cache
    kv_bytes_per_token: float       # of a global layer stack, at batch 1
    windowed: bool                  # the runtime keeps sliding-window layers to their window
    llm: LLMShape                   # the model's layers: sliding-window and constant-state

    @property
    def sliding_window_layers(self) -> int:
        return self.llm.sliding_window_layers

    @property
    def sliding_window_tokens(self) -> int | None:
        return self.llm.sliding_window_tokens

    @property
    def context_tokens(self) -> int:
        """The answer: the longest usable context (no more than the model was trained for)."""
        return min(self.fits_tokens, self.context_max)

    def as_dict(self) -> dict:
        q = self.query
        return {"model": q.model, "precision": q.precision, "device": q.device,
                "unit": self.unit, "runtime": self.runtime, "batch": q.batch,
                "context_tokens": self.context_tokens, "memory_holds_tokens": self.fits_tokens,
                "context_max": self.context_max, "available_gb": round(self.available_gb, 4),
                "headroom_pct": self.headroom_pct, "weights_gb": round(self.weights_gb, 4),
                "activations_gb": round(self.activations_gb, 4),
                "kv_room_gb": round(self.kv_room_gb, 4),
                "kv_bytes_per_token": self.kv_bytes_per_token, "kv_cache": q.kv_cache,
                "weight_format": q.weight_format,
                "windowed_kv_cache": self.windowed,
                "sliding_window_layers": self.sliding_window_layers,
                "sliding_window_tokens": self.sliding_window_tokens}


def longest_context(catalog: Catalog, q: Query, headroom_pct: float = 10.0) -> Fit:
    """How many tokens of context `q`'s model holds at its precision on its device (q.context
    is ignored); raises EstimateError for a model that is not an LLM."""
    model = catalog.model(q.model)
    if model.llm is None:
        raise EstimateError(f"{model.id} is a {model.task} model, not an LLM: it has no KV "
                            "cache to fit (edgeplan estimate gives its memory)", field="--model")
    est = estimate(catalog, replace(q, context=1))
    b = est.memory_breakdown_gb
    cap = est.memory_available_gb * (1.0 - headroom_pct / 100.0)
    room = cap - b["weights"] - b["activations"]
    windowed = catalog.math_path(est.runtime).windowed_kv
    bpe = KV_CACHE_BYTES[q.kv_cache]
    fits = model.llm.longest_context(max(room, 0.0) * 1e9 / q.batch, bpe, windowed)
    return Fit(query=q, model_name=model.name, device_name=est.device_name, unit=est.unit,
               runtime=est.runtime, context_max=model.llm.context_max, fits_tokens=fits,
               available_gb=est.memory_available_gb, headroom_pct=headroom_pct,
               weights_gb=b["weights"], activations_gb=b["activations"],
               kv_room_gb=room, kv_bytes_per_token=model.llm.kv_bytes_per_token(bpe),
               windowed=windowed, llm=model.llm)


def render_fit_text(f: Fit) -> str:
    q = f.query
    head = (f"{f.model_name} {q.precision.upper()}"
            + (f" ({q.weight_format})" if q.weight_format else "")
            + f" on {f.device_name} {f.unit} ({f.runtime})"
            + (f", batch {q.batch}" if q.batch > 1 else ""))
    if f.fits_tokens < 1:
        answer = (f"no context fits: weights and activations take "
                  f"{f.weights_gb + f.activations_gb:.3g} GB of the {f.available_gb:.3g} GB "
                  f"the device leaves for models less {f.headroom_pct:g} % headroom; use "
                  + ("a lower precision or " if q.precision != "int4" else "")
                  + (f"a format with fewer bits than {q.weight_format} or "
                     if q.weight_format else "")
                  + "a device with more memory" + (" or a smaller model"
                                                   if q.precision == "int4" else ""))
    elif f.fits_tokens >= f.context_max:
        held = ("any context" if f.fits_tokens >= 10 ** 9 else f"{f.fits_tokens:,} tokens")
        answer = (f"longest context: {f.context_max:,} tokens, the model's trained maximum "
                  f"(memory would hold {held})")
    else:
        answer = (f"longest context: {f.fits_tokens:,} tokens (the model was trained for "
                  f"{f.context_max:,})")
    lines = [head, f"  {answer}",
             f"  memory: {f.available_gb:.3g} GB for models, {f.headroom_pct:g} % kept free; "
             f"weights {f.weights_gb:.3g} GB, activations {f.activations_gb:.3g} GB, "
             f"KV cache room {max(f.kv_room_gb, 0):.3g} GB",
             f"  KV cache: {f.kv_bytes_per_token:,.0f} bytes per token over "
             f"{cache_layers_text(f.llm)} ({q.kv_cache} keys and values"
             + (f", {KV_CACHE_BYTES[q.kv_cache] * 8:g} bits per element)" if q.kv_cache != "fp16"
                else ")")]
    llm = f.llm
    if llm.state_layers:
        lines.append(f"  {llm.state_layers} of {llm.layers} layers keep a constant state "
                     f"({llm.state_kb_per_layer:,.1f} kB per sequence), not a growing cache")
    if llm.kv_shared_layers:
        lines.append(f"  {llm.kv_shared_layers} of {llm.layers} layers reuse an earlier "
                     "layer's keys and values, with no cache of their own")
    if f.sliding_window_layers:
        lines.append(
            f"  {f.sliding_window_layers} sliding-window layers hold at most "
            f"{f.sliding_window_tokens:,} tokens ({f.runtime} keeps a windowed cache)"
            if f.windowed else
            f"  {f.runtime} keeps the whole context also in the {f.sliding_window_layers} "
            f"sliding-window layers (no windowed cache; llama.cpp has one)")
    return "\n".join(lines)


def cache_layers_text(llm) -> str:
    """Which layers the per-token cache counts: all, or a hybrid's that keep one."""
    if llm is None or llm.kv_layers == llm.layers:
        return "all layers"
    n = llm.kv_layers
    return f"the {n} layer{'s that keep' if n != 1 else ' that keeps'} one"
