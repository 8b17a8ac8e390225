"""The chunk API: the steps every way of running a sweep is made of.

A sweep is a grid cut into compute chunks (``kvjax.sweep._plan``); each chunk is computed
by one compiled kernel call and written as a few chunk files, then recorded done.  The
single-process runner (``run_sweep``), the Dask tasks (``--dask``) and the batch-scheduler
shards (``--shard I/N``) are all made of these calls, so a chunk's files are the same bytes
whichever way it was computed::

    plan = plan_sweep(spec)                        # chunking, per-variable dims
    create_template(store, plan)                   # once, by one process
    kernel = compile_kernel(plan)                  # once per process
    writer = ChunkWriter(store)                    # per process (or task)
    for cid in chunk_ids:
        outs = compute_chunk(kernel, cid)
        record = write_chunk(writer, plan, cid, outs)   # files written, record queued
    writer.close()           # commit: syncfs, then mark_done(store, records) of the queued
    finalize(store)          # every chunk done? then kvjax_status = "complete"

``run_chunks`` is that loop with the overlap the single process measured best: JAX computes
chunk ``k + 1`` while writer threads compress and write chunk ``k`` (numcodecs and file I/O
release the GIL), with a group commit about once a second (``KVJAX_COMMIT_INTERVAL_S``).
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .. import catalog as _catalog
from .._stop import STOP
from ..errors import fail
from . import _dataset as dsm
from . import _zarr_writer as st
from ._kernel import build_kernel
from ._outputs import store_attrs, verify
from ._parse import parse_text
from ._plan import Plan, chunk_slices, padded_axes
from ._spec import spec_difference

COMMIT_INTERVAL_S = float(os.environ.get("KVJAX_COMMIT_INTERVAL_S", "1.0"))
"""Seconds between group commits of done records (each costs one ``syncfs``)."""

SHARDS_KEY = "kvjax_shards"
"""Root attr: the N of the ``--shard I/N`` runs writing the store (finalize names them)."""


class Interrupted(Exception):
    """A sweep stopped by :data:`STOP`; the store is resumable with ``--resume``."""

    def __init__(self, store):
        super().__init__(f"interrupted; the store is resumable: {store}")
        self.store = store


@dataclass(frozen=True, eq=False)
class ChunkKernel:
    """A plan's compiled chunk kernel and its padded axes: ``kernel(chunk_id)`` computes
    one chunk (a tuple of arrays, one per output of ``plan.outputs()``)."""

    plan: Plan
    compiled: object
    padded: list
    compile_s: float

    def __call__(self, chunk_id: int):
        return compute_chunk(self, chunk_id)


def compile_kernel(plan: Plan, catalog=None) -> ChunkKernel:
    """Build and compile ``plan``'s chunk kernel (one compile: every chunk has one shape)."""
    t0 = time.perf_counter()
    with jax.enable_x64(plan.dtype == "float64"):
        kernel = build_kernel(plan, catalog or _catalog)
        padded = padded_axes(plan)
        first = [jnp.asarray(x) for x in chunk_slices(plan, padded, 0)]
        compiled = kernel.lower(*first).compile()
    return ChunkKernel(plan, compiled, padded, time.perf_counter() - t0)


def compute_chunk(kernel: ChunkKernel, chunk_id: int):
    """Compute chunk ``chunk_id`` (asynchronously: the arrays are ready when read)."""
    plan = kernel.plan
    with jax.enable_x64(plan.dtype == "float64"):
        return kernel.compiled(*chunk_slices(plan, kernel.padded, chunk_id))


def write_chunk(writer, plan: Plan, chunk_id: int, outputs) -> dict:
    """Write one chunk's files with ``writer`` (a ``ChunkWriter``) and return its done
    record (``{"chunk", "files": {key: [bytes, crc32]}, "writer"}``), queued for the
    writer's next ``commit()``, which makes the files durable before it records them."""
    items = [(var, key, np.asarray(outputs[k])) for k, var, key in plan.writes(chunk_id)]
    return writer.write(chunk_id, items)


def mark_done(store, records) -> None:
    """Write the done records of chunks whose files are durable (``ChunkWriter.commit``
    calls this after its ``syncfs``; a caller that made the files durable itself may)."""
    st.write_records(store, records)


def create_template(store, plan: Plan, catalog=None, catalog_hash=None, extra_attrs=None):
    """Create the store template: coordinates, empty arrays, attrs with
    ``kvjax_status = "incomplete"`` and consolidated metadata (valid for the finished store
    too: the arrays' metadata never changes), built beside the store and moved in whole."""
    cat = catalog or _catalog
    attrs = dsm.provenance(plan.spec, plan, catalog_hash or cat.catalog_hash())
    attrs.update(extra_attrs or {})
    st.create(store, dsm.coords_dataset(plan.spec, cat), dsm.variable_metas(plan), attrs,
              plan.n_chunks)  # fmt: skip


