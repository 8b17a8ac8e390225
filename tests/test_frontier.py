"""Pareto sets: equal to an O(n^2) brute force, grouped per kept dim, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kvjax.analysis  # noqa: F401 - registers ds.kv
from kvjax.analysis import pareto_blocks, pareto_front, pareto_mask
from kvjax.errors import InputError


def brute(f: np.ndarray) -> np.ndarray:
    """O(n^2) reference: non-NaN rows no other non-NaN row dominates (minimising)."""
    ok = ~np.isnan(f).any(axis=1)
    out = np.zeros(len(f), dtype=bool)
    g = f[ok]
    for i in np.flatnonzero(ok):
        dominated = np.any(np.all(g <= f[i], axis=1) & np.any(g < f[i], axis=1))
        out[i] = not dominated
    return out


# small integer values so ties and duplicates are common; NaN marks infeasible points
values = st.one_of(st.integers(0, 4).map(float), st.just(np.nan), st.just(np.inf))


def _objective_arrays(k):
    return hnp.arrays(float, st.tuples(st.integers(0, 30), st.just(k)), elements=values)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4).flatmap(_objective_arrays))
def test_pareto_front_equals_brute_force(f):
    np.testing.assert_array_equal(pareto_front(f), brute(f))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3),
    st.sampled_from([1, 3, 80]),  # 80 groups takes the vectorised 2-objective path
    st.integers(1, 12),
    st.integers(0, 2**31 - 1),
)
def test_pareto_blocks_is_one_front_per_group(k, groups, m, seed):
    rng = np.random.default_rng(seed)
    f = rng.integers(0, 4, (k, groups, m)).astype(float)
    f[rng.random(f.shape) < 0.05] = np.nan
    expect = np.stack([brute(f[:, g, :].T) for g in range(groups)])
    np.testing.assert_array_equal(pareto_blocks(f), expect)


def test_large_random_sets_agree_with_a_block_brute_force():
    rng = np.random.default_rng(0)
    for k in (2, 3):
        f = rng.random((20_000, k))  # large enough for the prefilter to act
        got = pareto_front(f)
        cand = np.flatnonzero(got)
        # every reported point is non-dominated, and every other point is dominated
        for i in cand:
            assert not np.any(np.all(f <= f[i], axis=1) & np.any(f < f[i], axis=1))
        others = np.flatnonzero(~got)[:500]
        for i in others:
            assert np.any(np.all(f[cand] <= f[i], axis=1) & np.any(f[cand] < f[i], axis=1))


def test_mostly_infeasible_sets_keep_the_prefilter_and_the_front():
    # Real stores are ~95% NaN (the batch does not fit): the feasible points alone decide the
    # front; with ~9,000 of them (over the prefilter's 8,192 threshold) every reported point is
    # non-dominated among them and every other feasible point is dominated by a reported one.
    rng = np.random.default_rng(3)
    for k in (3, 4):
        f = rng.random((180_000, k))
        f[rng.random(180_000) < 0.95] = np.nan
        got = pareto_front(f)
        ok = ~np.isnan(f).any(axis=1)
        g, cand = f[ok], np.flatnonzero(got)
        assert ok.sum() > 8192 and not np.any(got & ~ok)
        for i in cand:
            assert not np.any(np.all(g <= f[i], axis=1) & np.any(g < f[i], axis=1))
        for i in np.flatnonzero(ok & ~got):
            assert np.any(np.all(f[cand] <= f[i], axis=1) & np.any(f[cand] < f[i], axis=1))


def _store(seed=1):
    rng = np.random.default_rng(seed)
    ds = xr.Dataset(
        {
            "usd_per_million_output_tokens": (
                ("model", "context_tokens", "batch"),
                rng.random((2, 5, 4)),
                {"units": "USD"},
            ),
            "decode_step_s": (("context_tokens", "batch"), rng.random((5, 4)), {"units": "s"}),
            "decode_regime": (("context_tokens", "batch"), np.ones((5, 4), dtype=np.int8)),
            "fits": (("context_tokens", "batch"), np.ones((5, 4), dtype=bool)),
        },
        coords={
            "model": ["yi-34b", "llama-3.1-70b"],
            "context_tokens": [1e3, 4e3, 1.6e4, 6.4e4, 2.56e5],
            "batch": [1.0, 2.0, 4.0, 8.0],
        },
    )
    ds["usd_per_million_output_tokens"][0, 4, 0] = np.nan  # an infeasible point
    return ds


def test_mask_per_kept_dim_equals_brute_force():
    ds = _store()
    mask = ds.kv.pareto_mask(
        minimize="usd_per_million_output_tokens",
        maximize="context_tokens",
        over=["context_tokens", "batch"],
    )
    assert mask.dims == ("model", "context_tokens", "batch")
    for mi, m in enumerate(ds.model.values):
        cost = ds.usd_per_million_output_tokens.sel(model=m).values.reshape(-1)
        ctx = np.repeat(ds.context_tokens.values, 4)
        expect = brute(np.stack([cost, -ctx], axis=1)).reshape(5, 4)
        np.testing.assert_array_equal(mask.values[mi], expect)
    assert not bool(mask.values[0, 4, 0])  # NaN excluded


def test_flattened_set_broadcasts_objectives_of_fewer_dims():
    ds = _store()
    mask = pareto_mask(ds, ["usd_per_million_output_tokens", "decode_step_s"])
    cost = ds.usd_per_million_output_tokens.values.reshape(-1)
    lat = np.broadcast_to(ds.decode_step_s.values, (2, 5, 4)).reshape(-1)
    np.testing.assert_array_equal(mask.values.reshape(-1), brute(np.stack([cost, lat], axis=1)))


def test_table_lists_points_with_labels_sorted_per_group():
    ds = _store()
    t = ds.kv.pareto(
        minimize="usd_per_million_output_tokens",
        maximize="context_tokens",
        over=["context_tokens", "batch"],
        extra=["decode_step_s"],
    )
    assert set(t.coords) == {"model", "context_tokens", "batch"}
    assert set(t.data_vars) == {"usd_per_million_output_tokens", "decode_step_s"}
    assert t.usd_per_million_output_tokens.attrs["units"] == "USD"
    models = t.model.values
    assert list(models) == sorted(models, key=list(ds.model.values).index)
    for m in ds.model.values:
        cost = t.usd_per_million_output_tokens.values[models == m]
        assert np.all(np.diff(cost) >= 0)
    mask = ds.kv.pareto_mask(
        minimize="usd_per_million_output_tokens",
        maximize="context_tokens",
        over=["context_tokens", "batch"],
    )
    assert t.sizes["point"] == int(mask.sum())


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"minimize": ["usd_per_milion_output_tokens"]}, "not in the store; did you mean"),
        ({"minimize": ["decode_step_s"], "over": ["hardware"]}, "is not a dim"),
        ({}, "name at least one objective"),
        ({"minimize": ["decode_step_s"], "maximize": ["decode_step_s"]}, "named twice"),
        ({"minimize": ["model"]}, "not numeric"),
    ],
)
def test_bad_objectives_raise_one_line_input_errors(kw, message):
    with pytest.raises(InputError, match=message) as info:
        pareto_mask(_store(), **kw)
    assert "\n" not in str(info.value)
