"""Elasticities: finite differences, analytic cases, jit/vmap, conventions, bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import A100_80GB, SMOOTH_POINTS, YI_34B, scenario

from kvjax.errors import InputError
from kvjax.model import (
    KNOBS,
    METRICS,
    elasticity,
    elasticity_fn,
    elasticity_tree,
    get_leaf,
    metric_vector_fn,
    ranked,
    replace_leaf,
    resolve_leaves,
)

FLOAT_METRICS = tuple(n for n, i in METRICS.items() if i.kind == "float")
SMOOTH_METRICS = tuple(m for m in FLOAT_METRICS if m != "concurrency_floor")


H = 1e-5


def _fd_fn(metrics, paths, h=H):
    """Jitted: ln metrics at each leaf scaled by e^{+h}, e^{-h} and unperturbed, shape
    (2K + 1, M), and the elasticities (M, K), for one scenario argument."""
    vec = metric_vector_fn(metrics)
    k = len(paths)
    steps = np.concatenate([h * np.eye(k), -h * np.eye(k), np.zeros((1, k))])
    def el(s):  # the one-point path (kvjax grad's); test_sweep_elasticity ties it to the grid's
        e = elasticity(s, metrics, paths)
        return jnp.stack([jnp.stack([e[m][p] for p in paths]) for m in metrics])

    def f(s):
        def at(d):
            t = s
            for j, p in enumerate(paths):
                t = replace_leaf(t, p, get_leaf(s, p) * jnp.exp(d[j]))
            return jnp.log(vec(t))

        leaves = jnp.stack([jnp.asarray(get_leaf(s, p), dtype=float) for p in paths])
        return jax.vmap(at)(jnp.asarray(steps, dtype=leaves.dtype)), el(s), leaves

    return jax.jit(f)


_FD = _fd_fn(SMOOTH_METRICS, KNOBS)


def _check_fd(s, metrics=SMOOTH_METRICS, paths=KNOBS, h=H):
    """Compare with central differences of ln m in ln x; skip a leaf where the one-sided
    slopes differ (a kink within the step)."""
    lm, e, x = (np.asarray(a) for a in _FD(s))
    k = len(paths)
    checked = 0
    for i, name in enumerate(metrics):
        if not np.isfinite(lm[2 * k, i]):
            continue
        for j, path in enumerate(paths):
            if x[j] == 0.0:
                assert e[i, j] == 0.0
                continue
            up, down, m0 = lm[j, i], lm[k + j, i], lm[2 * k, i]
            central, fwd, bwd = (up - down) / (2 * h), (up - m0) / h, (m0 - down) / h
            if abs(fwd - bwd) > 1e-3 * max(1.0, abs(central)):
                continue
            assert e[i, j] == pytest.approx(central, rel=1e-3, abs=1e-6), (name, path)
            checked += 1
    return checked


def test_matches_central_differences_at_smooth_points(smooth_point):
    with jax.enable_x64(True):
        assert _check_fd(smooth_point) > 50


def test_matches_central_differences_at_random_feasible_points():
    rng = np.random.default_rng(4)
    with jax.enable_x64(True):
        n = 0
        while n < 6:
            s = scenario(
                context_tokens=float(np.exp(rng.uniform(np.log(500), np.log(60_000)))),
                batch=float(rng.uniform(1, 12)),
                tp=float(rng.choice([1.0, 2.0, 4.0])),
                kv_bits=float(rng.uniform(3, 16)),
                kv_token_keep=float(rng.uniform(0.2, 1.0)),
            )
            if not bool(METRICS["fits"].fn(s)):
                continue
            n += 1
            assert _check_fd(s) > 50


def test_bandwidth_bound_decode_is_minus_one_and_flops_zero():
    s = scenario(context_tokens=4000.0)  # Yi-34B, one A100, batch 1: HBM-bound
    e = elasticity(s, ["decode_step_s"], ["hardware.hbm_bytes_per_s", "hardware.flop_per_s"])
    assert float(e["decode_step_s"]["hardware.hbm_bytes_per_s"]) == pytest.approx(-1.0, abs=1e-6)
    assert float(e["decode_step_s"]["hardware.flop_per_s"]) == 0.0


def test_compute_bound_decode_is_zero_in_bandwidth():
    hw = A100_80GB.replace(hbm_bytes=1e13)
    s = scenario(YI_34B, hw, context_tokens=100.0, batch=2000.0)
    assert int(METRICS["decode_regime"].fn(s)) == 0  # compute-bound
    e = elasticity(s, ["decode_step_s"], ["hardware.hbm_bytes_per_s", "hardware.flop_per_s"])
    assert float(e["decode_step_s"]["hardware.hbm_bytes_per_s"]) == 0.0
    assert float(e["decode_step_s"]["hardware.flop_per_s"]) == pytest.approx(-1.0, abs=1e-6)


def test_kv_bytes_per_user_is_proportional_to_context():
    e = elasticity(scenario(context_tokens=50_000.0), ["kv_bytes_per_user"], ["context_tokens"])
    assert float(e["kv_bytes_per_user"]["workload.context_tokens"]) == pytest.approx(1.0, 1e-6)


def test_jit_and_vmap_equal_a_python_loop():
    knobs = ("hbm_bytes_per_s", "flop_per_s", "hbm_bytes", "kv_bits", "context_tokens")
    f = elasticity_fn(["decode_step_s", "concurrency", "usd_per_session"], knobs)
    points = list(SMOOTH_POINTS.values())[:1] * 1 + [
        scenario(context_tokens=c, batch=b) for c, b in [(2000.0, 2.0), (9000.0, 1.0)]
    ]
    stacked = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]), *points)
    batch = jax.jit(jax.vmap(f))(stacked)
    assert batch.shape == (3, 3, len(knobs))
    one = jax.jit(f)
    for i, p in enumerate(points):
        np.testing.assert_allclose(batch[i], one(p), rtol=1e-5)


def test_zero_leaf_and_zero_metric_conventions():
    s = scenario(context_tokens=4000.0)  # window_tokens = 0, tp = 1 (no communication)
    e = elasticity(
        s, ["decode_step_s", "prefill_comm_s"], ["model.window_tokens", "model.d_model", "tp"]
    )
    assert float(e["decode_step_s"]["model.window_tokens"]) == 0.0
    assert float(e["prefill_comm_s"]["model.d_model"]) == 0.0  # 0 metric, 0 slope
    assert float(e["prefill_comm_s"]["workload.tp"]) == math.inf  # 0 metric, rising


def test_infeasible_points_give_nan_only_where_the_metric_is_masked():
    s = scenario(context_tokens=1e6)  # one user's KV does not fit
    e = elasticity(s, ["decode_step_s", "kv_bytes_per_user", "concurrency"], KNOBS)
    assert all(math.isnan(float(v)) for v in e["decode_step_s"].values())
    assert all(math.isfinite(float(v)) for v in e["kv_bytes_per_user"].values())
    assert all(math.isfinite(float(v)) for v in e["concurrency"].values())


def test_feasible_points_have_no_nan(smooth_point):
    with jax.enable_x64(True):
        lm, e, _ = (np.asarray(a) for a in _FD(smooth_point))
    m = np.exp(lm[-1])  # the unperturbed metrics
    finite = np.isfinite(m) & (m != 0)
    assert finite.sum() >= 10
    assert not np.isnan(e[finite]).any()


def test_elasticity_tree_is_scenario_shaped():
    t = elasticity_tree(scenario(context_tokens=4000.0), "decode_step_s")
    assert float(t.hardware.hbm_bytes_per_s) == pytest.approx(-1.0, abs=1e-6)
    assert float(t.hardware.flop_per_s) == 0.0


def test_ranked_orders_by_magnitude_with_nan_last():
    r = ranked({"m": {"a": 0.5, "b": -2.0, "c": float("nan"), "d": 0.0}}, drop_zero=True)
    assert [p for p, _ in r["m"]] == ["b", "a", "c"]


@pytest.mark.parametrize(
    "metrics, wrt, message",
    [
        (["fits"], ["context_tokens"], "is a bool, not a float"),
        (["decode_regime"], ["context_tokens"], "is a code, not a float"),
        (["decode_stepp_s"], ["context_tokens"], "did you mean 'decode_step_s'"),
        (["decode_step_s"], ["hardware.hbm_bytes_per_sec"], "unknown scenario leaf"),
        (["decode_step_s"], ["workload"], "is a group, not a leaf"),
        ([], ["context_tokens"], "no metric named"),
    ],
)
def test_bad_names_raise_one_line_input_errors(metrics, wrt, message):
    with pytest.raises(InputError, match=message) as info:
        elasticity_fn(metrics, wrt)
    assert "\n" not in str(info.value)


def test_bare_leaf_names_resolve():
    assert resolve_leaves(["kv_bits", "hbm_bytes"]) == ("workload.kv_bits", "hardware.hbm_bytes")
