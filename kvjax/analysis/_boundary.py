"""Regime boundaries: where along one axis the binding resource changes or a limit is hit.

A *condition* is a smooth residual ``r(scenario)`` whose sign change marks the boundary;
all are written as log ratios, so they are near-linear in ``ln x`` for the power laws of a
roofline and Newton converges in a few steps:

==========================  ===============================================  ==========
condition                    residual ``r``                                   target
==========================  ===============================================  ==========
``fits_one``                 ln(free HBM x TP) - ln(KV per user)  (C = 1)     --
``fits``                     ln(free HBM x TP) - ln(batch x KV per user)      --
``decode_compute_bound``     ln(decode compute s) - ln(decode memory s)       --
``prefill_compute_bound``    ln(prefill compute s) - ln(prefill memory s)     --
``prefill_slo``              ln(prefill s) - ln(target)  (TTFT = an SLO)      seconds
``decode_slo``               ln(decode step s) - ln(target)                   seconds
``<metric>``                 ln(metric) - ln(target) for any float metric     its units
==========================  ===============================================  ==========

The residuals use the *unmasked* smooth quantities (``concurrency`` is real, latencies are
computed even where the KV does not fit); the result records ``fits`` at the boundary.

Method, per point of the other dims (``jax.vmap`` over all of them):

1. **bracket** on the grid: the first pair of adjacent grid values where ``r`` changes sign
   (no sign change: ``found = False``, value NaN);
2. **safeguarded Newton** in ``u = ln x`` (positive axes; plain ``x`` otherwise):
   ``u <- u - r / (dr/du)`` with ``dr/du = x dr/dx`` from ``jax.jvp``; a step that leaves the
   bracket or has no finite slope is replaced by bisection; the bracket shrinks each step.
   It stops when the step is below ``xtol`` (1e-7 relative by default).

``find_boundary`` takes base ``(model, hardware, workload)`` values (leaves may be arrays of a
common broadcast shape: one boundary per element) and the axis leaf path; ``boundary_dataset``
rebuilds those from a stored sweep (catalog ids in its coords, the spec TOML in its attrs,
``kvjax_spec`` or ``spec``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import catalog
from .. import costs as c
from ..errors import InputError, suggest
from ..model import (
    DERIVED_METRICS,
    METRICS,
    Hardware,
    Model,
    Scenario,
    Workload,
    get_leaf,
    metric_info,
    replace_leaf,
    resolve_leaf,
    resolve_metrics,
    scenario_from_leaves,
)
from ..model import safe_log as _log
from ..sweep import base_leaves, catalog_axis_leaves, parse_text
from ._roots import bracketed_newton


def _free_total(s):
    return c.free_hbm_bytes_per_device(s) * s.workload.tp


def _fits_one(s, target):
    return _log(_free_total(s)) - _log(c.kv_bytes_per_user(s))


def _fits(s, target):
    return _log(_free_total(s)) - _log(s.workload.batch * c.kv_bytes_per_user(s))


def _decode_cb(s, target):
    compute, memory, _ = c.decode_step_parts_at(s, s.workload.batch)
    return _log(compute) - _log(memory)


def _prefill_cb(s, target):
    return _log(c.prefill_compute_s(s)) - _log(c.prefill_memory_s(s))


def _prefill_slo(s, target):
    return _log(c.prefill_time_s(s)) - _log(target)


def _decode_slo(s, target):
    return _log(c.decode_step_s_at(s, s.workload.batch)) - _log(target)


CONDITIONS: dict[str, tuple[Callable, bool, str]] = {
    "fits_one": (_fits_one, False, "one user's KV fits: concurrency = 1"),
    "fits": (_fits, False, "the batch's KV fits: concurrency = batch"),
    "decode_compute_bound": (_decode_cb, False, "decode compute time = memory time"),
    "prefill_compute_bound": (_prefill_cb, False, "prefill compute time = memory time"),
    "prefill_slo": (_prefill_slo, True, "prefill time (TTFT) = target seconds"),
    "decode_slo": (_decode_slo, True, "decode step time = target seconds"),
}
"""name -> (residual(scenario, target), needs a target, description)."""


def residual_fn(condition: str, target=None) -> Callable[[Scenario], jax.Array]:
    """The residual of ``condition`` as a function of one scenario (names checked now)."""
    if condition in CONDITIONS:
        fn, needs, _ = CONDITIONS[condition]
        if needs and target is None:
            raise InputError(f"condition {condition!r} needs a target value (--target)")
    elif _is_metric(condition):
        resolve_metrics(condition, field="condition", kinds=("float",), derived=True)
        if target is None:
            raise InputError(
                f"condition {condition!r}: a metric condition needs a target value (--target)"
            )
        metric = metric_info(condition).fn

        def fn(s, t):
            return _log(metric(s)) - _log(t)
    else:
        choices = [*CONDITIONS, *_float_metrics()]
        raise InputError(f"unknown boundary condition {condition!r}{suggest(condition, choices)}")
    if target is not None and not (np.isfinite(target) and target > 0):
        raise InputError(f"condition {condition!r}: target = {target!r} must be finite and > 0")
    tval = 1.0 if target is None else float(target)
    return lambda s: fn(s, tval)


def _is_metric(name) -> bool:
    try:
        metric_info(name)
    except KeyError:
        return False
    return True


def _float_metrics():
    return [n for n, i in {**METRICS, **DERIVED_METRICS}.items() if i.kind == "float"]


def _solve_one(s, path, r_fn, grid, log, max_iter, xtol):
    """Bracket on ``grid``, then ``bracketed_newton`` in ``u = ln x`` (or ``x``)."""
    dtype = jnp.result_type(float)

    def at(u):
        x = jnp.exp(u) if log else u
        return r_fn(replace_leaf(s, path, x))

    us = jnp.log(grid) if log else grid
    rs = jax.vmap(at)(us)
    fin = jnp.isfinite(rs)
    change = (jnp.sign(rs[:-1]) != jnp.sign(rs[1:])) & fin[:-1] & fin[1:]
    change = change | ((rs[:-1] == 0) & fin[:-1])
    found = jnp.any(change)
    i = jnp.argmax(change)
    a, b, ra, rb = us[i], us[i + 1], rs[i], rs[i + 1]
    scale = 1.0 if log else jnp.maximum(jnp.abs(a), jnp.abs(b))
    out = bracketed_newton(lambda u: jax.jvp(at, (u,), (jnp.ones_like(u),)), a, b, ra, rb,
                           max_iter=max_iter, atol=xtol * scale)  # fmt: skip
    x = jnp.exp(out["root"]) if log else out["root"]
    nan = jnp.asarray(jnp.nan, dtype)
    return {
        "value": jnp.where(found, x, nan),
        "found": found,
        "converged": found & out["converged"],
        "iterations": jnp.where(found, out["iterations"], 0),
        "residual": jnp.where(found, out["residual"], nan),
        "rising": jnp.where(found, rb > ra, False),
    }


def find_boundary(
    model: Model,
    hardware: Hardware,
    workload: Workload,
    axis: str,
    condition: str,
    grid,
    target=None,
    max_iter: int = 40,
    xtol: float = 1e-7,
) -> dict:
    """The value of leaf ``axis`` where ``condition`` holds, refined beyond ``grid``.

    Args:
      model, hardware, workload: base values; leaves may be arrays of any shapes that
        broadcast together (one boundary per element of the broadcast shape).
      axis: the leaf path that moves (``"workload.batch"``, or a bare name).
      condition: a name in ``CONDITIONS`` or a float metric (with ``target``).
      grid: increasing 1-D axis values used to bracket the first sign change.
      target: the level of an SLO or metric condition.
      max_iter: Newton/bisection steps after bracketing.
      xtol: stop when a step moves ``ln x`` (or ``x / |x|``) by less than this.

    Returns:
      ``{"value", "found", "converged", "iterations", "residual", "rising"}``, arrays of the
      broadcast shape; ``rising`` is True where the residual goes from negative to positive
      with increasing ``axis``.
    """
    path = resolve_leaf(axis, field="axis")
    residual_fn(condition, target)  # check the names now
    target = None if target is None else float(target)
    dtype = jnp.result_type(float)
    grid = np.asarray(grid, dtype=np.float64).reshape(-1)
    if grid.size < 2 or not np.all(np.diff(grid) > 0):
        raise InputError(f"boundary grid for {path}: need >= 2 increasing values")
    log = bool(np.all(grid > 0))
    s = Scenario(model, hardware, workload)
    s = jax.tree.map(lambda x: jnp.asarray(x, dtype=dtype), s)
    leaves, tree = jax.tree.flatten(s)
    shape = jnp.broadcast_shapes(*(x.shape for x in leaves))
    flat = [jnp.broadcast_to(x, shape).reshape(-1) for x in leaves]
    batched = jax.tree.unflatten(tree, flat)
    g = jnp.asarray(grid, dtype=dtype)
    out = _solver(path, condition, target, log, int(max_iter), float(xtol))(batched, g)
    return {k: v.reshape(shape) for k, v in out.items()}


@functools.lru_cache(maxsize=64)
def _solver(path, condition, target, log, max_iter, xtol):
    """``jit(vmap(_solve_one))`` for one (axis, condition, target): compiled once per shape."""
    r_fn = residual_fn(condition, target)

    def one(s1, g):
        return _solve_one(s1, path, r_fn, g, log, max_iter, xtol)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def check_condition(scenario: Scenario, condition: str, target=None):
    """The residual of ``condition`` at one scenario (0 on the boundary)."""
    return residual_fn(condition, target)(scenario)


# ----------------------------------------------------------------------------- stores


def _spec_of(ds: xr.Dataset):
    text = ds.attrs.get("kvjax_spec") or ds.attrs.get("spec")
    if not text:
        raise InputError("store has no spec in its attrs: cannot rebuild its scenarios")
    return parse_text(text, "<store spec>")


def store_dims(ds: xr.Dataset, spec) -> list[str]:
    """The store's sweep dims in the spec's axis order.

    Dims that are not sweep axes (the ``metric`` x ``knob`` of a stored ``elasticity``) are
    left out: a boundary is a property of the scenario, not of a stored derivative.
    """
    return [a.name for a in spec.axes if a.name in ds.dims]


def store_scenarios(ds: xr.Dataset, skip_dim: str | None = None):
    """Base ``(Model, Hardware, Workload)`` of a stored sweep, leaves broadcast over its dims
    (in the spec's order, length 1 on ``skip_dim``), and the spec.  The spec in its attrs
    gives every value (``kvjax.sweep.base_leaves``), the coords say which catalog entries and
    axis values the (possibly sliced) dataset holds."""
    spec = _spec_of(ds)
    dims = store_dims(ds, spec)

    def place(values, dim):
        shape = [1] * len(dims)
        shape[dims.index(dim)] = len(values)
        return np.asarray(values, dtype=np.float64).reshape(shape)

    values = base_leaves(spec, catalog)
    values.setdefault("workload.context_tokens", 1.0)  # replaced by the axis when it is one
    for a in spec.axes:
        if a.kind == "leaf" and a.name == skip_dim:
            continue
        if a.name not in ds.coords:
            raise InputError(f"store lacks the spec's axis {a.name!r} (neither a dim nor a value)")
        coord = np.atleast_1d(ds.coords[a.name].values)
        scalar = a.name not in ds.dims  # e.g. after ds.sel(model="yi-34b") or sel(batch=8)
        if a.kind == "leaf":
            values[a.leaf] = float(coord[0]) if scalar else place(coord, a.name)
            continue
        stacked = catalog_axis_leaves(spec, a, catalog, [str(v) for v in coord])
        for p, v in stacked.items():
            values[p] = v[0] if scalar else place(v, a.name)
    s = scenario_from_leaves(values)
    return (s.model, s.hardware, s.workload), spec


def boundary_dataset(ds: xr.Dataset, dim: str, condition: str, target=None, **kw) -> xr.Dataset:
    """Boundaries along the store's numeric dim ``dim``, one per point of the other dims.

    Returns a ``Dataset`` over the other dims with ``<dim>`` (the boundary value, with the
    axis leaf's units), ``found``, ``converged``, ``iterations``, ``residual`` and
    ``concurrency`` (at the boundary), computed in float64; attrs record the condition, its
    target and the source spec (``source_kvjax_spec``, hashes).
    """
    if dim not in ds.dims:
        raise InputError(f"boundary: {dim!r} is not a dim{suggest(dim, list(ds.dims))}")
    spec = _spec_of(ds)
    axis = next((a for a in spec.axes if a.name == dim), None)
    if axis is None or axis.kind != "leaf":
        numeric = [a.name for a in spec.axes if a.kind == "leaf" and a.name in ds.dims]
        what = f"a {axis.kind} catalog axis" if axis is not None else "not a spec axis"
        raise InputError(
            f"boundary: dim {dim!r} is not a numeric axis ({what}, not continuous); "
            f"continuous dims: {', '.join(repr(n) for n in numeric) or 'none'}"
        )
    residual_fn(condition, target)  # names and target checked before any catalog work
    base, spec = store_scenarios(ds, skip_dim=dim)
    grid = np.unique(np.asarray(ds.coords[dim].values, dtype=np.float64))  # sorted
    if grid.size < 2:
        raise InputError(f"boundary: dim {dim!r} has {grid.size} value(s): nothing to bracket")
    with jax.enable_x64(True):  # float64 whatever the caller's mode: beyond-grid precision
        out = find_boundary(*base, axis.leaf, condition, grid, target=target, **kw)
        out = {k: np.asarray(v) for k, v in out.items()}
    dims = store_dims(ds, spec)
    keep = [d for d in dims if d != dim]
    full = [ds.sizes[d] for d in dims]
    pos = dims.index(dim)

    def shaped(v):
        v = np.broadcast_to(np.asarray(v), [1 if i == pos else n for i, n in enumerate(full)])
        return np.squeeze(v, axis=pos)

    value = shaped(out["value"])
    # is the boundary point feasible (one user fits)?
    s_at = replace_leaf(Scenario(*base), axis.leaf, np.expand_dims(value, pos))
    with jax.enable_x64(True):
        conc = shaped(np.asarray(c.concurrency(s_at)))
    coords = {d: ds.coords[d] for d in keep if d in ds.coords}
    units = ds.coords[dim].attrs.get("units", "")
    about = condition_description(condition, target)
    data = {
        dim: (keep, value, {"long_name": f"{dim} where {about}", "units": units}),
        "found": (keep, shaped(out["found"]),
                  {"long_name": "the residual changes sign on the grid (else value NaN)"}),
        "converged": (keep, shaped(out["converged"]),
                      {"long_name": "Newton/bisection met the step tolerance"}),
        "iterations": (keep, shaped(out["iterations"]).astype(np.int16),
                       {"long_name": "Newton/bisection steps after bracketing", "units": "1"}),
        "residual": (keep, shaped(out["residual"]),
                     {"long_name": "residual (log ratio) at the boundary, 0 on it", "units": "1"}),
        "concurrency": (keep, conc, {"long_name": "concurrency at the boundary", "units": "1"}),
    }  # fmt: skip
    attrs = {
        "title": f"kvjax boundary: {dim} where {about}",
        "condition": condition,
        "condition_description": about,
        "dim": dim,
        "axis": axis.leaf,
        "source_kvjax_spec": spec.text,  # not kvjax_spec: this is not a sweep store
    }
    for key in ("kvjax_spec_name", "kvjax_spec_hash", "kvjax_catalog_hash", "kvjax_version"):
        if key in ds.attrs:
            attrs[f"source_{key}"] = ds.attrs[key]
    if target is not None:
        attrs["target"] = float(target)
        attrs["target_units"] = condition_units(condition)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def condition_units(condition: str) -> str:
    """Units of a condition's target (seconds for SLOs, the metric's for a metric)."""
    if condition in CONDITIONS:
        return "s" if CONDITIONS[condition][1] else ""
    return metric_info(condition).units if _is_metric(condition) else ""


def condition_description(condition: str, target=None) -> str:
    """``"prefill time (TTFT) = 10 s"``-style words for a condition (and its target)."""
    if condition in CONDITIONS:
        text = CONDITIONS[condition][2]
        return text.replace("target seconds", f"{float(target):g} s") if target else text
    units = condition_units(condition)
    return f"{condition} = {float(target):g}" + (f" {units}" if units not in ("", "1") else "")


def get_axis_value(s: Scenario, axis: str):
    """The value of leaf ``axis`` in ``s`` (bare names accepted)."""
    return get_leaf(s, resolve_leaf(axis, field="axis"))
