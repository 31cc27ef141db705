"""LLM memory layer by layer: sliding-window layers' KV cache (where the runtime keeps a
windowed cache), mixtures of experts (memory holds every expert, decode reads the active
ones), and `edgeplan fit`, each against hand calculation."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from planner.catalog.schema import LLMShape
from planner.cli import main
from planner.errors import EstimateError
from planner.estimate.point import Query, estimate

SRC = {"source": "test fixture"}


def gemma2_2b(**kw) -> LLMShape:
    # google/gemma-2-2b: 26 layers, 4 KV heads of 256, window 4096 on every other layer
    return LLMShape(layers=26, hidden_size=2304, kv_heads=4, head_dim=256, context_max=8192,
                    sliding_window_layers=13, sliding_window_tokens=4096, **SRC, **kw)


def test_kv_bytes_by_hand():
    llm = gemma2_2b()
    per_layer = 2 * 4 * 256 * 2                     # keys + values, fp16
    assert llm.kv_bytes(8192) == 26 * 8192 * per_layer == 872_415_232
    # windowed: 13 global layers hold 8192 tokens, 13 sliding ones 4096
    assert llm.kv_bytes(8192, windowed=True) == (13 * 8192 + 13 * 4096) * per_layer
    # within the window both are the same
    assert llm.kv_bytes(1000, windowed=True) == llm.kv_bytes(1000) == 26 * 1000 * per_layer


def test_longest_context_inverts_kv_bytes():
    llm = gemma2_2b()
    for windowed in (False, True):
        for room in (1e6, 400e6, 654_311_424, 5e9):
            n = llm.longest_context(room, windowed=windowed)
            assert llm.kv_bytes(n, windowed=windowed) <= room < \
                llm.kv_bytes(n + 1, windowed=windowed)
    # a model whose every layer is windowed stops growing past the window
    all_swa = LLMShape(layers=4, hidden_size=64, kv_heads=1, head_dim=16, context_max=1000,
                       sliding_window_layers=4, sliding_window_tokens=32, **SRC)
    assert all_swa.longest_context(all_swa.kv_bytes(32, windowed=True), windowed=True) >= 10 ** 9


def test_sliding_layers_need_a_window_and_fit_the_layers():
    with pytest.raises(ValueError, match="sliding_window_tokens"):
        LLMShape(layers=4, hidden_size=64, kv_heads=1, head_dim=16, context_max=100,
                 sliding_window_layers=2, **SRC)
    with pytest.raises(ValueError, match="more than the 4 layers"):
        LLMShape(layers=4, hidden_size=64, kv_heads=1, head_dim=16, context_max=100,
                 sliding_window_layers=5, sliding_window_tokens=8, **SRC)


def test_kv_shared_layers_keep_no_cache_by_hand(catalog):
    """Gemma 3n E4B: 35 layers, the last 15 reuse an earlier layer's keys and values; of the
    20 that keep a cache, 16 slide over 512 tokens and 4 are global."""
    llm = catalog.models["gemma-3n-e4b"].llm
    per_layer = 2 * 2 * 256 * 2                     # keys + values of 2 KV heads of 256, fp16
    assert llm.kv_layers == 20
    assert llm.kv_bytes(8192) == 20 * 8192 * per_layer
    assert llm.kv_bytes(8192, windowed=True) == (4 * 8192 + 16 * 512) * per_layer == 83_886_080
    n = llm.longest_context(100e6, windowed=True)
    assert llm.kv_bytes(n, windowed=True) <= 100e6 < llm.kv_bytes(n + 1, windowed=True)
    # E2B: 30 layers, llama.cpp's hardcoded 20 cache layers are its first 20, the same 16 + 4
    e2b = catalog.models["gemma-3n-e2b"].llm
    assert e2b.layers == 30 and e2b.kv_layers == 20
    assert e2b.kv_bytes(8192, windowed=True) == llm.kv_bytes(8192, windowed=True)
    with pytest.raises(ValueError, match="kv_shared_layers 3 are more than the 4 layers"):
        LLMShape(layers=4, hidden_size=64, kv_heads=1, head_dim=16, context_max=100,
                 sliding_window_layers=2, sliding_window_tokens=8, kv_shared_layers=3, **SRC)


def test_per_layer_embeddings_are_held_but_looked_up(catalog):
    """Memory holds Gemma 3n's per-layer embedding table (262144 x 35 x 256); decode reads
    one row of it per token, so the bytes per token leave it out."""
    m = catalog.models["gemma-3n-e4b"]
    table = 262144 * 35 * 256
    assert m.llm.per_layer_embedding_params() == m.llm.lookup_params() == table
    bpp = m.bytes_per_param("int4")
    assert m.decode_read_bytes("int4") == pytest.approx((m.size.params_m * 1e6 - table) * bpp)
    e = estimate(catalog, Query("gemma-3n-e4b", "int4", "raspberry-pi-5-8gb", context=8192))
    assert e.memory_breakdown_gb["weights"] == pytest.approx(m.size.params_m * 1e6 * bpp / 1e9)
    assert e.memory_breakdown_gb["kv_cache"] == pytest.approx(83_886_080 / 1e9)
    assert any("15 of 35 layers reuse" in n for n in e.notes)
    e2b = catalog.models["gemma-3n-e2b"]
    assert e2b.llm.lookup_params() == 262144 * 30 * 256
    assert e2b.decode_read_bytes("int4") == pytest.approx(
        (e2b.size.params_m * 1e6 - 262144 * 30 * 256) * e2b.bytes_per_param("int4"))
    with pytest.raises(ValueError, match="go together"):
        LLMShape(layers=4, hidden_size=64, kv_heads=1, head_dim=16, context_max=100,
                 per_layer_input_vocab=1000, **SRC)


def test_a_model_runs_only_on_the_runtimes_it_names(catalog, tmp_path):
    """Gemma 3n is a new architecture: llama.cpp and MLX run it, TensorRT and MLC-LLM are
    not offered (they run other LLMs on the same Jetson)."""
    from planner.catalog.loader import load_catalog
    from planner.errors import CatalogError
    m = catalog.models["gemma-3n-e4b"]
    assert catalog.runs("llama.cpp", m) and catalog.runs("mlx", m)
    assert not catalog.runs("tensorrt", m) and not catalog.runs("mlc-llm", m)
    assert catalog.runs("tensorrt", catalog.models["gemma-3-4b"])
    e = estimate(catalog, Query("gemma-3n-e4b", "int4", "jetson-orin-nano-8gb"))
    assert e.runtime == "llama.cpp"
    with pytest.raises(EstimateError, match="'tensorrt' does not run gemma-3n-e4b: its profile "
                                            "names only llama.cpp, mlx"):
        estimate(catalog, Query("gemma-3n-e4b", "int4", "jetson-orin-nano-8gb",
                                runtime="tensorrt"))
    # the solver's grid holds the same: no TensorRT cell for it
    from conftest import grid_cells_match_estimates
    cells = grid_cells_match_estimates(catalog, "jetson-orin-nano-8gb", [m])
    assert cells and {e.runtime for e in cells} == {"llama.cpp"}
    bad = (tmp_path / "m.yaml")
    from pathlib import Path
    text = Path(catalog.origin["model:smollm2-135m"]).read_text()
    start = text.index("  - id: smollm2-135m")
    end = text.index("\n  - id: ", start + 10)
    entry = text[start:end].replace("id: smollm2-135m", "id: my-llm")
    bad.write_text("models:\n" + entry + "\n    runtimes: [llama.cp]\n"
                   "    runtimes_source: test\n")
    with pytest.raises(CatalogError, match="unknown runtime 'llama.cp'; did you mean 'llama.cpp'"):
        load_catalog([tmp_path], use_env=False)


def test_moe_reads_active_params_and_holds_all():
    # Qwen3-30B-A3B-like: 30.5 B parameters, 3.3 B active per token
    moe = LLMShape(layers=48, hidden_size=2048, kv_heads=4, head_dim=128, context_max=32768,
                   active_params_m=3300, **SRC)
    assert moe.read_params_m(30500, 1) == 3300
    assert moe.read_params_m(30500, 4) == 13200      # each sequence may route elsewhere
    assert moe.read_params_m(30500, 64) == 30500     # never more than all of them
    assert gemma2_2b().read_params_m(2614, 8) == 2614


def test_estimate_uses_the_runtimes_windowed_cache(catalog):
    """gemma-2-2b at 8192 tokens on a Pi 5: llama.cpp keeps the 13 sliding layers to 4096
    tokens (runtimes.yaml, llama.cpp pull 13194), onnxruntime does not."""
    assert catalog.math_path("llama.cpp").windowed_kv
    assert not catalog.math_path("onnxruntime").windowed_kv
    q = dict(model="gemma-2-2b", precision="int4", device="raspberry-pi-5-8gb", context=8192)
    win = estimate(catalog, Query(runtime="llama.cpp", **q))
    full = estimate(catalog, Query(runtime="onnxruntime", **q))
    per_layer = 2 * 4 * 256 * 2
    assert win.memory_breakdown_gb["kv_cache"] == pytest.approx(
        (13 * 8192 + 13 * 4096) * per_layer / 1e9)
    assert full.memory_breakdown_gb["kv_cache"] == pytest.approx(26 * 8192 * per_layer / 1e9)
    assert any("13 of 26 layers hold a 4096-token window" in n for n in win.notes)
    assert any("no windowed cache" in n for n in full.notes)


def test_moe_decode_reads_less_than_a_dense_model_of_its_size(catalog):
    """The same profile made a mixture of experts (a tenth of it active per token): memory is
    unchanged, the memory-bound decode is faster."""
    dense = catalog.models["llama-3-8b"]
    moe = dense.model_copy(update={"id": "llama-3-8b-moe", "llm": dense.llm.model_copy(
        update={"active_params_m": dense.size.params_m / 10})})
    catalog.models[moe.id] = moe
    try:
        q = dict(precision="int4", device="raspberry-pi-5-8gb", runtime="llama.cpp")
        d = estimate(catalog, Query(model=dense.id, **q))
        m = estimate(catalog, Query(model=moe.id, **q))
    finally:
        del catalog.models[moe.id]
    assert m.memory_gb.value == pytest.approx(d.memory_gb.value)
    assert m.decode_tokens_per_s.value > 2 * d.decode_tokens_per_s.value
    assert any("mixture of experts" in n for n in m.notes)


def fit(*args):
    return CliRunner().invoke(main, ["fit", *args])


def test_fit_by_hand():
    r = fit("-d", "raspberry-pi-5-8gb", "-m", "gemma-2-9b", "-p", "int4", "-r", "llama.cpp",
            "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    room = d["kv_room_gb"] * 1e9
    per_layer = 2 * 8 * 256 * 2                     # gemma-2-9b: 8 KV heads of 256
    # past the window (4096) only the 21 global layers grow
    hand = 4096 + (room - 42 * per_layer * 4096) / (21 * per_layer)
    assert d["memory_holds_tokens"] == pytest.approx(hand, abs=2)
    assert d["context_tokens"] == min(d["memory_holds_tokens"], 8192)
    assert d["kv_room_gb"] == pytest.approx(
        d["available_gb"] * 0.9 - d["weights_gb"] - d["activations_gb"], abs=1e-3)
    text = fit("-d", "raspberry-pi-5-8gb", "-m", "gemma-2-9b", "-p", "int4", "-r", "llama.cpp")
    assert f"longest context: {d['context_tokens']:,} tokens" in text.output


def test_fit_refuses_what_does_not_fit_and_what_is_no_llm():
    r = fit("-d", "jetson-nano-4gb", "-m", "llama-3-8b", "-p", "int4")
    assert r.exit_code == 3 and "no context fits" in r.output
    r = fit("-d", "jetson-nano-4gb", "-m", "resnet-50", "-p", "int8")
    assert r.exit_code == 2 and "not an LLM" in r.output and "Traceback" not in r.output
    r = fit("-d", "jetson-nano-4gb", "-m", "llama-3-8", "-p", "int4")
    assert r.exit_code == 2 and "llama-3-8b" in r.output          # did you mean


# ---------------------------------------------------------------- a quantized KV cache

KV_SPEC = """
name: long-chat
workloads:
  - name: chat
    models: [gemma-2-9b]
    tokens_per_s: 0.5
    context_tokens: 8192
{kv}
devices: {{allow: [raspberry-pi-5-8gb]}}
{extra}
"""


def test_a_quantized_cache_by_hand(catalog):
    """q8_0 keeps 34 bytes per 32 elements, q4_0 18 (ggml's blocks): memory and decode read
    the cache at 8.5 and 4.5 bits where llama.cpp keeps it; onnxruntime keeps only fp16."""
    q = Query(model="gemma-2-9b", precision="int4", device="raspberry-pi-5-8gb",
              runtime="llama.cpp", context=8192)
    m = catalog.models["gemma-2-9b"].llm
    full = m.kv_bytes(8192, 2.0, True)
    for kv, per_32 in (("fp16", 64), ("q8_0", 34), ("q4_0", 18)):
        e = estimate(catalog, Query(**{**q.__dict__, "kv_cache": kv}))
        assert e.memory_breakdown_gb["kv_cache"] == pytest.approx(full * per_32 / 64 / 1e9,
                                                                  rel=1e-6)
        assert (kv != "fp16") == any("not measured with the quantized one" in n
                                     for n in e.notes)
    with pytest.raises(EstimateError, match="onnxruntime keeps its KV cache in fp16, not q8_0"):
        estimate(catalog, Query(**{**q.__dict__, "runtime": "onnxruntime", "kv_cache": "q8_0"}))
    # no runtime named: only those that keep the cache are weighed
    assert estimate(catalog, Query(**{**q.__dict__, "runtime": None,
                                      "kv_cache": "q4_0"})).runtime == "llama.cpp"


def test_a_quantized_cache_makes_the_context_fit(catalog):
    """Gemma 2 9B INT4 on a Pi 5: 8,192 tokens of fp16 cache do not fit (fit says 4,398);
    in llama.cpp's q8_0 cache they do, the plan runs llama.cpp, says so, and the manifest
    carries kv_cache for lint, which passes it."""
    from conftest import spec_from

    from planner.solve.check import validate_plan
    from planner.solve.pipeline import solve
    assert solve(spec_from(KV_SPEC.format(kv="", extra="")), catalog).status == "infeasible"
    spec = spec_from(KV_SPEC.format(kv="    kv_cache: q8_0", extra=""))
    r = solve(spec, catalog)
    assert r.status in ("optimal", "feasible")
    plan = r.as_dict()["plan"]
    (a,) = plan["assignments"]
    assert (a["runtime"], a["kv_cache"], a["precision"]) == ("llama.cpp", "q8_0", "int4")
    assert validate_plan(spec, catalog, plan) == []
    assert r.manifest.workloads[0].kv_cache == "q8_0"


def test_a_cache_no_allowed_runtime_keeps_is_a_spec_error(tmp_path):
    f = tmp_path / "spec.yaml"
    f.write_text(KV_SPEC.format(kv="    kv_cache: q4_0", extra="runtimes: {deny: [llama.cpp]}"))
    r = CliRunner().invoke(main, ["solve", str(f)])
    assert r.exit_code == 2, r.output
    assert f"{f}:8:5: workloads[0].kv_cache: q4_0: no allowed runtime keeps a q4_0 KV cache" \
        in r.output and "llama.cpp would" in r.output and "Traceback" not in r.output


AWQ_PI = """\
name: awq-assistant
workloads:
  - name: chat
    task: llm
    models: [llama-3.2-1b]
    tokens_per_s: 5 tokens/s
    context_tokens: 4096
    weight_format: awq-w4g128
families:
  allow: [raspberry-pi]
"""


def test_a_format_no_allowed_device_loads_is_a_spec_error(tmp_path):
    """Only TensorRT loads AWQ, and no Raspberry Pi has it: the weight format is the field to
    change (solve exit 2 at its line; lint's EP105 says the same), not families.allow alone."""
    f = tmp_path / "spec.yaml"
    f.write_text(AWQ_PI)
    r = CliRunner().invoke(main, ["solve", str(f)])
    assert r.exit_code == 2, r.output
    assert f"{f}:8:5: workloads[0].weight_format: awq-w4g128: no allowed device has a runtime " \
        "that loads awq-w4g128 weights for llama-3.2-1b" in r.output
    assert "dgx, jetson devices do" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["lint", str(f)])
    assert r.exit_code == 1 and "EP105" in r.output and "no allowed device has a runtime" \
        in r.output
    f.write_text(AWQ_PI.replace("    weight_format: awq-w4g128\n", ""))
    assert CliRunner().invoke(main, ["solve", str(f)]).exit_code == 0


def test_fit_with_a_quantized_cache():
    def fit(*extra):
        r = CliRunner().invoke(main, ["fit", "-d", "raspberry-pi-5-8gb", "-m", "gemma-2-9b",
                                      "-p", "int4", "-r", "llama.cpp", "--format", "json",
                                      *extra])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)
    fp16, q4 = fit(), fit("--kv-cache", "q4_0")
    assert q4["kv_bytes_per_token"] == fp16["kv_bytes_per_token"] * 18 / 64
    assert q4["memory_holds_tokens"] > 3 * fp16["memory_holds_tokens"]
    r = CliRunner().invoke(main, ["fit", "-d", "raspberry-pi-5-8gb", "-m", "gemma-2-9b",
                                  "-p", "int4", "-r", "onnxruntime", "--kv-cache", "q8_0"])
    assert r.exit_code == 2 and "keeps its KV cache in fp16" in r.output


