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
    per_token = float(costs.kv_bytes_per_token(s))
    kv = float(costs.kv_bytes_per_user(s))
    # half the layers keep min(T, 4096) tokens, half keep T
    assert kv == pytest.approx(per_token * (0.5 * t + 0.5 * min(t, 4096.0)), rel=1e-12)
    assert kv <= per_token * t * (1 + 1e-12)


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


@SETTINGS
@given(models, hardware, contexts, st.sampled_from([1.0, 2.0, 4.0, 8.0]))
def test_concurrency_times_kv_is_free_hbm(name, hw, t, tp):
    s = scenario(MODELS[name], hw, context_tokens=t, tp=tp)
    free = float(costs.free_hbm_bytes_per_device(s))
    c = float(costs.concurrency(s))
    if free <= 0:
        assert c == 0.0
    else:
        per_device = float(costs.kv_bytes_per_user(s)) / float(costs.kv_shards(s))
        assert c * per_device == pytest.approx(free, rel=1e-12)
        # KV is split by head, never finer: at most min(TP, K) ways, once for an MLA latent
        k = float(MODELS[name].n_kv_heads)
        mla = float(MODELS[name].kv_latent_dim) > 0
        assert float(costs.kv_shards(s)) == (1.0 if mla else min(tp, k))


@SETTINGS
@given(contexts, batches)
def test_decode_time_elasticity_to_bandwidth_is_minus_one_or_zero(t, b):
    s = scenario(YI_34B, H100_SXM, context_tokens=min(t, 5e4), batch=b)
    compute, memory, comm = (float(x) for x in decode_step_parts_at(s, b))
    if abs(compute / memory - 1) < 1e-3:
        return  # at the kink the derivative is one-sided
    bw = float(s.hardware.hbm_bytes_per_s)

    def step(x):
        return costs.decode_step_s(replace_leaf(s, "hardware.hbm_bytes_per_s", x))

    f = float(step(bw))
    if not math.isfinite(f):
        return  # the batch does not fit: NaN is the answer
    e = float(jax.grad(step)(bw)) * bw / f
    assert e == pytest.approx(-1.0 if memory > compute else 0.0, abs=1e-9)


@SETTINGS
@given(models, contexts)
def test_fewer_kv_heads_never_cost_more(name, t):
    m = MODELS[name]
    if float(m.kv_latent_dim) > 0:
        return  # MLA stores a latent, not heads
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
