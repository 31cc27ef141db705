"""LLMs users bring: Hugging Face config.json folders and GGUF files, written here, read
offline into the profiles the estimator and solver plan with."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from planner.errors import InputError
from planner.llmfile import llm_file_as_model

TINYLLAMA = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632,
             "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
             "vocab_size": 32000, "max_position_embeddings": 2048,
             "tie_word_embeddings": False}
# Gemma 3 4B's text model (google/gemma-3-4b-pt config.json text_config)
GEMMA3_4B = {"model_type": "gemma3", "text_config": {
    "model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
    "num_attention_heads": 8, "num_hidden_layers": 34, "num_key_value_heads": 4,
    "head_dim": 256, "sliding_window": 1024, "sliding_window_pattern": 6,
    "vocab_size": 262208, "max_position_embeddings": 131072}}
GEMMA3_EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "models" / "gemma-3-4b")
# Qwen3-30B-A3B (Qwen/Qwen3-30B-A3B config.json)
QWEN3_MOE = {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144,
             "moe_intermediate_size": 768, "num_attention_heads": 32, "num_hidden_layers": 48,
             "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128,
             "num_experts_per_tok": 8, "vocab_size": 151936, "max_position_embeddings": 40960,
             "tie_word_embeddings": False, "sliding_window": None, "use_sliding_window": False}


def hf(tmp_path, name, config) -> str:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    return str(d)


def test_a_config_counts_as_the_catalog_profile(tmp_path, catalog):
    """TinyLlama's config gives the catalog profile's params, MACs and KV shape."""
    m = llm_file_as_model(hf(tmp_path, "tinyllama", TINYLLAMA), "tinyllama-file")
    ref = catalog.models["tinyllama-1.1b"]
    assert m.size.params_m == pytest.approx(ref.size.params_m, rel=0.01)
    assert m.size.macs_g == pytest.approx(ref.size.macs_g, rel=0.01)
    assert m.llm.kv_bytes_per_token() == ref.llm.kv_bytes_per_token()
    assert not m.accuracy_known and m.llm.active_params_m is None
    # the vocabulary and the untied head, as the catalog profile records them
    assert (m.llm.vocab_size, m.llm.tied_embeddings) == (32000, False)
    assert m.llm.embedding_params() == ref.llm.embedding_params() == 2 * 32000 * 2048


def test_gemma3_sliding_layers_from_the_pattern(tmp_path):
    m = llm_file_as_model(hf(tmp_path, "gemma-3-4b", GEMMA3_4B), "g")
    # Gemma 3 technical report, table 1: 4B text model = 675 M embedding + 3,209 M other;
    # Gemma ties its output head by default (the config leaves tie_word_embeddings out)
    assert m.size.params_m == pytest.approx(675 + 3209, rel=0.005)
    # 34 layers, every 6th global: 5 global (6, 12, 18, 24, 30), 29 with a 1024 window
    assert (m.llm.sliding_window_layers, m.llm.sliding_window_tokens) == (29, 1024)
    per_layer = 2 * 4 * 256 * 2
    assert m.llm.kv_bytes(32768, windowed=True) == (5 * 32768 + 29 * 1024) * per_layer
    # layer_types, where a config lists them, win over the pattern
    cfg = json.loads(json.dumps(GEMMA3_4B))
    cfg["text_config"]["layer_types"] = ["sliding_attention"] * 30 + ["full_attention"] * 4
    assert llm_file_as_model(hf(tmp_path, "lt", cfg), "g").llm.sliding_window_layers == 30


def test_moe_params_by_hand(tmp_path):
    m = llm_file_as_model(hf(tmp_path, "qwen3-30b-a3b", QWEN3_MOE), "q")
    h, layers = 2048, 48
    attn = h * 32 * 128 + 2 * h * 4 * 128 + 32 * 128 * h
    expert = 3 * h * 768
    emb = 2 * 151936 * h
    total = emb + layers * (attn + 128 * expert + h * 128 + 2 * h) + h
    active = emb + layers * (attn + 8 * expert + h * 128 + 2 * h) + h
    assert m.size.params_m * 1e6 == pytest.approx(total)
    assert m.llm.active_params_m * 1e6 == pytest.approx(active)
    # Qwen's model card: 30.5 B total, 3.3 B activated
    assert m.size.params_m / 1e3 == pytest.approx(30.5, rel=0.02)
    assert m.llm.active_params_m / 1e3 == pytest.approx(3.3, rel=0.05)
    assert m.llm.sliding_window_layers == 0          # use_sliding_window: false


@pytest.mark.parametrize("bad, message", [
    ({"model_type": "llama"}, "no num_hidden_layers"),
    ({**TINYLLAMA, "num_hidden_layers": "22"}, "not a positive whole number"),
    ({**TINYLLAMA, "max_position_embeddings": 0}, "is 0, not a positive whole number"),
    ({**TINYLLAMA, "hidden_size": 2000}, "not a multiple of num_attention_heads 32"),
    ({**TINYLLAMA, "kv_lora_rank": 512}, "multi-head latent attention"),
    ({**TINYLLAMA, "num_key_value_heads": 64}, "not a decoder's attention"),
    ({"model_type": "gemma3n", "text_config": {**TINYLLAMA, "model_type": "gemma3n_text"}},
     "Gemma 3n .* use the catalog profile gemma-3n-e2b or gemma-3n-e4b"),
    ({"model_type": "gemma3n", "text_config": {**TINYLLAMA, "model_type": "gemma3n_text",
                                               "num_hidden_layers": 30}},
     "Gemma 3n .* use the catalog profile gemma-3n-e2b$"),
])
def test_bad_configs_are_named(tmp_path, bad, message):
    with pytest.raises(InputError, match=message) as e:
        llm_file_as_model(hf(tmp_path, "bad", bad), "b")
    assert e.value.file.endswith("config.json")


def test_a_config_that_is_not_json(tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama",\n  oops}')
    with pytest.raises(InputError, match="not JSON") as e:
        llm_file_as_model(str(d), "b")
    assert e.value.line == 2


def write_gguf(path, file_type="MOSTLY_Q4_K_M", tied=True):
    gguf = pytest.importorskip("gguf")
    import numpy as np
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_name("tiny-gemma3")
    w.add_block_count(12)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_key_length(16)
    w.add_value_length(16)
    w.add_context_length(4096)
    w.add_sliding_window(256)
    w.add_vocab_size(100)
    w.add_file_type(getattr(gguf.LlamaFileType, file_type))
    w.add_tensor("token_embd.weight", np.zeros((100, 64), np.float32))
    if not tied:
        w.add_tensor("output.weight", np.zeros((100, 64), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


def test_a_gguf_file(tmp_path):
    m = llm_file_as_model(write_gguf(tmp_path / "tiny.gguf"), "tiny")
    # gemma3 in llama.cpp: every 6th layer global -> 10 of 12 windowed
    assert (m.llm.layers, m.llm.kv_heads, m.llm.head_dim) == (12, 2, 16)
    assert (m.llm.sliding_window_layers, m.llm.sliding_window_tokens) == (10, 256)
    assert m.llm.context_max == 4096 and m.size.output_elements == 100
    assert [(o.precision, o.technique) for o in m.options] == [("int4", "weight-only")]
    assert m.size.params_m * 1e6 == 6400                 # the tensors' own count
    assert "Q4_K_M" in m.name
    untied = llm_file_as_model(write_gguf(tmp_path / "u.gguf", tied=False), "u")
    assert untied.size.params_m * 1e6 == 12800
    assert (m.llm.tied_embeddings, untied.llm.tied_embeddings) == (True, False)
    assert m.llm.vocab_size == untied.llm.vocab_size == 100


def test_a_gguf_type_without_a_catalog_precision_plans_wider(tmp_path):
    # the tiny file stores f32 tensors whatever its type says: 32 bits per weight -> fp32
    m = llm_file_as_model(write_gguf(tmp_path / "q5.gguf", "MOSTLY_Q5_K_M"), "q5")
    assert m.options[0].precision == "fp32"
    assert "next wider" in m.llm.source


def test_not_a_gguf_file(tmp_path):
    pytest.importorskip("gguf")
    f = tmp_path / "x.gguf"
    f.write_bytes(b"not gguf at all")
    with pytest.raises(InputError, match="GGUF") as e:
        llm_file_as_model(str(f), "x")
    assert e.value.file == str(f)


def test_profile_and_solve_a_users_llm(tmp_path):
    folder = hf(tmp_path, "tinyllama", TINYLLAMA)
    r = CliRunner().invoke(main, ["profile", folder])
    assert r.exit_code == 0, r.output
    assert "parameters: 1,100 M" in r.output and "22,528 bytes per token" in r.output
    r = CliRunner().invoke(main, ["profile", folder, "--device", "raspberry-pi-5-8gb"])
    assert r.exit_code == 2 and "an LLM file or folder has none" in r.output
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "mine", "workloads": [
        {"name": "chat", "task": "llm", "model_files": ["tinyllama"], "tokens_per_s": 5,
         "context_tokens": 2048}], "families": {"allow": ["raspberry-pi"]}}))
    r = CliRunner().invoke(main, ["solve", str(spec), "--format", "json"])
    assert r.exit_code == 0, r.output
    (a,) = json.loads(r.output)["plan"]["assignments"]
    assert (a["model"], a["context_tokens"]) == ("tinyllama", 2048)
    assert a["device"].startswith("raspberry-pi-")
    # 1.1 B parameters at 5 tokens/s on a Pi's memory bandwidth: only 4-bit weights keep up
    assert a["precision"] == "int4" and a["estimates"]["decode_tokens_per_s"]["value"] >= 5


def test_fit_takes_a_models_folder():
    """The shipped Gemma 3 4B config: llama.cpp holds 29 of 34 layers to their window, so the
    trained context fits a Pi 5 at INT4; onnxruntime keeps every layer's whole context."""
    def fit(runtime):
        r = CliRunner().invoke(main, ["fit", "-d", "raspberry-pi-5-8gb", "-m", GEMMA3_EXAMPLE,
                                      "-p", "int4", "-r", runtime, "--format", "json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)
    full, windowed = fit("onnxruntime"), fit("llama.cpp")
    assert full["model"] == windowed["model"] == "gemma-3-4b"
    per_token = 34 * 2 * 4 * 256 * 2
    assert full["kv_bytes_per_token"] == per_token
    # the room is printed to 0.1 MB, under one token's cache
    assert abs(full["context_tokens"] - full["kv_room_gb"] * 1e9 / per_token) < 1
    assert windowed["context_tokens"] == windowed["context_max"] == 131072
    assert windowed["memory_holds_tokens"] > 5 * full["context_tokens"]


@pytest.mark.parametrize("model, message", [
    ("no/such/folder", "no such file or folder"),
    (str(Path(__file__).resolve().parent.parent / "README.md"), "not an LLM file"),
])
def test_fit_refuses_a_model_that_is_no_llm_file(model, message):
    r = CliRunner().invoke(main, ["fit", "-d", "raspberry-pi-5-8gb", "-m", model, "-p", "int4"])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("window, note", [
    (4096, "counted as full attention"),          # Mistral 7B v0.1: every layer windowed
    (262144, "no shorter than the context"),      # Phi-4-mini: a window past the context
])
def test_a_window_on_every_layer_holds_the_whole_context(tmp_path, window, note):
    cfg = {**TINYLLAMA, "model_type": "mistral", "sliding_window": window,
           "max_position_embeddings": 131072 if window > 4096 else 32768}
    m = llm_file_as_model(hf(tmp_path, f"w{window}", cfg), "w")
    assert m.llm.sliding_window_layers == 0 and m.llm.sliding_window_tokens is None
    assert note in m.llm.source


def write_hybrid_gguf(path):
    """A tiny LFM2-like hybrid: 4 blocks, 3 of them short convolutions (kernel 3 over 64
    channels), one attention block; head_count_kv per layer, 0 on the convolution layers."""
    gguf = pytest.importorskip("gguf")
    import numpy as np
    w = gguf.GGUFWriter(str(path), "lfm2")
    w.add_name("tiny-hybrid")
    w.add_block_count(4)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv([0, 0, 2, 0])
    w.add_key_length(16)
    w.add_value_length(16)
    w.add_context_length(32768)
    w.add_vocab_size(100)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tensor("token_embd.weight", np.zeros((100, 64), np.float32))
    for b in range(4):
        if b == 2:
            for n, rows in (("attn_q", 64), ("attn_k", 32), ("attn_v", 32), ("attn_output", 64)):
                w.add_tensor(f"blk.{b}.{n}.weight", np.zeros((rows, 64), np.float32))
        else:
            # numpy (channels, kernel) is GGML ne [kernel, channels], as llama.cpp makes it
            w.add_tensor(f"blk.{b}.shortconv.conv.weight", np.zeros((64, 3), np.float32))
            w.add_tensor(f"blk.{b}.shortconv.in_proj.weight", np.zeros((192, 64), np.float32))
            w.add_tensor(f"blk.{b}.shortconv.out_proj.weight", np.zeros((64, 64), np.float32))
        w.add_tensor(f"blk.{b}.ffn_up.weight", np.zeros((128, 64), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


def test_a_hybrid_gguf_keeps_a_cache_only_in_its_attention_layers(tmp_path):
    m = llm_file_as_model(write_hybrid_gguf(tmp_path / "hybrid.gguf"), "hybrid")
    llm = m.llm
    assert (llm.layers, llm.state_layers, llm.kv_layers, llm.kv_heads) == (4, 3, 1, 2)
    # (kernel - 1) x channels of the convolution, in fp32
    assert llm.state_kb_per_layer * 1e3 == (3 - 1) * 64 * 4
    # by hand: one attention layer's keys and values, plus three constant states
    assert llm.kv_bytes(1000) == 2 * 2 * 16 * 2 * 1000 + 3 * 512
    assert llm.kv_bytes_per_token() == 2 * 1 * 2 * 16 * 2
    assert llm.longest_context(llm.kv_bytes(1000)) == 1000
    # MACs from the tensors: every weight matrix once and the tied LM head, not the lookup
    weights = 3 * (64 * 3 + 192 * 64 + 64 * 64) + (64 + 32 + 32 + 64) * 64 + 4 * 128 * 64
    assert m.size.macs_g * 1e9 == pytest.approx(weights + 100 * 64)
    assert "constant state" in llm.source


def test_a_hybrid_config_json_is_refused_with_the_way_out(tmp_path):
    cfg = {**TINYLLAMA, "model_type": "lfm2",
           "layer_types": ["conv", "conv", "full_attention"] * 7 + ["conv"]}
    with pytest.raises(InputError, match="give its GGUF file") as e:
        llm_file_as_model(hf(tmp_path, "lfm2", cfg), "x")
    assert e.value.field == "layer_types"
    nxt = {**TINYLLAMA, "model_type": "qwen3_next", "full_attention_interval": 4}
    with pytest.raises(InputError, match="full_attention_interval marks a hybrid"):
        llm_file_as_model(hf(tmp_path, "next", nxt), "x")


def test_lint_passes_the_manifest_solve_writes_for_a_users_llm(tmp_path):
    """A Hugging Face folder or config.json as model_files: solve plans it, writes it as the
    manifest's model_file, and lint reads it as solve did (not as an ONNX file)."""
    hf(tmp_path, "tinyllama", TINYLLAMA)
    for f in ("tinyllama", "tinyllama/config.json"):
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump({"name": "mine", "workloads": [
            {"name": "chat", "task": "llm", "model_files": [f], "tokens_per_s": 5,
             "context_tokens": 2048}], "families": {"allow": ["raspberry-pi"]}}))
        deploy = tmp_path / "deploy.yaml"
        r = CliRunner().invoke(main, ["solve", str(spec), "-o", str(deploy)])
        assert r.exit_code == 0, r.output
        assert yaml.safe_load(deploy.read_text())["workloads"][0]["model_file"] == f
        for target in (deploy, spec):
            r = CliRunner().invoke(main, ["lint", str(target)])
            assert r.exit_code == 0 and "EP906" not in r.output, r.output
