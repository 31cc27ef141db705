"""The words every document shares: precisions (and what a weight stores at each),
techniques, and the strict pydantic base of every model users write."""
from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Interval
from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

Precision = Literal["fp32", "fp16", "int8", "int4"]


PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8", "int4")


# Stored bytes per weight. INT4 formats carry a 16-bit scale per group of 32 weights (llama.cpp
# Q4_0: 18-byte blocks of 32; MLC q4f16_1 likewise), so 4.5 bits: LLaMA 7B (6.74 B params) in
# Q4_0 is 3.56 GiB = 0.567 bytes per parameter (llama.cpp's Apple-silicon benchmark table).
BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5625}

# An LLM's KV cache element types, bytes per element: fp16 (every LLM runtime's default), and
# llama.cpp's quantized caches (--cache-type-k / --cache-type-v), whose ggml blocks carry a
# 16-bit scale per 32 elements (ggml/src/ggml-common.h: block_q8_0 2 + 32 bytes, block_q4_0
# 2 + 16 bytes), so 8.5 and 4.5 bits.
KVCacheType = Literal["fp16", "q8_0", "q4_0"]
KV_CACHE_BYTES = {"fp16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}

# An LLM's weights in a named GGUF format: (the catalog precision it stores, bits per weight
# over the whole file). The bits are llama.cpp's own file sizes for Llama-3-8B (8.03 B
# parameters) in tools/quantize/quantize.cpp QUANT_OPTIONS: Q4_0 4.34G, Q4_K_S 4.37G, Q4_K_M
# 4.58G, Q8_0 7.96G (GiB), so 4.64, 4.67, 4.90 and 8.51 bits: more than the formats' blocks
# alone (Q4_0 4.5) because the output and embedding tensors are kept wider. Without a
# format, INT4 and INT8 weights count BYTES_PER_PARAM.
#
# MLC LLM's and MLX's formats have no published file sizes, so their bits come from their
# layouts, which quantize every linear layer and the embedding alike: MLC's q4f16_1 and
# q4f32_1 hold 4-bit weights in groups of 32 with one scale per group in the model's float
# type (mlc-ai/mlc-llm python/mlc_llm/quantization/quantization.py, GroupQuantize: q_weight
# and q_scale only, quantize_embedding and quantize_final_fc true), 4 + 16/32 and 4 + 32/32
# bits; MLX's affine quantization keeps a scale and a bias in the weights' 16-bit type per
# group of 64 by default (ml-explore.github.io/mlx mlx.core.quantize: group size 64, bits
# 4), 4 + 32/64 and 8 + 32/64 bits for mlx-lm's 4- and 8-bit models.
#
# AWQ and GPTQ checkpoints quantize only the transformer blocks' linear layers, to 4 bits in
# groups of 128 along the input (AutoAWQ's GEMM layout: qweight, qzeros [groups, out/8] int32
# and scales [groups, out] fp16; GPTQ's the same plus g_idx, one int32 per input channel), and
# keep the embedding, the output head and the norms in 16 bits. Their bits over the whole
# model follow that share: a model whose shape gives it gets its own (weight_bytes_per_param),
# one that does not Llama-3-8B's (32 layers, width 4096, KV width 1024, MLP 14336, vocabulary
# 128256, untied head: 8,030,261,248 parameters), 5.71 bits, not 4.16.
WeightFormat = Literal["q4_0", "q4_k_s", "q4_k_m", "q8_0", "q4f16_1", "q4f32_1", "mlx-4bit",
                       "mlx-8bit", "awq-w4g128", "gptq-w4g128"]
_LLAMA3_8B_PARAMS = 8.03e9
_L3_LAYERS, _L3_WIDTH, _L3_KV, _L3_MLP, _L3_VOCAB = 32, 4096, 1024, 14336, 128256
# per layer: q and o (width x width), k and v (width x KV width), gate, up and down
_L3_LINEAR = _L3_LAYERS * (2 * _L3_WIDTH ** 2 + 2 * _L3_WIDTH * _L3_KV + 3 * _L3_WIDTH * _L3_MLP)
_L3_LINEAR_INPUTS = _L3_LAYERS * (6 * _L3_WIDTH + _L3_MLP)     # g_idx entries
_L3_16BIT = 2 * _L3_VOCAB * _L3_WIDTH + (2 * _L3_LAYERS + 1) * _L3_WIDTH   # embed, head, norms
_L3_PARAMS = _L3_LINEAR + _L3_16BIT
_W4G128 = 4 + (16 + 4) / 128            # a 16-bit scale and a 4-bit zero per group of 128
# bits per linear-layer weight of the formats that quantize only the linear layers (GPTQ's
# g_idx over Llama-3-8B's linear layers)
LINEAR_ONLY_BITS = {"awq-w4g128": _W4G128,
                    "gptq-w4g128": _W4G128 + 32 * _L3_LINEAR_INPUTS / _L3_LINEAR}


def _linear_only_bits(weight_format: str, wide_share: float) -> float:
    """Bits per weight over a whole model whose `wide_share` of parameters (embedding, output
    head) stays in 16 bits and the rest is in the format's linear-layer bits."""
    share = min(max(wide_share, 0.0), 1.0)
    return (1.0 - share) * LINEAR_ONLY_BITS[weight_format] + share * 16


WEIGHT_FORMATS = {
    **{name: (prec, gib * 2 ** 30 * 8 / _LLAMA3_8B_PARAMS)
       for name, prec, gib in (("q4_0", "int4", 4.34), ("q4_k_s", "int4", 4.37),
                               ("q4_k_m", "int4", 4.58), ("q8_0", "int8", 7.96))},
    "q4f16_1": ("int4", 4 + 16 / 32), "q4f32_1": ("int4", 4 + 32 / 32),
    "mlx-4bit": ("int4", 4 + 32 / 64), "mlx-8bit": ("int8", 8 + 32 / 64),
    **{f: ("int4", _linear_only_bits(f, _L3_16BIT / _L3_PARAMS)) for f in LINEAR_ONLY_BITS}}
# where each format's bits come from, for the notes that quote them
WEIGHT_FORMAT_BASIS = {
    **dict.fromkeys(("q4_0", "q4_k_s", "q4_k_m", "q8_0"),
                    "over the whole file, llama.cpp's size on Llama-3-8B"),
    "q4f16_1": "MLC LLM's layout: 4-bit groups of 32, a 16-bit scale each",
    "q4f32_1": "MLC LLM's layout: 4-bit groups of 32, a 32-bit scale each",
    "mlx-4bit": "MLX's layout: 4-bit groups of 64, a 16-bit scale and bias each",
    "mlx-8bit": "MLX's layout: 8-bit groups of 64, a 16-bit scale and bias each",
    **dict.fromkeys(("awq-w4g128", "gptq-w4g128"),
                    "over the whole model on Llama-3-8B's shapes: linear layers in 4-bit "
                    "groups of 128 with a 16-bit scale and 4-bit zero each, embedding and "
                    "output head in 16 bits")}


def weight_bytes_per_param(precision: str, weight_format: str | None = None,
                           wide_share: float | None = None) -> float:
    """Stored bytes per weight: the named format's where one is given, else the precision's.
    wide_share: the share of the model's parameters in its embedding and output head, which
    AWQ and GPTQ keep in 16 bits (None: Llama-3-8B's, as WEIGHT_FORMATS has it)."""
    if weight_format is None:
        return BYTES_PER_PARAM[precision]
    if weight_format in LINEAR_ONLY_BITS and wide_share is not None:
        return _linear_only_bits(weight_format, wide_share) / 8
    return WEIGHT_FORMATS[weight_format][1] / 8


Technique = Literal["baseline", "ptq", "qat", "weight-only", "pruned", "distilled"]
# what a catalog price buys: a bare compute module (needs a carrier board), a board that runs
# on its own, or a system (a finished product, or an accelerator with its host)
PriceKind = Literal["module", "dev-kit", "system"]


TECHNIQUES: tuple[str, ...] = ("baseline", "ptq", "qat", "weight-only", "pruned", "distilled")


ID_PATTERN = r"^[a-z0-9][a-z0-9._+-]*$"


# A plain number in a catalog or profile file: finite (no .inf / .nan), so a damaged file is bad
# input at load (exit 2 naming file:line and field), never a math domain error downstream.
FiniteFloat = Annotated[float, AllowInfNan(False)]


# An accuracy, in any metric edgeplan knows: every one is on a 0-100 scale (top-1 %, mAP and AP
# in points, WER %, F1 %), so a figure outside it is a typo or a 0-1 scale, not a score.
Score = Annotated[float, AllowInfNan(False), Interval(ge=0, le=100)]


def _integral(v: object) -> object:
    # JSON (and so the JSON Schema) cannot tell 4.0 from 4: a whole float is a count too
    return int(v) if isinstance(v, float) and v.is_integer() else v


def whole(*, ge: int | None = None, le: int | None = None):
    """The type of a whole-number field (a batch, a number of devices): an int, or a float
    with no fraction; never a string. The bounds are part of the type, so they hold and appear
    in the JSON Schema on optional fields too."""
    return Annotated[int, Interval(ge=ge, le=le), BeforeValidator(_integral)]


class Strict(BaseModel):
    # strict: a value of the wrong type is refused, not coerced ("4" is not a batch of 4),
    # so the published JSON Schema and the parser accept the same documents
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, strict=True)
