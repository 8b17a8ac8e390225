"""Running a sweep in one process (or from one Dask client): the output and resume policy,
and the dry run.

``run_sweep`` checks the output path (and, on resume, that the store was made from the same
spec, dtype and catalog), compiles the chunk kernel once, creates the store template, then
computes the chunks without a done record while writer threads compress and write the
previous ones -- all with the calls of the chunk API (``kvjax.sweep._chunks``), which the
Dask tasks (``kvjax.sweep._distributed``) and the ``--shard`` runs (``kvjax.sweep._shards``)
use too.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import jax

from .. import catalog as _catalog
from .._stop import STOP
from ..errors import fail
from . import _dataset as dsm
from . import _zarr_writer as st
from ._chunks import (
    Interrupted,
    check_store,
    compile_kernel,
    create_template,
    finalize,
    missing_chunks,
    run_chunks,
)
from ._outputs import StoreLock, os_error, pending_path, recover, swap_into_place
from ._parse import load_spec
from ._plan import plan_sweep
from ._spec import ELASTICITY_VAR
from ._storage import is_url, store_files

# ----------------------------------------------------------------------------- policy


def check_output(path, resume: bool, source) -> bool:
    """Refuse an unusable output path or URL (one-line ``InputError``): not a directory,
    not writable, a folder or zarr store that kvjax did not write.  Returns whether a kvjax
    store is there."""
    if is_url(path):
        files = store_files(path, source)
        if files.is_file("zarr.json"):
            if not st.is_kvjax_store(path):
                raise fail("a zarr store that kvjax did not write; refusing to resume or "
                           "replace it", source, field="store", value=path)  # fmt: skip
            return True
        if files.names("") and not files.is_file(f"{st.META_GROUP}/zarr.json"):
            raise fail("not a kvjax sweep store (objects under the prefix, no zarr.json)",
                       source, field="store", value=path)  # fmt: skip
        return False  # nothing there, or a template whose upload was cut short
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
    return exists


def _target(path, resume: bool, overwrite: bool, source) -> tuple:
    """Where this run writes and whether it resumes there: the store itself, or (for
    ``--overwrite`` of an existing store, and ``--resume`` of such a replacement) its
    pending replacement.  Refuses an unusable output path (one-line ``InputError``).  An
    fsspec URL has no ``--overwrite`` (an object store has no rename to swap one in)."""
    exists = check_output(path, resume, source)
    if is_url(path):
        if overwrite and not resume:
            raise fail("--overwrite is not supported for object-store URLs (no atomic "
                       "rename); delete the store first", source, field="store",
                       value=path)  # fmt: skip
        if exists and not resume:
            raise fail("store exists; pass --resume to finish it (delete it to replace it)",
                       source, field="store", value=path)  # fmt: skip
        return path, exists
    new = pending_path(path)
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


def check_resume(path, spec, dtype: str, catalog_hash: str) -> None:
    """Refuse to resume a store made from another spec, dtype or catalog, or by kvjax 0.1."""
    check_store(path, spec, dtype, catalog_hash, "use --overwrite")


def check_disk(plan, path, force: bool) -> None:
    """Refuse a grid whose uncompressed size exceeds the free disk, unless ``force``."""
    if is_url(path):
        return
    free = shutil.disk_usage(_existing_parent(path)).free
    need = plan.nbytes()
    if need > free and not force:
        raise fail(f"estimated store {need / 1e9:,.1f} GB (uncompressed) exceeds the "
                   f"{free / 1e9:,.1f} GB free; pass --force to try anyway", plan.spec.source,
                   field="grid points", value=plan.spec.size)  # fmt: skip


# ----------------------------------------------------------------------------- running


@dataclass(frozen=True)
class SweepReport:
    """What a run did: points and chunks computed now, seconds, compile seconds; for a
    shard, the store's status after it (``"incomplete"`` while other shards' chunks are
    missing) and how many chunks are still missing."""

    store: str
    points: int
    chunks: int
    chunks_total: int
    seconds: float
    compile_s: float
    bytes_written: int
    status: str = "complete"
    chunks_missing: int = 0

    @property
    def points_per_s(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else float("nan")


def _dtype(spec, float64) -> str:
    """The run's dtype: the flag if given (True/False), else the spec's."""
    return "float64" if float64 else ("float32" if float64 is False else spec.dtype)


def prepare(spec_or_path, store, float64, catalog):
    """``(catalog, spec, dtype, plan, path)`` of a run; creates the output's parent
    directory like ``mkdir -p`` (a new user's ``-o runs/x.zarr`` just works)."""
    cat = catalog or _catalog
    spec = load_spec(spec_or_path, catalog=cat)
    dtype = _dtype(spec, float64)
    if is_url(store):
        store_files(store, spec.source)  # a missing file-system package: one line
        path = str(store).rstrip("/")
    else:
        path = Path(store)
        parent = path.parent if str(path.parent) else Path(".")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise fail(f"cannot create the output directory ({e.strerror})", spec.source,
                       field="store", value=str(path)) from None  # fmt: skip
    return cat, spec, dtype, plan_sweep(spec, dtype), path


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
    dask=None,
    task_chunks: int | None = None,
) -> SweepReport:
    """Evaluate a sweep spec over its grid into a zarr v3 store.

    Args:
      spec_or_path: a ``SweepSpec``, a path to a TOML spec, or a built-in spec name.
      store: output directory (a zarr v3 group; open it with ``kvjax.open_sweep``), or an
        fsspec URL (``s3://bucket/x.zarr``, ``memory://x.zarr``).
      resume: finish an incomplete store (or an interrupted replacement), computing the
        chunks without a done record and those whose files fail verification.
      overwrite: replace an existing store; the old one stays until the new one is complete.
      float64: compute and store in float64 (default: the spec's dtype, float32).
      force: go on even if the uncompressed store would exceed the free disk.
      progress: ``callback(points_done, points_total, seconds)`` called about twice a second.
      workers: threads that compress and write chunks while JAX computes the next.
      durable: make files durable (``syncfs``) before recording chunks done.
      dask: compute on a Dask cluster instead (``"local"``, ``"local:N"``, a scheduler
        address or a ``distributed.Client``): each task computes and writes a group of
        ``task_chunks`` chunks on a worker (``kvjax.sweep._distributed``).

    Returns:
      A ``SweepReport``.  Bad input raises ``InputError`` before anything is written; so do
      a locked store (another writer), a full disk or a read-only path (one line; the store
      stays resumable).  :data:`STOP` set by a signal handler raises :class:`Interrupted`.
    """
    cat, spec, dtype, plan, path = prepare(spec_or_path, store, float64, catalog)
    cat_hash = cat.catalog_hash()
    with StoreLock(path, spec.source):
        try:
            if not is_url(path):
                recover(path)
            target, resuming = _target(path, resume, overwrite, spec.source)
            if resuming:
                check_resume(target, spec, dtype, cat_hash)
            else:
                check_disk(plan, path, force)
            run = dict(progress=progress, workers=workers, durable=durable,
                       task_chunks=task_chunks)  # fmt: skip
            if dask is None:
                return _run_locked(plan, cat, cat_hash, path, target, resuming, dask=None, **run)
            from ._distributed import dask_client

            with dask_client(dask) as client:  # reach the scheduler before writing anything
                return _run_locked(plan, cat, cat_hash, path, target, resuming, dask=client,
                                   **run)  # fmt: skip
        except OSError as e:
            raise os_error(e, path, spec.source) from None


