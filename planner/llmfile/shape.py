"""A decoder LLM's dimensions -> parameters, active parameters, MACs per token, the per-token
working set and the KV-cache shape, counted as the catalog's LLM profiles count them
(profiles/llm.yaml: projections and gated MLP per layer, plus the LM head)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# the ops of a decoder's standard ONNX export (as the catalog's LLM profiles list them): an
# imported file names no graph, so these are nominal, for op-support checks
DECODER_OPS = ["Add", "Cast", "Concat", "Cos", "Div", "Equal", "Expand", "Gather", "MatMul",
               "Mul", "Neg", "Pow", "Range", "ReduceMean", "Reshape", "Shape", "Sigmoid", "Sin",
               "Slice", "Softmax", "Sqrt", "Transpose", "Unsqueeze", "Where"]


@dataclass
class LLMDims:
    name: str
    source: str                  # the file and the keys read from it
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    context_max: int
    sliding_window_layers: int = 0
    sliding_window_tokens: int | None = None
    experts: int = 0             # routed experts per layer (0: dense)
    experts_per_token: int = 0
    expert_intermediate: int = 0
    shared_intermediate: int = 0  # always-on shared experts' MLP width (Qwen2-MoE)
    # a file's own weights (GGUF): precision it stores, bits per weight, bytes
    file_precision: str | None = None
    file_type: str | None = None
    file_bytes: int | None = None
    tensor_params: int | None = None   # the file's tensors' own count, where it has tensors
    # a hybrid model's layers that keep a constant state instead of a KV cache (GGUF tensors)
    state_layers: int = 0
    state_kb_per_layer: float = 0.0
    tensor_macs: int | None = None     # MACs per token counted from the file's weight tensors
    tensor_active_params: int | None = None    # a mixture of experts' active share, likewise
    notes: list[str] = field(default_factory=list)

    def _attention(self) -> int:
        q = self.heads * self.head_dim
        return self.hidden * q + 2 * self.hidden * self.kv_heads * self.head_dim + q * self.hidden

    def _mlp(self, active: bool) -> int:
        if not self.experts:
            return 3 * self.hidden * self.intermediate
        n = self.experts_per_token if active else self.experts
        return (n * 3 * self.hidden * self.expert_intermediate + self.hidden * self.experts
                + 3 * self.hidden * self.shared_intermediate)

    def params(self, active: bool = False) -> int:
        emb = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        per_layer = self._attention() + self._mlp(active) + 2 * self.hidden
        return emb + self.layers * per_layer + self.hidden

    def macs_per_token(self) -> int:
        """Decode: every layer's projections and (active) MLP, and the LM head; attention over
        the cache is not included (as in the catalog's profiles)."""
        return self.layers * (self._attention() + self._mlp(True)) + self.vocab * self.hidden

    def activation_bytes(self) -> int:
        """The per-token fp32 working set without the KV cache: 4 hidden vectors, 3 MLP
        vectors, the logits, q and attention output (the catalog's convention)."""
        width = self.expert_intermediate if self.experts else self.intermediate
        return 4 * (4 * self.hidden + 3 * width + self.vocab
                    + 2 * self.heads * self.head_dim)


def as_model(d: LLMDims, model_id: str, accuracy=None, metric=None):
    """A ModelProfile (task llm). Accuracy is not in a model file: without `accuracy` every
    option gets metric 'unknown' (no floor accepts it, no output shows a number)."""
    from planner.catalog.schema import ModelProfile
    counted = d.params()
    total = d.tensor_params or counted
    # a mixture of experts: the active share of the dimensions' count, of the real total
    active = (d.tensor_active_params or round(total * d.params(active=True) / counted)
              if d.experts else None)
    if d.file_precision:
        # a quantized file runs at the precision it stores
        precisions = [(d.file_precision,
                       "baseline" if d.file_precision in ("fp32", "fp16") else "weight-only")]
    else:
        precisions = [("fp32", "baseline"), ("fp16", "baseline"), ("int8", "weight-only"),
                      ("int4", "weight-only")]
    if isinstance(accuracy, (int, float)):
        accuracy = {p: float(accuracy) for p, _ in precisions}
    options = []
    for prec, tech in precisions:
        if accuracy is None:
            options.append({"precision": prec, "technique": tech, "accuracy": 0.0,
                            "source": f"{d.source}: no accuracy given",
                            "estimated": {"accuracy": "unknown: a model file holds no "
                                          "accuracy; give it in a profile of your own"}})
        else:
            options.append({"precision": prec, "technique": tech,
                            "accuracy": float(accuracy.get(prec, next(iter(accuracy.values())))),
                            "source": "given by the user"})
    how = ("the file's tensors hold" if d.tensor_params else
           "counted from the dimensions as the catalog's LLM profiles are:")
    counted = (f"{how} {total / 1e6:.1f} M parameters"
               + (f", {active / 1e6:.1f} M active per token" if active else ""))
    if d.file_bytes:
        counted += (f"; the file holds {d.file_bytes / 1e9:.3g} GB ({d.file_type}, "
                    f"{d.file_bytes * 8 / total:.2f} bits per weight), where the estimate "
                    f"counts {d.file_precision.upper()} at the catalog's bits per weight")
    data = {
        "id": model_id, "name": d.name, "family": "imported", "task": "llm",
        "size": {"params_m": total / 1e6,
                 "macs_g": (d.tensor_macs or d.macs_per_token()) / 1e9,
                 "activation_mb": d.activation_bytes() / 1e6, "input": "1 token (decode)",
                 "input_elements": 1, "output_elements": d.vocab,
                 "source": f"{d.source}; {counted}"},
        "llm": {"layers": d.layers, "hidden_size": d.hidden, "kv_heads": d.kv_heads,
                "head_dim": d.head_dim, "context_max": d.context_max,
                "sliding_window_layers": d.sliding_window_layers,
                "sliding_window_tokens": d.sliding_window_tokens,
                "active_params_m": active / 1e6 if active else None,
                "state_layers": d.state_layers, "state_kb_per_layer": d.state_kb_per_layer,
                "vocab_size": d.vocab, "tied_embeddings": d.tied_embeddings,
                "source": d.source + ("; " + "; ".join(d.notes) if d.notes else "")},
        "onnx_ops": DECODER_OPS, "dynamic_shapes": True,
        "metric": metric or ("unknown" if accuracy is None else "accuracy %"),
        "higher_is_better": True, "options": options,
    }
    return ModelProfile.model_validate(data)


def render_llm_profile(m) -> str:
    """`edgeplan profile` on an LLM file: what the estimator plans with."""
    from planner.estimate.fit import cache_layers_text
    from planner.estimate.roofline import KV_BYTES_PER_ELEMENT
    llm, s = m.llm, m.size
    lines = [m.name,
             f"  parameters: {s.params_m:,.4g} M"
             + (f" ({llm.active_params_m:,.4g} M active per token)" if llm.active_params_m
                else ""),
             f"  decode: {s.macs_g:.3g} GMACs per token; working set {s.activation_mb:.3g} MB "
             "(fp32, without the KV cache)",
             f"  layers {llm.layers}, hidden {llm.hidden_size}, KV heads {llm.kv_heads} of "
             f"{llm.head_dim}; trained context {llm.context_max:,} tokens",
             f"  KV cache: {llm.kv_bytes_per_token(KV_BYTES_PER_ELEMENT):,.0f} bytes per token "
             + f"over {cache_layers_text(llm)} (fp16)"]
    if llm.state_layers:
        lines.append(f"  {llm.state_layers} of {llm.layers} layers keep a constant state "
                     f"instead of a KV cache ({llm.state_kb_per_layer:,.1f} kB each per "
                     "sequence)")
    if llm.sliding_window_layers:
        lines.append(f"  {llm.sliding_window_layers} of {llm.layers} layers slide a "
                     f"{llm.sliding_window_tokens:,}-token window (held to it by runtimes "
                     "with a windowed cache: llama.cpp)")
    lines.append("  precisions: " + ", ".join(f"{o.precision.upper()} {o.technique}"
                                              for o in m.options))
    lines.append(f"  accuracy: {'unknown (a model file holds none)' if not m.accuracy_known else m.metric}")
    lines.append(f"  source: {s.source}")
    if llm.source != s.source.split('; ')[0]:
        lines.append(f"  shape: {llm.source}")
    return "\n".join(lines)


# GGUF tensor types to the catalog's precision of the weights
_GGUF_PRECISION = (("Q8", "int8"), ("Q4", "int4"), ("IQ4", "int4"), ("F16", "fp16"),
                   ("BF16", "fp16"), ("F32", "fp32"))


def gguf_precision(type_text: str) -> str | None:
    """'llama 8B Q4_K - Medium' -> int4; None for a type the catalog has no precision for
    (Q5, Q6, Q3, Q2...)."""
    for word in reversed(type_text.split()):
        for prefix, prec in _GGUF_PRECISION:
            if word.upper().startswith(prefix) and (len(word) == len(prefix) or
                                                   not word[len(prefix)].isdigit()):
                return prec
    return None


def llm_model_id(path) -> str:
    """The id an LLM file plans under: its folder's name for a Hugging Face folder or
    config.json ('models/gemma-3-4b/config.json' -> gemma-3-4b), else the file's stem."""
    import os
    import re
    p = Path(os.path.abspath(path))      # '.' names the folder it is
    name = p.parent.name if p.name == "config.json" else (p.name if p.is_dir() else p.stem)
    return re.sub(r"[^a-z0-9._+-]+", "-", name.lower()).strip("-.") or "llm-file"
