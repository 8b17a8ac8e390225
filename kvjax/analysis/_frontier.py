"""Pareto sets of stored sweeps: which points no other point beats on every objective.

A point ``a`` *dominates* ``b`` when ``a`` is at least as good on every objective and strictly
better on one (objectives to maximise are negated and all are minimised).  The Pareto set
is the points that nothing dominates.  Exact duplicates do not dominate each other: both stay.
Points with a NaN objective (infeasible: the KV does not fit, or no price) are never in it.

Grouping.  An objective may span only some dims; all objectives are broadcast against each
other and against the dims in ``over``.  The Pareto set is taken across the dims in ``over``
(default: all of them) *separately for each value of the remaining dims* -- e.g. over
``("hardware", "kv_bits", "batch")`` keeping ``"model"`` and ``"context_tokens"`` gives one
frontier per (model, context).  Flattening everything into a single set is ``over=None``.

Two outputs:
- ``pareto_mask``: a bool ``DataArray`` on the broadcast dims, ``True`` on the frontier
  (``ds.where(mask)`` keeps the frontier);
- ``pareto_table``: the frontier points as a ``Dataset`` along one ``point`` dim, with a
  coordinate per dim (the point's label) and the objectives, sorted by group then objective.

Algorithms (``n`` points, ``k`` objectives): ``k = 2``: one lexicographic sort plus a prefix
minimum, ``O(n log n)``, vectorised over groups laid out as rows.  ``k >= 3``: a cheap prefilter by
the few points that minimise a positive weighted sum (always Pareto-optimal), then, on the
survivors in lexicographic order (no later point can dominate an earlier one): ``k = 3``, a
staircase of the earlier non-dominated points' ``(f1, f2)`` queried by bisection;
``k >= 4``, a block skyline (each block compared with the frontier so far and with itself).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import InputError, suggest

_BLOCK = 2048


# ----------------------------------------------------------------------------- arrays


def _pareto_2d_rows(f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """Non-dominated mask of each row of the (G, m) objective pairs, minimising, no NaN.

    One sort per row by ``f0``.  A point is dominated iff some point with a strictly smaller
    ``f0`` has ``f1 <=`` its own (the minimum over earlier runs of equal ``f0``), or a point
    with the same ``f0`` has a strictly smaller ``f1`` (its run's minimum).
    """
    g, m = f0.shape
    order = np.argsort(f0, axis=1)
    a = np.take_along_axis(f0, order, axis=1)
    b = np.take_along_axis(f1, order, axis=1)
    new = np.ones((g, m), dtype=bool)
    new[:, 1:] = a[:, 1:] != a[:, :-1]
    pos = np.broadcast_to(np.arange(m), (g, m))
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)  # run start per position
    flat_starts = (np.arange(g)[:, None] * m + pos)[new]
    run_min = np.minimum.reduceat(b.reshape(-1), flat_starts)
    rm = np.repeat(run_min, np.diff(np.append(flat_starts, g * m))).reshape(g, m)
    cm = np.minimum.accumulate(rm, axis=1)
    before = np.where(start > 0, np.take_along_axis(cm, np.maximum(start - 1, 0), axis=1), np.inf)
    keep_sorted = ((start == 0) | (b < before)) & (b <= rm)
    out = np.empty((g, m), dtype=bool)
    np.put_along_axis(out, order, keep_sorted, axis=1)
    return out


def _dominated_by(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``b`` (m, k): whether some row of ``a`` (p, k) dominates it."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(b), dtype=bool)
    le = np.all(a[:, None, :] <= b[None, :, :], axis=2)
    lt = np.any(a[:, None, :] < b[None, :, :], axis=2)
    return np.any(le & lt, axis=0)


def _remove_dominated(cols: np.ndarray, alive: np.ndarray, cand, stop: bool) -> np.ndarray:
    """``alive`` (indices into the columns of ``cols``) less those some column of ``cand``
    dominates; with ``stop``, give up once 16 candidates in a row remove under 1%."""
    k = cols.shape[0]
    for i, p in enumerate(cols[:, cand].T):
        if i % 16 == 0:
            before = len(alive)
        sub = cols[:, alive]
        le = np.ones(len(alive), dtype=bool)
        lt = np.zeros(len(alive), dtype=bool)
        for c in range(k):
            le &= p[c] <= sub[c]
            lt |= p[c] < sub[c]
        alive = alive[~(le & lt)]
        if stop and i % 16 == 15 and len(alive) > 0.99 * before:
            break
    return alive


def _prefilter(cols: np.ndarray) -> np.ndarray:
    """Points (columns of ``cols``, shape (k, n)) that no *candidate* point dominates.

    Any candidate will do (dominance is transitive: a point a candidate dominates is off the
    front whatever the candidate's own status), so good ones are chosen cheaply: first the
    minimisers of a few positive weighted sums of the range-normalised objectives (one pass
    each); then, for ``k >= 3`` and on the survivors, up to 256 points of the two-objective
    front of every pair (one sort each), most central first, until they stop removing points.
    Real stores' objectives are correlated, so the first step alone leaves most points (289 k
    of the 477 k feasible ones of a 1e7-point sweep); the pair fronts leave about 1 k.
    """
    k, n = cols.shape
    if n < 4 * _BLOCK:
        return np.ones(n, dtype=bool)
    lo, hi = cols.min(axis=1), cols.max(axis=1)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return np.ones(n, dtype=bool)
    scale = 1.0 / np.where(hi > lo, hi - lo, 1.0)
    weights = [scale * np.where(np.arange(k) == j, 4.0, 1.0) for j in range(-1, k)]
    alive = _remove_dominated(cols, np.arange(n), [np.argmin(w @ cols) for w in weights], False)
    if k >= 3 and len(alive) >= 4 * _BLOCK:
        sub = cols[:, alive]
        cand = []
        for a in range(k):
            for b in range(a + 1, k):
                front = np.flatnonzero(_pareto_2d_rows(sub[None, a], sub[None, b])[0])
                pick = np.linspace(0, len(front) - 1, min(len(front), 256)).astype(int)
                cand.extend(alive[front[pick]])
        cand = np.unique(np.asarray(cand))
        cand = cand[np.argsort(((cols[:, cand] - lo[:, None]) * scale[:, None]).sum(axis=0))]
        alive = _remove_dominated(cols, alive, cand, True)
    out = np.zeros(n, dtype=bool)
    out[alive] = True
    return out


def _pareto_3d(f: np.ndarray) -> np.ndarray:
    """Non-dominated mask of the rows of ``f`` (n, 3), minimising, no NaN: ``O(n log n)``
    comparisons plus list updates.

    Distinct rows in lexicographic order; a row is dominated iff an earlier one has
    ``f1' <= f1`` and ``f2' <= f2`` (its ``f0'`` is <= and the rows differ), which one query
    of the staircase (``f1`` ascending, ``f2`` strictly descending) of the earlier
    non-dominated rows answers.  Duplicates share their row's fate.
    """
    rows, inv = np.unique(f, axis=0, return_inverse=True)  # lexicographic order
    keep = np.zeros(len(rows), dtype=bool)
    xs: list = []  # staircase f1, ascending
    ys: list = []  # staircase f2, strictly descending
    for i, (_, a, b) in enumerate(rows.tolist()):
        j = bisect.bisect_right(xs, a)
        if j > 0 and ys[j - 1] <= b:
            continue
        keep[i] = True
        # drop staircase points the new one covers (f1' >= a and f2' >= b), then insert
        lo = bisect.bisect_left(xs, a)
        hi = lo
        while hi < len(xs) and ys[hi] >= b:
            hi += 1
        xs[lo:hi] = [a]
        ys[lo:hi] = [b]
    return keep[inv.reshape(-1)]


def _pareto_nd(cols: np.ndarray) -> np.ndarray:
    """Non-dominated mask of the points (columns of ``cols``, (k, n)), minimising, no NaN."""
    k, n = cols.shape
    out = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(_prefilter(cols))
    if len(idx) == 0:
        return out
    f = cols[:, idx].T
    if k == 2:
        out[idx] = _pareto_2d_rows(f[None, :, 0], f[None, :, 1])[0]
        return out
    if k == 3:
        out[idx] = _pareto_3d(f)
        return out
    order = idx[np.lexsort(f.T[::-1])]  # no later point can dominate an earlier one
    front = np.empty((0, k), dtype=f.dtype)
    for start in range(0, len(order), _BLOCK):
        blk_idx = order[start : start + _BLOCK]
        blk = cols[:, blk_idx].T
        keep = ~_dominated_by(front, blk)
        blk_idx, blk = blk_idx[keep], blk[keep]
        keep = ~_dominated_by(blk, blk)
        out[blk_idx[keep]] = True
        front = np.concatenate([front, blk[keep]])
    return out


def pareto_blocks(objectives: np.ndarray) -> np.ndarray:
    """Bool mask (G, m) of the non-dominated points of each of ``G`` groups.

    ``objectives`` has shape (k, G, m): k objectives, all minimised (negate to maximise),
    for G independent groups of m points.  A point with a NaN objective is never on the
    frontier and never dominates (its every objective is read as +inf, then it is masked).
    """
    f = np.asarray(objectives, dtype=np.float64)
    if f.ndim != 3 or f.shape[0] < 1:
        raise InputError(f"objectives: expected a (k, G, m) array, got shape {f.shape}")
    k, g, m = f.shape
    if k <= 2 and g > 64:  # one vectorised pass over all groups; (inf, inf) dominates nothing
        nan = np.isnan(f).any(axis=0)
        if k == 1:
            f = np.concatenate([f, np.zeros_like(f)])
        return _pareto_2d_rows(*np.where(nan[None], np.inf, f)) & ~nan
    return _feasible_fronts(list(f), g)  # the prefilter and the sweep see feasible points only


def pareto_front(objectives: np.ndarray) -> np.ndarray:
    """Bool mask of the non-dominated rows of ``objectives`` (n, k), all minimised.

    Rows with a NaN are excluded.  Negate a column to maximise it.

    >>> pareto_front(np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [np.nan, 0.0]]))
    array([ True,  True, False, False])
    """
    f = np.asarray(objectives, dtype=np.float64)
    if f.ndim != 2:
        raise InputError(f"objectives: expected an (n, k) array, got shape {f.shape}")
    return pareto_blocks(f.T[:, None, :])[0]


# ----------------------------------------------------------------------------- datasets


def _objective_array(ds: xr.Dataset, name: str) -> xr.DataArray:
    if name in ds.data_vars or name in ds.coords:
        da = ds[name]
    else:
        choices = list(ds.data_vars) + list(ds.coords)
        raise InputError(f"objective {name!r} is not in the store{suggest(name, choices)}")
    if not (np.issubdtype(da.dtype, np.number) or da.dtype == bool):
        raise InputError(f"objective {name!r} is not numeric (dtype {da.dtype})")
    return da if np.issubdtype(da.dtype, np.floating) else da.astype(np.float64)


def _feasible_fronts(values: list, n_groups: int) -> np.ndarray:
    """Bool mask (of the arrays' common shape) of each group's front, built from the
    feasible points only: ``values`` are the k objectives, all minimised, broadcast to one
    shape (strided views are fine) whose leading part is ``n_groups`` groups; NaN marks an
    infeasible point.  Only the feasible points (5-20% of a real sweep) are gathered and
    converted to float64."""
    ok = ~np.isnan(values[0])
    for v in values[1:]:
        ok &= ~np.isnan(v)
    flat = np.flatnonzero(ok)
    f = np.stack([np.asarray(v[ok], dtype=np.float64) for v in values])
    if len(values) == 1:
        f = np.concatenate([f, np.zeros_like(f)])
    bounds = np.searchsorted(flat, np.arange(n_groups + 1) * (ok.size // max(n_groups, 1)))
    out = np.zeros(ok.size, dtype=bool)
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            out[flat[a:b]] = _pareto_nd(f[:, a:b])
    return out.reshape(ok.shape)


def _objectives(ds, minimize, maximize, over):
    minimize = [minimize] if isinstance(minimize, str) else list(minimize or ())
    maximize = [maximize] if isinstance(maximize, str) else list(maximize or ())
    names = minimize + maximize
    if not names:
        raise InputError("pareto: name at least one objective (--minimize / --maximize)")
    if len(set(names)) != len(names):
        raise InputError(f"pareto: objective named twice in {names}")
    arrays = [_objective_array(ds, n) for n in names]
    arrays = [-a if n in maximize else a for a, n in zip(arrays, names)]
    if over is None:
        over = tuple(ds.dims)
    else:
        over = (over,) if isinstance(over, str) else tuple(over)
        for d in over:
            if d not in ds.dims:
                raise InputError(f"pareto: over = {d!r} is not a dim{suggest(d, list(ds.dims))}")
    template = xr.DataArray(
        np.broadcast_to(0.0, tuple(ds.sizes[d] for d in over)),
        dims=over,
        coords={d: ds.coords[d] for d in over if d in ds.coords},
    )
    arrays = xr.broadcast(*arrays, template)[:-1]
    kept = tuple(d for d in arrays[0].dims if d not in over)
    dims = kept + tuple(d for d in arrays[0].dims if d in over)
    arrays = [a.transpose(*dims) for a in arrays]
    return names, arrays, dims, kept


def pareto_mask(
    ds: xr.Dataset,
    minimize: Sequence[str] = (),
    maximize: Sequence[str] = (),
    over: Sequence[str] | None = None,
) -> xr.DataArray:
    """``True`` on the Pareto set of the objectives across ``over``, per value of the other
    dims (module docstring).  Objectives are data variables or coordinates of ``ds``; the
    result's dims are the kept dims first, then the ``over`` dims."""
    names, arrays, dims, kept = _objectives(ds, minimize, maximize, over)
    shape = arrays[0].shape
    n_groups = int(np.prod(shape[: len(kept)], dtype=np.int64))
    if len(arrays) <= 2 and n_groups > 64:  # many small groups: one vectorised pass
        f = np.stack([np.asarray(a.values, np.float64).reshape(n_groups, -1) for a in arrays])
        mask = pareto_blocks(f).reshape(shape)
    else:
        mask = _feasible_fronts([np.asarray(a.values) for a in arrays], n_groups)
    return xr.DataArray(
        mask,
        dims=dims,
        coords={d: arrays[0].coords[d] for d in dims if d in arrays[0].coords},
        name="pareto",
        attrs={
            "long_name": "on the Pareto set",
            "minimize": ",".join(_as_list(minimize)),
            "maximize": ",".join(_as_list(maximize)),
            "over": ",".join(d for d in dims if d not in kept),
        },
    )


def _as_list(x):
    return [x] if isinstance(x, str) else list(x or ())


def pareto_table(
    ds: xr.Dataset,
    minimize: Sequence[str] = (),
    maximize: Sequence[str] = (),
    over: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> xr.Dataset:
    """The Pareto points as a ``Dataset`` along a ``point`` dim: one coordinate per dim (the
    point's label), the objectives and the ``extra`` variables, sorted by the kept dims, then
    by the first objective."""
    mask = pareto_mask(ds, minimize, maximize, over)
    names = _as_list(minimize) + _as_list(maximize)
    flat = np.flatnonzero(mask.values.reshape(-1))
    where = np.unravel_index(flat, mask.shape)
    coords = {}
    for d, ix in zip(mask.dims, where):
        vals = mask.coords[d].values[ix] if d in mask.coords else ix
        coords[d] = ("point", vals)
    data = {}
    for n in list(names) + [e for e in extra if e not in names]:
        if n in coords:
            continue
        da = ds[n] if n in ds else _objective_array(ds, n)
        da = xr.broadcast(da, mask)[0].transpose(*mask.dims)
        data[n] = ("point", np.asarray(da.values).reshape(-1)[flat], dict(da.attrs))
    out = xr.Dataset(data, coords=coords, attrs=dict(mask.attrs))
    kept = [d for d in mask.dims if d not in mask.attrs["over"].split(",")]
    first = names[0]
    sign = -1.0 if first in _as_list(maximize) else 1.0
    keys = [sign * out[first].values] + [where[mask.dims.index(d)] for d in kept][::-1]
    return out.isel(point=np.lexsort(keys))
