"""Baselines for ``bench_sweep.py``: the same metrics evaluated by NumPy and by plain Python.

The cost functions are written against ``jnp`` (``where``, ``maximum``, ``minimum``,
``floor``, ``inf``, ``nan``).  Rebinding the module-level name ``jnp`` of the cost modules
to ``numpy`` gives a vectorized NumPy evaluation of *the same formulas* (broadcasting the
1-D axes exactly as the JAX kernel does); rebinding it to a tiny ``math`` shim gives a
scalar Python evaluation, one point at a time.  ``check_numpy_equals_jax`` verifies the
NumPy version against the JAX kernel on a small grid before any timing.
"""

from __future__ import annotations

import contextlib
import math
import sys
import types

import numpy as np

import kvjax.model  # noqa: F401  (loads the modules below)
from kvjax.model import METRICS, scenario_from_leaves
from kvjax.sweep import base_leaves, catalog_axis_leaves

# The private modules that hold the cost code; their module-level ``jnp`` is rebound.
_MODULES = tuple(
    sys.modules[f"kvjax.model.{m}"]
    for m in ("_numerics", "_memory", "_phases", "_session", "_turns", "_attention",
              "_collectives", "_parallel", "_operators", "_breakdown")
)

PYMATH = types.SimpleNamespace(
    # scalars as Python does them; the arrays of the turns' trailing axis by NumPy
    where=lambda c, a, b: (a if c else b) if np.ndim(c) == 0 else np.where(c, a, b),
    maximum=lambda a, b: (a if a >= b or a != a else b) if np.ndim(a) + np.ndim(b) == 0
    else np.maximum(a, b),
    minimum=lambda a, b: (a if a <= b or a != a else b) if np.ndim(a) + np.ndim(b) == 0
    else np.minimum(a, b),
    floor=lambda x: math.floor(x) if np.ndim(x) == 0 else np.floor(x),
    exp=lambda x: math.exp(x) if np.ndim(x) == 0 else np.exp(x),
    log=lambda x: math.log(x) if np.ndim(x) == 0 else np.log(x),
    sqrt=lambda x: math.sqrt(x) if np.ndim(x) == 0 else np.sqrt(x),
    inf=math.inf,
    nan=math.nan,
    asarray=float,
)


@contextlib.contextmanager
def namespace(ns):
    """Evaluate the cost functions with ``ns`` (``numpy`` or ``PYMATH``) in place of jnp
    (``clamp_min``, a ``jax.custom_jvp``, becomes ``ns.maximum``: its value)."""
    names = ("jnp", "clamp_min")
    saved = [{n: getattr(m, n) for n in names if hasattr(m, n)} for m in _MODULES]
    try:
        for m, old in zip(_MODULES, saved, strict=True):
            for n in old:
                setattr(m, n, ns if n == "jnp" else ns.maximum)
        yield
    finally:
        for m, old in zip(_MODULES, saved, strict=True):
            for n, v in old.items():
                setattr(m, n, v)


class NumpyKernel:
    """The sweep kernel in NumPy: same leaves, same broadcasting, same output shapes."""

    def __init__(self, plan, catalog=None):
        from kvjax import catalog as default_catalog

        cat = catalog or default_catalog
        self.plan = plan
        self.dtype = np.dtype(plan.dtype)
        self.base = {p: self.dtype.type(v) for p, v in base_leaves(plan.spec, cat).items()}
        self.stacks = {
            j: {p: v.astype(self.dtype) for p, v in catalog_axis_leaves(plan.spec, a, cat).items()}
            for j, a in enumerate(plan.spec.axes)
            if a.kind != "leaf"
        }

    def __call__(self, *slices):
        plan, nd = self.plan, len(self.plan.spec.axes)
        values = dict(self.base)
        for j, a in enumerate(plan.spec.axes):
            shape = [1] * nd
            shape[j] = plan.chunks[j]
            x = np.asarray(slices[j]).reshape(shape)
            if a.kind == "leaf":
                values[a.leaf] = x.astype(self.dtype)
            else:
                for p, stacked in self.stacks[j].items():
                    values[p] = stacked[x]
        s = scenario_from_leaves(values)
        outs = []
        with np.errstate(all="ignore"), namespace(np):
            for m, dims in plan.var_dims.items():
                info = METRICS[m]
                y = np.asarray(info.fn(s))
                y = y.astype({"bool": bool, "code": np.int8}.get(info.kind, self.dtype))
                full = [plan.chunks[j] if j in dims else 1 for j in range(nd)]
                y = np.broadcast_to(y, full).reshape([plan.chunks[j] for j in dims])
                outs.append(np.ascontiguousarray(y))
        return tuple(outs)


def python_points(plan, n_points: int, catalog=None):
    """Evaluate the plan's metrics at its first ``n_points`` grid points, one at a time."""
    from kvjax import catalog as default_catalog

    cat = catalog or default_catalog
    base = base_leaves(plan.spec, cat)
    stacks = {
        j: catalog_axis_leaves(plan.spec, a, cat)
        for j, a in enumerate(plan.spec.axes)
        if a.kind != "leaf"
    }
    fns = [METRICS[m].fn for m in plan.var_dims]
    out = []
    with namespace(PYMATH):
        for flat in range(n_points):
            idx = np.unravel_index(flat, plan.spec.shape)
            values = dict(base)
            for j, a in enumerate(plan.spec.axes):
                if a.kind == "leaf":
                    values[a.leaf] = float(a.values[idx[j]])
                else:
                    for p, stacked in stacks[j].items():
                        values[p] = float(stacked[idx[j]])
            s = scenario_from_leaves(values)
            row = []
            for f in fns:
                try:
                    row.append(f(s))
                except ZeroDivisionError:
                    row.append(math.nan)
            out.append(row)
    return out


def check_numpy_equals_jax(plan, compiled, padded, chunk_slices, n_chunks=2, rtol=2e-5):
    """Assert the NumPy kernel reproduces the JAX kernel on the first ``n_chunks`` chunks."""
    npk = NumpyKernel(plan)
    for cid in range(min(n_chunks, plan.n_chunks)):
        sl = chunk_slices(plan, padded, cid)
        got = npk(*sl)
        want = [np.asarray(x) for x in compiled(*sl)]
        for m, g, w in zip(plan.var_dims, got, want, strict=True):
            if METRICS[m].kind == "float":
                # atol: float32 rounding of the largest value, for differences of near-equal
                # terms (idle_sessions = B - C near B = C)
                with np.errstate(all="ignore"):
                    atol = 1e-6 * float(np.nanmax(np.abs(np.where(np.isinf(w), 0, w)), initial=0))
                np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True, err_msg=m)
            else:
                agree = np.mean(g == w)
                assert agree > 0.999, (m, agree)  # a tie at a kink may round either way
