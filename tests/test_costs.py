"""Every cost function: one point, under jit, vmapped vs a Python loop, gradient vs finite
differences; plus float32 / float64 agreement and infeasible points."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import A100_80GB, SMOOTH_POINTS, YI_34B, scenario

from kvjax import costs
from kvjax.model import METRICS, evaluate, leaf_paths, replace_leaf

FLOAT_METRICS = sorted(n for n, m in METRICS.items() if m.kind == "float")
SMOOTH_METRICS = [n for n in FLOAT_METRICS if n != "concurrency_floor"]  # floor: a step


@pytest.mark.parametrize("name", sorted(METRICS))
def test_scalar_and_jit_agree(name, smooth_point):
    fn = METRICS[name].fn
    eager = np.asarray(fn(smooth_point))
    jitted = np.asarray(jax.jit(fn)(smooth_point))
    assert eager.shape == () and jitted.shape == ()
    # 1e-5: XLA fuses differently under jit; the DeepSeek point cancels 86 - 84 GB
    np.testing.assert_allclose(jitted, eager, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_vmap_equals_python_loop(name):
    fn = METRICS[name].fn
    contexts = [1e3, 4e3, 5e4, 1e5, 1e6]  # the last two do not fit: NaN latencies
    batch = jax.vmap(lambda t: fn(scenario(context_tokens=t, batch=2.0)))(jnp.asarray(contexts))
    loop = [np.asarray(fn(scenario(context_tokens=t, batch=2.0))) for t in contexts]
    np.testing.assert_allclose(
        np.asarray(batch, dtype=float), np.asarray(loop, dtype=float), rtol=1e-6, equal_nan=True
    )


def _elasticities_fd(fn, s, path, rel_step=1e-6):
    x = float(jax.tree_util.tree_leaves(s)[0] * 0 + _get(s, path))
    h = abs(x) * rel_step if x != 0 else rel_step
    up = float(fn(replace_leaf(s, path, x + h)))
    dn = float(fn(replace_leaf(s, path, x - h)))
    return (up - dn) / (2 * h)


def _get(s, path):
    group, name = path.split(".")
    return getattr(getattr(s, group), name)


@pytest.mark.parametrize("name", SMOOTH_METRICS)
def test_gradient_matches_finite_differences(name, smooth_point):
    fn = METRICS[name].fn
    with jax.enable_x64(True):
        s = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), smooth_point)
        f0 = float(fn(s))
        assert math.isfinite(f0)
        grad = jax.grad(fn)(s)
        for path in leaf_paths():
            x = float(_get(s, path))
            if path == "hardware.usd_per_hour" and not math.isfinite(x):
                continue
            g = float(_get(grad, path))
            assert math.isfinite(g), (name, path)
            if x == 0:  # elasticity 0 on both sides (scale 0): no finite difference needed
                continue
            fd = _elasticities_fd(fn, s, path)
            # compare elasticities x * df/dx / f, the scale-free form
            scale = abs(x / f0) if f0 != 0 else 1.0
            assert math.isfinite(g), (name, path)
            assert g * scale == pytest.approx(fd * scale, rel=1e-5, abs=1e-7), (name, path)


@pytest.mark.parametrize("point", sorted(SMOOTH_POINTS))
def test_float32_and_float64_agree(point):
    s32 = SMOOTH_POINTS[point]
    r32 = {k: np.asarray(v, dtype=np.float64) for k, v in jax.jit(evaluate)(s32).items()}
    with jax.enable_x64(True):
        s64 = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), s32)
        r64 = {k: np.asarray(v) for k, v in jax.jit(evaluate)(s64).items()}
    assert np.asarray(jax.tree_util.tree_leaves(r64)[0]).dtype in (np.float64, np.bool_)
    for k in r32:
        np.testing.assert_allclose(r32[k], r64[k].astype(np.float64), rtol=1e-5, err_msg=k)


def test_infeasible_point_is_a_result_not_an_error():
    s = scenario(context_tokens=1e6)  # Yi-34B at 1M tokens: 246 GB of KV on an 80 GiB A100
    r = evaluate(s)
    assert not bool(r["fits"])
    assert float(r["concurrency_floor"]) == 0.0
    for k in (
        "prefill_s",
        "decode_s",
        "decode_step_s",
        "context_switch_s",
        "session_gpu_s",
        "usd_per_million_output_tokens",
    ):
        assert math.isnan(float(r[k])), k
    assert float(r["decode_regime"]) == 4.0  # HBM capacity
    # [paper] 245,760 B per token x 1,000,000 tokens
    assert float(r["kv_bytes_per_user"]) == pytest.approx(245.76e9, rel=1e-6)


def test_weights_that_do_not_fit_give_zero_concurrency_not_negative():
    s = scenario(hardware=A100_80GB.replace(hbm_bytes=40 * 2**30))  # 68 GB > 40 GiB
    assert float(costs.concurrency(s)) == 0.0
    assert not bool(costs.fits(s))


def test_no_nan_in_gradients_of_feasible_points_beside_infeasible_ones():
    def total(t):
        r = evaluate(scenario(context_tokens=t, batch=1.0))
        return jnp.where(r["fits"], r["session_gpu_s"], 0.0)

    ts = jnp.asarray([4e3, 5e4, 1e6])  # the last does not fit
    g = jax.vmap(jax.grad(total))(ts)
    assert np.all(np.isfinite(np.asarray(g)))
    assert float(g[0]) > 0 and float(g[2]) == 0.0


def test_zero_kv_gives_infinite_concurrency_and_finite_gradient():
    s = scenario(kv_token_keep=0.0)
    assert math.isinf(float(costs.concurrency(s)))
    g = jax.grad(lambda x: costs.decode_step_s(replace_leaf(s, "workload.kv_token_keep", x)))(0.0)
    assert math.isfinite(float(g))


def test_moe_touches_expected_distinct_experts():
    from conftest import MIXTRAL_8X7B

    s = scenario(MIXTRAL_8X7B)
    # [mixtral] E = 8 experts, top-2.  Brute force, independent of the closed form: every
    # token picks one of the C(8, 2) = 28 expert pairs uniformly; average the distinct
    # experts over all 28^B routings of B tokens (B = 1, 2, 3: 2, 3.5, 4.625 experts).
    pairs = list(itertools.combinations(range(8), 2))
    for tokens, by_hand in [(1, 2.0), (2, 3.5), (3, 4.625)]:
        routings = itertools.product(pairs, repeat=tokens)
        brute = sum(len(set().union(*r)) for r in routings) / len(pairs) ** tokens
        assert brute == by_hand
        assert float(costs.expected_experts_touched(s, float(tokens))) == pytest.approx(brute)
    # by hand at 4 tokens: each expert is missed by one token with probability 21/28 = 3/4,
    # by all four with 81/256, so 8 x 175/256 = 5.46875 experts are touched
    assert float(costs.expected_experts_touched(s, 4.0)) == pytest.approx(5.46875)
    # dense models touch their one "expert" at any batch, with a finite gradient
    d = scenario(YI_34B)
    assert float(costs.expected_experts_touched(d, 7.0)) == 1.0
    assert float(jax.grad(lambda b: costs.expected_experts_touched(d, b))(7.0)) == 0.0


def test_kinks_are_one_sided():
    """At an exact tie the derivative is one side's (compute first), never the average."""
    from kvjax.costs import roofline_s

    # 2 FLOP at 1 FLOP/s and 2 B at 1 B/s: both 2 s, a tie
    d_bw = jax.grad(lambda bw: roofline_s(2.0, 2.0, 1.0, bw))(1.0)
    d_fl = jax.grad(lambda fl: roofline_s(2.0, 2.0, fl, 1.0))(1.0)
    assert float(d_bw) == 0.0 and float(d_fl) == -2.0  # the compute side: -2, and 0 for bytes
    # a window exactly at the context: the context's side (slope 1 for the windowed share)
    s = scenario(context_tokens=4096.0).replace(
        model=YI_34B.replace(window_tokens=4096.0, windowed_layer_fraction=1.0)
    )
    g = jax.grad(lambda t: costs.kv_tokens_kept(s, t))(4096.0)
    assert float(g) == 1.0
