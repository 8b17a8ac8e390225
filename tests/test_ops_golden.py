"""Issue 11 golden numbers: each defect fixed and each new term, hand-worked from a named
source (every expected value is arithmetic on cited figures, never the code under test).

Sources:
  [yi]     config.json of 01-ai/Yi-34B-200K (tests/conftest.py), the paper's 34e9 params.
  [llama8] config.json of meta-llama/Llama-3.1-8B: 32 layers, hidden 4096, 32 heads, 8 KV
           heads, head_dim 128, intermediate 14336, vocab 128256, tie_word_embeddings false;
           8.03e9 parameters (model card).
  [dsv3]   config.json of deepseek-ai/DeepSeek-V3 (tests/conftest.py) plus v_head_dim 128,
           vocab_size 129280; DeepSeek-V3 technical report (arXiv 2412.19437): 671B total,
           37B activated; 36.6B active without the input table (issue 11's figure).
  [flashmla] FlashMLA (deepseek-ai/FlashMLA) deep-dive: with absorbed weights a decode query
           attends the 576-wide latent (512 + 64) and reads values from the 512-wide latent:
           2 N S (2 d_c + d_R) FLOP per layer.
  [gemma2] config.json of google/gemma-2-9b (tests/conftest.py): window 4096 on half the layers.
  [cla]    Brandon et al. 2024, "Reducing Transformer KV Cache Size with Cross-Layer
           Attention" (arXiv 2405.12981): adjacent layers share one KV cache; every layer
           still attends it.
  [a100] [h100] NVIDIA datasheets (tests/conftest.py); A100 int8 624 TOPS dense; H100 fp8
           1,979 TFLOP/s dense.
  [vllm]   vLLM EngineArgs: gpu_memory_utilization defaults to 0.9.
  [vllm-10511] vLLM PR 10511's memory-profiling log (https://github.com/vllm-project/vllm/
           pull/10511): Llama-3-8B, TP 1, H100 (torch sees 79.22 GiB), utilization 0.90:
           71.29 GiB = weights 14.96 + non_torch_memory 1.79 + activation peak 1.26 + KV 53.29.
"""

from __future__ import annotations

import pytest
from conftest import A100_80GB, DEEPSEEK_V3, GEMMA_2_9B, H100_SXM, YI_34B, scenario

from kvjax import costs as c
from kvjax.model import Model, Scenario, Workload, evaluate

f = float
TABLE = 128256 * 4096  # [llama8] vocab x hidden = 525,336,576 parameters per table
LLAMA_8B = Model(n_layers=32, d_model=4096, n_heads=32, n_kv_heads=8, head_dim=128,
                 params_total=8.03e9, embedding_params=TABLE, output_head_params=TABLE,
                 activation_width=2 * 14336)  # fmt: skip
DSV3_TABLE = 129280 * 7168  # [dsv3] 926,679,040
DSV3 = DEEPSEEK_V3.replace(embedding_params=DSV3_TABLE, output_head_params=DSV3_TABLE,
                           v_head_dim=128.0)  # fmt: skip
H100_PEAKS = H100_SXM.replace(bf16_flop_per_s=989e12, fp8_flop_per_s=1979e12)  # [h100]


def approx(x, rel=1e-6):
    return pytest.approx(x, rel=rel)


def test_cross_layer_sharing_cuts_what_is_stored_not_what_is_read():
    # [cla] [yi] pairs of layers share a cache: 245,760 / 2 = 122,880 B stored per token, but
    # all 60 layers read it: 68e9 + 245,760 x 4124.5 = 69,013,637,120 B a step (was 68.507e9).
    s = scenario(YI_34B.replace(layers_per_kv=2.0), A100_80GB)
    assert f(c.kv_bytes_per_token(s)) == 122_880
    assert f(c.decode_step_bytes(s)) == approx(69_013_637_120)
    assert f(c.kv_read_bytes_per_user(s, 4124.5)) == approx(245_760 * 4124.5)
    # capacity uses the stored bytes: (85,899,345,920 - 68e9) / (122,880 x 4000) = 36.416
    assert f(c.concurrency(s)) == approx((80 * 2**30 - 68e9) / (122_880 * 4000))
    assert f(c.swap_time_s(s)) == approx(2 * 122_880 * 4000 / 32e9)


def test_mla_attention_flop_absorbed_in_decode_and_not_in_prefill():
    # [dsv3] [flashmla] per layer and query-key pair: prefill 2 x 128 x (192 + 128) = 81,920
    # (was 4 N H = 98,304: 1.2x high); decode absorbed 2 x 128 x (2 x 512 + 64) = 278,528
    # (2.83x the old count).
    s = scenario(DSV3, H100_SXM)
    assert f(c.prefill_attention_flop(s)) == approx(61 * 4000 * 81_920 * 2000)  # 3.9977e13
    attention = c.decode_step_flop(s) - 2 * c.active_params(s)
    assert f(attention) == approx(61 * 278_528 * 4124.5)  # 7.0076e10 per token
    assert f(attention) / (4 * 61 * 128 * 192 * 4124.5) == approx(1088 / 384)


