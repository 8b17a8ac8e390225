"""The sweep engine: a spec's grid evaluated chunk by chunk under one ``jit``, into zarr.

The grid is never materialised as input arrays.  Each chunk passes only the 1-D slices of
its axes (numbers for a leaf axis, indices for a catalog axis) to one compiled kernel; inside
``jit`` every slice is reshaped to broadcast along its own dimension, catalog leaves are
gathered from the stacked catalog, and each metric comes out over exactly the axes it depends
on.  Every chunk has the same shape (the last one along an axis is padded by repeating the
axis' last value), so there is one compile.

Which axes a metric depends on is read off its jaxpr (:func:`metric_leaves`): the scenario
leaves that reach its output through the data-dependence graph.  ``kv_bytes_per_user`` reads
no hardware leaf and not ``batch``, so it is stored without those axes.

A spec's ``[elasticity]`` section adds one variable, ``elasticity`` (dims ``metric``,
``knob`` and the axes its jaxpr depends on), computed in the same kernel in sub-blocks
(``kvjax.sweep_elasticity``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import store as st
from .metrics import METRICS
from .spec import SweepSpec, load_spec
from .spec_checks import ELASTICITY_DIMS, ELASTICITY_VAR
from .sweep_elasticity import elasticity_chunk
from .types import Hardware, Model, Scenario, Workload

_GROUPS = {"model": Model, "hardware": Hardware, "workload": Workload}
COMMIT_INTERVAL_S = float(os.environ.get("KVJAX_COMMIT_INTERVAL_S", "1.0"))
"""Seconds between group commits of done records (each costs one ``syncfs``)."""


# ----------------------------------------------------------------------------- dependence


def _walk(jaxpr, in_deps):
    """Propagate sets of input ids through a jaxpr's equations (nested jaxprs included)."""
    from jax.extend.core import Literal

    env = {v: frozenset() for v in jaxpr.constvars}
    env.update(zip(jaxpr.invars, in_deps, strict=True))

    def read(v):
        return frozenset() if isinstance(v, Literal) else env.get(v, frozenset())

    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        sub = None
        for p in eqn.params.values():
            inner = getattr(p, "jaxpr", p)
            if hasattr(inner, "eqns") and len(inner.invars) == len(ins):
                sub = inner
                break
        if sub is not None:
            outs = _walk(sub, ins)
        else:
            union = frozenset().union(*ins)
            outs = [union] * len(eqn.outvars)
        env.update(zip(eqn.outvars, outs, strict=True))
    return [read(v) for v in jaxpr.outvars]


@functools.cache
def metric_leaves(name: str) -> frozenset:
    """Scenario leaves (``"group.leaf"``) the metric ``name`` reads, from its jaxpr.

    Exact for the data-dependence graph: a leaf is listed iff some path of primitives
    leads from it to the output (``kv_bytes_per_user`` lists no ``hardware.*`` leaf).
    """
    return _fn_leaves(METRICS[name].fn)


@functools.cache
def elasticity_leaves(metrics: tuple, wrt: tuple) -> frozenset:
    """Scenario leaves that the elasticities of ``metrics`` w.r.t. ``wrt`` read (the union
    over the pairs), from the jaxpr of the forward-mode derivative, as for metrics."""
    from .sensitivity import elasticity_columns_fn

    cols = elasticity_columns_fn(metrics, wrt)
    return _fn_leaves(lambda s: tuple(cols(s).values()))


def _fn_leaves(fn) -> frozenset:
    """Leaves reaching any output of ``fn(scenario)`` through the data-dependence graph."""
    paths, leaves = [], []
    for group, cls in _GROUPS.items():
        for n in cls.leaf_names():
            paths.append(f"{group}.{n}")
            leaves.append(1.0)
    n_model, n_hw = len(Model.leaf_names()), len(Hardware.leaf_names())

    def f(*xs):
        s = Scenario(
            Model(*xs[:n_model]),
            Hardware(*xs[n_model : n_model + n_hw]),
            Workload(*xs[n_model + n_hw :]),
        )
        return fn(s)

    closed = jax.make_jaxpr(f)(*leaves)
    return frozenset().union(*_walk(closed.jaxpr, [frozenset([p]) for p in paths]))