# ---------------------------------------------------------------- named weight formats

def test_weight_formats_by_hand(catalog):
    """A GGUF format's bits per weight are llama.cpp's whole-file size on Llama-3-8B (8.03 B
    parameters): Q4_K_M 4.58 GiB is 4.90 bits, Q8_0 7.96 GiB 8.51; memory and what decode
    reads grow with them, only on runtimes that load the format and only at its precision."""
    from planner.vocabulary import WEIGHT_FORMATS
    assert WEIGHT_FORMATS["q4_k_m"] == ("int4", pytest.approx(4.58 * 2 ** 30 * 8 / 8.03e9))
    assert WEIGHT_FORMATS["q8_0"][1] == pytest.approx(8.515, abs=1e-3)
    q = dict(model="llama-3.1-8b", device="raspberry-pi-5-8gb", runtime="llama.cpp")
    m = catalog.models["llama-3.1-8b"]
    plain = estimate(catalog, Query(precision="int4", **q))
    k_m = estimate(catalog, Query(precision="int4", weight_format="q4_k_m", **q))
    assert k_m.memory_breakdown_gb["weights"] == pytest.approx(
        m.size.params_m * 1e6 * WEIGHT_FORMATS["q4_k_m"][1] / 8 / 1e9)
    assert k_m.memory_breakdown_gb["weights"] / plain.memory_breakdown_gb["weights"] == \
        pytest.approx(WEIGHT_FORMATS["q4_k_m"][1] / 4.5)
    assert k_m.latency_ms.value > plain.latency_ms.value        # bandwidth-bound: more bytes
    with pytest.raises(EstimateError, match="q4_k_m stores INT4 weights, not INT8"):
        estimate(catalog, Query(precision="int8", weight_format="q4_k_m", **q))
    with pytest.raises(EstimateError, match="onnxruntime does not load q4_k_m weights"):
        estimate(catalog, Query(precision="int4", weight_format="q4_k_m",
                                **{**q, "runtime": "onnxruntime"}))


