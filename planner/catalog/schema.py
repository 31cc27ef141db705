"""The catalog's data model: devices, model profiles, measured benchmark points and operator
support tables. Pydantic models with `extra="forbid"`; the field descriptions become the JSON
Schema (`edgeplan schema catalog`). Quantities are parsed to the unit in the field name.

Sourcing: every block of facts carries `source:` (datasheet, vendor page, benchmark). A fact
with no public figure is listed under the block's `estimated:` with what it was estimated from;
its provenance is then `estimated`, otherwise `datasheet` (or `measured` for Measurement).
"""
from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from planner.units import MB, Ms, quantity
from planner.vocabulary import (
    ID_PATTERN,
    PRECISIONS,
    FiniteFloat,
    KVCacheType,
    Precision,
    PriceKind,
    Score,
    Strict,
    Technique,
    WeightFormat,
)

# the metric of a model whose accuracy nobody gave (an ONNX file without `accuracy`)
UNKNOWN_METRIC = "unknown"

UnitKind = Literal["cpu", "gpu", "dla", "npu", "tpu", "vpu", "dsp", "fpga"]


Metric = Literal["latency_ms", "throughput_fps", "decode_tokens_per_s", "prefill_tokens_per_s"]


class Sourced(Strict):
    source: str = Field(min_length=3, description="Where the facts in this block come from "
                        "(datasheet or vendor page with section, benchmark, paper).")
    estimated: dict[str, str] = Field(default_factory=dict, description="Facts of this block "
                                      "with no public figure: field name -> what the estimate "
                                      "was derived from.")

    @model_validator(mode="after")
    def _estimated_names_fields(self):
        for name in self.estimated:
            if name not in type(self).model_fields or name in ("source", "estimated"):
                raise ValueError(f"estimated names {name!r}, which is not a field of this block")
        return self

    def provenance(self, name: str) -> str:
        return "estimated" if name in self.estimated else "datasheet"


# ---------------------------------------------------------------- devices

class Memory(Sourced):
    total_gb: quantity("GB", gt=0) = Field(description="System memory the device has (GB), shared by CPU and accelerators on SoCs.")
    available_gb: quantity("GB", gt=0) = Field(description="Memory left for models after the OS and the runtime (GB).")
    bandwidth_gbs: quantity("GB/s", gt=0) = Field(description="Peak DRAM bandwidth (GB/s).")
    bus_width_bits: int | None = Field(default=None, gt=0, le=8192, description="Width of the DRAM bus in bits (channels x channel width): bandwidth_gbs = bus_width_bits / 8 x the transfer rate, so a board wired with half the bus of another decodes LLMs at about half the rate with the same SoC; recorded where the sources state it (unset: not stated).")

    @model_validator(mode="after")
    def _available_le_total(self):
        if self.available_gb > self.total_gb:
            raise ValueError("available_gb exceeds total_gb")
        return self


class HostInterface(Sourced):
    kind: str = Field(description="Link to the host: usb2, usb3, pcie-gen3-x1, pcie-gen3-x4, m2-e, ...")
    bandwidth_gbs: quantity("GB/s", gt=0) = Field(description="Effective payload bandwidth of the link (GB/s).")
    per_call_overhead_ms: Ms = Field(default=0.0, description="Fixed cost of one round trip over the link (ms).")


class ComputeUnit(Sourced):
    id: str = Field(pattern=ID_PATTERN, description="Unit id within the device: gpu, dla0, npu, tpu, cpu, ...")
    kind: UnitKind = Field(description="What the unit is.")
    peak_tops: dict[Precision, quantity("TOPS", gt=0)] = Field(min_length=1, description="Peak dense ops/s per precision the unit runs natively (TOPS; 1 MAC = 2 ops).")
    weight_only: list[Precision] = Field(default_factory=list, description="Weight-only precisions the runtimes on this unit run (weights stored at this precision, math at the lowest precision in peak_tops), e.g. int4 for LLMs.")
    runtimes: list[str] = Field(min_length=1, description="Runtimes that target this unit: tensorrt, onnxruntime, tflite, edgetpu, coreml, llama.cpp, mlc-llm, qnn, openvino, hailort, rknn, vitis-ai, tflite-micro, ...")
    on_chip_memory_mb: MB | None = Field(default=None, description="On-chip memory that holds weights (MB); what does not fit reaches the unit on every call, as weight_loading says.")
    weight_loading: Literal["stream-excess", "context-switch"] = Field(default="stream-excess", description="How weights beyond on_chip_memory_mb reach the unit: 'stream-excess' (Edge TPU: the part that does not fit streams on every call) or 'context-switch' (Hailo: the network is split into contexts that each fit, and every call loads all of them in turn, over the host link for an accelerator on a host).")
    context_switch_ms: Ms = Field(default=0.0, description="For weight_loading: context-switch, the fixed cost per call of switching through a network's contexts (ms), beyond moving their weights.")
    static_shapes_only: bool = Field(default=False, description="The unit's compiler needs static input shapes.")
    activations_on_chip: bool = Field(default=False, description="A dataflow unit that keeps activations in its own memory (no DRAM traffic for them) and pipelines a stream of inputs through layers held on chip, so a stream's throughput hides host transfers and per-call costs, e.g. Hailo.")
    op_support: str = Field(default="full", description="Operator-support class (an id in op_support tables); 'full' runs any ONNX op.")
    dispatch_overhead_ms: Ms = Field(default=0.0, description="Fixed per-inference cost of launching work on the unit (ms).")
    cores: int = Field(default=1, ge=1, description="Independent cores of equal share that each run one call at a time (the RK3588 NPU: RKNN runs a model on one idle core): a call gets peak_tops / cores, and up to `cores` calls run side by side, so the unit's throughput is `cores` times one call's.")
    vector_peak_tops: dict[Precision, quantity("TOPS", gt=0)] = Field(default_factory=dict, description="Peak dense ops/s per precision of the unit's general-purpose lanes alone (a GPU's CUDA cores without its tensor cores), which runtimes that do not use its matrix engines run at (runtimes.yaml matrix_units: false); empty where the unit has no separate matrix engines (TOPS).")

    def peak_for(self, precision: str, matrix_units: bool = True) -> float:
        """The unit's peak at a math precision (TOPS): without its matrix engines, where the
        runtime does not use them and the catalog lists that peak."""
        if not matrix_units and precision in self.vector_peak_tops:
            return self.vector_peak_tops[precision]
        return self.peak_tops[precision]

    def call_peak_tops(self, precision: str, matrix_units: bool = True) -> float:
        """The peak one call runs at (TOPS): one core's share of the unit's."""
        return self.peak_for(precision, matrix_units) / self.cores

    @field_validator("vector_peak_tops")
    @classmethod
    def _vector_peak_covers_and_stays_within_peak(cls, v, info: ValidationInfo):
        peak = info.data.get("peak_tops")
        if not v or peak is None:
            return v
        missing = [p for p in peak if p not in v]
        if missing:
            raise ValueError(f"lists no {', '.join(missing)}: where the unit has vector lanes "
                             f"apart, every precision of peak_tops runs on them too")
        for p, tops in v.items():
            if p not in peak:
                raise ValueError(f"{p}: peak_tops lists no {p}")
            if tops > peak[p]:
                raise ValueError(f"{p}: {tops:g} TOPS is above peak_tops.{p} ({peak[p]:g}); "
                                 f"the vector lanes are part of the unit's peak")
        return v

    @model_validator(mode="after")
    def _context_switch_needs_a_context_size(self):
        if self.weight_loading == "context-switch" and self.on_chip_memory_mb is None:
            raise ValueError("weight_loading: context-switch needs on_chip_memory_mb (how much "
                             "one context holds)")
        return self

    @property
    def precisions(self) -> list[str]:
        return [p for p in PRECISIONS if p in self.peak_tops or p in self.weight_only]


