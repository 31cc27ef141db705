"""A Hugging Face model folder's config.json -> LLMDims, offline (no transformers needed).
Llama, Qwen2/3, Gemma 2/3, Phi-3/4, Mistral and their mixture-of-experts variants (Mixtral,
Qwen2-/Qwen3-MoE); a multimodal config's text model (`text_config`)."""
from __future__ import annotations

import json
from pathlib import Path

from planner.errors import InputError
from planner.llmfile.shape import LLMDims, llm_model_id


def _load(path) -> tuple[dict, str]:
    p = Path(path)
    f = p / "config.json" if p.is_dir() else p
    if not f.exists():
        raise InputError("no config.json here: give a Hugging Face model folder or its "
                         "config.json", file=str(p))
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", file=str(f)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not JSON: {e.msg}", file=str(f), line=e.lineno) from None
    if not isinstance(doc, dict):
        raise InputError("not a model config (a JSON object)", file=str(f))
    return doc, str(f)


def _int(c: dict, f: str, *keys, default=None) -> int:
    """The first of `keys` the config sets: a positive whole number (0 too where the default
    is 0: no experts), else `default`, else an error naming the first key."""
    low = 0 if default == 0 else 1
    for k in keys:
        v = c.get(k)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InputError(f"{k} is {v!r}, not a {'positive ' if low else ''}whole "
                                 "number", file=f, field=k)
            return v
    if default is None:
        raise InputError(f"the config has no {keys[0]}: is this a decoder LLM's config.json?",
                         file=f, field=keys[0])
    return default


# keys of hybrid models' configs (Qwen3-Next, LFM2, Jamba, Falcon-H1, Mamba): layers that keep
# a constant state have their own projections, which a config's attention dimensions do not
# describe
_HYBRID_KEYS = ("full_attention_interval", "full_attn_idxs", "linear_num_value_heads",
                "conv_L_cache", "attn_layer_indices", "mamba_d_state", "ssm_state_size",
                "state_size")


def _refuse_hybrid(c: dict, f: str) -> None:
    types = c.get("layer_types")
    other = sorted({str(t) for t in types} - {"full_attention", "sliding_attention"}) \
        if isinstance(types, list) else []
    keys = [k for k in _HYBRID_KEYS if k in c]
    if other or keys:
        what = (f"layer_types lists {', '.join(other)} layers" if other else
                f"{keys[0]} marks a hybrid of attention and constant-state layers")
        raise InputError(f"{what}: a hybrid model's sizes are not read from config.json; give "
                         "its GGUF file, whose tensors hold them", file=f,
                         field="layer_types" if other else keys[0])


def _sliding(c: dict, layers: int) -> tuple[int, str]:
    """(sliding-window layers, how that was read)."""
    types = c.get("layer_types")
    if isinstance(types, list) and types:
        n = sum(1 for t in types if t == "sliding_attention")
        return n, f"layer_types: {n} sliding_attention of {len(types)}"
    window = c.get("sliding_window")
    if not window or c.get("use_sliding_window") is False:
        return 0, ""
    if isinstance(window, int) and window >= int(c.get("max_position_embeddings") or 0) > 0:
        # a window as long as the context never slides (Phi-4-mini: 262144 over 131072)
        return 0, f"sliding_window {window} is no shorter than the context: no layer slides"
    mt = str(c.get("model_type", ""))
    if mt.startswith("gemma3"):
        pattern = c.get("sliding_window_pattern") or 6        # Gemma 3: 5 local, 1 global
        n = layers - layers // pattern
        return n, f"sliding_window_pattern {pattern}: every {pattern}th layer global, {n} local"
    if mt == "gemma2":
        n = (layers + 1) // 2                                  # even layers local
        return n, f"Gemma 2 alternates local and global layers: {n} local"
    # a window on every layer (Mistral 7B v0.1): the windowed caches runtimes implement are
    # for interleaved local and global layers (Gemma 2 / 3); llama.cpp runs Mistral 7B v0.1
    # with full attention (llama.cpp issues 3371, 3377), so every layer holds the context
    return 0, (f"sliding_window {window} on every layer: counted as full attention, as "
               "llama.cpp runs such models (issues 3371, 3377)")