# ----------------------------------------------------------------------------- plan


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

    def var_meta(self, m: str, attrs: dict) -> st.VarMeta:
        dims = self.var_dims[m]
        kind = METRICS[m].kind
        return st.VarMeta(
            name=m,
            dims=tuple(self.spec.axes[j].name for j in dims),
            shape=tuple(self.spec.shape[j] for j in dims),
            chunks=tuple(self.chunks[j] for j in dims),
            dtype=self.var_dtype(m),
            fill_value=_FILL.get(kind, float("nan")),
            attrs=attrs,
        )

    def elasticity_meta(self) -> st.VarMeta:
        """The ``elasticity`` variable: dims ``(metric, knob, *elasticity dims)``, one zarr
        chunk per ``(metric, knob)`` pair and compute chunk."""
        from .dataset import elasticity_attrs

        e, dims = self.spec.elasticity, self.elast_dims
        return st.VarMeta(
            name=ELASTICITY_VAR,
            dims=(*ELASTICITY_DIMS, *(self.spec.axes[j].name for j in dims)),
            shape=(len(e.metrics), len(e.wrt), *(self.spec.shape[j] for j in dims)),
            chunks=(1, 1, *(self.chunks[j] for j in dims)),
            dtype=self.dtype,
            fill_value=float("nan"),
            attrs=elasticity_attrs(),
        )

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
    """Chunk shape and per-metric dims (from :func:`metric_leaves`) of a spec."""
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


# ----------------------------------------------------------------------------- kernel


def _catalog(catalog):
    if catalog is None:
        from . import catalog
    return catalog


def _base_leaves(spec: SweepSpec, cat) -> dict:
    """Scalar value of every leaf not on an axis: fixed > fixed catalog entry > default."""
    base = {}
    for group, cls in _GROUPS.items():
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                base[f"{group}.{f.name}"] = float(f.default)
    for group, (name, precision) in spec.fixed_catalog.items():
        tree = cat.load_model(name) if group == "model" else cat.load_hardware(name, precision)
        base.update({f"{group}.{k}": float(v) for k, v in tree.as_dict().items()})
    base.update(spec.fixed)
    return base


def _stacked(axis, cat) -> dict:
    if axis.kind == "model":
        tree = cat.stack_models(list(axis.values))
    else:
        tree = cat.stack_hardware(list(axis.values), axis.precision)
    return {f"{axis.kind}.{k}": np.asarray(v, dtype=np.float64) for k, v in tree.as_dict().items()}


def build_kernel(plan: Plan, catalog=None):
    """The jitted chunk kernel: ``kernel(*axis_slices) -> tuple of metric chunks``.

    ``axis_slices[j]`` holds ``plan.chunks[j]`` values of axis ``j`` (indices for a catalog
    axis).  Output ``k`` has the chunk shape restricted to metric ``k``'s dims.
    """
    spec, cat = plan.spec, _catalog(catalog)
    dtype = jnp.dtype(plan.dtype)
    nd = len(spec.axes)
    base = _base_leaves(spec, cat)
    stacks = {j: _stacked(a, cat) for j, a in enumerate(spec.axes) if a.kind != "leaf"}
    axis_leaves = [spec.axis_leaves(a) for a in spec.axes]
    metrics = list(plan.var_dims)

    def scenario_of(axis_vals):
        """The scenario of broadcast-shaped axis values (indices for catalog axes)."""
        values = {p: jnp.asarray(v, dtype) for p, v in base.items()}
        for j, a in enumerate(spec.axes):
            x = axis_vals[j]
            if a.kind == "leaf":
                values[a.leaf] = x
            else:
                for p in axis_leaves[j]:
                    values[p] = jnp.asarray(stacks[j][p], dtype)[x]
        groups = {
            g: cls(**{n: values[f"{g}.{n}"] for n in cls.leaf_names()})
            for g, cls in _GROUPS.items()
        }
        return Scenario(**groups)

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


# ----------------------------------------------------------------------------- running