class PowerMode(Strict):
    id: str = Field(pattern=ID_PATTERN, description="Mode name as the vendor calls it (e.g. 15w, maxn).")
    power_w: quantity("W", gt=0) = Field(description="Board power budget of this mode (W).")
    compute_scale: FiniteFloat = Field(default=1.0, gt=0, le=1.0, description="Fraction of peak compute available in this mode (clock ratio).")
    max_power: bool = Field(default=False, description="This is the device's highest-power mode.")
    bandwidth_gbs: quantity("GB/s", gt=0) | None = Field(default=None, description="DRAM bandwidth in this mode where it caps the memory clock (GB/s; nvpmodel EMC MAX_FREQ over the top EMC clock x memory.bandwidth_gbs); unset: memory.bandwidth_gbs.")


class Power(Sourced):
    idle_w: quantity("W", gt=0) = Field(description="Power at idle with the model loaded (W).")
    modes: list[PowerMode] = Field(min_length=1, description="Power modes; the first is the default.")
    accelerator_w: quantity("W", gt=0) | None = Field(default=None, description="For an accelerator on a host: the accelerator's own power at full rate (W), the card, stick or module alone; idle_w and the modes are the whole system's (host under load plus this).")


class Price(Sourced):
    usd: quantity("USD", gt=0) = Field(description="List price of one device (USD).")
    kind: PriceKind | None = Field(default=None, description="What the price buys: 'module' (a bare compute module that needs a carrier board), 'dev-kit' (a board that runs on its own: dev kit, SBC, MCU board) or 'system' (a finished product, or an accelerator priced together with its host). Unset: from form_factor and host (Device.price_kind).")
    accelerator_usd: quantity("USD", gt=0) | None = Field(default=None, description="For an accelerator on a host: the accelerator's own list price (USD), the card, stick or module alone; usd is the whole system (this, the host and any adapter; Device.host_usd is the rest).")


