"""The issue-11 catalog rows whose designs have no config.json fixture cross-check.

Expected values are worked by hand from the config.json values quoted (the row's source):
  jamba-1.5-mini  https://huggingface.co/ai21labs/AI21-Jamba-1.5-Mini/blob/main/config.json
  (hidden 4096, 32 layers, attn_layer_period 8 / offset 4, expert_layer_period 2 / offset 1,
  16 experts top 2, intermediate 14336, mamba_expand 2, mamba_d_state 16, mamba_d_conv 4,
  vocab 65536, untied); the others' design counts from their model cards.
"""

from __future__ import annotations

import pytest

from kvjax import catalog


def test_jamba_row_from_its_config():
    m = catalog.load_model("jamba-1.5-mini")
    assert m.linear_layer_fraction == 28 / 32  # attention on layers 4, 12, 20, 28 only
    assert m.expert_params == 16 * 3 * 4096 * 14336 and m.n_dense_layers == 16
    # Mamba-1 state: d_inner 2 x 4096 = 8192; SSM 8192 x 16, conv (4 - 1) x 8192; bf16
    assert m.state_bytes_per_layer == (8192 * 16 + 3 * 8192) * 2 == 311_296
    assert m.embedding_params == m.output_head_params == 65536 * 4096
    info = catalog.model_info("jamba-1.5-mini")
    assert info["params_total"] == pytest.approx(52e9, rel=0.01)  # card: 52B total


@pytest.mark.parametrize(
    "name, linear, attending",
    [
        ("qwen3-next-80b-a3b", 0.75, 12),  # card: 12 x (3 Gated DeltaNet + 1 gated attention)
        ("jamba-1.5-mini", 0.875, 4),  # config: attention every 8th layer of 32
        ("nemotron-h-56b", 108 / 118, 10),  # card: 54 Mamba-2, 54 MLP, 10 attention layers
    ],
)
def test_hybrid_rows_attend_on_the_published_layers(name, linear, attending):
    m = catalog.load_model(name)
    assert m.linear_layer_fraction == pytest.approx(linear)
    assert float(m.n_layers) * (1 - float(m.linear_layer_fraction)) == pytest.approx(attending)


def test_sparse_window_and_sink_rows():
    ds = catalog.load_model("deepseek-v3.2")  # config: index_topk 2048, 64 x 128 indexer
    assert (ds.sparse_topk_tokens, ds.indexer_flop_per_key) == (2048, 2 * 64 * 128)
    assert ds.kv_latent_dim == 512 and ds.v_head_dim == 128
    oss = catalog.load_model("gpt-oss-120b")  # config: sliding_window 128 on 18 of 36 layers
    assert (oss.window_tokens, oss.windowed_layer_fraction, oss.n_experts) == (128, 0.5, 128)
    scout = catalog.load_model("llama-4-scout")  # attention_chunk_size 8192 on 36 of 48
    assert (scout.window_tokens, scout.windowed_layer_fraction) == (8192, 0.75)
    kimi = catalog.load_model("kimi-k2")  # card: 384 experts, 8 selected, 61 layers, 1 dense
    assert (kimi.n_experts, kimi.experts_per_token, kimi.n_dense_layers) == (384, 8, 1)