@dataclass(frozen=True)
class SweepReport:
    """What a run did: points and chunks computed now, seconds, compile seconds."""

    store: str
    points: int
    chunks: int
    chunks_total: int
    seconds: float
    compile_s: float
    bytes_written: int

    @property
    def points_per_s(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else float("nan")


def _dtype(spec, float64) -> str:
    """The run's dtype: the flag if given (True/False), else the spec's."""
    return "float64" if float64 else ("float32" if float64 is False else spec.dtype)


def _compile(plan, cat):
    """Build and compile the chunk kernel once: ``(compiled, padded axes, seconds)``.
    Call inside the run's ``jax.enable_x64`` context."""
    t0 = time.perf_counter()
    kernel = build_kernel(plan, cat)
    padded = padded_axes(plan)
    first = [jnp.asarray(x) for x in chunk_slices(plan, padded, 0)]
    return kernel.lower(*first).compile(), padded, time.perf_counter() - t0


def run_sweep(
    spec_or_path,
    store,
    *,
    resume: bool = False,
    overwrite: bool = False,
    float64: bool | None = None,
    force: bool = False,
    progress=None,
    workers: int = 2,
    durable: bool = True,
    catalog=None,
) -> SweepReport:
    """Evaluate a sweep spec over its grid into a zarr v3 store.

    Args:
      spec_or_path: a ``SweepSpec``, a path to a TOML spec, or a built-in spec name.
      store: output directory (a zarr v3 group; open it with ``kvjax.dataset.open_sweep``).
      resume: finish an incomplete store, computing only the chunks without a done record.
      overwrite: replace an existing store.
      float64: compute and store in float64 (default: the spec's dtype, float32).
      force: go on even if the uncompressed store would exceed the free disk.
      progress: ``callback(points_done, points_total, seconds)`` called about twice a second.
      workers: threads that compress and write chunks while JAX computes the next.
      durable: make files durable (``syncfs``) before recording chunks done.

    Returns:
      A ``SweepReport``.  Bad input raises ``InputError`` before anything is written.
    """
    from . import dataset as dsm

    cat = _catalog(catalog)
    spec = load_spec(spec_or_path, catalog=cat)
    dtype = _dtype(spec, float64)
    path = Path(store)
    st.check_output(path, resume, overwrite, spec.source)
    plan = plan_sweep(spec, dtype)
    cat_hash = cat.catalog_hash()
    resuming = resume and path.exists() and st.is_store(path)
    if resuming:
        st.check_resume(path, spec, dtype, cat_hash)
    else:
        st.check_disk(plan, path, force)

    with jax.enable_x64(dtype == "float64"):
        compiled, padded, compile_s = _compile(plan, cat)
        if not resuming:
            if path.exists():
                st.remove(path)
            coords = dsm.coords_dataset(spec, cat)
            attrs = dsm.provenance(spec, plan, cat_hash)
            metas = [plan.var_meta(m, dsm.metric_attrs(m)) for m in plan.var_dims]
            if plan.elast_dims is not None:
                metas.append(plan.elasticity_meta())
            st.create(path, coords, metas, attrs)
        done = st.done_chunks(path)
        todo = [c for c in range(plan.n_chunks) if c not in done]
        report = _run_chunks(plan, compiled, padded, todo, path, progress, workers, durable)
    st.update_attrs(path, {st.STATUS_KEY: "complete", "kvjax_completed": dsm.utc_now()})
    return SweepReport(str(path), report[0], len(todo), plan.n_chunks, report[1], compile_s,
                       report[2])  # fmt: skip


def _run_chunks(plan, compiled, padded, todo, path, progress, workers, durable):
    writer = st.ChunkWriter(path, durable=durable)
    total = sum(plan.real_points(c) for c in todo)
    t0 = last_commit = last_report = time.perf_counter()
    done_pts = 0

    def write(cid, outs):
        items = [(var, key, np.asarray(outs[k])) for k, var, key in plan.writes(cid)]
        writer.write(cid, items)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            inflight: deque = deque()
            for cid in todo:
                outs = compiled(*chunk_slices(plan, padded, cid))
                inflight.append((pool.submit(write, cid, outs), plan.real_points(cid)))
                while len(inflight) > workers + 1:
                    fut, n = inflight.popleft()
                    fut.result()
                    done_pts += n
                now = time.perf_counter()
                if now - last_commit > COMMIT_INTERVAL_S:
                    writer.commit()
                    last_commit = now
                if progress is not None and now - last_report > 0.5:
                    progress(min(done_pts, total), total, now - t0)
                    last_report = now
            while inflight:
                inflight.popleft()[0].result()
        writer.commit()
    finally:
        writer.close()
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(total, total, seconds)
    return total, seconds, writer.bytes_written


def dry_run(spec_or_path, store=None, *, float64=None, catalog=None, time_chunks: int = 3):
    """Grid size, chunking, stored variables, bytes and an estimated time, computing only
    ``time_chunks`` chunks (no store is written)."""
    cat = _catalog(catalog)
    spec = load_spec(spec_or_path, catalog=cat)
    dtype = _dtype(spec, float64)
    plan = plan_sweep(spec, dtype)
    with jax.enable_x64(dtype == "float64"):
        compiled, padded, compile_s = _compile(plan, cat)
        n = min(time_chunks, plan.n_chunks)
        t1 = time.perf_counter()
        for cid in range(n):
            jax.block_until_ready(compiled(*chunk_slices(plan, padded, cid)))
        per_chunk = (time.perf_counter() - t1) / n
    nbytes = plan.nbytes()
    variables = {m: tuple(spec.axes[j].name for j in d) for m, d in plan.var_dims.items()}
    if plan.elast_dims is not None:
        variables[ELASTICITY_VAR] = plan.elasticity_meta().dims
    compute_s = per_chunk * plan.n_chunks
    write_s = nbytes / 1.5e9  # Blosc-LZ4 + file writes on the writer threads, ~1.5 GB/s
    return {
        "spec": spec.source,
        "dims": dict(zip(spec.dims, spec.shape, strict=True)),
        "points": spec.size,
        "chunks": plan.chunks,
        "n_chunks": plan.n_chunks,
        "dtype": dtype,
        "variables": variables,
        "bytes_uncompressed": nbytes,
        "compile_s": compile_s,
        "estimated_s": max(compute_s, write_s),
        "disk_free": shutil.disk_usage(_existing_parent(store)).free if store else None,
    }


def _existing_parent(path) -> str:
    p = Path(path).absolute()
    while not p.exists():
        p = p.parent
    return str(p)
