"""Running a sweep: the output and resume policy, the chunk loop, and the dry run.

``run_sweep`` checks the output path (and, on resume, that the store was made from the same
spec, dtype and catalog), compiles the chunk kernel once, creates the store template, then
computes the chunks without a done record while writer threads compress and write the
previous ones (``kvjax.sweep._zarr_writer``).
"""

from __future__ import annotations

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

from .. import catalog as _catalog
from .._stop import STOP
from ..errors import fail
from . import _dataset as dsm
from . import _zarr_writer as st
from ._kernel import build_kernel
from ._outputs import StoreLock, os_error, pending_path, recover, swap_into_place, verify
from ._parse import load_spec
from ._plan import chunk_slices, padded_axes, plan_sweep
from ._spec import ELASTICITY_VAR

COMMIT_INTERVAL_S = float(os.environ.get("KVJAX_COMMIT_INTERVAL_S", "1.0"))
"""Seconds between group commits of done records (each costs one ``syncfs``)."""


# ----------------------------------------------------------------------------- policy


class Interrupted(Exception):
    """A sweep stopped by :data:`STOP`; the store is resumable with ``--resume``."""

    def __init__(self, store):
        super().__init__(f"interrupted; the store is resumable: {store}")
        self.store = store


def _target(path: Path, resume: bool, overwrite: bool, source) -> tuple[Path, bool]:
    """Where this run writes and whether it resumes there: the store itself, or (for
    ``--overwrite`` of an existing store, and ``--resume`` of such a replacement) its
    pending replacement.  Refuses an unusable output path (one-line ``InputError``)."""
    new = pending_path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.exists() and not path.is_dir():
        raise fail("output exists and is not a directory", source, field="store", value=str(path))
    if not parent.is_dir():
        raise fail("output directory is not a directory", source, field="store", value=str(path))
    if not os.access(parent, os.W_OK | os.X_OK) or (
        path.is_dir() and not os.access(path, os.W_OK | os.X_OK)
    ):
        raise fail("output path is not writable", source, field="store", value=str(path))
    exists = path.is_dir() and any(path.iterdir())
    foreign = exists and not st.is_kvjax_store(path)
    if foreign and not st.is_store(path):
        why = "cannot resume" if resume else "refusing to overwrite a directory"
        raise fail(f"not a kvjax sweep store ({why} a directory that is not a zarr store)",
                   source, field="store", value=str(path))  # fmt: skip
    if foreign:
        raise fail("a zarr store that kvjax did not write; refusing to resume or replace it",
                   source, field="store", value=str(path))  # fmt: skip
    if resume and st.is_kvjax_store(new):
        return new, True  # finish an interrupted --overwrite
    if resume:
        return path, exists
    if not exists:
        return path, False
    if not overwrite:
        raise fail("store exists; pass --overwrite to replace it or --resume to finish it",
                   source, field="store", value=str(path))  # fmt: skip
    return new, False


def check_resume(path: Path, spec, dtype: str, catalog_hash: str) -> None:
    """Refuse to resume a store made from another spec, dtype or catalog, or by kvjax 0.1."""
    attrs = st.read_attrs(path)
    source = spec.source
    if st.store_format(path) < st.STORE_FORMAT:
        raise fail("written by kvjax 0.1, which this version cannot resume; use --overwrite",
                   source, field="store", value=str(path))  # fmt: skip
    if attrs.get("kvjax_spec_hash") != spec.hash:
        raise fail("the store was written from a different spec (spec hash differs); "
                   "use --overwrite", source, field="store", value=str(path))  # fmt: skip
    if attrs.get("kvjax_dtype") != dtype:
        raise fail(f"the store holds {attrs.get('kvjax_dtype')}, not {dtype}", source,
                   field="store", value=str(path))  # fmt: skip
    if attrs.get("kvjax_catalog_hash") != catalog_hash:
        raise fail("the catalog changed since the store was started; use --overwrite", source,
                   field="store", value=str(path))  # fmt: skip