class Device(Strict):
    id: str = Field(pattern=ID_PATTERN, description="Stable id used in specs and manifests.")
    name: str = Field(description="Product name.")
    vendor: str = Field(description="Vendor.")
    family: str = Field(pattern=ID_PATTERN, description="Device family: jetson, coral, apple, qualcomm, movidius, hailo, fpga, raspberry-pi, rockchip, mcu, ...")
    form_factor: str = Field(description="dev-kit, module, usb-accelerator, m2-card, phone, laptop, desktop, sbc, mcu-board, ...")
    battery_powered: bool = Field(default=False, description="Typically runs from a battery (phones, tablets, laptops).")
    host: str | None = Field(default=None, description="For an accelerator on a host: the host device id that runs pre/post-processing.")
    memory: Memory
    host_interface: HostInterface | None = Field(default=None, description="For accelerators on a host: the link.")
    units: list[ComputeUnit] = Field(min_length=1, description="Compute units; the first is the default.")
    power: Power
    price: Price
    notes: str = Field(default="", description="Free text.")
    as_of: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="When this entry's facts were last checked against its sources (YYYY-MM-DD). Required on built-in entries; optional in your own catalogs, where unset means not stated.")

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of_is_a_date(cls, v):
        import datetime
        if isinstance(v, datetime.datetime):
            raise ValueError("as_of is a date (YYYY-MM-DD), not a date and time")
        if isinstance(v, datetime.date):   # YAML reads an unquoted 2026-12-04 as a date
            return v.isoformat()
        if isinstance(v, str):
            try:
                datetime.date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not a calendar date (YYYY-MM-DD)") from None
        return v

    @model_validator(mode="after")
    def _unique_ids(self):
        for what, ids in (("unit", [u.id for u in self.units]),
                          ("power mode", [m.id for m in self.power.modes])):
            dup = {i for i in ids if ids.count(i) > 1}
            if dup:
                raise ValueError(f"duplicate {what} id {sorted(dup)[0]!r}")
        return self

    def accelerator_share_problem(self) -> tuple[tuple, str] | None:
        """What is wrong with the accelerator's own share of price and power (the field's
        path and the message), or None: a share belongs to a device on a host, and is part of
        the system's figure."""
        for path, value, total, what in (
                (("price", "accelerator_usd"), self.price.accelerator_usd, self.price.usd,
                 "price.usd"),
                (("power", "accelerator_w"), self.power.accelerator_w,
                 max(m.power_w for m in self.power.modes), "the max power mode")):
            if value is None:
                continue
            if self.host is None:
                return path, (f"{path[1]} is the accelerator's own share of a device on a "
                              "host; this device has no host")
            if value > total:
                return path, f"{path[1]} ({value:g}) exceeds {what} ({total:g}), which includes it"
        return None

    @property
    def host_usd(self) -> float | None:
        """For an accelerator on a host with its own price given: the rest of price.usd, the
        host and any adapter (None otherwise)."""
        a = self.price.accelerator_usd
        return None if a is None else round(self.price.usd - a, 2)

    @property
    def default_unit(self) -> ComputeUnit:
        """The unit a workload runs on when it names none: the first listed, which is the
        device's accelerator (the catalog lists it first). Lint, `catalog list` and `unit(None)`
        share this one choice, so a manifest without `unit:` is checked on the unit it targets,
        not on a host CPU that happens to run its precision."""
        return self.units[0]

    @property
    def cpu_unit(self) -> ComputeUnit | None:
        """The device's CPU unit (the first of kind cpu), or None."""
        return next((u for u in self.units if u.kind == "cpu"), None)

    def unit(self, unit_id: str | None) -> ComputeUnit:
        if unit_id is None:
            return self.default_unit
        for u in self.units:
            if u.id == unit_id:
                return u
        raise KeyError(unit_id)

    def mode(self, mode_id: str | None) -> PowerMode:
        if mode_id is None:
            return self.power.modes[0]
        for m in self.power.modes:
            if m.id == mode_id:
                return m
        raise KeyError(mode_id)

    @property
    def price_kind(self) -> str:
        """What price.usd buys: module, dev-kit or system (price.kind, else from the form
        factor: an accelerator with a host is priced with its host, a system)."""
        if self.price.kind is not None:
            return self.price.kind
        if self.host is not None or self.form_factor in ("phone", "laptop", "tablet", "desktop"):
            return "system"
        return "module" if self.form_factor == "module" else "dev-kit"

    def headline_tops(self) -> tuple[float, str]:
        """The headline peak and the precision it is at: the highest INT8, FP16 or FP32 peak
        of any unit (vendors quote INT8; an INT4 peak is a 2 x INT8 estimate, not a headline),
        INT4 only where a device has nothing else."""
        best = (0.0, "")
        for order in (("int8", "fp16", "fp32"), ("int4",)):
            for u in self.units:
                for p in order:
                    if p in u.peak_tops and u.peak_tops[p] > best[0]:
                        best = (u.peak_tops[p], p)
            if best[1]:
                return best
        return best

    def bandwidth_gbs(self, mode_id: str | None = None) -> float:
        """DRAM bandwidth in a power mode (GB/s): the mode's where it caps the memory clock."""
        m = self.mode(mode_id)
        return m.bandwidth_gbs if m.bandwidth_gbs is not None else self.memory.bandwidth_gbs

    @property
    def max_mode(self) -> PowerMode:
        flagged = [m for m in self.power.modes if m.max_power]
        return flagged[0] if flagged else max(self.power.modes, key=lambda m: m.power_w)


# ---------------------------------------------------------------- models

class Size(Sourced):
    params_m: FiniteFloat = Field(gt=0, description="Parameters (millions).")
    macs_g: quantity("GMACs", gt=0) = Field(description="Multiply-accumulates per inference at the stated input (GMACs); for LLMs per generated token.")
    activation_mb: MB = Field(description="Peak activation memory at batch 1 in FP32 (MB); for LLMs excluding the KV cache.")
    input: str = Field(description="Input the MACs are stated at, e.g. '224x224 RGB', '640x640', '128 tokens', '30 s audio'.")
    input_elements: int = Field(gt=0, description="Elements in one input tensor (for host transfer).")
    output_elements: int = Field(gt=0, description="Elements in the outputs of one inference (for host transfer).")
    decoder_params_m: FiniteFloat | None = Field(default=None, gt=0, description="An encoder-decoder model (Whisper, Moonshine): the decoder's parameters (millions, without lookup-only position tables), which every decoded token reads again (a greedy decode with a KV cache); memory holds them once. Needs decode_steps.")
    decode_steps: int | None = Field(default=None, gt=0, description="An encoder-decoder model: the tokens one inference decodes at the stated input (the decoder runs once per token).")

    @model_validator(mode="after")
    def _decoder_reads(self):
        if (self.decoder_params_m is None) != (self.decode_steps is None):
            raise ValueError("decoder_params_m and decode_steps go together (the decoder is "
                             "read once per decoded token)")
        if self.decoder_params_m is not None and self.decoder_params_m > self.params_m:
            raise ValueError(f"decoder_params_m {self.decoder_params_m:g} is more than "
                             f"params_m {self.params_m:g}")
        return self

    def reads_params_m(self) -> float:
        """Parameters one inference reads from memory (millions): all of them once, and an
        encoder-decoder's decoder once more per decoded token after the first."""
        if self.decoder_params_m is None:
            return self.params_m
        return self.params_m + (self.decode_steps - 1) * self.decoder_params_m


