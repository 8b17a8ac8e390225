"""KV bytes per token worked by hand from the published configs, through the catalog.

bf16 KV (2 bytes per element). Standard attention: 2 (K and V) x L x K x H x 2 B.
MLA: (kv_lora_rank + qk_rope_head_dim) x L x 2 B (one latent per layer, shared by heads).
"""

from __future__ import annotations

import pytest

from kvjax import catalog, costs
from kvjax.model import Scenario, Workload

GOLDEN = {
    # 01-ai/Yi-34B-200K config.json: 60 layers, 8 KV heads, head dim 7168 / 56 = 128;
    # the paper (arXiv 2405.08944) quotes 0.91 "GB" (GiB) for 4K tokens = 245,760 x 4,000 B.
    "yi-34b": 2 * 60 * 8 * 128 * 2,  # 245,760
    # meta-llama/Llama-2-13b-hf config.json: 40 layers, 40 heads (MHA), head dim 128.
    "llama-2-13b": 2 * 40 * 40 * 128 * 2,  # 819,200
    # meta-llama/Llama-3.1-70B config.json: 80 layers, 8 KV heads, head dim 128.
    "llama-3.1-70b": 2 * 80 * 8 * 128 * 2,  # 327,680
    # mistralai/Mistral-7B-v0.1 config.json: 32 layers, 8 KV heads, head dim 128 (the
    # 4096-token sliding window bounds a user's KV, not the bytes per token).
    "mistral-7b": 2 * 32 * 8 * 128 * 2,  # 131,072
    # deepseek-ai/DeepSeek-V3 config.json: kv_lora_rank 512, qk_rope_head_dim 64, 61 layers.
    "deepseek-v3": (512 + 64) * 61 * 2,  # 70,272
    # tiiuae/falcon-7b config.json: 32 layers, multi-query (1 KV head), head dim 4544 / 71 = 64.
    "falcon-7b": 2 * 32 * 1 * 64 * 2,  # 8,192
}


def _kv_per_token(name, context_tokens=8192.0):
    s = Scenario(
        catalog.load_model(name),
        catalog.load_hardware("a100-80gb-sxm"),
        Workload(context_tokens=context_tokens),
    )
    return float(costs.kv_bytes_per_token(s))


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_kv_bytes_per_token(name):
    assert _kv_per_token(name) == pytest.approx(GOLDEN[name], rel=1e-6)


def test_values_as_written():
    assert GOLDEN == {
        "yi-34b": 245_760,
        "llama-2-13b": 819_200,
        "llama-3.1-70b": 327_680,
        "mistral-7b": 131_072,
        "deepseek-v3": 70_272,
        "falcon-7b": 8_192,
    }


def test_llama_2_13b_at_8192_tokens_is_6_7_gb():
    # 819,200 B/token x 8,192 tokens = 6,710,886,400 B: the often-quoted "6.7 GB" per user.
    s = Scenario(
        catalog.load_model("llama-2-13b"),
        catalog.load_hardware("a100-80gb-sxm"),
        Workload(context_tokens=8192.0),
    )
    assert float(costs.kv_bytes_per_user(s)) == pytest.approx(6_710_886_400, rel=1e-6)