def test_embedding_is_a_gather_and_the_head_runs_on_the_last_prompt_token():
    # [llama8] the body's GEMM weights: 8.03e9 - 2 x 525,336,576 = 6,979,326,848 parameters.
    s = scenario(LLAMA_8B, H100_SXM)
    body = 8.03e9 - 2 * TABLE
    # decode reads the body, the whole head and one input row (4096 x 2 B) per token, plus
    # the KV (2 x 32 x 8 x 128 x 2 = 131,072 B x 4124.5): 15,549,941,504 B (was 16.60e9,
    # 6.8% high, reading the input table whole)
    assert f(c.decode_step_bytes(s)) == approx(body * 2 + TABLE * 2 + 4096 * 2 + 131_072 * 4124.5)
    # prefill: the body on every token, the head on the last one, causal attention
    # 32 x 4000 x 4 x 32 x 128 x 2000: 6.0030e13 FLOP (was 6.8434e13)
    expected = 2 * body * 4000 + 2 * TABLE + 32 * 4000 * 16_384 * 2000
    assert f(c.prefill_flop(s)) == approx(expected)
    # prompt log-probs (logits of every token) put the head back on all of them
    every = 2 * body * 4000 + 2 * TABLE * 4000 + 32 * 4000 * 16_384 * 2000
    assert f(c.prefill_flop(scenario(LLAMA_8B, H100_SXM, logits_token_share=1.0))) == approx(every)
    # [dsv3] active parameters: 671e9 - 248 x 2,554,331,136 - 926,679,040 = 36.599e9 (was
    # 37.526e9 counting the input table); DeepSeek: 36.6B.
    active = f(c.active_params(scenario(DSV3, H100_SXM)))
    assert active == approx(671e9 - 248 * 58 * 3 * 7168 * 2048 - DSV3_TABLE)
    assert active == approx(36.6e9, 1e-3)
    # tied tables (Llama-3.2-1B style): stored once, the head reads the table
    tied = LLAMA_8B.replace(
        output_head_params=0.0, tied_embeddings=1.0, params_total=8.03e9 - TABLE
    )
    t = scenario(tied, H100_SXM)
    assert f(c.weight_bytes(t)) == approx((8.03e9 - TABLE) * 2)
    assert f(c.active_params(t)) == approx(8.03e9 - TABLE)


def test_windowed_prefill_uses_the_exact_causal_average():
    # [gemma2] T = 2W = 8192: a windowed layer's causal mean is T/2 - (T - W)^2 / 2T = 4096 -
    # 4096^2 / 16384 = 3072 keys, where min(T/2, W) = 4096 is 33% high.
    assert f(c.causal_mean_keys(8192.0, 4096.0)) == 3072
    s = scenario(GEMMA_2_9B, A100_80GB, context_tokens=8192.0)
    per_key = 4 * 16 * 256  # 4 N H
    assert f(c.prefill_attention_flop(s)) == approx(42 * 8192 * per_key * (2048 + 0.5 * 3072))


def test_head_axis_cuts_attention_flop_and_leaves_an_mla_latent_whole():
    # [yi] a quarter of the heads attend (retrieval heads): decode FLOP 2 x 34e9 + 4 x 60 x 56 x
    # 128 x 0.25 x 100,124.5 = 1.1106e11 (was 2.402e11: the head axis cut bytes only).
    s = scenario(YI_34B, A100_80GB, context_tokens=1e5, kv_head_keep=0.25)
    assert f(c.decode_step_flop(s)) == approx(68e9 + 4 * 60 * 56 * 128 * 0.25 * 100_124.5)
    # [dsv3] the latent belongs to no head: 61 x 576 x 2 = 70,272 B/token at any kv_head_keep
    assert f(c.kv_bytes_per_token(scenario(DSV3, H100_SXM, kv_head_keep=0.5))) == 70_272