# transformers' default tie_word_embeddings where a config.json leaves it out: Gemma's configs
# (GemmaConfig, Gemma2Config, Gemma3TextConfig) tie the output to the input embedding; Llama,
# Mistral, Mixtral, Qwen2/3 (and MoE), Phi-3 default to an untied output head
# (transformers/models/<name>/configuration_<name>.py)
_TIED_BY_DEFAULT = ("gemma",)


def _tied(c: dict, doc: dict) -> bool:
    for d in (c, doc):
        if d.get("tie_word_embeddings") is not None:
            return bool(d["tie_word_embeddings"])
    return str(c.get("model_type") or doc.get("model_type") or "").startswith(_TIED_BY_DEFAULT)


def read_hf_config(path) -> LLMDims:
    doc, f = _load(path)
    c = doc.get("text_config") if isinstance(doc.get("text_config"), dict) else doc
    if str(c.get("model_type") or doc.get("model_type") or "").startswith("gemma3n"):
        # per-layer embeddings, KV sharing and per-layer FFN widths: not the dense shape read
        # below, which would count a cache in every layer and read every weight per token
        layers = c.get("num_hidden_layers")
        profile = {30: "gemma-3n-e2b", 35: "gemma-3n-e4b"}.get(
            layers if isinstance(layers, int) else None, "gemma-3n-e2b or gemma-3n-e4b")
        raise InputError("Gemma 3n (per-layer embeddings, KV sharing across layers) is not read "
                         f"from config.json; use the catalog profile {profile}", file=f,
                         field="model_type")
    if c.get("kv_lora_rank") or c.get("q_lora_rank"):
        raise InputError("multi-head latent attention (DeepSeek's kv_lora_rank) is not "
                         "modelled: its KV cache is not heads x head_dim", file=f,
                         field="kv_lora_rank")
    layers = _int(c, f, "num_hidden_layers", "n_layer", "num_layers")
    hidden = _int(c, f, "hidden_size", "n_embd", "d_model")
    heads = _int(c, f, "num_attention_heads", "n_head")
    kv_heads = _int(c, f, "num_key_value_heads", default=heads)
    if c.get("head_dim") is None and hidden % heads:
        raise InputError(f"hidden_size {hidden} is not a multiple of num_attention_heads "
                         f"{heads} and the config gives no head_dim", file=f, field="head_dim")
    head_dim = _int(c, f, "head_dim", default=hidden // heads)
    experts = _int(c, f, "num_local_experts", "num_experts", "n_routed_experts", default=0)
    intermediate = _int(c, f, "intermediate_size", "n_inner", default=4 * hidden)
    _refuse_hybrid(c, f)
    swa, swa_text = _sliding(c, layers)
    name = llm_model_id(f)
    notes = [swa_text] if swa_text else []
    d = LLMDims(
        name=f"{name} ({c.get('model_type') or doc.get('model_type') or 'config.json'})",
        source=f"{f}: model_type {c.get('model_type') or doc.get('model_type')}, "
               f"{layers} layers, hidden {hidden}, {heads} heads ({kv_heads} KV) of {head_dim}",
        layers=layers, hidden=hidden, intermediate=intermediate, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, vocab=_int(c, f, "vocab_size"),
        tied_embeddings=_tied(c, doc),
        context_max=_int(c, f, "max_position_embeddings", "n_positions", "max_seq_len"),
        sliding_window_layers=swa,
        sliding_window_tokens=(_int(c, f, "sliding_window") if swa else None), notes=notes)
    if experts:
        d.experts = experts
        d.experts_per_token = _int(c, f, "num_experts_per_tok", "num_experts_per_token",
                                   "moe_top_k")
        d.expert_intermediate = _int(c, f, "moe_intermediate_size", default=intermediate)
        d.shared_intermediate = _int(c, f, "shared_expert_intermediate_size", default=0)
        notes.append(f"{experts} experts, {d.experts_per_token} per token, expert MLP width "
                     f"{d.expert_intermediate}")
    if not (0 < d.head_dim and 0 < d.kv_heads <= d.heads):
        raise InputError(f"num_key_value_heads {kv_heads} with {heads} heads of {head_dim}: "
                         "not a decoder's attention", file=f, field="num_key_value_heads")
    return d
