"""Golden tests: every worked number in docs/cost-model.md, with its citation and tolerance.

Citations used below:

- [paper] Yao Fu, "Challenges in Deploying Long-Context Transformers: A Theoretical Peak
  Performance Analysis", arXiv 2405.08944 (2024); its running example is Yi-34B on one
  A100-80GB (see shared/paper.md).  Its "GB" for KV sizes are GiB, printed truncated.
- [yi] config.json of 01-ai/Yi-34B-200K; [mixtral] config.json of mistralai/Mixtral-8x7B-v0.1
  and Mistral AI's announcement (46.7B total, 12.9B active); [dsv3] config.json and model card
  of deepseek-ai/DeepSeek-V3 (671B total, 37B activated); [gemma2] config.json of
  google/gemma-2-9b; [llama2] config.json of meta-llama/Llama-2-13b-hf.
- [a100] NVIDIA A100 80GB SXM datasheet; [h100] NVIDIA H100 SXM datasheet (tests/conftest.py).
- [cai] Character.AI, "Optimizing AI Inference at Character.AI" (June 2024): MQA, local
  attention (window 1024) on 5 of 6 layers, cross-layer KV sharing, int8 KV.
- [code] a value that only follows from kvjax's own formula (a regression pin: its docstring
  or docs/cost-model.md states the arithmetic).

Tolerances: "exact" numbers are integers the formula must reproduce (rel 1e-12 in float64);
regression pins of derived values use rel 1e-3 (the docs print 3-4 significant digits);
comparisons with a published, rounded figure state their own tolerance.

Run: python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import math

import jax
import pytest
from conftest import (
    A100_80GB,
    DEEPSEEK_V3,
    GEMMA_2_9B,
    H100_SXM,
    MIXTRAL_8X7B,
    YI_34B,
    scenario,
)

from kvjax import costs as c
from kvjax import costs as ph
from kvjax import costs as se
from kvjax.model import Model

GiB = 2.0**30
EXACT = 1e-12
PIN = 1e-3

# [llama2] num_hidden_layers 40, hidden_size 5120, num_attention_heads 40,
# num_key_value_heads 40 (MHA), head dim 5120 / 40 = 128; 13e9 parameters (model card "13B").
LLAMA_2_13B = Model(
    n_layers=40, d_model=5120, n_heads=40, n_kv_heads=40, head_dim=128, params_total=13e9
)

# [cai] on Yi-34B's architecture: MQA (K = 1), a 1024-token window on 5/6 of the layers,
# every KV cache shared by 2 adjacent layers (Character.AI: "a further 2-3x"; we take 2).
# int8 KV is the workload leaf kv_bits = 8.
CAI_YI = YI_34B.replace(
    n_kv_heads=1.0, windowed_layer_fraction=5 / 6, window_tokens=1024.0, layers_per_kv=2.0
)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def f(x) -> float:
    return float(x)


def approx(x, rel=PIN):
    return pytest.approx(x, rel=rel)


def paper(context_tokens=4000.0, **workload):
    """[paper] Yi-34B (34e9 params) on one A100-80GB, bf16, 250 output tokens, batch 1."""
    return scenario(YI_34B, A100_80GB, context_tokens=context_tokens, **workload)


# ----------------------------------------------------------------------------- weights


def test_weights_yi_34b():
    # [paper] "68 GB" of bf16 weights: 34e9 x 2 B, exact.
    assert f(c.weight_bytes(paper())) == approx(68e9, EXACT)
    assert f(c.weight_bytes_per_device(paper(tp=2.0))) == approx(34e9, EXACT)
    assert f(c.active_params(paper())) == approx(34e9, EXACT)  # dense: P


def test_active_params_mixtral():
    # [mixtral] one expert over all layers 32 x 3 x 4096 x 14336 (exact); "12.9B" active
    # (Mistral AI), matched within 0.5% (46.7e9 is itself rounded).
    assert MIXTRAL_8X7B.expert_params == 5_637_144_576
    active = f(c.active_params(scenario(MIXTRAL_8X7B, H100_SXM)))
    assert active == approx(12.877e9)
    assert active == approx(12.9e9, 5e-3)


def test_active_params_deepseek_v3():
    # [dsv3] 58 MoE layers x 3 x 7168 x 2048 per expert; "37B activated": within 2% (our
    # shared part counts embeddings and the output head, the card's 37B may not).
    assert DEEPSEEK_V3.expert_params == 2_554_331_136
    active = f(c.active_params(scenario(DEEPSEEK_V3, H100_SXM)))
    assert active == approx(37.526e9)
    assert active == approx(37e9, 2e-2)
    # [code] FLOP saving P / P_a: 3.6x for Mixtral, 17.9x for DeepSeek-V3.
    assert 46.7e9 / f(c.active_params(scenario(MIXTRAL_8X7B, H100_SXM))) == approx(3.6266)
    assert 671e9 / active == approx(17.881)


def test_expected_experts_touched_mixtral():
    # [code] 8 (1 - (3/4)^n): uniform independent top-2 routing over 8 experts.
    s = scenario(MIXTRAL_8X7B, H100_SXM)
    for tokens, want in [(1, 2.0), (2, 3.5), (4, 5.46875), (8, 7.19910), (32, 7.99920)]:
        assert f(c.expected_experts_touched(s, float(tokens))) == approx(want, 1e-5)
    # a dense model touches its one "expert"
    assert f(c.expected_experts_touched(paper(), 7.0)) == 1.0
    # [code] DeepSeek-V3: 8 of 256 at one token, 163.3 at 32 tokens
    d = scenario(DEEPSEEK_V3, H100_SXM)
    assert f(c.expected_experts_touched(d, 1.0)) == approx(8.0, EXACT)
    assert f(c.expected_experts_touched(d, 32.0)) == approx(163.31)
    # rule: at 3 E / k tokens a batch touches ~95% of the experts (1 - e^-3)
    assert f(c.expected_experts_touched(s, 12.0)) / 8 == approx(0.96832)
    assert f(c.expected_experts_touched(d, 96.0)) / 256 == approx(0.95243)


def test_weight_bytes_touched_mixtral():
    # [code] (1.603e9 shared + E_touched x 5.637e9) x 2 B: 25.75 / 64.86 / 93.39 GB.
    s = scenario(MIXTRAL_8X7B, H100_SXM)
    assert f(c.weight_bytes_touched(s, 1.0)) == approx(25.754e9)
    assert f(c.weight_bytes_touched(s, 4.0)) == approx(64.862e9)
    assert f(c.weight_bytes_touched(s, 32.0)) == approx(93.391e9)
    assert f(c.weight_bytes_touched(paper(), 32.0)) == approx(68e9, EXACT)  # dense
    assert f(c.weight_bytes(s)) == approx(93.4e9, EXACT)  # every expert resident


# ----------------------------------------------------------------------------- KV per token


def test_kv_per_token_yi_34b():
    # [paper] 2 x L x K x H x 2 B = 2 x 60 x 8 x 128 x 2 = 245,760 B, exact.
    s = paper()
    assert f(c.kv_bytes_per_token(s)) == 245_760
    assert f(c.kv_layers(s)) == 60
    assert f(c.kv_elements_per_token_per_layer(s)) == 2048
    # MHA (K = N = 56) and MQA (K = 1) are the same formula: 7x and 1/8 of GQA-8.
    assert f(c.kv_bytes_per_token(paper().replace(model=YI_34B.replace(n_kv_heads=56.0)))) == (
        1_720_320
    )
    assert f(c.kv_bytes_per_token(paper().replace(model=YI_34B.replace(n_kv_heads=1.0)))) == (
        30_720
    )


def test_kv_per_token_mixtral():
    # [mixtral] 2 x 32 x 8 x 128 x 2 = 131,072 B, exact.
    assert f(c.kv_bytes_per_token(scenario(MIXTRAL_8X7B, H100_SXM))) == 131_072


def test_kv_per_token_deepseek_v3_mla():
    # [dsv3] MLA: (kv_lora_rank 512 + qk_rope_head_dim 64) x 61 layers x 2 B = 70,272 B, exact.
    s = scenario(DEEPSEEK_V3, H100_SXM)
    assert f(c.kv_elements_per_token_per_layer(s)) == 576
    assert f(c.kv_bytes_per_token(s)) == 70_272
    # [code] the same model with plain 2 K H (K = 128, H = 192): 85x more.
    plain = DEEPSEEK_V3.replace(kv_latent_dim=0.0, kv_rope_dim=0.0)
    assert f(c.kv_bytes_per_token(scenario(plain, H100_SXM))) == 5_996_544
    assert 5_996_544 / 70_272 == approx(85.333)
    assert 245_760 / 70_272 == approx(3.4973)  # Yi-34B caches 3.5x more per token
    # [code] 100K tokens: 7.027e9 B = 6.54 GiB
    assert f(c.kv_bytes_per_user(scenario(DEEPSEEK_V3, H100_SXM, context_tokens=1e5))) == (
        approx(7.0272e9, EXACT)
    )


def test_kv_llama_2_13b_8k():
    # [llama2] 2 x 40 x 40 x 128 x 2 B x 8192 = 6,710,886,400 B ("about 6.7 GB"), exact;
    # = 6.25 GiB.  Within 0.5% of 6.7e9.
    s = scenario(LLAMA_2_13B, A100_80GB, context_tokens=8192.0)
    assert f(c.kv_bytes_per_token(s)) == 819_200
    kv = f(c.kv_bytes_per_user(s))
    assert kv == 6_710_886_400
    assert kv == approx(6.7e9, 5e-3)
    assert kv / GiB == approx(6.25, EXACT)


# ----------------------------------------------------------------------------- KV per user


@pytest.mark.parametrize(
    "tokens, nbytes, gib, printed, digits",
    [
        (4000.0, 983_040_000, 0.91553, 0.91, 2),  # 245,760 B x 4,000
        (50000.0, 12_288_000_000, 11.444, 11.4, 1),  # 245,760 B x 50,000
        (100000.0, 24_576_000_000, 22.888, 22.8, 1),  # 245,760 B x 100,000
    ],
)
def test_kv_per_user_paper_gib(tokens, nbytes, gib, printed, digits):
    # [paper] 0.91 / 11.4 / 22.8 "GB": GiB, truncated (not rounded) as the paper prints.
    kv = f(c.kv_bytes_per_user(paper(tokens)))
    assert kv == approx(nbytes, EXACT)
    assert kv / GiB == approx(gib, 1e-4)
    scale = 10**digits
    assert math.floor(kv / GiB * scale) / scale == pytest.approx(printed, abs=1e-9)


def test_kv_per_user_1m():
    # [code] 1M tokens: 245.76e9 B = 228.9 GiB (beyond the A100 before the weights).
    assert f(c.kv_bytes_per_user(paper(1e6))) / GiB == approx(228.88)


# ----------------------------------------------------------------------------- windows


def test_windows_gemma_2_9b():
    # [gemma2] 2 x 42 x 8 x 256 x 2 = 344,064 B/token, exact; window 4096 on half the layers.
    g8 = scenario(GEMMA_2_9B, A100_80GB, context_tokens=8192.0)
    assert f(c.kv_bytes_per_token(g8)) == 344_064
    assert f(c.kv_tokens_kept(g8, 8192.0)) == 6144  # 0.5 x 8192 + 0.5 x 4096
    assert f(c.kv_bytes_per_user(g8)) == approx(2.11393e9)  # 0.75 of 2.81857e9
    full8 = scenario(
        GEMMA_2_9B.replace(windowed_layer_fraction=0.0), A100_80GB, context_tokens=8192.0
    )
    assert f(c.kv_bytes_per_user(full8)) == approx(2.81857e9)
    assert (f(c.concurrency(g8)), f(c.concurrency(full8))) == (approx(31.893), approx(23.920))
    g32 = scenario(GEMMA_2_9B, A100_80GB, context_tokens=32768.0)
    full32 = scenario(
        GEMMA_2_9B.replace(windowed_layer_fraction=0.0), A100_80GB, context_tokens=32768.0
    )
    assert f(c.kv_tokens_kept(g32, 32768.0)) == 18432
    assert f(c.windowed_tokens(g32, 32768.0)) == 18432
    assert f(c.kv_bytes_per_user(g32)) == approx(6.34179e9)
    assert f(c.kv_bytes_per_user(full32)) == approx(11.2743e9)
    assert f(c.concurrency(g32)) == approx(10.631)
    assert f(c.concurrency(full32)) == approx(5.9799)
    # prefill attention, causal: full layers m T = 16384 keys; windowed layers the exact
    # causal mean T/2 - (T - W)^2 / 2T = 16384 - 28672^2 / 65536 = 3840 (issue 11: the old
    # bound min(m T, W) = 4096 gave 2.30897e14): 688,128 x 32768 x (8192 + 1920) FLOP
    assert f(c.prefill_attention_flop(g32)) == approx(2.28011e14)
    assert f(c.prefill_attention_flop(full32)) == approx(3.69436e14)


# ----------------------------------------------------------------------------- compression


@pytest.mark.parametrize(
    "leaf, value, gib, users",
    [
        ("kv_layer_keep", 0.5, 11.444, 1.4567),  # layer axis (YOCO, CLA)
        ("kv_head_keep", 0.25, 5.7220, 2.9133),  # head axis (retrieval heads)
        ("kv_token_keep", 0.1, 2.2888, 7.2833),  # token axis (H2O, SnapKV)
        ("kv_bits", 4.0, 5.7220, 2.9133),  # hidden axis (KIVI-style 4-bit)
    ],
)
def test_four_axes_yi_100k(leaf, value, gib, users):
    # [code] each axis alone on the paper's 100K point (22.89 GiB, 0.73 users): illustrative
    # keep factors, not the cited methods' measured ratios.
    s = paper(1e5, **{leaf: value})
    assert f(c.kv_bytes_per_user(s)) / GiB == approx(gib)
    assert f(c.concurrency(s)) == approx(users)


def test_four_axes_combined_yi_100k():
    # [code] the four multiply: 22.888 x 0.5 x 0.25 x 0.1 x 0.25 = 0.0715 GiB, 233 users.
    s = paper(1e5, kv_layer_keep=0.5, kv_head_keep=0.25, kv_token_keep=0.1, kv_bits=4.0)
    assert f(c.kv_bytes_per_user(s)) / GiB == approx(0.071526)
    assert f(c.concurrency(s)) == approx(233.06)


def test_character_ai_hybrid():
    # [cai] on Yi-34B: 245,760 / 8 (MQA) / 2 (sharing) / 2 (int8) = 7,680 B/token, exact.
    h = lambda t, **w: scenario(CAI_YI, A100_80GB, context_tokens=t, kv_bits=8.0, **w)  # noqa: E731
    assert f(c.kv_bytes_per_token(h(4000.0))) == 7680
    assert f(c.kv_layers(h(4000.0))) == 30
    # windows: T/6 + 5/6 x 1024 tokens kept (kv_tokens_kept docstring: 17,520 at 100K)
    assert f(c.kv_tokens_kept(h(4000.0), 4000.0)) == approx(1520.0, 1e-9)
    assert f(c.kv_tokens_kept(h(1e5), 1e5)) == approx(17520.0, 1e-9)
    assert f(c.kv_bytes_per_user(h(4000.0))) == approx(11_673_600, 1e-9)
    assert f(c.kv_bytes_per_user(paper(1e6)) / c.kv_bytes_per_user(h(1e6))) == approx(191.02)
    # [code] 84x less KV per user at 4K, 183x at 100K; Character.AI claims "more than 20x".
    assert f(c.kv_bytes_per_user(paper(4000.0)) / c.kv_bytes_per_user(h(4000.0))) == approx(84.21)
    assert f(c.kv_bytes_per_user(h(1e5))) == approx(134.55e6)
    assert f(c.kv_bytes_per_user(paper(1e5)) / c.kv_bytes_per_user(h(1e5))) == approx(182.65)
    assert f(c.concurrency(h(1e5))) == approx(133.03)
    # [code] 1M tokens with the hybrid: 1.287e9 B per user, 13.9 users (GQA at 4K: 18.2)
    assert f(c.kv_bytes_per_user(h(1e6))) == approx(1.28655e9)
    assert f(c.concurrency(h(1e6))) == approx(13.913)
    # [code] decode at 1M, 13 users: 49.8 ms/step, 261 tok/s (GQA at 4K, 18 users: 42.3 ms,
    # 426).  Sharing halves what is stored, not what is read (issue 11; CLA, Brandon et al.
    # 2024: every layer attends the shared cache): 60 layers x 256 B x 167,540.75 tokens per
    # user, (68e9 + 13 x 2.5734e9) / 2.039e12 (it was 41.553 ms with one read per pair).
    assert f(c.decode_step_s(h(1e6, batch=13.0))) == approx(49.757e-3)
    assert f(c.decode_tokens_per_s(h(1e6, batch=13.0))) == approx(261.27)
    assert f(c.decode_step_s(paper(batch=18.0))) == approx(42.298e-3)
    assert f(c.decode_tokens_per_s(paper(batch=18.0))) == approx(425.55)
    # prefill shrinks only through the windows' attention: 682 s at 1M (FLOP-bound)
    assert f(c.prefill_s(h(1e6))) == approx(682.14)
    assert f(c.prefill_compute_s(paper(1e6))) == approx(2974.9)  # plain Yi-34B, causal
    assert f(c.concurrency(h(4000.0))) == approx(1533.3)


# ----------------------------------------------------------------------------- capacity


def test_free_hbm_and_concurrency_paper():
    # [a100] 80 GiB = 85,899,345,920 B; minus 68e9 B of weights = 17,899,345,920 B free.
    assert f(c.free_hbm_bytes_per_device(paper())) == approx(17_899_345_920, EXACT)
    # [paper] "~13-20" users at 4K, 1 at 50K, 0 at 100K: real 18.2 / 1.46 / 0.73, floored.
    for t, real, whole in [(4e3, 18.208, 18), (5e4, 1.4567, 1), (1e5, 0.72833, 0)]:
        assert f(c.concurrency(paper(t))) == approx(real)
        assert f(c.concurrency_floor(paper(t))) == whole
    assert bool(c.fits_one(paper(5e4))) and not bool(c.fits_one(paper(1e5)))
    assert bool(c.fits(paper(batch=18.0))) and not bool(c.fits(paper(batch=19.0)))
    # [code] 4 GiB held back for activations: 13.8 users; TP = 2 at 100K: 4.22 users.
    assert f(c.concurrency(paper(hbm_reserve_bytes=4 * GiB))) == approx(13.839)
    assert f(c.concurrency(paper(1e5, tp=2.0))) == approx(4.2236)
    assert f(c.free_hbm_bytes_per_device(paper(tp=2.0))) * 2 == approx(103.8e9, 1e-3)
    assert f(c.concurrency(paper(4e3)) / c.concurrency(paper(5e4))) == approx(12.5, 1e-2)


def test_deepseek_v3_capacity_h100_tp8_fp8():
    # [dsv3][h100] 671e9 x 1 B / 8 = 83.875e9 B per device; 2.02e9 B left. The MLA latent
    # is replicated on each of the 8 ranks (kv_shards = 1): 70,272 x 1e5 = 7.03e9 B per
    # device, 0.288 users at 100K; plain attention (2 K H, K = 128, 8 shards) 0.027.
    d = scenario(DEEPSEEK_V3, H100_SXM, context_tokens=1e5, tp=8.0, weight_bytes_per_param=1.0)
    assert f(c.weight_bytes_per_device(d)) == approx(83.875e9, EXACT)
    assert f(c.free_hbm_bytes_per_device(d)) == approx(2.02435e9)
    assert f(c.kv_shards(d)) == 1.0
    assert f(c.kv_bytes_per_user_per_device(d)) == approx(7.0272e9, EXACT)
    assert f(c.concurrency(d)) == approx(0.28807)
    plain = d.replace(model=DEEPSEEK_V3.replace(kv_latent_dim=0.0, kv_rope_dim=0.0))
    assert f(c.kv_shards(plain)) == 8.0
    assert f(c.concurrency(plain)) == approx(0.027007)


# ----------------------------------------------------------------------------- roofline, TP


def test_roofline_docstring_example():
    # [code] roofline.py: max(2.72e14 / 312e12, 68e9 / 2.039e12) = 0.872 s, compute-bound.
    assert f(c.roofline_s(2.72e14, 68e9, 312e12, 2.039e12)) == approx(0.87179)
    # [a100] ridge point F / beta = 153 FLOP/B; the example's intensity is 4,000 FLOP/B.
    assert 312e12 / 2.039e12 == approx(153.02)
    assert 2.72e14 / 68e9 == approx(4000.0, EXACT)


def test_ring_allreduce_docstring_example():
    # [code] roofline.py: 4000 x 7168 x 2 B over 8 GPUs at 300e9 B/s, alpha 5 us:
    # 2 x 7/8 x 57.344e6 / 300e9 + 14 x 5e-6 = 334.5 us + 70 us = 404.5 us.
    m = 4000 * 7168 * 2.0
    assert f(c.ring_allreduce_s(m, 8.0, 300e9, 5e-6)) == approx(404.507e-6)
    assert f(c.ring_allreduce_s(m, 1.0, 300e9, 5e-6)) == 0.0


def test_tp_comm_yi_tp8():
    # [code] 2 x 60 all-reduces: 48.5 ms for a 4000-token prefill, 8.41 ms for one decode token.
    s = paper(tp=8.0)
    assert f(c.prefill_comm_s(s)) == approx(48.541e-3)
    assert f(c.tp_comm_s(s, 1.0)) == approx(8.4100e-3)
    assert f(c.prefill_comm_s(paper())) == 0.0


# ----------------------------------------------------------------------------- prefill


@pytest.mark.parametrize(
    "mask, s4k, s50k",
    [
        (0.0, 0.87179, 10.897),
        (0.25, 0.89385, 14.344),
        (0.5, 0.91591, 17.790),
        (1.0, 0.96002, 24.682),
    ],
)
def test_prefill_conventions(mask, s4k, s50k):
    # [code] 2 P T + 4 L N H T (m T) FLOP over 312e12 FLOP/s [a100], for each mask convention.
    assert f(c.prefill_compute_s(paper(4e3, attention_mask_fraction=mask))) == approx(s4k, 1e-4)
    assert f(c.prefill_compute_s(paper(5e4, attention_mask_fraction=mask))) == approx(s50k, 1e-4)


def test_prefill_conventions_bracket_the_paper():
    # [paper] 0.89 s at 4K and 14.1 s at 50K lie between the linear-only and the causal
    # (m = 0.5) conventions, and match QK^T-only causal (m = 0.25) within 0.5% / 2%.
    for t, quoted, tol in [(4e3, 0.89, 5e-3), (5e4, 14.1, 2e-2)]:
        lin = f(c.prefill_compute_s(paper(t, attention_mask_fraction=0.0)))
        causal = f(c.prefill_compute_s(paper(t, attention_mask_fraction=0.5)))
        qk = f(c.prefill_compute_s(paper(t, attention_mask_fraction=0.25)))
        assert lin < quoted < causal
        assert qk == approx(quoted, tol)
    assert f(c.prefill_compute_s(paper(4e3, attention_mask_fraction=0.25))) / 0.89 - 1 == (
        pytest.approx(0.0043, abs=5e-4)
    )
    assert f(c.prefill_compute_s(paper(5e4, attention_mask_fraction=0.25))) / 14.1 - 1 == (
        pytest.approx(0.0173, abs=5e-4)
    )


def test_prefill_flop_bytes_and_time_4k():
    # [code] phases.py docstrings: 2.72e14 + 1.376e13 = 2.858e14 FLOP -> 0.916 s; bytes
    # 68e9 + 0.983e9 = 68.98e9 B -> 33.8 ms: compute-bound (regime 0).
    s = paper()
    assert f(c.prefill_attention_flop(s)) == approx(1.37626e13)
    assert f(c.prefill_flop(s)) == approx(2.85763e14)
    assert f(c.prefill_bytes(s)) == approx(68.983e9)
    assert f(c.prefill_memory_s(s)) == approx(33.832e-3)
    assert f(c.prefill_s(s)) == approx(0.91591)
    assert f(c.prefill_regime(s)) == 0
    assert f(c.prefill_attention_flop(paper(5e4))) == approx(2.1504e15)
    # rule: attention equals the linear term at T* = P / (2 L N H m) = 34e9 / (2 x 60 x 56 x
    # 128 x 0.5) = 34e9 / 430,080 = 79,055.06 tokens, and the ratio is T / T* (linear in T)
    t_star = 79_055.06
    assert f(c.prefill_attention_flop(paper(t_star))) / (2 * 34e9 * t_star) == approx(1.0)
    assert f(c.prefill_attention_flop(paper(5e4))) / (2 * 34e9 * 5e4) == approx(5e4 / t_star)
    assert f(c.prefill_attention_flop(paper(5e4))) / (2 * 34e9 * 5e4) == approx(0.63247)
    assert f(c.prefill_attention_flop(paper(1e5))) / (2 * 34e9 * 1e5) == approx(1.26494)
    assert f(c.prefill_memory_s(s)) * 27.07 == approx(f(c.prefill_s(s)), 1e-3)  # 27x
    # 1M vs 4K: the linear term alone is 250x
    assert f(c.prefill_compute_s(paper(1e6, attention_mask_fraction=0.0))) == approx(217.95)
    assert math.isnan(f(c.prefill_s(paper(1e5))))  # one user does not fit


def test_prefill_tp8_and_mixtral():
    # [code] TP 8 at 4K: 0.1145 s compute + 48.5 ms all-reduce = 0.163 s.
    s = paper(tp=8.0)
    assert f(c.prefill_compute_s(s)) == approx(0.11449)
    assert f(c.prefill_s(s)) == approx(0.16303)
    assert f(c.prefill_s(paper())) / f(c.prefill_s(s)) == approx(5.618)
    # [code] Mixtral on 2 H100 at 4K: 1.072e14 FLOP; 54.2 ms + 5.3 ms all-reduce = 59.5 ms.
    m = scenario(MIXTRAL_8X7B, H100_SXM, tp=2.0)
    assert f(c.prefill_flop(m)) == approx(1.07211e14)
    assert f(c.prefill_s(m)) == approx(59.502e-3)
    assert f(c.prefill_compute_s(m)) == approx(54.201e-3)
    assert f(c.prefill_comm_s(m)) == approx(5.3003e-3)


# ----------------------------------------------------------------------------- decode


def test_decode_paper():
    # [paper] 8.5 s at 4K and 9.8 s at 50K for 250 tokens, within 2%.
    assert f(c.decode_s(paper(4e3))) == approx(8.5, 2e-2)
    assert f(c.decode_s(paper(5e4))) == approx(9.8, 2e-2)
    # [code] pins: 8.462 s and 9.848 s
    assert f(c.decode_s(paper(4e3))) == approx(8.4617)
    assert f(c.decode_s(paper(5e4))) == approx(9.8478)
    assert f(c.decode_step_bytes(paper(5e4))) == approx(80.3186e9)
    assert f(c.decode_step_s(paper(5e4))) == approx(39.391e-3)
    # [code] the cruder "every step at T": 8.458 / 9.844 s, 0.04% below the mean-context value
    at_t = [250 * (68e9 + 245_760 * t) / 2.039e12 for t in (4e3, 5e4)]
    assert at_t == [approx(8.4580), approx(9.8440)]
    assert f(c.decode_s(paper(4e3))) / at_t[0] - 1 == pytest.approx(4.4e-4, abs=1e-5)


def test_decode_step_4k():
    # [code] mean context 4000 + 249/2; 68e9 + 245,760 x 4124.5 = 69.01e9 B -> 33.85 ms;
    # 7.51e10 FLOP -> 0.24 ms; bandwidth-bound (regime 1).
    s = paper()
    assert f(c.decode_context_tokens(s)) == 4124.5
    assert f(c.decode_step_bytes(s)) == approx(69.0136e9)
    assert f(c.decode_step_flop(s)) == approx(7.50955e10)
    assert f(c.decode_step_s(s)) == approx(33.847e-3)
    assert f(c.decode_tokens_per_s_per_user(s)) == approx(29.545)
    assert f(c.decode_tokens_per_s(s)) == approx(29.545)
    assert f(c.decode_regime(s)) == 1
    compute, memory, comm = ph.decode_step_parts_at(s, 1.0)
    assert (f(compute), f(memory), f(comm)) == (approx(0.24069e-3), approx(33.847e-3), 0.0)


def test_decode_mean_context_is_exact():
    # [code] n_out steps at T + (n_out - 1)/2 move the bytes of the real steps T, ..., T+249.
    real = sum((68e9 + 245_760 * (4000 + i)) / 2.039e12 for i in range(250))
    assert f(c.decode_s(paper())) == approx(real, 1e-12)


def test_decode_batching_4k():
    # [code] batch 8: 37.3 ms, 214 tok/s; batch 18: 42.3 ms, 426 tok/s (weights amortised).
    assert f(c.decode_step_s(paper(batch=8.0))) == approx(37.327e-3)
    assert f(c.decode_tokens_per_s(paper(batch=8.0))) == approx(214.32)
    assert f(c.decode_step_bytes(paper(batch=18.0))) == approx(86.2455e9)
    assert f(c.decode_regime(paper(batch=18.0))) == 1
    # per user: 0.241 ms of FLOP vs 0.497 ms of KV read: no batch makes this decode FLOP-bound.
    per_user_flop_s = f(c.decode_step_flop(paper())) / 312e12
    per_user_kv_s = 245_760 * 4124.5 / 2.039e12
    assert per_user_flop_s == approx(0.24069e-3)
    assert per_user_kv_s == approx(0.49712e-3)


def test_decode_tp_examples():
    # [code] TP 8 at 4K: comm 8.41 ms > memory 4.23 ms: scale-up-link-bound (regime 2).
    s = paper(tp=8.0)
    compute, memory, comm = ph.decode_step_parts_at(s, 1.0)
    assert f(memory) == approx(4.2309e-3)
    assert f(comm) == approx(8.4100e-3)
    assert f(c.decode_step_s(s)) == approx(12.641e-3)
    assert f(c.decode_regime(s)) == 2
    # with the catalog's alpha = 2 us the all-reduce (3.37 ms) drops below memory: regime 1
    s_2us = scenario(YI_34B, A100_80GB.replace(scaleup_latency_s=2e-6), tp=8.0)
    assert f(ph.decode_step_parts_at(s_2us, 1.0)[2]) == approx(3.3700e-3)
    assert f(c.decode_regime(s_2us)) == 1
    # [code] TP 2 at 100K: 46.3e9 B per device -> 22.7 ms + 1.2 ms; 5.98 s for 250 tokens.
    s2 = paper(1e5, tp=2.0)
    assert f(c.decode_step_bytes(s2)) == approx(46.3033e9)
    assert f(c.decode_step_s(s2)) == approx(23.915e-3)
    assert f(c.decode_s(s2)) == approx(5.9786)


def test_decode_mixtral_batching():
    # [code] Mixtral on 2 H100, 4K: bytes per device grow with the experts touched.
    for b, nbytes, step in [
        (1, 13.147e9, 4.5658e-3),
        (4, 33.512e9, 10.648e-3),
        (32, 55.345e9, 17.198e-3),
    ]:
        s = scenario(MIXTRAL_8X7B, H100_SXM, tp=2.0, batch=float(b))
        assert f(c.decode_step_bytes(s)) == approx(nbytes)
        assert f(c.decode_step_s(s)) == approx(step)


# ----------------------------------------------------------------------------- switching


def test_context_switch_paper():
    # [code][a100] 2 x KV / 32e9 B/s (PCIe 4.0 x16): 0.0614 s at 4K, 0.768 s at 50K.
    assert f(c.context_switch_s(paper(4e3))) == approx(0.06144, EXACT)
    assert f(c.context_switch_s(paper(5e4))) == approx(0.768, EXACT)
    assert math.isnan(f(c.context_switch_s(paper(1e5))))
    assert f(c.context_switch_s(paper(1e5, tp=2.0))) == approx(0.768, EXACT)


# ----------------------------------------------------------------------------- sessions


def test_session_docstring_example():
    # [code] session.py: 0.916 + 8.46 = 9.38 s per session, batch 1, 4K; $2/h test price.
    s = paper()
    assert f(se.resident_batch(s)) == 1.0
    assert f(c.offloaded_share(s)) == 0.0
    assert f(c.session_wall_s(s)) == approx(9.3776)
    assert f(c.session_gpu_s(s)) == approx(9.3776)
    assert f(c.sessions_per_hour(s)) == approx(383.89)
    assert f(c.output_tokens_per_s_per_device(s)) == approx(26.659)
    assert f(c.usd_per_session(s)) == approx(5.2098e-3)
    assert f(c.usd_per_million_output_tokens(s)) == approx(20.839)
    assert f(c.session_regime(s)) == 1


def test_session_batching_and_queueing():
    # [code] 18 users at 4K: 1.503 s per session, 2395 per hour, $3.34 per 1M tokens.
    s = paper(batch=18.0)
    assert f(c.session_wall_s(s)) == approx(1.5034)
    assert f(c.sessions_per_hour(s)) == approx(2394.6)
    assert f(c.output_tokens_per_s_per_device(s)) == approx(166.29)
    assert f(c.usd_per_million_output_tokens(s)) == approx(3.3408)
    assert f(c.session_regime(s)) == 0
    # [code] 40 users at 4K: 18.2 resident, the other 21.8 queue (single-turn sessions do
    # not swap, issue 12): 0.916 + 250 x step(18.208) / 18.208 = 1.498 s per session, the
    # 1.532 s this charged before less the 0.5448 x 0.06144 s of swaps it added.
    s = paper(batch=40.0)
    assert f(se.resident_batch(s)) == approx(18.208)
    assert f(c.idle_sessions(s)) == approx(40 - 18.208)
    assert f(c.session_wall_s(s)) == approx(1.5316 - 0.54480 * 0.06144)
    assert f(c.session_wall_s(s)) == approx(1.4981, 1e-4)
    # [code] 50K: 27.64 s alone (prefill-bound, regime 0); 4 users, 1.46 resident: 25.02 s
    # (25.51 s before, less 0.63584 x 0.768 s of swaps).
    assert f(c.session_wall_s(paper(5e4))) == approx(27.638)
    assert f(c.session_regime(paper(5e4))) == 0
    assert f(c.session_wall_s(paper(5e4))) / f(c.session_wall_s(paper(batch=18.0))) == approx(18.38)
    s = paper(5e4, batch=4.0)
    assert f(se.resident_batch(s)) == approx(1.4567)
    assert f(c.session_wall_s(s)) == approx(25.512 - 0.63584 * 0.768, 1e-4)
    # [code] 100K: no fit on one A100 (NaN, regime 4); TP 2: 31.24 s wall, 62.47 device-s.
    assert math.isnan(f(c.session_wall_s(paper(1e5))))
    assert f(c.session_regime(paper(1e5))) == 4
    assert f(c.session_wall_s(paper(1e5, tp=2.0))) == approx(31.235)
    assert f(c.session_gpu_s(paper(1e5, tp=2.0))) == approx(62.471)


def test_host_link_regime_is_out_of_reach_for_yi():
    # [code] per context token, a swap moves 2 x 245,760 B over 32e9 B/s = 15.4 us while
    # prefill spends 2 x 34e9 FLOP / 312e12 = 218 us: switching is 7% of prefill.
    ratio = (2 * 245_760 / 32e9) / (2 * 34e9 / 312e12)
    assert ratio == approx(0.070475)
    assert 2 * 245_760 / 32e9 == approx(15.36e-6)
    assert 2 * 34e9 / 312e12 == approx(217.95e-6)
    assert f(c.session_regime(paper(5e4, batch=100.0))) == 0


# ----------------------------------------------------------------------------- paper table


def test_round_params_convention():
    # [paper] 34e9 parameters ("68 GB"); [yi] model card 34.39e9: 0.78e9 B more weights,
    # 0.79 fewer users at 4K.
    card = paper().replace(model=YI_34B.replace(params_total=34.39e9))
    assert f(c.weight_bytes(card) - c.weight_bytes(paper())) == approx(0.78e9)
    assert f(c.concurrency(paper()) - c.concurrency(card)) == approx(0.79346)


def test_paper_table_1m_vs_4k_at_full_concurrency():
    # [code] the paper table's last block, built by hand with the catalog's alpha = 2 us:
    # 1M on TP 4 (1.12 users, so batch 1) costs 3,049 device-s, 2,028x a full 4K batch.
    a100_2us = A100_80GB.replace(scaleup_latency_s=2e-6)
    one_m = scenario(YI_34B, a100_2us, context_tokens=1e6, tp=4.0)
    assert f(c.concurrency(one_m)) == approx(1.1213)
    assert f(c.session_gpu_s(one_m)) == approx(3049.0, 2e-4)
    four_k = scenario(YI_34B, a100_2us, context_tokens=4e3, batch=18.0)
    assert f(c.session_gpu_s(one_m) / c.session_gpu_s(four_k)) == approx(2028.0, 2e-4)


def test_paper_table_matches_hand_built_scenarios():
    # kvjax.paper builds the same point from the catalog (Yi-34B, A100-80GB SXM); the rows
    # that do not depend on the catalog's price or link latency must equal the numbers above.
    from kvjax import paper

    rows = {r.label: r.values for r in paper.compute_rows()}
    assert rows["KV per token (B)"][0] == 245_760
    assert rows["concurrency (real)"][:3] == (approx(18.208), approx(1.4567), approx(0.72833))
    assert rows["prefill s, QK^T only, causal (0.25)"][:2] == (approx(0.89385), approx(14.344))
    assert rows["decode s, 250 tokens"][:2] == (approx(8.4617), approx(9.8478))
    assert rows["context switch s (out + in, PCIe)"][:2] == (approx(0.06144), approx(0.768))
    assert rows["session device-s (prefill + decode)"][:2] == (approx(9.3776), approx(27.638))
    assert rows["full concurrency (batch = users that fit)"][0] == 18