def test_precision_per_class_and_per_tensor():
    # [dsv3] [h100] DeepSeek-V3's recipe on 8 H100: fp8 GEMMs at 1979e12, bf16 attention at
    # 989e12 per GPU. GEMM FLOP 2 x (36,599,199,232 - 926,679,040) x 4000 + 2 x 926,679,040.
    s = scenario(DSV3, H100_PEAKS, tp=8.0, weight_bytes_per_param=1.0, gemm_compute_bits=8.0,
                 attention_compute_bits=16.0)  # fmt: skip
    active = 671e9 - 248 * 58 * 3 * 7168 * 2048 - DSV3_TABLE
    gemm = 2 * (active - DSV3_TABLE) * 4000 + 2 * DSV3_TABLE
    attention = 61 * 4000 * 81_920 * 2000
    assert f(c.prefill_compute_s(s)) == approx(gemm / (8 * 1979e12) + attention / (8 * 989e12))
    # fp8 GEMM weights, bf16 embedding and head: (671e9 - 2T) x 1 + 2T x 2 bytes
    assert f(c.weight_bytes(s)) == approx(671e9 - 2 * DSV3_TABLE + 4 * DSV3_TABLE)
    # int4 weights with fp16 scales per group of 128: 0.5 + 2/128 bytes per GEMM weight
    q = scenario(
        LLAMA_8B, H100_SXM, weight_bytes_per_param=0.5, weight_scale_bytes_per_param=2 / 128
    )
    assert f(c.weight_bytes(q)) == approx((8.03e9 - 2 * TABLE) * (0.5 + 2 / 128) + 2 * TABLE * 2)
    # [a100] 8-bit GEMMs on a chip without fp8 run at its int8 peak, 624e12
    a = A100_80GB.replace(int8_flop_per_s=624e12)
    s8 = scenario(YI_34B, a, gemm_compute_bits=8.0, attention_mask_fraction=0.0)
    assert f(c.prefill_compute_s(s8)) == approx(2 * 34e9 * 4000 / 624e12)


def test_operator_classes_one_roofline_or_their_sum():
    # [yi] [a100] 200 users at 4K (unmasked step): GEMMs 200 x 6.8e10 / 312e12 = 43.59 ms of
    # FLOP against 68e9 / 2.039e12 = 33.35 ms of weights; attention 200 x 4 x 60 x 56 x 128 x
    # 4124.5 / 312e12 = 4.548 ms of FLOP against 200 x 1.0136e9 / 2.039e12 = 99.42 ms of KV.
    s = scenario(YI_34B, A100_80GB)
    gemm_c, kv = 200 * 68e9 / 312e12, 200 * 245_760 * 4124.5 / 2.039e12
    attn_c = 200 * 1_720_320 * 4124.5 / 312e12
    one = max(gemm_c + attn_c, 68e9 / 2.039e12 + kv)  # the paper's one roofline: 132.8 ms
    assert f(c.decode_step_s_at(s, 200.0)) == approx(one)
    serial = scenario(YI_34B, A100_80GB, operator_overlap=0.0)
    assert f(c.decode_step_s_at(serial, 200.0)) == approx(gemm_c + kv)  # 143.0 ms
    r = evaluate(scenario(YI_34B, A100_80GB))  # batch 1: each class's own roofline
    assert f(r["decode_gemm_s"]) == approx(68e9 / 2.039e12)
    assert f(r["decode_kv_s"]) == approx(245_760 * 4124.5 / 2.039e12)
    assert f(r["prefill_gemm_s"]) == approx(2 * 34e9 * 4000 / 312e12)
    assert f(r["prefill_attention_s"]) == approx(4 * 60 * 56 * 128 * 4000 * 2000 / 312e12)


def test_activation_memory_chunked_prefill_reserve_and_capacity_context():
    # [llama8] a 1M-token prefill holds 1e6 x 2 x 14336 x 2 B = 57.3e9 B of MLP activation:
    # free HBM 85,899,345,920 - 16.06e9 - 57.344e9 = 12.50e9 B.
    s = scenario(LLAMA_8B, H100_SXM, context_tokens=1e6)
    assert f(c.free_hbm_bytes_per_device(s)) == approx(80 * 2**30 - 16.06e9 - 57.344e9)
    # chunks of 8192 tokens: 8192 x 28672 x 2 = 0.470e9 B of activation, and the weights
    # are read 1e6 / 8192 = 122.07 times, each pass the body, the head and 8192 input rows;
    # the KV (131,072 B a token) is written once and re-read by the later chunks, (n - 1)/2
    # times on average.
    ch = scenario(LLAMA_8B, H100_SXM, context_tokens=1e6, prefill_chunk_tokens=8192.0)
    assert f(c.prefill_activation_bytes_per_device(ch)) == approx(8192 * 28672 * 2)
    n = 1e6 / 8192
    one_pass = (8.03e9 - 2 * TABLE) * 2 + TABLE * 2 + 8192 * 4096 * 2
    kv = 131_072 * 1e6
    assert f(c.prefill_bytes(ch)) == approx(one_pass * n + kv * (1 + (n - 1) / 2))
    # [vllm] gpu_memory_utilization 0.9: (0.9 x 85,899,345,920 - 16.06e9) / (131,072 x 4000)
    u = scenario(LLAMA_8B.replace(embedding_params=0.0, output_head_params=0.0,
                                 activation_width=0.0), H100_SXM,
                 hbm_utilization=0.9, context_tokens=4000.0)  # fmt: skip
    assert f(c.concurrency(u)) == approx((0.9 * 80 * 2**30 - 16.06e9) / (131_072 * 4000))
    # [yi] capacity at the mean context of a session, T + n/2 = 4125 tokens: 17.66 users
    m = scenario(YI_34B, A100_80GB, capacity_decode_share=1.0)
    assert f(c.concurrency(m)) == approx((80 * 2**30 - 68e9) / (245_760 * 4125))