def check_disk(plan, path: Path, force: bool) -> None:
    """Refuse a grid whose uncompressed size exceeds the free disk, unless ``force``."""
    free = shutil.disk_usage(_existing_parent(path)).free
    need = plan.nbytes()
    if need > free and not force:
        raise fail(f"estimated store {need / 1e9:,.1f} GB (uncompressed) exceeds the "
                   f"{free / 1e9:,.1f} GB free; pass --force to try anyway", plan.spec.source,
                   field="grid points", value=plan.spec.size)  # fmt: skip


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
      store: output directory (a zarr v3 group; open it with ``kvjax.open_sweep``).
      resume: finish an incomplete store (or an interrupted replacement), computing the
        chunks without a done record and those whose files fail verification.
      overwrite: replace an existing store; the old one stays until the new one is complete.
      float64: compute and store in float64 (default: the spec's dtype, float32).
      force: go on even if the uncompressed store would exceed the free disk.
      progress: ``callback(points_done, points_total, seconds)`` called about twice a second.
      workers: threads that compress and write chunks while JAX computes the next.
      durable: make files durable (``syncfs``) before recording chunks done.

    Returns:
      A ``SweepReport``.  Bad input raises ``InputError`` before anything is written; so do
      a locked store (another writer), a full disk or a read-only path (one line; the store
      stays resumable).  :data:`STOP` set by a signal handler raises :class:`Interrupted`.
    """
    cat = catalog or _catalog
    spec = load_spec(spec_or_path, catalog=cat)
    dtype = _dtype(spec, float64)
    path = Path(store)
    parent = path.parent if str(path.parent) else Path(".")
    try:  # like `mkdir -p`: a new user's `-o runs/x.zarr` just works
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise fail(f"cannot create the output directory ({e.strerror})", spec.source,
                   field="store", value=str(path)) from None  # fmt: skip
    plan = plan_sweep(spec, dtype)
    cat_hash = cat.catalog_hash()
    with StoreLock(path, spec.source):
        try:
            recover(path)
            target, resuming = _target(path, resume, overwrite, spec.source)
            if resuming:
                check_resume(target, spec, dtype, cat_hash)
            else:
                check_disk(plan, path, force)
            return _run_locked(plan, cat, cat_hash, path, target, resuming, progress, workers,
                               durable)  # fmt: skip
        except OSError as e:
            raise os_error(e, path, spec.source) from None


def _run_locked(plan, cat, cat_hash, path, target, resuming, progress, workers, durable):
    spec = plan.spec
    with jax.enable_x64(plan.dtype == "float64"):
        compiled, padded, compile_s = _compile(plan, cat)
        if STOP.is_set():  # a signal during the compile: stop before writing anything
            STOP.clear()
            raise Interrupted(target if resuming else None)
        if not resuming:
            if target.exists():
                st.remove(target)  # a stale replacement (only ever a kvjax store)
            coords = dsm.coords_dataset(spec, cat)
            attrs = dsm.provenance(spec, plan, cat_hash)
            st.create(target, coords, dsm.variable_metas(plan), attrs, plan.n_chunks)
        todo = _todo(target, plan, resuming)
        report = _run_chunks(plan, compiled, padded, todo, target, progress, workers, durable)
    st.update_attrs(target, {st.STATUS_KEY: "complete", "kvjax_completed": dsm.utc_now()})
    if target != path:
        swap_into_place(path, target)
    return SweepReport(str(path), report[0], len(todo), plan.n_chunks, report[1], compile_s,
                       report[2])  # fmt: skip


def _todo(target: Path, plan, resuming: bool) -> list[int]:
    """The chunks to compute: those without a done record, and on resume those whose
    recorded files are missing or corrupt (checked against their sizes and checksums)."""
    if not resuming:
        return list(range(plan.n_chunks))
    done = st.done_chunks(target)
    bad = verify(target).bad_chunks
    return [c for c in range(plan.n_chunks) if c not in done or c in bad]


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
                if STOP.is_set():
                    break
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
    if STOP.is_set():
        STOP.clear()
        raise Interrupted(path)
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(total, total, seconds)
    return total, seconds, writer.bytes_written


def dry_run(spec_or_path, store=None, *, float64=None, catalog=None, time_chunks: int = 3):
    """Grid size, chunking, stored variables, bytes and an estimated time, computing only
    ``time_chunks`` chunks (no store is written)."""
    cat = catalog or _catalog
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
        variables[ELASTICITY_VAR] = dsm.variable_metas(plan)[-1].dims
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
