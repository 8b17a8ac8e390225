"""The plan of a sweep: chunking, and the axes each stored variable spans.

A metric is stored over exactly the axes whose leaves it reads (``kvjax.model.metric_leaves``):
``kv_bytes_per_user`` reads no hardware leaf and not ``batch``, so it is stored without those
axes.  Every compute chunk has the same shape (the last one along an axis is padded by
repeating the axis' last value), so the kernel compiles once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model import METRICS, elasticity_leaves, metric_leaves
from ._parse import load_spec
from ._spec import ELASTICITY_VAR, SweepSpec


def chunk_shape(shape, target: int) -> tuple[int, ...]:
    """Chunk shape of about ``target`` points: trailing axes whole, one axis split evenly."""
    c = [1] * len(shape)
    prod = 1
    for j in reversed(range(len(shape))):
        if prod * shape[j] <= target:
            c[j] = shape[j]
            prod *= shape[j]
        else:
            per = max(1, target // prod)
            c[j] = math.ceil(shape[j] / math.ceil(shape[j] / per))
            break
    return tuple(c)


_KIND_DTYPE = {"bool": "bool", "code": "int8"}
_FILL = {"bool": False, "code": -1}


@dataclass(frozen=True, eq=False)
class Plan:
    """How a spec is computed and stored: chunking and each metric's dims and dtype."""

    spec: SweepSpec
    dtype: str
    chunks: tuple[int, ...]
    var_dims: dict  # metric -> tuple of axis indices
    elast_dims: tuple | None = None  # axis indices of the elasticity variable, if any

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / c) for n, c in zip(self.spec.shape, self.chunks, strict=True))

    @property
    def n_chunks(self) -> int:
        return math.prod(self.grid)

    @property
    def chunk_points(self) -> int:
        return math.prod(self.chunks)

    def var_dtype(self, m: str) -> str:
        return _KIND_DTYPE.get(METRICS[m].kind, self.dtype)

    def var_fill(self, m: str):
        """Fill value of metric ``m``'s array (what a chunk not yet computed reads as)."""
        return _FILL.get(METRICS[m].kind, float("nan"))

    def var_shape(self, dims) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(shape, chunks)`` of a variable stored over the axis indices ``dims``."""
        return (tuple(self.spec.shape[j] for j in dims), tuple(self.chunks[j] for j in dims))

    def outputs(self) -> list:
        """Kernel outputs in order, as ``(variable, key prefix, axis indices)``."""
        out = [(m, (), dims) for m, dims in self.var_dims.items()]
        e = self.spec.elasticity
        if self.elast_dims is not None:
            for i in range(len(e.metrics)):
                out += [(ELASTICITY_VAR, (i, k), self.elast_dims) for k in range(len(e.wrt))]
        return out

    def nbytes(self) -> int:
        """Uncompressed bytes of every stored variable (an upper bound on the store)."""
        total = 0
        for var, _, dims in self.outputs():
            n = math.prod(self.spec.shape[j] for j in dims)
            total += n * np.dtype(self.dtype if var == ELASTICITY_VAR else
                                  self.var_dtype(var)).itemsize  # fmt: skip
        return total

    def real_points(self, chunk_id: int) -> int:
        """Grid points of a chunk that lie inside the grid (the rest is padding)."""
        gi = np.unravel_index(chunk_id, self.grid)
        return math.prod(
            min(c, n - int(i) * c) for n, c, i in zip(self.spec.shape, self.chunks, gi, strict=True)
        )

    def writes(self, chunk_id: int):
        """``(kernel output index, variable, zarr chunk key)`` this compute chunk writes
        (each key written once: by the first chunk along the axes a variable lacks)."""
        gi = np.unravel_index(chunk_id, self.grid)
        out = []
        for k, (var, prefix, dims) in enumerate(self.outputs()):
            if all(gi[j] == 0 for j in range(len(gi)) if j not in dims):
                parts = [*map(str, prefix), *(str(int(gi[j])) for j in dims)]
                out.append((k, var, "/".join(["c", *parts])))
        return out


def plan_sweep(spec, dtype: str | None = None, catalog=None) -> Plan:
    """Chunk shape and per-metric dims (from ``metric_leaves``) of a spec (a ``SweepSpec``,
    a TOML path or a built-in name)."""
    spec = load_spec(spec, catalog=catalog)
    dtype = dtype or spec.dtype
    var_dims = {}
    for m in spec.metrics:
        deps = metric_leaves(m)
        var_dims[m] = tuple(j for j, a in enumerate(spec.axes) if spec.axis_leaves(a) & deps)
    elast_dims = None
    if spec.elasticity is not None:
        deps = elasticity_leaves(spec.elasticity.metrics, spec.elasticity.wrt)
        elast_dims = tuple(j for j, a in enumerate(spec.axes) if spec.axis_leaves(a) & deps)
    return Plan(spec, dtype, chunk_shape(spec.shape, spec.chunk_points), var_dims, elast_dims)


def padded_axes(plan: Plan) -> list[np.ndarray]:
    """Each axis' values (indices for catalog axes), padded to whole chunks."""
    out = []
    for a, c, g in zip(plan.spec.axes, plan.chunks, plan.grid, strict=True):
        if a.kind == "leaf":
            v = np.asarray(a.values, dtype=plan.dtype)
        else:
            v = np.arange(a.size, dtype=np.int32)
        pad = g * c - len(v)
        out.append(np.concatenate([v, np.repeat(v[-1:], pad)]) if pad else v)
    return out


def chunk_slices(plan: Plan, padded, chunk_id: int):
    gi = np.unravel_index(chunk_id, plan.grid)
    return [p[i * c : (i + 1) * c] for p, i, c in zip(padded, gi, plan.chunks, strict=True)]