def check_store(store, spec, dtype: str, catalog_hash: str, hint: str, catalog=None) -> dict:
    """Refuse (one line, naming the difference) a store made from another spec, dtype or
    catalog, or by kvjax 0.1; ``hint`` says what to do instead.  Returns its attrs."""
    attrs = st.read_attrs(store)
    source = spec.source
    if st.store_format(store) < st.STORE_FORMAT:
        raise fail("written by kvjax 0.1, which this version cannot resume; use --overwrite",
                   source, field="store", value=str(store))  # fmt: skip
    if attrs.get("kvjax_spec_hash") != spec.hash:
        why = "spec hash differs"
        try:
            stored = parse_text(attrs.get("kvjax_spec", ""), "store", catalog=catalog)
            why = spec_difference(stored, spec) or why
        except ValueError:  # the stored text no longer parses (a catalog entry gone)
            pass
        raise fail(f"the store was written from a different spec ({why}); {hint}", source,
                   field="store", value=str(store))  # fmt: skip
    if attrs.get("kvjax_dtype") != dtype:
        raise fail(f"the store holds {attrs.get('kvjax_dtype')}, not {dtype}", source,
                   field="store", value=str(store))  # fmt: skip
    if attrs.get("kvjax_catalog_hash") != catalog_hash:
        raise fail(f"the catalog changed since the store was started; {hint}", source,
                   field="store", value=str(store))  # fmt: skip
    return attrs


def missing_chunks(store, plan: Plan, chunks=None, check_files: bool = False) -> list[int]:
    """The chunks (of ``chunks``, default all) without a done record, and with
    ``check_files`` also those whose recorded files are missing or corrupt."""
    wanted = range(plan.n_chunks) if chunks is None else chunks
    done = st.done_chunks(store)
    bad = verify(store, chunks=wanted).bad_chunks if check_files else set()
    return [c for c in wanted if c not in done or c in bad]


# ----------------------------------------------------------------------------- shards


def shard_range(n_chunks: int, index: int, count: int) -> range:
    """The chunks of shard ``index`` of ``count``: a contiguous range, sizes within one.

    >>> [list(shard_range(10, i, 3)) for i in range(3)]
    [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    """
    return range(index * n_chunks // count, (index + 1) * n_chunks // count)


def _ranges(ids, limit: int = 4) -> str:
    """``"3-7, 9, 12-13"`` of sorted ids (the first ``limit`` runs)."""
    runs, start = [], None
    for i, c in enumerate(ids):
        if start is None:
            start = c
        if i + 1 == len(ids) or ids[i + 1] != c + 1:
            runs.append(f"{start}-{c}" if c > start else f"{c}")
            start = None
    return ", ".join(runs[:limit]) + (", ..." if len(runs) > limit else "")


def missing_text(missing, n_chunks: int, shards=None) -> str:
    """``12 of 120 chunks have no done record: 10 of shard 1/4 (chunks 30-39), ...``."""
    head = f"{len(missing):,} of {n_chunks:,} chunks have no done record"
    if not shards:
        return (f"{head} (chunks {_ranges(missing)}); finish them with "
                "`kvjax sweep SPEC -o STORE --resume`")  # fmt: skip
    shards, parts = int(shards), []
    for i in range(shards):
        r = shard_range(n_chunks, i, shards)
        mine = [c for c in missing if r.start <= c < r.stop]
        if mine:
            parts.append(f"{len(mine):,} of shard {i}/{shards} (chunks {_ranges(mine, 2)})")
    return (f"{head}: {'; '.join(parts[:6])}{'; ...' if len(parts) > 6 else ''}; rerun those "
            "shards (`kvjax sweep SPEC -o STORE --shard I/N`) or resume them all "
            "(`kvjax sweep SPEC -o STORE --resume`)")  # fmt: skip


def finalize(store) -> int:
    """Check every chunk has a done record, then set ``kvjax_status = "complete"``
    (consolidated metadata was written with the template and stays valid).  Returns the
    number of chunks; a store with missing chunks is a one-line ``InputError`` saying how
    many and (for a sharded store) which shard each belongs to."""
    attrs = store_attrs(store)
    n = int(attrs.get("kvjax_n_chunks", 0))
    done = st.done_chunks(store)
    missing = [c for c in range(n) if c not in done]
    if missing:
        raise fail(missing_text(missing, n, attrs.get(SHARDS_KEY)), field="store",
                   value=str(store))  # fmt: skip
    if attrs.get(st.STATUS_KEY) != "complete":
        st.update_attrs(store, {st.STATUS_KEY: "complete", "kvjax_completed": dsm.utc_now()})
    return n


# ----------------------------------------------------------------------------- the loop


def run_chunks(kernel: ChunkKernel, writer, chunk_ids, *, threads: int = 2, progress=None):
    """Compute ``chunk_ids`` in order while ``threads`` writer threads compress and write
    the previous ones; group-commit done records every ``COMMIT_INTERVAL_S``; close the
    writer.  Returns ``(points, seconds)``.  :data:`STOP` (a signal) ends the loop after
    the chunk in hand: what was written is committed, then :class:`Interrupted` is raised.

    ``progress(points_done, points_total, seconds)`` is called about twice a second.
    """
    plan = kernel.plan
    total = sum(plan.real_points(c) for c in chunk_ids)
    t0 = last_commit = last_report = time.perf_counter()
    done_pts = 0
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            inflight: deque = deque()
            for cid in chunk_ids:
                if STOP.is_set():
                    break
                outs = compute_chunk(kernel, cid)
                fut = pool.submit(write_chunk, writer, plan, cid, outs)
                inflight.append((fut, plan.real_points(cid)))
                while len(inflight) > threads + 1:
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
        raise Interrupted(writer.path)
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(total, total, seconds)
    return total, seconds
