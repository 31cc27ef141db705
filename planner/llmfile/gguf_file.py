"""A GGUF file -> LLMDims with `gguf`, the reader llama.cpp publishes (an optional extra:
pip install 'edgeplan[gguf]'). Its metadata gives the architecture and shapes; its tensors
the real parameter count and bytes; general.file_type the quantization it stores."""
from __future__ import annotations

from pathlib import Path

from planner.errors import InputError
from planner.llmfile.shape import LLMDims, gguf_precision

# llama.cpp's interleaved sliding-window period per architecture (src/models/*.cpp
# set_swa_pattern: every Nth layer global): layers - layers // N are windowed. Other
# architectures' windows are not counted (every layer holds the whole context: the larger,
# safe figure)
SWA_PERIOD = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2, "cohere2": 4}
# a stored type the catalog has no precision for is planned at the next wider one (more
# memory and bandwidth than the file needs: never an optimistic plan)
WIDER = (("int4", 4.5), ("int8", 8.5), ("fp16", 16.0), ("fp32", 32.0))


def read_gguf(path) -> LLMDims:
    try:
        from gguf import GGUFReader, LlamaFileType
    except ImportError:
        raise InputError("reading a GGUF file needs the gguf package: pip install "
                         "'edgeplan[gguf]'", file=str(path)) from None
    p = Path(path)
    try:
        r = GGUFReader(str(p))
    except FileNotFoundError:
        raise InputError("no such file", file=str(p)) from None
    except (ValueError, OSError, KeyError, IndexError) as e:
        raise InputError(f"not a readable GGUF file ({e})", file=str(p)) from None

    def get(key, default=None):
        f = r.fields.get(key)
        return f.contents() if f is not None else default

    arch = get("general.architecture")
    if not arch:
        raise InputError("no general.architecture: not a model GGUF", file=str(p),
                         field="general.architecture")

    def need(key):
        v = get(f"{arch}.{key}")
        if v is None:
            raise InputError(f"no {arch}.{key}: not a decoder LLM this reader knows", file=str(p),
                             field=f"{arch}.{key}")
        return int(v)

    layers, hidden = need("block_count"), need("embedding_length")
    heads = _most(get(f"{arch}.attention.head_count"))
    if not heads:
        raise InputError(f"no {arch}.attention.head_count: not a decoder LLM this reader "
                         "knows", file=str(p), field=f"{arch}.attention.head_count")
    # per layer where a hybrid lists it (LFM2: 0 for its convolution layers)
    kv_heads = _most(get(f"{arch}.attention.head_count_kv", heads))
    head_dim = int(get(f"{arch}.attention.key_length", hidden // heads))
    vocab = get(f"{arch}.vocab_size")
    if vocab is None:
        tokens = r.fields.get("tokenizer.ggml.tokens")
        if tokens is None:
            raise InputError(f"no {arch}.vocab_size and no tokenizer.ggml.tokens", file=str(p),
                             field=f"{arch}.vocab_size")
        vocab = len(tokens.data)
    names = {t.name for t in r.tensors}
    params = sum(int(t.n_elements) for t in r.tensors)
    nbytes = sum(int(t.n_bytes) for t in r.tensors)
    state_layers, state_bytes, state_note = _state_layers(r, arch, get, str(p))
    experts = int(get(f"{arch}.expert_count", 0) or 0)
    used = int(get(f"{arch}.expert_used_count", 0) or 0)
    window = get(f"{arch}.attention.sliding_window")
    period = SWA_PERIOD.get(arch)
    swa = layers - layers // period if window and period else 0
    notes = []
    if window and not period:
        notes.append(f"{arch}.attention.sliding_window {window}: the layer pattern of {arch} "
                     "is not known here, so every layer is counted with the whole context")
    elif swa:
        notes.append(f"{arch}: every {period}th layer global (llama.cpp), {swa} of {layers} "
                     f"with a {window}-token window")
    ftype = get("general.file_type")
    type_name = (LlamaFileType(int(ftype)).name.removeprefix("MOSTLY_").removeprefix("ALL_")
                 if ftype is not None and int(ftype) in set(LlamaFileType) else None)
    precision = gguf_precision(type_name) if type_name else None
    bits = nbytes * 8 / max(params, 1)
    if precision is None:
        precision = next((prec for prec, b in WIDER if bits <= b), "fp32")
        notes.append(f"stored as {type_name or 'an unnamed type'} ({bits:.2f} bits per weight), "
                     f"which the catalog has no precision for: planned as {precision.upper()}, "
                     "the next wider")
    d = LLMDims(
        name=f"{get('general.name') or p.stem} (GGUF {type_name or '?'})",
        source=f"{p.name}: GGUF {arch}, {layers} blocks, embedding {hidden}, {heads} heads "
               f"({kv_heads} KV) of {head_dim}, {len(r.tensors)} tensors",
        layers=layers, hidden=hidden, intermediate=int(get(f"{arch}.feed_forward_length",
                                                           4 * hidden)),
        heads=heads, kv_heads=kv_heads, head_dim=head_dim, vocab=int(vocab),
        tied_embeddings="output.weight" not in names,
        context_max=need("context_length"), sliding_window_layers=swa,
        sliding_window_tokens=int(window) if swa else None,
        experts=experts, experts_per_token=used,
        expert_intermediate=int(get(f"{arch}.expert_feed_forward_length", 0) or 0),
        shared_intermediate=int(get(f"{arch}.expert_shared_feed_forward_length", 0) or 0),
        file_precision=precision, file_type=type_name, file_bytes=nbytes,
        tensor_params=params, state_layers=state_layers,
        tensor_macs=_tensor_macs(r, experts, used, int(vocab) * hidden, "output.weight" in names),
        tensor_active_params=(params - round(sum(int(t.n_elements) for t in r.tensors
                                                 if "_exps." in t.name) * (1 - used / experts))
                              if experts and used else None),
        state_kb_per_layer=state_bytes / 1e3, notes=notes + state_note)
    if d.experts and not d.expert_intermediate:
        d.expert_intermediate = d.intermediate
    return d


def _most(v) -> int:
    """A count GGUF gives once, or per layer (the largest)."""
    if isinstance(v, (list, tuple)):
        return max((int(x) for x in v), default=0)
    return int(v) if v is not None else 0


# tensors of the layers of a hybrid model that keep a constant state instead of a KV cache:
# state-space / linear-attention (Mamba, Jamba, Qwen3-Next's gated DeltaNet: ssm_*) and
# short convolutions (LFM2: shortconv.*)
_STATE_TENSORS = (".ssm_", ".shortconv.")
# the state's element size: recurrent states are kept in fp32 (an assumption, said in the
# profile): the larger figure where a runtime keeps them narrower
_STATE_BYTES = 4


def _state_layers(r, arch, get, file) -> tuple[int, float, list[str]]:
    """(layers that keep a constant state, that state per layer and sequence in bytes, notes),
    from the tensors: a convolution state of (kernel - 1) x channels of its conv weight, and
    for state-space layers ssm.state_size x ssm.inner_size recurrent values."""
    blocks: dict[int, list] = {}
    for t in r.tensors:
        if t.name.startswith("blk.") and any(k in t.name for k in _STATE_TENSORS):
            blocks.setdefault(int(t.name.split(".")[1]), []).append(t)
    if any(".time_mix_" in t.name for t in r.tensors):
        raise InputError(f"{arch}: RWKV time-mix layers keep a state this reader does not "
                         "model", file=file, field="general.architecture")
    if not blocks:
        return 0, 0.0, []
    sizes = set()
    for ts in blocks.values():
        elems = 0
        for t in ts:
            if t.name.endswith(("ssm_conv1d.weight", "shortconv.conv.weight")):
                kernel, channels = (int(x) for x in t.shape[:2])
                elems += (kernel - 1) * channels
        if any(".ssm_" in t.name for t in ts):
            elems += _most(get(f"{arch}.ssm.state_size", 0)) * _most(
                get(f"{arch}.ssm.inner_size", 0))
        sizes.add(elems * _STATE_BYTES)
    per_layer = max(sizes)
    n = len(blocks)
    return n, float(per_layer), [
        f"{n} layers keep a constant state instead of a KV cache ({per_layer / 1e3:,.1f} kB "
        "each per sequence: the convolution's kernel - 1 columns and the state-space state, "
        "counted in fp32)"]


def _tensor_macs(r, experts: int, used: int, lm_head: int, has_output: bool) -> int | None:
    """MACs per decoded token from the tensors themselves: every weight matrix once (each
    stacked expert matrix at the routed share), the LM head (the embedding, where the output
    is tied to it), not the embedding lookup. None for a file without layer tensors."""
    if not any(t.name.startswith("blk.") for t in r.tensors):
        return None
    macs = 0.0
    for t in r.tensors:
        if t.name.startswith("token_embd.") or len(t.shape) < 2:
            continue
        n = int(t.n_elements)
        macs += n * used / experts if "_exps." in t.name and experts else n
    return int(macs + (0 if has_output else lm_head))
