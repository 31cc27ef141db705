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
    heads = need("attention.head_count")
    kv_heads = int(get(f"{arch}.attention.head_count_kv", heads))
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
        experts=int(get(f"{arch}.expert_count", 0) or 0),
        experts_per_token=int(get(f"{arch}.expert_used_count", 0) or 0),
        expert_intermediate=int(get(f"{arch}.expert_feed_forward_length", 0) or 0),
        shared_intermediate=int(get(f"{arch}.expert_shared_feed_forward_length", 0) or 0),
        file_precision=precision, file_type=type_name, file_bytes=nbytes,
        tensor_params=params, notes=notes)
    if d.experts and not d.expert_intermediate:
        d.expert_intermediate = d.intermediate
    return d