def test_mlc_and_mlx_formats_from_their_layouts(catalog):
    """MLC's q4f16_1 / q4f32_1: 4-bit groups of 32 and one 16- / 32-bit scale per group;
    MLX's 4- and 8-bit: groups of 64 with a 16-bit scale and bias. Each loads only in its own
    runtime, and an unmeasured runtime whose unit's vendor runtime cannot load the format
    gets no vendor prior (Core ML loads no MLX weights) instead of an error."""
    from planner.vocabulary import WEIGHT_FORMATS
    assert WEIGHT_FORMATS["q4f16_1"] == ("int4", 4.5)
    assert WEIGHT_FORMATS["q4f32_1"] == ("int4", 5.0)
    assert WEIGHT_FORMATS["mlx-4bit"] == ("int4", 4.5)
    assert WEIGHT_FORMATS["mlx-8bit"] == ("int8", 8.5)
    m = catalog.models["llama-3.1-8b"]
    q = dict(model=m.id, device="mac-mini-m4-16gb", runtime="mlx")
    e = estimate(catalog, Query(precision="int8", weight_format="mlx-8bit", **q))
    assert e.memory_breakdown_gb["weights"] == pytest.approx(m.size.params_m * 1e6 * 8.5 / 8 / 1e9)
    assert any("MLX's layout" in n for n in e.notes)
    with pytest.raises(EstimateError, match="llama.cpp does not load mlx-4bit weights"):
        estimate(catalog, Query(precision="int4", weight_format="mlx-4bit",
                                **{**q, "runtime": "llama.cpp"}))
    orin = dict(model=m.id, device="jetson-orin-nx-16gb", runtime="mlc-llm")
    e = estimate(catalog, Query(precision="int4", weight_format="q4f32_1", **orin))
    assert e.memory_breakdown_gb["weights"] == pytest.approx(m.size.params_m * 1e6 * 5 / 8 / 1e9)


