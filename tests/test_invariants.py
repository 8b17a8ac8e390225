"""Invariants that must hold at every point (hypothesis), in float64."""

from __future__ import annotations

import math

import jax
import pytest
from conftest import A100_80GB, GEMMA_2_9B, H100_SXM, MODELS, YI_34B, scenario
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kvjax import costs
from kvjax.costs import decode_step_bytes_at, decode_step_parts_at
from kvjax.model import replace_leaf

contexts = st.floats(1e2, 2e6)
batches = st.floats(1.0, 256.0)
fractions = st.floats(0.02, 1.0)
models = st.sampled_from(sorted(MODELS))
hardware = st.sampled_from([A100_80GB, H100_SXM])
SETTINGS = settings(max_examples=40, deadline=None)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@SETTINGS
@given(models, contexts)
def test_kv_per_user_is_linear_in_context_without_windows(name, t):
    m = MODELS[name].replace(windowed_layer_fraction=0.0)
    one = float(costs.kv_bytes_per_user(scenario(m, context_tokens=t)))
    two = float(costs.kv_bytes_per_user(scenario(m, context_tokens=2 * t)))
    assert two == pytest.approx(2 * one, rel=1e-12)


@SETTINGS
@given(contexts)
def test_windowed_kv_is_capped(t):
    s = scenario(GEMMA_2_9B, context_tokens=t)
    kv = float(costs.kv_bytes_per_user(s))
    # Layer by layer, independent of kvjax's layer-fraction form: [gemma2] config.json has 42
    # layers, 8 KV heads of dim 256, bf16, so 2 x 8 x 256 x 2 = 8,192 B per token per layer;
    # sliding_window 4096 on the even layers (transformers modeling_gemma2.py: is_sliding =
    # not bool(layer_idx % 2)).
    by_layer = sum(8_192 * (min(t, 4096.0) if i % 2 == 0 else t) for i in range(42))
    assert kv == pytest.approx(by_layer, rel=1e-12)
    assert kv <= 344_064 * t * (1 + 1e-12)  # 42 x 8,192 B: every layer keeping all T tokens


@SETTINGS
@given(models, batches, batches)
def test_decode_step_bytes_are_affine_in_batch_for_dense_models(name, b1, b2):
    m = MODELS[name]
    if float(m.n_experts) > 1:
        m = m.replace(n_experts=1.0, experts_per_token=1.0, expert_params=0.0)
    s = scenario(m)
    mid = float(decode_step_bytes_at(s, 0.5 * (b1 + b2)))
    avg = 0.5 * (float(decode_step_bytes_at(s, b1)) + float(decode_step_bytes_at(s, b2)))
    assert mid == pytest.approx(avg, rel=1e-12)


# Tokens of KV that fit beside the weights, users x context without windows, worked by hand:
# (HBM - bf16 weights / TP) x KV shards / KV bytes per token, HBM = 80 GiB = 85,899,345,920 B
# (A100 / H100 datasheets).  Weights 68e9 / 93.4e9 / 18.48e9 / 1342e9 B (2 B x the cards'
# 34e9 / 46.7e9 / 9.24e9 / 671e9); KV 245,760 / 131,072 / 344,064 / 70,272 B per token
# (test_golden.py); shards = TP (K = 8 >= TP) but 1 for DeepSeek-V3's MLA latent.  E.g.
# Yi-34B at TP 2: (85,899,345,920 - 34e9) x 2 / 245,760 = 422,357.958 tokens.  0: no room.
TOKENS_THAT_FIT = {
    "yi-34b": {1.0: 72_832.625, 2.0: 422_357.958333, 4.0: 1_121_408.625, 8.0: 2_519_509.958333},
    "mixtral-8x7b": {1.0: 0.0, 2.0: 598_134.550781, 4.0: 1_908_854.550781, 8.0: 4_530_294.550781},
    "gemma-2-9b": {
        1.0: 195_950.014881,
        2.0: 445_610.967262,
        4.0: 944_932.872024,
        8.0: 1_943_576.681548,
    },
    "deepseek-v3": {1.0: 0.0, 2.0: 0.0, 4.0: 0.0, 8.0: 0.0},
}


@SETTINGS
@given(models, hardware, contexts, st.sampled_from([1.0, 2.0, 4.0, 8.0]))
def test_concurrency_scales_with_free_hbm_kv_shards_and_kv(name, hw, t, tp):
    # Checked through properties and hand numbers, not by re-dividing kvjax's own parts.
    # bf16 weights from the model cards (conftest.py): 2 B x 34e9 / 46.7e9 / 671e9 / 9.24e9.
    weights = {"yi-34b": 68e9, "mixtral-8x7b": 93.4e9, "deepseek-v3": 1342e9,
               "gemma-2-9b": 18.48e9}[name]  # fmt: skip
    # KV split by head over min(TP, K) devices, K = 8 for Yi, Mixtral, Gemma 2 (config.json)
    # and TP <= 8; DeepSeek-V3's MLA latent belongs to no head: replicated, 1 shard.
    shards = 1.0 if name == "deepseek-v3" else tp
    room = float(hw.hbm_bytes) - weights / tp  # bytes per device beside the weights
    s = scenario(MODELS[name], hw, context_tokens=t, tp=tp)
    c = float(costs.concurrency(s))
    assert float(costs.kv_shards(s)) == shards
    if room <= 0:  # the weights alone fill the device (DeepSeek-V3 below TP 16)
        assert c == 0.0 and TOKENS_THAT_FIT[name][tp] == 0.0
    else:
        assert c > 0.0
        # linear in the room beside the weights: twice the room, twice the users
        more = s.replace(hardware=hw.replace(hbm_bytes=float(hw.hbm_bytes) + room))
        assert float(costs.concurrency(more)) == pytest.approx(2 * c, rel=1e-12)
        # the KV split over `shards` devices: one device with the same room holds 1/shards
        one = scenario(MODELS[name], hw.replace(hbm_bytes=room + weights), context_tokens=t)
        assert c / float(costs.concurrency(one)) == pytest.approx(shards, rel=1e-12)
        # inversely proportional to the KV per user (no window): twice the context, half
        full = MODELS[name].replace(windowed_layer_fraction=0.0)
        c1 = float(costs.concurrency(scenario(full, hw, context_tokens=t, tp=tp)))
        c2 = float(costs.concurrency(scenario(full, hw, context_tokens=2 * t, tp=tp)))
        assert c1 / c2 == pytest.approx(2.0, rel=1e-12)
        # and the absolute scale, by hand: users x context = the tokens that fit
        assert c1 * t == pytest.approx(TOKENS_THAT_FIT[name][tp], rel=1e-9)