class LLMShape(Sourced):
    layers: int = Field(gt=0, description="Transformer layers.")
    hidden_size: int = Field(gt=0, description="Model width.")
    kv_heads: int = Field(gt=0, description="Key/value heads (GQA).")
    head_dim: int = Field(gt=0, description="Dimension of one head.")
    context_max: int = Field(gt=0, description="Longest context the model was trained for (tokens).")
    sliding_window_layers: int = Field(default=0, ge=0, description="Layers whose attention is a sliding window (Gemma 2: every other layer; Gemma 3: 5 of every 6): where the runtime keeps a windowed KV cache (runtimes.yaml windowed_kv_cache), their cache holds at most sliding_window_tokens; elsewhere the whole context, as the other layers.")
    sliding_window_tokens: int | None = Field(default=None, gt=0, description="The window of the sliding-window layers (tokens).")
    state_layers: int = Field(default=0, ge=0, description="Layers that keep a constant-size state instead of a KV cache: the linear-attention, state-space or short-convolution layers of a hybrid model (Qwen3-Next's gated DeltaNet, LFM2's convolutions, Jamba's Mamba). Their cache does not grow with the context; each holds state_kb_per_layer per sequence.")
    state_kb_per_layer: FiniteFloat = Field(default=0.0, ge=0, description="The state one such layer keeps per sequence (kB), whatever the context.")
    kv_shared_layers: int = Field(default=0, ge=0, description="Layers that keep no KV cache of their own: they attend with the keys and values of an earlier layer of their kind (Gemma 3n: the last 15 of 35 reuse the last local or global layer's before them, transformers Gemma3nTextConfig num_kv_shared_layers). The cache grows only in the other layers; sliding_window_layers counts the sliding-window layers among those.")
    per_layer_input_vocab: int | None = Field(default=None, gt=0, description="Per-layer embeddings (Gemma 3n's PLE): the vocabulary of the table that gives every layer its own per_layer_input_size vector per token (Gemma3nTextConfig vocab_size_per_layer_input). A decode step looks up one row of it per token, as of an untied input embedding; memory holds it all.")
    per_layer_input_size: int | None = Field(default=None, gt=0, description="Per-layer embeddings: the width of each layer's per-token vector (Gemma3nTextConfig hidden_size_per_layer_input).")
    active_params_m: FiniteFloat | None = Field(default=None, gt=0, description="Mixture of experts: parameters read per generated token (shared layers and the routed experts, millions). Memory holds all of size.params_m; decode reads these (at batch B at most B times as many). Unset for a dense model.")
    vocab_size: int | None = Field(default=None, gt=0, description="Vocabulary (tokens). With tied_embeddings it gives the embedding and output-head parameters, which AWQ and GPTQ checkpoints keep in 16 bits.")
    tied_embeddings: bool | None = Field(default=None, description="The output head shares the input embedding's weights (one vocabulary x width matrix instead of two).")

    @model_validator(mode="after")
    def _window_and_experts(self):
        if self.sliding_window_layers > self.layers:
            raise ValueError(f"sliding_window_layers {self.sliding_window_layers} is more than "
                             f"the {self.layers} layers")
        if self.sliding_window_layers and self.sliding_window_tokens is None:
            raise ValueError("sliding_window_layers needs sliding_window_tokens (the window)")
        if self.sliding_window_layers + self.state_layers + self.kv_shared_layers > self.layers:
            raise ValueError(f"sliding_window_layers {self.sliding_window_layers}, "
                             f"state_layers {self.state_layers} and kv_shared_layers "
                             f"{self.kv_shared_layers} are more than the {self.layers} layers")
        if (self.per_layer_input_vocab is None) != (self.per_layer_input_size is None):
            raise ValueError("per_layer_input_vocab and per_layer_input_size go together (the "
                             "per-layer embedding table is vocab x layers x size)")
        return self

    def lookup_params(self) -> int:
        """The tables a decode step only looks up, one row per token, and reads nothing else
        of (llama.cpp: ggml_get_rows on token_embd): an untied model's input embedding (a
        tied one the output head reads whole) and Gemma 3n's per-layer embeddings. 0 where
        the shape does not say, or the table is tied and there is no per-layer one."""
        return (self.per_layer_embedding_params()
                + (self.vocab_size * self.hidden_size
                   if self.vocab_size is not None and self.tied_embeddings is False else 0))

    def per_layer_embedding_params(self) -> int:
        """Gemma 3n's per-layer embedding table (vocab x layers x width), looked up one row
        per token like an untied input embedding; 0 for a model without one."""
        if self.per_layer_input_vocab is None:
            return 0
        return self.per_layer_input_vocab * self.layers * self.per_layer_input_size

    def embedding_params(self) -> int | None:
        """The input embedding's and output head's parameters, where the shape gives them."""
        if self.vocab_size is None or self.tied_embeddings is None:
            return None
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def kv_layers(self) -> int:
        """Layers that hold a KV cache of their own (all but a hybrid model's constant-state
        layers and the layers that reuse an earlier layer's keys and values)."""
        return self.layers - self.state_layers - self.kv_shared_layers

    def state_bytes(self) -> float:
        """The constant-state layers' state of one sequence, whatever the context."""
        return self.state_layers * self.state_kb_per_layer * 1e3

    def kv_bytes_per_token(self, kv_bytes_per_elem: float = 2.0) -> float:
        """Keys and values of one token in one layer's cache, x every layer that keeps one:
        2 x layers x kv_heads x head_dim x bytes (the cache of a runtime with no windowed
        cache, or of a model without sliding-window layers)."""
        return 2.0 * self.kv_layers * self.kv_heads * self.head_dim * kv_bytes_per_elem

    def kv_bytes(self, context: int, kv_bytes_per_elem: float = 2.0,
                 windowed: bool = False) -> float:
        """The KV cache of one sequence of `context` tokens, layer by layer: global layers
        hold every token; sliding-window layers at most their window where the runtime keeps
        a windowed cache (`windowed`), else every token too; constant-state layers their
        state."""
        per_layer = 2.0 * self.kv_heads * self.head_dim * kv_bytes_per_elem
        swa = self.sliding_window_layers if windowed else 0
        held = min(context, self.sliding_window_tokens or context)
        return per_layer * ((self.kv_layers - swa) * context + swa * held) + self.state_bytes()

    def longest_context(self, room_bytes: float, kv_bytes_per_elem: float = 2.0,
                        windowed: bool = False) -> int:
        """The most tokens of one sequence whose KV cache fits in room_bytes (the inverse of
        kv_bytes; not capped at context_max)."""
        room_bytes -= self.state_bytes()      # the constant-state layers' share comes first
        if room_bytes <= 0:
            return 0
        per_layer = 2.0 * self.kv_heads * self.head_dim * kv_bytes_per_elem
        swa = self.sliding_window_layers if windowed else 0
        n = self.kv_layers
        full = (n - swa) * per_layer
        window = self.sliding_window_tokens or 0
        if n == 0 or swa and full == 0 and room_bytes >= n * per_layer * window:
            return 10 ** 9      # a cache that stops growing: bounded by context_max only
        if swa and room_bytes >= n * per_layer * window:
            # past the window only the global layers grow
            return int(window + (room_bytes - n * per_layer * window) // full)
        return int(room_bytes // (n * per_layer))

    def read_params_m(self, params_m: float, batch: int) -> float:
        """Parameters a decode step of `batch` sequences reads: all of a dense model's; of a
        mixture of experts the active ones per sequence, at most all (each sequence may
        route to different experts, so B sequences read at most B times the active ones)."""
        if self.active_params_m is None:
            return params_m
        return min(params_m, self.active_params_m * batch)


class AccuracyRange(Strict):
    low: Score = Field(description="The lowest accuracy the evidence allows, in the model's metric (the pessimistic end for a higher-is-better metric).")
    high: Score = Field(description="The highest accuracy the evidence allows, in the model's metric.")
    source: str = Field(min_length=3, description="Where the range comes from: the published results at this precision and technique on similar models that bound it (e.g. full-INT8 TFLite YOLOv8s 44.9 -> 38.2, ultralytics/ultralytics#9473).")

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} is above high {self.high:g}")
        return self


class Quantizer(Strict):
    name: str = Field(min_length=3, description="The toolchain whose quantizer made the model the published accuracy was measured on, with its version where known (e.g. 'Hailo Dataflow Compiler v5.0.0', 'TensorRT 10 INT8 calibration', 'PyTorch FBGEMM').")
    elsewhere_range: AccuracyRange | None = Field(default=None, description="The (low, high) accuracy the model another runtime's own quantizer makes may reach: the option's rule of PTQ losses from FP32 (SOURCES-*.md, Ranges), widened to hold the published figure. Used wherever the runtime is not one of `runtimes`; without it the estimate there has no range.")
    runtimes: list[str] = Field(default_factory=list, description="The catalog runtimes that run the model that toolchain makes (its quantized weights and scales as they are): [hailort] for the Hailo compiler, [tflite, edgetpu, tflite-micro] for the TFLite converter's full-integer file. Empty where none does (a PyTorch quantizer). On any other runtime the figure is evidence, not a measurement: that runtime's own quantizer makes another quantized model, so the accuracy is estimated there and the plan says so.")


class Option(Sourced):
    precision: Precision = Field(description="Numeric precision of weights (and activations, except weight-only).")
    technique: Technique = Field(description="How the variant got there: baseline, ptq, qat, weight-only, pruned, distilled.")
    accuracy: Score = Field(description="Accuracy in the model's metric at this precision and technique: a published figure, or for an estimated one (listed under `estimated:`) the central estimate of accuracy_range.")
    accuracy_range: AccuracyRange | None = Field(default=None, description="For an estimated accuracy: the (low, high) range the published evidence allows, with its source; `accuracy` lies inside it. A published (measured) accuracy is a point and has no range. `solve --robust` checks a floor against the pessimistic end.")
    quantizer: Quantizer | None = Field(default=None, description="For a published accuracy of a post-training quantized option (PTQ, or a weight-only checkpoint one toolchain made, as Meta's SpinQuant INT4 Llama 3.2): the toolchain that quantized the model it was measured on, and the runtimes that run that model. Leave it out for a QAT checkpoint, whose quantized weights any runtime runs as trained.")
    params_scale: FiniteFloat = Field(default=1.0, gt=0, le=1.0, description="Fraction of params kept (structured pruning).")
    macs_scale: FiniteFloat = Field(default=1.0, gt=0, le=1.0, description="Fraction of MACs kept (structured pruning).")

    @model_validator(mode="after")
    def _range_only_for_estimates(self):
        r = self.accuracy_range
        if r is None:
            return self
        if "accuracy" not in self.estimated:
            raise ValueError("accuracy_range is for an estimated accuracy (listed under "
                             "estimated:); a published accuracy is a point")
        if not r.low <= self.accuracy <= r.high:
            raise ValueError(f"accuracy {self.accuracy:g} lies outside accuracy_range "
                             f"[{r.low:g}, {r.high:g}]")
        return self

    @model_validator(mode="after")
    def _quantizer_for_published_quantized(self):
        if self.quantizer is None:
            return self
        if self.precision in ("fp32", "fp16"):
            raise ValueError(f"quantizer is for a quantized option, not {self.precision}")
        if self.technique == "qat":
            raise ValueError("quantizer is for a post-training quantized figure; a QAT "
                             "checkpoint's weights are the model's own, run as trained")
        if "accuracy" in self.estimated:
            raise ValueError("quantizer names the toolchain of a published accuracy; this "
                             "one is estimated (listed under estimated:)")
        r = self.quantizer.elsewhere_range
        if r is not None and not r.low <= self.accuracy <= r.high:
            raise ValueError(f"accuracy {self.accuracy:g} lies outside quantizer."
                             f"elsewhere_range [{r.low:g}, {r.high:g}]")
        return self

    def accuracy_bounds_on(self, runtime: str) -> tuple[float, float] | None:
        """(low, high) of the accuracy as `runtime` gets it: the option's range, or where the
        figure is another toolchain's model's, that quantizer's elsewhere_range; None for a
        published point (or one with no range known)."""
        if self.quantizer is not None and not self.accuracy_measured_on(runtime):
            r = self.quantizer.elsewhere_range
            return (r.low, r.high) if r is not None else None
        return self.accuracy_bounds() if self.accuracy_range is not None else None

    def accuracy_measured_on(self, runtime: str | None) -> bool:
        """The accuracy is a measurement of the model this runtime runs: published, and not
        a quantizer's that makes another model than the runtime does."""
        if self.accuracy_estimated:
            return False
        return self.quantizer is None or runtime in self.quantizer.runtimes

    @property
    def accuracy_estimated(self) -> bool:
        """The accuracy has no published figure (it is listed under `estimated:`)."""
        return "accuracy" in self.estimated

    def accuracy_bounds(self) -> tuple[float, float]:
        """(low, high) of the accuracy: its range where estimated with one, else the point."""
        r = self.accuracy_range
        return (r.low, r.high) if r is not None else (self.accuracy, self.accuracy)

    def pessimistic_accuracy(self, higher_is_better: bool = True,
                             runtime: str | None = None) -> float:
        """The end of the range a floor is checked against under `--robust`: the low end of
        a higher-is-better metric, the high end of a lower-is-better one (WER). With a
        runtime, of the range as that runtime gets it (accuracy_bounds_on)."""
        lo, hi = (self.accuracy_bounds() if runtime is None else
                  self.accuracy_bounds_on(runtime) or (self.accuracy, self.accuracy))
        return lo if higher_is_better else hi


class ModelProfile(Strict):
    # a layer table measured from the model's own ONNX file (`model_files`), when it has one:
    # planner.estimate.layers.shares_for reads it before the shipped tables, and keeps what
    # it derives from it beside it (the solver asks many times)
    _layer_table: object = PrivateAttr(default=None)
    _layer_shares: object = PrivateAttr(default=None)
    id: str = Field(pattern=ID_PATTERN, description="Stable id used in specs and manifests.")
    name: str = Field(description="Human name.")
    family: str = Field(pattern=ID_PATTERN, description="Model family: mobilenet, efficientnet-lite, resnet, yolov8, llama, ...")
    task: str = Field(pattern=ID_PATTERN, description="classification, detection, segmentation, pose, face-recognition, text-encoder, speech, llm, keyword-spotting, ...")
    size: Size
    llm: LLMShape | None = Field(default=None, description="For LLMs: the shape that sets the KV cache.")
    onnx_ops: list[str] = Field(min_length=1, description="ONNX operator types the model uses (checked against op-support tables).")
    dynamic_shapes: bool = Field(default=False, description="The exported graph has dynamic input shapes.")
    metric: str = Field(description="Accuracy metric, e.g. 'ImageNet top-1 %', 'COCO mAP50-95', 'MMLU %'.")
    higher_is_better: bool = Field(default=True, description="Direction of the metric.")
    options: list[Option] = Field(min_length=1, description="Accuracy per precision and technique.")
    runtimes: list[str] | None = Field(default=None, description="The runtimes that run this model, where fewer do than run its kind (a new architecture, e.g. Gemma 3n's per-layer embeddings and KV sharing); unset: every runtime that runs its kind. Needs runtimes_source.")
    runtimes_source: str | None = Field(default=None, description="Where the runtimes list comes from.")
    efficiency_family: str | None = Field(default=None, pattern=ID_PATTERN, description="The model family whose fitted efficiency factors this model takes: a network built from that family's blocks (YOLO26 from YOLO11's), so its op mix, which those factors stand for, is that family's. Its estimates and its measured points are then fitted as that family's. Needs efficiency_family_source.")
    efficiency_family_source: str | None = Field(default=None, description="Why the two run alike: the shared blocks, published timings of both on one device.")

    @model_validator(mode="after")
    def _unique_options(self):
        keys = [(o.precision, o.technique) for o in self.options]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate option {sorted(dup)[0]}")
        if self.task == "llm" and self.llm is None:
            raise ValueError("an llm model needs the llm: block (layers, kv_heads, head_dim, ...)")
        if self.runtimes is not None and not self.runtimes_source:
            raise ValueError("runtimes needs runtimes_source (where the list comes from)")
        if self.efficiency_family is not None and not self.efficiency_family_source:
            raise ValueError("efficiency_family needs efficiency_family_source (why the two "
                             "families run alike)")
        return self

    @property
    def calibration_family(self) -> str:
        """The family whose efficiency factors the calibration fits and reads for this model
        (its efficiency_family where it names one)."""
        return self.efficiency_family or self.family

    @property
    def accuracy_known(self) -> bool:
        """False for a model with no accuracy figure (a model file given without one: metric
        'unknown'); its options hold 0 as a placeholder that no floor accepts and no output
        shows as a number."""
        return self.metric != UNKNOWN_METRIC

    def bytes_per_param(self, precision: str, weight_format: str | None = None) -> float:
        """Stored bytes per weight of this model: a format that keeps the embedding and
        output head in 16 bits (AWQ, GPTQ) at this model's share of them where its shape
        gives it (vocabulary.weight_bytes_per_param)."""
        from planner.vocabulary import weight_bytes_per_param
        return weight_bytes_per_param(precision, weight_format, self.embedding_share())

    def embedding_share(self) -> float | None:
        """The share of an LLM's parameters in its embedding and output head, where its
        shape gives them."""
        emb = self.llm.embedding_params() if self.llm is not None else None
        return None if emb is None else emb / (self.size.params_m * 1e6)

    def decode_read_bytes(self, precision: str, weight_format: str | None = None,
                          batch: int = 1, params_scale: float = 1.0) -> float:
        """The weight bytes a decode step of `batch` sequences reads: a mixture of experts'
        routed experts only (LLMShape.read_params_m), less an untied input embedding table,
        of which a step reads one row per token (kept in 16 bits by AWQ and GPTQ)."""
        bpp = self.bytes_per_param(precision, weight_format)
        read = self.llm.read_params_m(self.size.params_m, batch) * 1e6 * params_scale * bpp
        from planner.vocabulary import LINEAR_ONLY_BITS
        lookup_bpp = 2.0 if weight_format in LINEAR_ONLY_BITS else bpp
        return max(read - self.llm.lookup_params() * lookup_bpp, 0.0)

    def option(self, precision: str, technique: str | None = None) -> Option:
        cands = [o for o in self.options if o.precision == precision
                 and (technique is None or o.technique == technique)]
        if not cands:
            raise KeyError((precision, technique))
        # no technique asked: the most accurate way to reach this precision
        return max(cands, key=lambda o: o.accuracy if self.higher_is_better else -o.accuracy)


# ---------------------------------------------------------------- measurements, op support

class Measurement(Strict):
    device: str = Field(description="Device id.")
    model: str = Field(description="Model id.")
    precision: Precision
    unit: str | None = Field(default=None, description="Unit id (default: the device's first unit).")
    runtime: str = Field(description="Runtime that was measured.")
    power_mode: str | None = Field(default=None, description="Power mode id (default: the device's first).")
    batch: int = Field(default=1, gt=0)
    metric: Metric = Field(description="latency_ms (per inference), throughput_fps, decode_tokens_per_s or prefill_tokens_per_s.")
    value: FiniteFloat = Field(gt=0)
    includes_prepost: bool = Field(default=False, description="The time includes pre/post-processing on the host.")
    calibrate: bool = Field(default=True, description="Use this point to calibrate efficiencies.")
    holdout: bool = Field(default=False, description="Kept out of the calibration on purpose (implies calibrate: false): benchmarks/estimator_accuracy.py scores the estimator on it as a published measurement it has never seen.")
    source: str = Field(min_length=3)
    notes: str = ""
    tool: str | None = Field(default=None, description="The benchmark tool that measured it (llama-bench, trtexec, benchmark_app, hailortcli, edgeplan-infer.py, ...).")
    tool_version: str | None = Field(default=None, description="That tool's version or build, as it printed it.")
    measured_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Date of the measurement (YYYY-MM-DD).")
    host: str | None = Field(default=None, description="The machine it ran on, as the tool described it (CPU, GPU, OS).")
    context_tokens: int | None = Field(default=None, gt=0, description="For a decode rate: the tokens in the KV cache while it was measured, on average over the run (llama-bench -d D -n N: D + N/2). Unset: a short prompt, read as 256 tokens.")

    @model_validator(mode="after")
    def _context_is_a_decode_rates(self):
        if self.context_tokens is not None and self.metric != "decode_tokens_per_s":
            raise ValueError("context_tokens is for a decode_tokens_per_s measurement")
        return self

    @model_validator(mode="before")
    @classmethod
    def _holdout_is_not_calibrated(cls, data):
        if isinstance(data, dict) and data.get("holdout"):
            if data.get("calibrate") is True:
                raise ValueError("a holdout point is never calibrated on: drop calibrate: true")
            data = {**data, "calibrate": False}
        return data


class OpSupport(Strict):
    id: str = Field(pattern=ID_PATTERN, description="Operator-support class id referenced by compute units.")
    name: str
    supported_ops: list[str] = Field(description="ONNX op types the unit runs; others fall back to the host CPU.")
    source: str = Field(min_length=3)
    notes: str = ""
    single_segment: bool = Field(default=False, description="The compiler accelerates one segment only: the first unsupported op and everything after it run off the unit, even ops it supports.")
    fallback_to: str = Field(default="the host CPU", description="Where ops the unit does not run go, in words.")
    fallback_source: str | None = Field(default=None, description="Where single_segment or fallback_to comes from.")
    tflite_ops: dict[str, list[str]] = Field(default_factory=dict, description="For a unit whose compiler takes TensorFlow Lite models (the Edge TPU): the TFLite builtin operators it maps to the unit, as the LiteRT interpreter names them (CONV_2D), each with the ONNX op types it comes from. `edgeplan bundle` checks the model.tflite it converts against this list.")

    @model_validator(mode="after")
    def _fallback_sourced(self):
        if (self.single_segment or self.fallback_to != "the host CPU") and not self.fallback_source:
            raise ValueError("single_segment and fallback_to need fallback_source")
        stray = sorted({o for ops in self.tflite_ops.values() for o in ops}
                       - set(self.supported_ops))
        if stray:       # the two lists are one fact in two op vocabularies
            raise ValueError(f"tflite_ops names ONNX ops not in supported_ops: {', '.join(stray)}")
        return self


class MathPath(NamedTuple):
    """How a runtime runs a model on a unit: the precision an FP32 model's math runs at,
    whether it uses the unit's matrix engines, and whether it keeps sliding-window layers'
    KV cache to their window."""
    fp32_math: str = "fp32"
    matrix_units: bool = True
    windowed_kv: bool = False       # keeps sliding-window layers' KV cache to their window
    kv_cache_types: tuple = ("fp16",)   # the KV cache element types it keeps
    weight_formats: tuple = ()          # the named LLM weight formats it loads

    def handles(self, kv_cache: str = "fp16", weight_format: str | None = None) -> bool:
        """Whether an LLM with this KV cache type and weight format runs on this path."""
        return kv_cache in self.kv_cache_types and (
            weight_format is None or weight_format in self.weight_formats)


class Runtime(Strict):
    id: str = Field(pattern=ID_PATTERN, description="Runtime id, as compute units list it.")
    name: str
    runs: Literal["any", "llm", "non-llm"] = Field(description="Which models it runs: any, decoder LLMs only, or everything but LLMs.")
    fp32_math: Literal["fp32", "fp16"] = Field(default="fp32", description="The precision an FP32 model's math runs at: fp32, or fp16 on units whose peak_tops list fp16 (ncnn and OpenVINO run FP32 models with FP16 arithmetic by default where the hardware has it).")
    matrix_units: bool = Field(default=True, description="Whether the runtime keeps a unit's matrix engines (tensor cores) busy; false: its math runs at the unit's vector_peak_tops where the catalog lists them (OpenCV DNN's CUDA backend gains little from tensor cores at batch 1).")
    vendor_for: list[str] = Field(default_factory=list, description="Device families whose units this is the vendor's own runtime on (TensorRT on jetson, QNN on qualcomm, ...): an unmeasured runtime on such a unit is estimated no faster than this one (the prior in runtimes.yaml, with its source in vendor_source).")
    vendor_source: str | None = Field(default=None, description="Where the vendor-runtime prior comes from (published comparisons of this runtime with others on the family's units).")
    no_llm_on: list[str] = Field(default_factory=list, description="Device ids whose software stack has no build of this runtime for LLMs (the original Jetson Nano's JetPack 4 has no onnxruntime-genai and no TensorRT-LLM): it is not offered for an LLM there; the source says why.")
    no_llm_source: str | None = Field(default=None, description="Where no_llm_on comes from.")
    windowed_kv_cache: bool = Field(default=False, description="Whether the runtime keeps the KV cache of an LLM's sliding-window layers to their window (llama.cpp since its iSWA cache); false: every layer holds the whole context, as before runtimes implemented it.")
    windowed_kv_source: str | None = Field(default=None, description="Where windowed_kv_cache comes from.")
    kv_cache_types: list[KVCacheType] = Field(default_factory=lambda: ["fp16"], min_length=1, description="The element types the runtime keeps an LLM's KV cache in: fp16 (the default of every LLM runtime), q8_0 and q4_0 (llama.cpp's --cache-type-k/-v: 8.5 and 4.5 bits per element). A workload's kv_cache other than fp16 is planned only on runtimes that list it.")
    kv_cache_source: str | None = Field(default=None, description="Where kv_cache_types comes from (needed for any type but fp16).")
    weight_formats: list[WeightFormat] = Field(default_factory=list, description="Named LLM weight formats the runtime loads (GGUF q4_0, q4_k_s, q4_k_m, q8_0: llama.cpp's; q4f16_1, q4f32_1: MLC LLM's; mlx-4bit, mlx-8bit: MLX's; awq-w4g128, gptq-w4g128: AWQ and GPTQ checkpoints, for TensorRT). A workload's weight_format is planned only on runtimes that list it.")
    weight_formats_source: str | None = Field(default=None, description="Where weight_formats comes from.")
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _priors_have_sources(self):
        if self.vendor_for and not self.vendor_source:
            raise ValueError("vendor_for needs vendor_source (where the prior comes from)")
        if self.no_llm_on and not self.no_llm_source:
            raise ValueError("no_llm_on needs no_llm_source (why the runtime does not exist there)")
        if self.windowed_kv_cache and not self.windowed_kv_source:
            raise ValueError("windowed_kv_cache needs windowed_kv_source (where it is documented)")
        if self.weight_formats and not self.weight_formats_source:
            raise ValueError("weight_formats needs weight_formats_source (where it is documented)")
        if set(self.kv_cache_types) - {"fp16"} and not self.kv_cache_source:
            raise ValueError("kv_cache_types beyond fp16 need kv_cache_source (where they are "
                             "documented)")
        return self

    def runs_on(self, model: "ModelProfile", device_id: str | None) -> bool:
        """Runs this kind of model, and exists for it on this device's software stack."""
        if not self.runs_model(model):
            return False
        return not (model.llm is not None and device_id in self.no_llm_on)

    @property
    def math(self) -> MathPath:
        return MathPath(self.fp32_math, self.matrix_units, self.windowed_kv_cache,
                        tuple(self.kv_cache_types), tuple(self.weight_formats))

    def runs_model(self, model: "ModelProfile") -> bool:
        if self.runs == "any":
            return True
        return (model.llm is not None) == (self.runs == "llm")


class CatalogFile(Strict):
    """One YAML file of a catalog directory; any of the sections may be present."""
    devices: list[Device] = Field(default_factory=list)
    models: list[ModelProfile] = Field(default_factory=list)
    measurements: list[Measurement] = Field(default_factory=list)
    op_support: list[OpSupport] = Field(default_factory=list)
    runtimes: list[Runtime] = Field(default_factory=list)
