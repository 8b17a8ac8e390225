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


def dominated(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``b`` (m, k): whether some row of ``a`` (p, k) dominates it (a NaN
    compares false, so a row with one never dominates), in chunks of 256 rows of ``a``."""
    out = np.zeros(len(b), dtype=bool)
    for i in range(0, len(a), 256):
        x = a[i : i + 256]
        le = np.ones((len(x), len(b)), dtype=bool)
        lt = np.zeros((len(x), len(b)), dtype=bool)
        for c in range(a.shape[1]):
            le &= x[:, None, c] <= b[None, :, c]
            lt |= x[:, None, c] < b[None, :, c]
        out |= np.any(le & lt, axis=0)
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


# ----------------------------------------------------------------------------- real-store shape
# A real sweep is ~95% infeasible (NaN where the batch does not fit), its objectives span
# different dims (prefill does not depend on the batch: ties across it) and are float32.  The
# fronts are computed on the feasible points only; they must equal a brute force per group.


def _sweep_like(seed=4):
    rng = np.random.default_rng(seed)
    dims = ("model", "hardware", "batch", "context_tokens")
    shape = (3, 4, 16, 10)
    hbm = rng.integers(20, 60, (1, 4, 1, 1))
    need = rng.integers(1, 4, (3, 1, 1, 1)) * np.arange(1, 17)[:, None] * np.arange(1, 11)
    fits = need <= hbm  # most points do not fit
    q = lambda x: np.round(x * 4) / 4  # noqa: E731 - a coarse grid: many ties and duplicates
    cost = np.where(fits, q(rng.random(shape) * 3), np.nan).astype(np.float32)
    step = np.where(fits, q(rng.random(shape) * 3), np.nan).astype(np.float32)
    prefill = q(rng.random((3, 4, 10)) * 3).astype(np.float32)
    return xr.Dataset(
        {
            "usd_per_million_output_tokens": (dims, cost, {"units": "USD"}),
            "decode_step_s": (dims, step, {"units": "s"}),
            "prefill_s": (("model", "hardware", "context_tokens"), prefill, {"units": "s"}),
            "fits": (dims, fits),
        },
        coords={
            "model": ["yi-34b", "llama-2-7b", "llama-3.1-70b"],
            "hardware": ["h100-sxm", "a100-80gb-sxm", "l40s", "mi300x"],
            "batch": np.arange(1.0, 17.0),
            "context_tokens": np.geomspace(1e3, 1e6, 10),
        },
    )


def _reference(ds, minimize, maximize, over):
    """Brute force per group on the broadcast objectives, laid out kept dims first."""
    names = minimize + maximize
    over = list(ds.dims) if over is None else over
    kept = [d for d in ds.dims if d not in over]
    order = kept + [d for d in ds.dims if d in over]
    arrays = [ds[n].astype(np.float64) * (-1.0 if n in maximize else 1.0) for n in names]
    arrays = [a.broadcast_like(ds["fits"]).transpose(*order).values for a in arrays]
    n_groups = int(np.prod([ds.sizes[d] for d in kept]))
    f = np.stack([a.reshape(n_groups, -1) for a in arrays], axis=-1)  # (G, m, k)
    expect = np.stack([brute(f[g]) for g in range(n_groups)])
    return order, kept, expect.reshape(arrays[0].shape)


COST, STEP, PREFILL = "usd_per_million_output_tokens", "decode_step_s", "prefill_s"
CASES = [
    ([COST], [], None),
    ([COST, STEP], [], None),
    ([COST, STEP, PREFILL], [], None),
    ([COST, STEP], [], ["batch", "context_tokens"]),
    ([COST, PREFILL], ["batch"], ["batch"]),
    ([COST, STEP, PREFILL], [], ["hardware", "batch", "context_tokens"]),
    ([COST, STEP, PREFILL], ["context_tokens"], ["batch", "context_tokens"]),
    ([STEP], ["fits"], ["batch"]),  # a bool objective
]


@pytest.mark.parametrize("minimize, maximize, over", CASES)
def test_mostly_infeasible_store_fronts_equal_brute_force_per_group(minimize, maximize, over):
    ds = _sweep_like()
    assert 0.6 < float((~ds.fits).mean()) < 0.95
    order, kept, expect = _reference(ds, minimize, maximize, over)
    mask = pareto_mask(ds, minimize, maximize, over)
    assert list(mask.dims) == order
    np.testing.assert_array_equal(mask.values, expect)
    # the table: the same points, by group (C order of the kept dims), then by the first
    # objective in its own sense, ties in C order; labels and stored values alongside
    t = ds.kv.pareto(minimize, maximize, over, extra=["decode_step_s"])
    first = (minimize + maximize)[0]
    sign = -1.0 if first in maximize else 1.0
    values = ds[first].broadcast_like(mask).transpose(*order).values
    where = list(zip(*np.nonzero(expect)))
    rows = sorted(range(len(where)),
                  key=lambda i: (where[i][: len(kept)], sign * values[where[i]], i))  # fmt: skip
    assert t.sizes["point"] == len(where)
    for d in order:
        labels = [ds[d].values[where[i][order.index(d)]] for i in rows]
        np.testing.assert_array_equal(t[d].values, labels)
    for n in set(minimize + maximize + ["decode_step_s"]) - set(order):
        stored = ds[n].broadcast_like(mask).transpose(*order).values
        np.testing.assert_array_equal(t[n].values, [stored[where[i]] for i in rows])


def _near_a_front(rng, k, shape, nan, noise=0.2):
    """Points scattered about the simplex (most near the front), on a coarse grid (ties)."""
    f = rng.dirichlet(np.ones(k), size=shape).transpose(-1, *range(len(shape)))
    f = np.round((f + noise * rng.random(f.shape)) * 40) / 40
    f[:, rng.random(shape) < nan] = np.nan
    return f


@pytest.mark.parametrize("k", [2, 3, 4])
def test_many_groups_with_the_prefilter_equal_brute_force(k):
    # 12 groups of 1,000 points, 20% NaN: ~9,600 feasible, enough for the prefilter, which
    # then runs on all groups at once (k >= 3; k = 4 also with the pair-front candidates)
    f = _near_a_front(np.random.default_rng(k), k, (12, 1000), 0.2, noise=0.25 * k)
    pts = f.transpose(1, 2, 0)  # (group, point, k)
    expect = ~np.isnan(pts).any(axis=2) & ~np.stack([dominated(p, p) for p in pts])
    np.testing.assert_array_equal(pareto_blocks(f), expect)
    np.testing.assert_array_equal(pareto_blocks(f.astype(np.float32)), expect)


def test_large_groups_one_at_a_time_are_exact_fronts():
    # 2 groups of 18,000 points, half NaN: each > 8,192, so solved one at a time with the
    # whole prefilter (pair fronts included); checked by certificate: no reported point is
    # dominated, every other feasible point is dominated by a reported one of its group
    f = _near_a_front(np.random.default_rng(9), 3, (2, 18_000), 0.5, noise=0.05)
    got = pareto_blocks(f)
    for g in range(2):
        pts, on = f[:, g].T, got[g]
        ok = ~np.isnan(pts).any(axis=1)
        front, rest = pts[on], pts[ok & ~on]
        assert 0 < len(front) < 0.1 * ok.sum() and not np.any(on & ~ok)
        assert not dominated(pts[ok], front).any() and dominated(front, rest).all()
