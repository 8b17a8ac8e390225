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

Feasible points only.  A real sweep is mostly infeasible (~95% NaN); the points with every
objective non-NaN are found first, and only they are gathered (in float64, maximised ones
negated), solved and mapped back: all the groups at once, in one pass of the algorithms of
``kvjax.analysis._pareto`` (``k = 2``: one sort plus a prefix minimum per group; ``k >= 3``: a
prefilter by candidates, then a staircase (``k = 3``) or a block skyline (``k >= 4``)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import InputError, suggest
from ._pareto import fronts


def _feasible_fronts(values: list, n_groups: int, signs=None) -> np.ndarray:
    """Bool mask (of the arrays' common shape) of each group's front, built from the
    feasible points only: ``values`` are the k objectives (times ``signs``, default all +1,
    then all minimised), broadcast to one shape (strided views are fine) whose leading part
    is ``n_groups`` groups; NaN marks an infeasible point.  Only the feasible points (5-20%
    of a real sweep) are gathered, converted to float64 and signed; all the groups are then
    solved together (``_pareto.fronts``)."""
    ok = np.ones(np.shape(values[0]), dtype=bool)
    for v in values:
        if v.dtype.kind in "fc":
            ok &= ~np.isnan(v)
    every = bool(ok.all())
    flat = None if every else np.flatnonzero(ok)
    n = ok.size if every else len(flat)
    if n == 0:
        return ok
    f = np.empty((max(len(values), 2), n))  # one objective: (f, 0) for the 2-d pass
    f[len(values) :] = 0.0
    for fi, v, s in zip(f, values, [1.0] * len(values) if signs is None else signs):
        if every:
            fi.reshape(ok.shape)[...] = v  # converted in place: no copy of a strided view
        else:
            fi[...] = v[ok]
        if s < 0:
            np.negative(fi, out=fi)
    row, size = None, ok.size // max(n_groups, 1)
    if n_groups > 1 and every:
        row = np.repeat(np.arange(n_groups), size)
    elif n_groups > 1:  # dense group numbers of the points, in order
        group = flat // size
        present = np.bincount(group, minlength=n_groups) > 0
        row = group if present.all() else (np.cumsum(present) - 1)[group]
    if every:
        return fronts(f, row).reshape(ok.shape)
    out = np.zeros(ok.size, dtype=bool)
    out[flat] = fronts(f, row)
    return out.reshape(ok.shape)


def pareto_blocks(objectives: np.ndarray) -> np.ndarray:
    """Bool mask (G, m) of the non-dominated points of each of ``G`` groups.

    ``objectives`` has shape (k, G, m): k objectives, all minimised (negate to maximise),
    for G independent groups of m points.  A point with a NaN objective is never on the
    frontier and never dominates: the fronts are computed on the other points only.
    """
    f = np.asarray(objectives)
    if f.ndim != 3 or f.shape[0] < 1:
        raise InputError(f"objectives: expected a (k, G, m) array, got shape {f.shape}")
    return _feasible_fronts(list(f), f.shape[1])


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
    return da  # converted to float64 (and signed) only where feasible: _feasible_fronts


def _objectives(ds, minimize, maximize, over):
    minimize = [minimize] if isinstance(minimize, str) else list(minimize or ())
    maximize = [maximize] if isinstance(maximize, str) else list(maximize or ())
    names = minimize + maximize
    if not names:
        raise InputError("pareto: name at least one objective (--minimize / --maximize)")
    if len(set(names)) != len(names):
        raise InputError(f"pareto: objective named twice in {names}")
    # read each stored array whole first: broadcasting and transposing a lazily loaded one
    # makes the reader index it point by point (2.5 s, not 0.1 s, for one 1e7-point array)
    arrays = [_objective_array(ds, n).compute() for n in names]
    signs = [-1.0 if n in maximize else 1.0 for n in names]
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
    return signs, arrays, dims, kept


def pareto_mask(
    ds: xr.Dataset,
    minimize: Sequence[str] = (),
    maximize: Sequence[str] = (),
    over: Sequence[str] | None = None,
) -> xr.DataArray:
    """``True`` on the Pareto set of the objectives across ``over``, per value of the other
    dims (module docstring).  Objectives are data variables or coordinates of ``ds``; the
    result's dims are the kept dims first, then the ``over`` dims."""
    signs, arrays, dims, kept = _objectives(ds, minimize, maximize, over)
    n_groups = int(np.prod(arrays[0].shape[: len(kept)], dtype=np.int64))
    mask = _feasible_fronts([np.asarray(a.values) for a in arrays], n_groups, signs)
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
        da = ds[n].compute() if n in ds else _objective_array(ds, n)
        da = xr.broadcast(da, mask)[0].transpose(*mask.dims)
        data[n] = ("point", np.asarray(da.values)[where], dict(da.attrs))  # no full copy
    out = xr.Dataset(data, coords=coords, attrs=dict(mask.attrs))
    kept = [d for d in mask.dims if d not in mask.attrs["over"].split(",")]
    first = names[0]
    sign = -1.0 if first in _as_list(maximize) else 1.0
    keys = [sign * out[first].values] + [where[mask.dims.index(d)] for d in kept][::-1]
    return out.isel(point=np.lexsort(keys))