def _run_locked(plan, cat, cat_hash, path, target, resuming, *, progress, workers, durable,
                dask, task_chunks):  # fmt: skip
    kernel = None
    if dask is None:  # compile here; a Dask run compiles once on each worker
        kernel = compile_kernel(plan, cat)
        if STOP.is_set():  # a signal during the compile: stop before writing anything
            STOP.clear()
            raise Interrupted(target if resuming else None)
    if not resuming:
        if not is_url(target) and target.exists():
            st.remove(target)  # a stale replacement (only ever a kvjax store)
        create_template(target, plan, cat, cat_hash)
    else:
        st.clean_tmp(target)  # leftovers of killed writers (none runs: we hold the lock)
    todo = missing_chunks(target, plan, check_files=True) if resuming else range(plan.n_chunks)
    todo = list(todo)
    if dask is None:
        writer = st.ChunkWriter(target, durable=durable)
        points, seconds = run_chunks(kernel, writer, todo, threads=workers, progress=progress)
        nbytes, compile_s = writer.bytes_written, kernel.compile_s
    else:
        from ._distributed import run_on_dask

        points, seconds, nbytes, compile_s = run_on_dask(
            plan, cat, cat_hash, target, todo, dask, progress=progress, threads=workers,
            durable=durable, task_chunks=task_chunks,
        )  # fmt: skip
    finalize(target)
    if target != path:
        swap_into_place(path, target)
    return SweepReport(str(path), points, len(todo), plan.n_chunks, seconds, compile_s, nbytes)


def dry_run(spec_or_path, store=None, *, float64=None, catalog=None, time_chunks: int = 3):
    """Grid size, chunking, stored variables, bytes and an estimated time, computing only
    ``time_chunks`` chunks (no store is written)."""
    cat = catalog or _catalog
    spec = load_spec(spec_or_path, catalog=cat)
    dtype = _dtype(spec, float64)
    plan = plan_sweep(spec, dtype)
    kernel = compile_kernel(plan, cat)
    compile_s = kernel.compile_s
    n = min(time_chunks, plan.n_chunks)
    t1 = time.perf_counter()
    for cid in range(n):
        jax.block_until_ready(kernel(cid))
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
        "disk_free": (shutil.disk_usage(_existing_parent(store)).free
                      if store and not is_url(store) else None),
    }


def _existing_parent(path) -> str:
    p = Path(path).absolute()
    while not p.exists():
        p = p.parent
    return str(p)