def test_awq_and_gptq_formats_from_their_layouts(catalog):
    """AWQ / GPTQ checkpoints: the linear layers in 4-bit groups of 128 with a 16-bit scale
    and a 4-bit zero per group (GPTQ adds one int32 g_idx per input channel), the embedding,
    the output head and the norms in 16 bits. Over Llama-3-8B, by hand: 6,979,321,856 linear
    weights and 1,050,939,392 16-bit ones. Only TensorRT loads them; the Nano has no LLM
    build of TensorRT, so the Ampere-only kernels are never offered there."""
    from planner.vocabulary import WEIGHT_FORMATS
    linear, wide = 6_979_321_856, 1_050_939_392
    assert linear + wide == 8_030_261_248           # Llama-3-8B's published parameter count
    awq = (linear * (4 + 20 / 128) + wide * 16) / (linear + wide)
    assert WEIGHT_FORMATS["awq-w4g128"] == ("int4", pytest.approx(awq))
    assert awq == pytest.approx(5.706, abs=1e-3)
    g_idx = 32 * 32 * (6 * 4096 + 14336)            # 32 layers, int32 per input channel
    assert WEIGHT_FORMATS["gptq-w4g128"][1] == pytest.approx(awq + g_idx / (linear + wide))
    m = catalog.models["llama-3.1-8b"]
    q = dict(model=m.id, device="jetson-orin-nx-16gb", runtime="tensorrt")
    e = estimate(catalog, Query(precision="int4", weight_format="awq-w4g128", **q))
    # the model's own shape: Llama 3.1 8B's untied 128256 x 4096 embedding and head (the
    # norms, 0.003 % of it, count as linear weights here)
    share = 2 * 128256 * 4096 / (m.size.params_m * 1e6)
    own = (1 - share) * (4 + 20 / 128) + share * 16
    assert own == pytest.approx(awq, abs=1e-3)
    assert e.memory_breakdown_gb["weights"] == pytest.approx(m.size.params_m * 1e6 * own / 8 / 1e9)
    assert any("5.71 bits per weight over the whole model" in n and "13.1 % of the parameters"
               in n for n in e.notes)
    # a small model's tied 16-bit embedding is a larger share: Qwen2.5-0.5B, by hand
    small = catalog.models["qwen2.5-0.5b"]
    share = 151936 * 896 / (small.size.params_m * 1e6)
    bits = (1 - share) * (4 + 20 / 128) + share * 16
    assert bits == pytest.approx(7.42, abs=0.01)
    e = estimate(catalog, Query(precision="int4", weight_format="awq-w4g128",
                                **{**q, "model": small.id}))
    assert e.memory_breakdown_gb["weights"] == pytest.approx(
        small.size.params_m * 1e6 * bits / 8 / 1e9)
    assert any("7.42 bits per weight" in n for n in e.notes)
    with pytest.raises(EstimateError, match="llama.cpp does not load gptq-w4g128 weights"):
        estimate(catalog, Query(precision="int4", weight_format="gptq-w4g128",
                                **{**q, "runtime": "llama.cpp"}))
    with pytest.raises(EstimateError, match="no LLM build for jetson-nano-4gb"):
        estimate(catalog, Query(precision="int4", weight_format="awq-w4g128",
                                model="llama-3.2-1b", device="jetson-nano-4gb",
                                runtime="tensorrt"))


