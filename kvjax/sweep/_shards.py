"""Batch-scheduler shards: ``kvjax sweep SPEC -o STORE --shard I/N`` and ``--finalize``.

N independent processes (a SLURM array, a Kubernetes indexed job, a shell loop) write one
store; none needs Dask or a scheduler of ours.  Shard ``I`` computes the contiguous chunk
range ``shard_range(n_chunks, I, N)``: contiguous rather than strided, because the chunks
that write the dependence-pruned variables (those lacking an axis) recur with the period of
the inner chunk-grid axes, so ``c % N == I`` could hand all of them to one shard, and
because a contiguous range keeps one shard's files in the same zarr key directories.

Locking (``kvjax.sweep._outputs``): every shard holds the store's lock *shared* for its
whole run, so a single-process run, an ``--overwrite``, a ``--dask`` client or a
``--finalize`` (exclusive) is refused while shards write, and a shard is refused while one
of those runs.  Template creation, the spec check and the final status change happen under
a second, short exclusive lock that only shards take (``setup_lock``), so N shards started
at once create the template exactly once: the first creates it, the others find it and
check it was made from their spec, dtype and catalog (a difference is one line naming it).

Done records are per chunk and each shard writes only its own, after its own ``syncfs``,
so shards never contend on a file.  The shard that finds every chunk done at its end sets
``kvjax_status = "complete"``; ``kvjax sweep --finalize STORE`` does the same by hand and
names the missing chunks and their shards otherwise.
"""

from __future__ import annotations

import re

from .._stop import STOP
from ..errors import fail
from . import _dataset as dsm
from . import _zarr_writer as st
from ._chunks import (
    SHARDS_KEY,
    Interrupted,
    check_store,
    compile_kernel,
    create_template,
    finalize,
    missing_chunks,
    run_chunks,
    shard_range,
)
from ._outputs import StoreLock, os_error, setup_lock, store_attrs
from ._run import SweepReport, check_disk, check_output, prepare
from ._storage import is_url, store_files

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_HINT = "write to another store, or run the store's own spec (`kvjax info STORE --spec`)"


def parse_shard(text) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)``: shard ``I`` (0-based) of ``N``; one-line ``InputError``
    for anything else, ``N < 1`` or ``I >= N``.

    >>> parse_shard("3/8")
    (3, 8)
    """
    m = _SHARD.match(str(text))
    if m is None:
        raise fail("expected I/N (shard I of N, numbered 0..N-1), e.g. 0/4",
                   field="--shard", value=str(text))  # fmt: skip
    index, count = int(m.group(1)), int(m.group(2))
    check_shard(index, count, text)
    return index, count


def check_shard(index: int, count: int, text=None) -> None:
    text = str(text) if text is not None else f"{index}/{count}"
    if count < 1:
        raise fail("N must be at least 1", field="--shard", value=text)
    if not 0 <= index < count:
        raise fail(f"shard index {index} is not in 0..{count - 1} (shards of N = {count} are "
                   f"numbered 0..N-1)", field="--shard", value=text)  # fmt: skip


def run_shard(spec_or_path, store, index: int, count: int, *, resume: bool = False,
              float64: bool | None = None, force: bool = False, progress=None,
              workers: int = 2, durable: bool = True, catalog=None) -> SweepReport:  # fmt: skip
    """Compute shard ``index`` of ``count`` of a sweep into ``store`` (created by the first
    shard to start; the others join it).  Chunks already recorded done are skipped, so
    rerunning a killed shard finishes it; ``resume`` also verifies this shard's recorded
    files and recomputes missing or corrupt ones.  The shard that finds the whole store done
    marks it complete (``report.status``; ``report.chunks_missing`` counts the chunks of
    other shards still missing otherwise)."""
    check_shard(index, count)
    cat, spec, dtype, plan, path = prepare(spec_or_path, store, float64, catalog)
    cat_hash = cat.catalog_hash()
    with StoreLock(path, spec.source, shared=True):
        try:
            kernel = compile_kernel(plan, cat)
            if STOP.is_set():  # a signal during the compile: this shard wrote nothing
                STOP.clear()
                raise Interrupted(None)
            with setup_lock(path):
                _setup(plan, cat, cat_hash, path, count, force)
            mine = shard_range(plan.n_chunks, index, count)
            todo = missing_chunks(path, plan, mine, check_files=resume)
            writer = st.ChunkWriter(path, durable=durable)
            points, seconds = run_chunks(kernel, writer, todo, threads=workers,
                                         progress=progress)  # fmt: skip
            with setup_lock(path):
                missing = missing_chunks(path, plan)
                if not missing:
                    finalize(path)
        except OSError as e:
            raise os_error(e, path, spec.source) from None
    return SweepReport(str(path), points, len(todo), plan.n_chunks, seconds, kernel.compile_s,
                       writer.bytes_written, "incomplete" if missing else "complete",
                       len(missing))  # fmt: skip


def _setup(plan, cat, cat_hash, path, count: int, force: bool) -> None:
    """Under the setup lock: create the template, or check the one there."""
    spec = plan.spec
    if _uploading(path, plan, cat) or not check_output(path, True, spec.source):
        check_disk(plan, path, force)
        create_template(path, plan, cat, cat_hash, {SHARDS_KEY: count})
        return
    attrs = check_store(path, spec, plan.dtype, cat_hash, _HINT, cat)
    have = attrs.get(SHARDS_KEY)
    if have is None:  # started by a single-process or Dask run: shards may finish it
        st.update_attrs(path, {SHARDS_KEY: count})
    elif int(have) != count:
        raise fail(f"the store is being written in {have} shards, not {count}; run --shard "
                   f"I/{have}, or finish it in one run with --resume", spec.source,
                   field="--shard", value=f"?/{count}")  # fmt: skip


def _uploading(path, plan, cat) -> bool:
    """An object store has no setup lock: shards started together may all find no root
    ``zarr.json`` while one of them uploads the template.  Then every one uploads it (the
    same objects; the root, uploaded last, differs only in ``kvjax_created``), so no shard
    mistakes a template half uploaded for foreign objects (those still are refused)."""
    if not is_url(path):
        return False
    files = store_files(path)
    if files.is_file("zarr.json"):
        return False
    ours = {st.META_GROUP, *(v.name for v in dsm.variable_metas(plan)),
            *dsm.coords_dataset(plan.spec, cat).variables}  # fmt: skip
    names = set(files.names(""))
    return bool(names) and names <= ours


def finalize_store(store) -> int:
    """``kvjax sweep --finalize STORE``: with the store's exclusive lock (refused while
    shards still write), check every chunk is done and mark the store complete; returns
    the number of chunks.  Missing chunks: one line with how many and their shards."""
    path = store if is_url(store) else str(store)
    store_attrs(path)  # not a kvjax store, or unreadable metadata: one line
    with StoreLock(path):
        try:
            n = finalize(path)
            st.clean_tmp(path)  # temporary files of killed shards
        except OSError as e:
            raise os_error(e, path) from None
    return n

