"""The config.json importer on the issue-11 families: Qwen3 (dense, MoE, Next), Llama 4,
gpt-oss, Kimi K2, DeepSeek-V3.2 and Nemotron-H.

Fixtures in tests/fixtures/hf/ are byte-for-byte the copies of the published config.json
files that NVIDIA's aiconfigurator 0.12.0 ships in aiconfigurator_core/model_configs/
(Qwen3-Next from github.com/ai-dynamo/aiconfigurator at commit 1b7cfb10a, file
src/aiconfigurator/model_configs/Qwen--Qwen3-Next-80B-A3B-Thinking_config.json):
  qwen3-8b.json           https://huggingface.co/Qwen/Qwen3-8B/blob/main/config.json
  qwen3-30b-a3b.json      https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json
  qwen3-next-80b-a3b.json https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Thinking/blob/main/config.json
  llama-4-scout.json      https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E-Instruct/blob/main/config.json
  llama-4-maverick.json   https://huggingface.co/meta-llama/Llama-4-Maverick-17B-128E-Instruct/blob/main/config.json
  gpt-oss-20b.json        https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json
  kimi-k2.json            https://huggingface.co/moonshotai/Kimi-K2-Instruct/blob/main/config.json
  deepseek-v3.2.json      https://huggingface.co/deepseek-ai/DeepSeek-V3.2/blob/main/config.json
  nemotron-h-56b.json     https://huggingface.co/nvidia/Nemotron-H-56B-Base-8K/blob/main/config.json
(aiconfigurator's two Llama 4 copies keep the top level and text_config, without the
vision_config the importer does not read.)  Every expected number below is worked by hand
from the config values quoted beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvjax import catalog
from kvjax.catalog import model_from_hf_config
from kvjax.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "hf"

# fixture -> (catalog id, model-card total parameters)
CARDS = {
    "qwen3-8b": ("qwen3-8b", 8.2e9),  # Qwen3-8B card: 8.2B
    "qwen3-30b-a3b": ("qwen3-30b-a3b", 30.5e9),  # card: 30.5B total
    "qwen3-next-80b-a3b": ("qwen3-next-80b-a3b", 80e9),  # card: 80B total
    "llama-4-scout": ("llama-4-scout", 109e9),  # card: 109B incl. the vision encoder
    "llama-4-maverick": ("llama-4-maverick", 400e9),  # card: 400B
    "gpt-oss-20b": ("gpt-oss-20b", 20.9e9),  # arXiv 2508.10925: 20.9B
    "kimi-k2": ("kimi-k2", 1e12),  # card: 1T
    "deepseek-v3.2": ("deepseek-v3.2", 671e9),  # V3's 671B + the 0.85B indexer
    "nemotron-h-56b": ("nemotron-h-56b", 56e9),  # card: 56B
}


def _load(name):
    return model_from_hf_config(FIXTURES / f"{name}.json")


@pytest.mark.parametrize("fixture", sorted(CARDS))
def test_importer_matches_catalog_row_and_card(fixture):
    name, card = CARDS[fixture]
    model, info = _load(fixture)
    ref = catalog.load_model(name)
    for leaf in ref.leaf_names():
        if leaf != "params_total":
            assert float(getattr(model, leaf)) == pytest.approx(float(getattr(ref, leaf))), leaf
    assert info["params_total"] == pytest.approx(card, rel=0.03)  # cards round: K2 1T = 1.026T
    assert (info["d_ff"], info["vocab_size"]) == (catalog.model_info(name)["d_ff"],
                                                  catalog.model_info(name)["vocab_size"])


def test_qwen3_dense_and_moe():
    m, info = _load("qwen3-8b")
    # head_dim 128, 8 KV heads, use_sliding_window false, untied 151936 x 4096 tables
    assert (m.head_dim, m.n_kv_heads, m.windowed_layer_fraction) == (128, 8, 0)
    assert m.embedding_params == m.output_head_params == 151936 * 4096 == 622_329_856
    assert m.tied_embeddings == 0 and m.activation_width == 2 * 12288
    # 36 x (4096 x 4096 + 2 x 4096 x 1024 + 4096 x 4096 + 3 x 4096 x 12288) + 2 x 622,329,856
    assert info["params_total"] == 36 * (41_943_040 + 150_994_944) + 1_244_659_712
    moe, _ = _load("qwen3-30b-a3b")
    # 128 experts, 8 per token, moe_intermediate_size 768, every layer MoE, no shared expert
    assert (moe.n_experts, moe.experts_per_token, moe.n_dense_layers) == (128, 8, 0)
    assert moe.expert_params == 48 * 3 * 2048 * 768 == 226_492_416
    assert moe.activation_width == 8 * 2 * 768


def test_qwen3_next_linear_layers():
    m, _ = _load("qwen3-next-80b-a3b")
    # full_attention_interval 4: 12 gated-attention layers, 36 Gated DeltaNet
    assert m.linear_layer_fraction == 36 / 48
    # 32 value heads x 128 x 128 recurrent + (4 - 1) x (2 x 16 x 128 + 32 x 128) conv, bf16
    assert m.state_bytes_per_layer == (524_288 + 24_576) * 2 == 1_097_728
    assert m.linear_flop_per_token == 7 * 524_288
    assert (m.n_heads, m.n_kv_heads, m.head_dim) == (16, 2, 256)
    # 512 experts of width 512, 10 per token, plus the shared expert of width 512
    assert m.expert_params == 48 * 3 * 2048 * 512 and m.activation_width == (10 + 1) * 2 * 512


def test_llama4_chunked_attention_and_interleaved_moe():
    scout, info = _load("llama-4-scout")
    # attention_chunk_size 8192 on the RoPE layers: all but every 4th of 48
    assert (scout.window_tokens, scout.windowed_layer_fraction) == (8192, 36 / 48)
    assert scout.expert_params == 48 * 3 * 5120 * 8192 and scout.n_dense_layers == 0
    assert info["d_ff"] == 16384  # intermediate_size_mlp, the dense width
    mav, info = _load("llama-4-maverick")
    # interleave_moe_layer_step 2: 24 MoE layers of 128 experts, 24 dense of 16384
    assert (mav.n_experts, mav.n_dense_layers) == (128, 24)
    assert mav.expert_params == 24 * 3 * 5120 * 8192 == 3_019_898_880
    assert info["params_total"] == pytest.approx(400.71e9, rel=1e-4)


def test_gpt_oss_window_sinks_and_biased_experts():
    m, info = _load("gpt-oss-20b")
    # layer_types alternate sliding / full (12 of 24), sliding_window 128, head_dim 64
    assert (m.window_tokens, m.windowed_layer_fraction, m.head_dim) == (128, 0.5, 64)
    # 32 experts x (gate_up 2880 x 5760 + bias 5760 + down 2880 x 2880 + bias 2880) a layer
    assert m.expert_params == 24 * (3 * 2880 * 2880 + 3 * 2880) == 597_404_160
    # attention with biases: q 2880 x 4096, k and v 2880 x 512, o 4096 x 2880, + 64 sinks
    attn = 2880 * 4096 * 2 + 2 * 2880 * 512 + (4096 + 2 * 512 + 2880) + 64
    assert info["params_breakdown"]["attention"] == 24 * attn


def test_kimi_k2_and_deepseek_v32_mla():
    kimi, _ = _load("kimi-k2")
    # MLA: kv_lora_rank 512, qk_rope 64, head 128 + 64, 64 heads; 384 experts, 1 dense layer
    assert (kimi.kv_latent_dim, kimi.kv_rope_dim, kimi.head_dim, kimi.v_head_dim) == (
        512, 64, 192, 128)
    assert (kimi.n_experts, kimi.n_dense_layers) == (384, 1)
    assert kimi.expert_params == 60 * 3 * 7168 * 2048 == 2_642_411_520
    v32, info = _load("deepseek-v3.2")
    # DSA: index_topk 2048; 64 indexer heads x 128: 2 x 64 x 128 FLOP per key; fp8 key +
    # one fp32 scale = 132 bytes per token
    assert (v32.sparse_topk_tokens, v32.indexer_flop_per_key, v32.indexer_bytes_per_token) == (
        2048, 16384, 132)
    _, v3 = model_from_hf_config(FIXTURES / "deepseek-v3.json")
    # the same V3 shapes plus 61 x (1536 x 64 x 128 + 7168 x 128 + 7168 x 64) indexer weights
    assert info["params_total"] - v3["params_total"] == 61 * 13_959_168 == 851_509_248


def test_nemotron_h_hybrid_pattern():
    m, info = _load("nemotron-h-56b")
    # hybrid_override_pattern: 10 '*' attention, 54 'M' Mamba-2, 54 '-' MLP of 118 layers
    assert m.linear_layer_fraction == 108 / 118 and m.allreduces_per_layer == 1
    # Mamba-2 state: 256 heads x 64 x 256 + (4 - 1) x (16384 + 2 x 8 x 256) conv, bf16,
    # averaged over the 108 non-attending layers
    assert m.state_bytes_per_layer == 54 * (4_194_304 + 61_440) * 2 / 108 == 4_255_744
    assert m.head_dim == 128 and m.n_kv_heads == 8
    assert info["params_breakdown"]["mlp"] == 54 * 2 * 8192 * 32768  # up + down, no gate


def _write(tmp_path, fixture, **changes):
    cfg = json.loads((FIXTURES / f"{fixture}.json").read_text())
    cfg.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.parametrize(
    "fixture, changes, match",
    [
        ("nemotron-h-56b", {"hybrid_override_pattern": "M*E"}, "hybrid_override_pattern = 'M*E'"),
        ("qwen3-next-80b-a3b", {"layer_types": ["full_attention"]}, "layer_types"),
        ("deepseek-v3.2", {"index_topk": None}, "index_topk: missing required field"),
        ("llama-4-scout", {"text_config": None}, "text_config: missing required field"),
        ("gpt-oss-20b", {"num_local_experts": 0}, "num_local_experts = 0: must be > 0"),
    ],
)
def test_bad_family_fields_are_one_line(tmp_path, fixture, changes, match):
    path = _write(tmp_path, fixture, **changes)
    with pytest.raises(InputError) as err:
        model_from_hf_config(path)
    assert match in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)