def test_sparse_attention_reads_a_top_k_and_linear_layers_keep_a_state():
    # DeepSeek-V3.2-Exp config.json: index_topk 2048, index_n_heads 64, index_head_dim 128
    # (fp8 keys + a 4 B scale: 132 B per token and layer).  At 128K decode, each query reads
    # 2048 latents of 576 x 2 B per layer, and the indexer's keys of every token.
    v32 = DSV3.replace(sparse_topk_tokens=2048.0, indexer_flop_per_key=2 * 64 * 128,
                       indexer_bytes_per_token=132.0)  # fmt: skip
    s = scenario(v32, H100_SXM, context_tokens=131_072.0, output_tokens=1.0)
    assert f(c.kv_bytes_per_token(s)) == 61 * (1152 + 132)  # all tokens stay stored
    assert f(c.kv_read_bytes_per_user(s, 131_072.0)) == approx(61 * (1152 * 2048 + 132 * 131_072))
    attention = c.decode_step_flop(s) - 2 * c.active_params(s)
    assert f(attention) == approx(61 * (278_528 * 2048 + 16_384 * 131_072))
    # A hybrid in the style of Jamba: 7 of 8 layers are Mamba with a 1 MiB state per user and
    # layer; one in 8 attends (KV of 8 heads x 128 x 2 x 2 B per token).
    hybrid = YI_34B.replace(n_layers=64.0, linear_layer_fraction=7 / 8,
                            state_bytes_per_layer=2.0**20)  # fmt: skip
    h = scenario(hybrid, A100_80GB, context_tokens=1e5)
    kv = 64 * 4096 * (1 / 8) * 1e5 + 56 * 2**20  # 8 attention layers' KV + 56 states
    assert f(c.kv_bytes_per_user(h)) == approx(kv)
    assert f(c.kv_read_bytes_per_user(h, 1e5)) == approx(64 * 4096 / 8 * 1e5 + 2 * 56 * 2**20)


def test_solve_shrinks_a_sparse_top_k_until_1m_decodes_like_4k():
    # [yi] [a100] at TP 4 a decode step reads the weights and the KV of the keys a query
    # reads; with a top-k on every layer, 1M decodes like 4K exactly when k equals 4K's mean
    # decode context, 4000 + 249 / 2 = 4124.5 keys (same bytes, same FLOP, same all-reduce).
    import jax

    from kvjax.analysis import solve

    with jax.enable_x64(True):
        target = scenario(YI_34B.replace(sparse_topk_tokens=1e6), A100_80GB, context_tokens=1e6,
                          tp=4.0)  # fmt: skip
        reference = scenario(YI_34B, A100_80GB, context_tokens=4000.0, tp=4.0)
        sol = solve(target, reference, "sparse_topk_tokens", "decode_step_s")
    assert sol.status == "ok"
    assert sol.values["model.sparse_topk_tokens"] == approx(4124.5, 1e-6)


def test_default_hbm_reserve_is_vllms():
    # [vllm-10511] with kvjax's defaults (u_M = 0.9, R = 1.79 GiB) on the same 79.22 GiB:
    # free = 0.9 x 79.22 - 1.79 - 14.96 = 54.55 GiB = vLLM's KV 53.29 + its activation peak
    # 1.26 (kvjax charges activations only through activation_width, zero here). The log
    # rounds to 0.01 GiB, so the match is to 0.02 GiB.
    gib = 2**30
    h = H100_SXM.replace(hbm_bytes=79.22 * gib)
    llama = LLAMA_8B.replace(activation_width=0.0)
    s = Scenario(llama, h, Workload(context_tokens=4000.0))
    assert f(c.free_hbm_bytes_per_device(s)) == pytest.approx((53.29 + 1.26) * gib,
                                                              abs=0.02 * gib)  # fmt: skip
    # the paper's convention is still reachable: all of HBM, no reserve
    p = Scenario(llama, h, Workload(context_tokens=4000.0, hbm_utilization=1.0,
                                    hbm_reserve_bytes=0.0))  # fmt: skip
    assert f(c.free_hbm_bytes_per_device(p)) == approx(79.22 * gib - 16.06e9)
    # and the 4K concurrency drops by the reserve: (54.55 GiB) / (131,072 B x 4000)
    assert f(c.concurrency(s)) == pytest.approx(54.55 * gib / (131_072 * 4000), rel=4e-4)
