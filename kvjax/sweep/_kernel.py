"""The jitted chunk kernel: metrics (and elasticities) of one chunk of the grid.

The grid is never materialised as input arrays.  Each chunk passes only the 1-D slices of
its axes (numbers for a leaf axis, indices for a catalog axis) to one compiled kernel; inside
``jit`` every slice is reshaped to broadcast along its own dimension, catalog leaves are
gathered from the stacked catalog, and each metric comes out over exactly the axes it depends
on (the elementwise contract of ``kvjax.model._metrics``).

Elasticities (``kvjax.model.elasticity_columns_fn``: one forward-mode ``jvp`` per knob) are
computed the same way, but over sub-blocks of about ``block_points`` points run by
``jax.lax.map``.  On XLA CPU whole 1M-point chunks ran 1.3-1.5x slower than blocks of
16K-256K points (which were alike within the noise of a shared 2-core machine); batching the
K tangents with ``jax.linearize`` + ``vmap`` was 2x slower (dense tangents)
(docs/performance.md).  A block is the trailing dims of the elasticity's
(dependence-pruned) chunk shape that fit in ``block_points``, times a divisor of the next
dim; the dims before it are walked by ``lax.map``.  Each ``(metric, knob)`` pair comes out as
its own array (no point-major stacking), in the chunk shape restricted to its dims.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ..model import METRICS, elasticity_columns_fn, scenario_from_leaves
from ._plan import Plan
from ._spec import base_leaves, catalog_axis_leaves


def build_kernel(plan: Plan, catalog=None):
    """The jitted chunk kernel: ``kernel(*axis_slices) -> tuple of metric chunks``.

    ``axis_slices[j]`` holds ``plan.chunks[j]`` values of axis ``j`` (indices for a catalog
    axis).  Output ``k`` has the chunk shape restricted to metric ``k``'s dims.
    """
    spec = plan.spec
    dtype = jnp.dtype(plan.dtype)
    nd = len(spec.axes)
    base = base_leaves(spec, catalog)
    stacks = {
        j: catalog_axis_leaves(spec, a, catalog)
        for j, a in enumerate(spec.axes)
        if a.kind != "leaf"
    }
    metrics = list(plan.var_dims)

    def scenario_of(axis_vals):
        """The scenario of broadcast-shaped axis values (indices for catalog axes)."""
        values = {p: jnp.asarray(v, dtype) for p, v in base.items()}
        for j, a in enumerate(spec.axes):
            x = axis_vals[j]
            if a.kind == "leaf":
                values[a.leaf] = x
            else:
                for p, stacked in stacks[j].items():
                    values[p] = jnp.asarray(stacked, dtype)[x]
        return scenario_from_leaves(values)

    def kernel(*slices):
        vals = []
        for j in range(nd):
            shape = [1] * nd
            shape[j] = plan.chunks[j]
            vals.append(slices[j].reshape(shape))
        s = scenario_of(vals)
        outs = []
        for m in metrics:
            info = METRICS[m]
            y = info.fn(s)
            y = y.astype(plan.var_dtype(m)) if info.kind == "float" else y
            y = y.astype(bool) if info.kind == "bool" else y
            y = y.astype(jnp.int8) if info.kind == "code" else y
            dims = plan.var_dims[m]
            full = [plan.chunks[j] if j in dims else 1 for j in range(nd)]
            y = jnp.broadcast_to(y, full).reshape([plan.chunks[j] for j in dims])
            outs.append(y)
        if plan.elast_dims is not None:
            outs += elasticity_chunk(scenario_of, slices, plan.chunks, plan.elast_dims,
                                     spec.elasticity, dtype)  # fmt: skip
        return tuple(outs)

    return jax.jit(kernel)


def block_split(sizes, block_points: int):
    """``(q, b)``: dims after ``q`` whole, dim ``q`` in blocks of ``b`` (a divisor of
    ``sizes[q]``), dims before ``q`` walked; ``None`` for one block of the whole shape (it
    fits, or no divisor gives a block of at least ``block_points / 8``)."""
    inner = 1
    for q in reversed(range(len(sizes))):
        if inner * sizes[q] <= block_points:
            inner *= sizes[q]
            continue
        b = max(d for d in range(1, max(1, block_points // inner) + 1) if sizes[q] % d == 0)
        if b * inner * 8 < block_points:  # no good divisor (a prime dim): one whole block
            return None
        return q, b
    return None


def elasticity_chunk(scenario_of, slices, chunks, e_dims, spec, dtype):
    """Elasticities of one chunk: a tuple of ``M * K`` arrays (metric-major), each of shape
    ``[chunks[j] for j in e_dims]``.

    Args:
      scenario_of: ``axis_vals -> Scenario``, where ``axis_vals[j]`` is axis ``j``'s values
        (indices for a catalog axis), shaped to broadcast.
      slices: the chunk's 1-D axis slices (as passed to the kernel).
      chunks: the chunk shape (one size per axis).
      e_dims: axis indices the elasticities depend on (the others are held at slice 0).
      spec: the ``ElasticitySpec``.
      dtype: output dtype.
    """
    cols_fn = elasticity_columns_fn(spec.metrics, spec.wrt)
    pairs = [(m, p) for m in spec.metrics for p in spec.wrt]
    sizes = [chunks[j] for j in e_dims]
    split = block_split(sizes, spec.block_points)
    nd = len(chunks)

    def evaluate(axis_vals, shape):
        cols = cols_fn(scenario_of(axis_vals))
        return tuple(jnp.broadcast_to(cols[pr], shape).astype(dtype) for pr in pairs)

    if split is None:  # the whole (pruned) chunk is one block
        vals = [slices[j][0] for j in range(nd)]
        for i, j in enumerate(e_dims):
            shape = [1] * len(e_dims)
            shape[i] = chunks[j]
            vals[j] = slices[j].reshape(shape)
        return evaluate(vals, tuple(sizes))

    q, b = split
    outer = (*sizes[:q], sizes[q] // b)
    block = (b, *sizes[q + 1 :])

    def body(t):
        idx = jnp.unravel_index(t, outer)
        vals = [slices[j][0] for j in range(nd)]
        for i, j in enumerate(e_dims[:q]):
            vals[j] = slices[j][idx[i]]
        shape = [1] * len(block)
        shape[0] = b
        vals[e_dims[q]] = jax.lax.dynamic_slice(slices[e_dims[q]], (idx[q] * b,), (b,)).reshape(
            shape
        )
        for i, j in enumerate(e_dims[q + 1 :], start=1):
            shape = [1] * len(block)
            shape[i] = chunks[j]
            vals[j] = slices[j].reshape(shape)
        return evaluate(vals, block)

    outs = jax.lax.map(body, jnp.arange(math.prod(outer), dtype=jnp.int32))
    return tuple(o.reshape(sizes) for o in outs)