def test_a_weight_format_in_a_plan_and_its_manifest(catalog):
    from conftest import spec_from

    from planner.solve.check import validate_plan
    from planner.solve.pipeline import solve
    spec = spec_from(KV_SPEC.format(kv="    weight_format: q8_0", extra="").replace(
        "context_tokens: 8192", "context_tokens: 2048").replace("[gemma-2-9b]",
                                                                 "[llama-3.2-3b]"))
    r = solve(spec, catalog)
    (a,) = r.plan["assignments"]
    assert (a["precision"], a["runtime"], a["weight_format"]) == ("int8", "llama.cpp", "q8_0")
    assert validate_plan(spec, catalog, r.plan) == []
    assert r.manifest.workloads[0].weight_format == "q8_0"


def test_a_weight_format_the_precisions_leave_out_is_a_spec_error(tmp_path):
    f = tmp_path / "spec.yaml"
    f.write_text(KV_SPEC.format(kv="    weight_format: q4_k_m\n    precisions: [int8]", extra=""))
    r = CliRunner().invoke(main, ["solve", str(f)])
    assert r.exit_code == 2, r.output
    assert "workloads[0].weight_format: q4_k_m stores INT4 weights, which the workload's " \
        "precisions (int8) leave out" in r.output


def test_constant_state_layers_by_hand():
    """A hybrid's state layers hold a fixed state, not a cache that grows: an LFM2-1.2B-like
    shape, 16 layers of which 10 short convolutions (hidden 2048, kernel 3: 2 x 2048 fp32
    values = 16.4 kB) and 6 attention layers with 8 KV heads of 64."""
    m = LLMShape(layers=16, hidden_size=2048, kv_heads=8, head_dim=64, context_max=32768,
                 state_layers=10, state_kb_per_layer=16.384, source="by hand")
    assert m.kv_layers == 6
    assert m.kv_bytes(4096) == 6 * 2 * 8 * 64 * 2 * 4096 + 10 * 16384
    assert m.kv_bytes(8192) - m.kv_bytes(4096) == 6 * 2 * 8 * 64 * 2 * 4096
    assert m.longest_context(m.kv_bytes(5000)) == 5000
    assert m.longest_context(10 * 16384) == 0          # the states alone fill the room
    with pytest.raises(ValueError, match="more than the 16 layers"):
        LLMShape(layers=16, hidden_size=2048, kv_heads=8, head_dim=64, context_max=32768,
                 state_layers=10, sliding_window_layers=8, sliding_window_tokens=512,
                 source="by hand")


def test_an_llm_defaults_to_a_unit_that_runs_it(catalog):
    """The RK3588's NPU is listed first and runs INT8, but no LLM runtime: an LLM's default
    unit is the CPU (as solve plans it), and a named runtime picks the unit that has it."""
    e = estimate(catalog, Query(model="qwen2.5-0.5b", precision="int8",
                                device="rk3588-orange-pi-5-8gb"))
    assert e.unit == "cpu"
    e = estimate(catalog, Query(model="qwen2.5-0.5b", precision="int8",
                                device="rk3588-orange-pi-5-8gb", runtime="llama.cpp"))
    assert (e.unit, e.runtime) == ("cpu", "llama.cpp")
    e = estimate(catalog, Query(model="mobilenet-v2", precision="int8",
                                device="rk3588-orange-pi-5-8gb"))
    assert e.unit == "npu"
