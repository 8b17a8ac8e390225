"""Elasticities inside a sweep chunk, evaluated in sub-blocks.

The chunk kernel (``kvjax.sweep.build_kernel``) computes metrics by broadcasting 1-D axis
slices over the chunk.  Elasticities (``kvjax.sensitivity``: one forward-mode ``jvp`` per
knob) are computed the same way, but over sub-blocks of about ``block_points`` points run
by ``jax.lax.map``.  On XLA CPU whole 1M-point chunks ran 1.3-1.5x slower than blocks of
16K-256K points (which were alike within the noise of a shared 2-core machine); batching the
K tangents with ``jax.linearize`` + ``vmap`` was 2x slower (dense tangents)
(docs/performance.md).

A block is the trailing dims of the elasticity's (dependence-pruned) chunk shape that fit
in ``block_points``, times a divisor of the next dim; the dims before it are walked by
``lax.map``.  Each ``(metric, knob)`` pair comes out as its own array (the columns layout:
no point-major stacking), in the chunk shape restricted to the elasticity's dims.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .sensitivity import elasticity_columns_fn


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