@SETTINGS
@given(st.floats(1e2, 4e4), st.floats(0.02, 1.3))
def test_decode_time_elasticity_to_bandwidth_is_minus_one_or_zero(t, share):
    # Yi-34B on one H100 holds ~45K tokens of KV: draw the batch as a share of the users
    # that fit (up to 1.3x, so some batches do not fit) rather than filtering most draws out
    users = float(costs.concurrency(scenario(YI_34B, H100_SXM, context_tokens=t, batch=1.0)))
    b = max(1.0, share * users)
    s = scenario(YI_34B, H100_SXM, context_tokens=t, batch=b)
    compute, memory, comm = (float(x) for x in decode_step_parts_at(s, b))
    assume(abs(compute / memory - 1) >= 1e-3)  # at the kink the derivative is one-sided
    bw = float(s.hardware.hbm_bytes_per_s)

    def step(x):
        return costs.decode_step_s(replace_leaf(s, "hardware.hbm_bytes_per_s", x))

    f = float(step(bw))
    assert math.isfinite(f) == bool(costs.fits(s))  # NaN exactly where the batch does not fit
    assume(math.isfinite(f))
    e = float(jax.grad(step)(bw)) * bw / f
    assert e == pytest.approx(-1.0 if memory > compute else 0.0, abs=1e-9)


@SETTINGS
@given(st.sampled_from(sorted(n for n in MODELS if float(MODELS[n].kv_latent_dim) == 0)),
       contexts)  # fmt: skip  (MLA stores a latent, not heads)
def test_fewer_kv_heads_never_cost_more(name, t):
    m = MODELS[name]
    kvs = [
        float(costs.kv_bytes_per_user(scenario(m.replace(n_kv_heads=k), context_tokens=t)))
        for k in (1.0, 8.0, float(m.n_heads))
    ]  # MQA <= GQA <= MHA
    assert kvs[0] <= kvs[1] <= kvs[2]
    assert kvs[1] == pytest.approx(8 * kvs[0], rel=1e-12)


@SETTINGS
@given(models, contexts, fractions, fractions, fractions, st.sampled_from([2.0, 4.0, 8.0, 16.0]))
def test_compression_axes_scale_kv_exactly(name, t, layer, head, token, bits):
    base = scenario(MODELS[name], context_tokens=t)
    packed = scenario(
        MODELS[name],
        context_tokens=t,
        kv_layer_keep=layer,
        kv_head_keep=head,
        kv_token_keep=token,
        kv_bits=bits,
    )
    ratio = float(costs.kv_bytes_per_user(packed)) / float(costs.kv_bytes_per_user(base))
    if float(MODELS[name].kv_latent_dim) > 0:  # an MLA latent belongs to no head (issue 11)
        head = 1.0
    assert ratio == pytest.approx(layer * head * token * bits / 16.0, rel=1e-12)


@SETTINGS
@given(models, hardware, contexts, batches)
def test_prefill_time_is_at_least_each_roofline_bound(name, hw, t, b):
    s = scenario(MODELS[name], hw, context_tokens=t, batch=b, tp=8.0)
    p = float(costs.prefill_s(s))
    assert math.isnan(p) == (not bool(costs.fits_one(s)))  # NaN exactly where no user fits
    assume(not math.isnan(p))
    assert p >= float(costs.prefill_compute_s(s)) * (1 - 1e-12)
    assert p >= float(costs.prefill_memory_s(s)) * (1 - 1e-12)


@SETTINGS
@given(models, contexts)
def test_no_communication_without_tensor_parallelism(name, t):
    s = scenario(MODELS[name], context_tokens=t, tp=1.0)
    assert float(costs.prefill_comm_s(s)) == 0.0
    assert float(costs.tp_comm_s(s, 16.0)) == 0.0


@SETTINGS
@given(models, hardware, contexts, batches, st.sampled_from([1.0, 2.0, 4.0, 8.0]))
def test_infeasible_points_return_nan_never_raise(name, hw, t, b, tp):
    s = scenario(MODELS[name], hw, context_tokens=t, batch=b, tp=tp)
    fits = bool(costs.fits(s))
    step = float(costs.decode_step_s(s))
    assert math.isfinite(step) == fits
    assert math.isfinite(float(costs.prefill_s(s))) == bool(costs.fits_one(s))
