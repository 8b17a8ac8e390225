"""Running a sweep's chunks on a Dask cluster: ``kvjax sweep SPEC -o STORE --dask ADDRESS``.

The client is ``run_sweep(..., dask=ADDRESS)``: it takes the store's exclusive lock,
creates the template once (or checks it, on ``--resume``), submits one task per group of
``task_chunks`` chunks, reports progress as tasks finish and marks the store complete when
every chunk has its record.  A task runs on a worker with the chunk API
(``kvjax.sweep._chunks``): the worker compiles the kernel once per process (cached, keyed on
the spec hash, dtype and catalog hash), computes its chunks and writes them itself with the
same ``ChunkWriter`` as the single process, so the chunk files are the same bytes.

**The worker writes the done records**, after its own ``syncfs``, and sends them (only
them: no chunk data) back to the client.  Reasons: the durability barrier and the record
are then in one process on one host, so "a record only describes durable files" needs no
ordering between hosts; the record writes are spread over the workers instead of being
serialised through the client (1e5 chunks are 1e5 small files: minutes on one NFS client);
and a lost client loses nothing a worker finished.  A task re-run after a lost worker
rewrites the same bytes (each file atomically) and the same records, so retries are safe.

Dask is an optional import (the ``dask`` extra); without it ``--dask`` is one line.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from .. import catalog as _catalog
from .._stop import STOP
from ..errors import fail
from . import _zarr_writer as st
from ._chunks import Interrupted, compile_kernel, run_chunks
from ._plan import plan_sweep
from ._storage import is_url

TIMEOUT_S = 10.0
"""Seconds to wait for a Dask scheduler before ``--dask ADDRESS`` gives up (one line);
``KVJAX_DASK_TIMEOUT_S`` overrides it (read at each connect)."""


def _timeout_s() -> float:
    return float(os.environ.get("KVJAX_DASK_TIMEOUT_S", TIMEOUT_S))

MAX_TASK_CHUNKS = 64

LOCAL_WORKER_ENV = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 4294967296}
"""Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which overrides the
trim threshold of the huge-page malloc tunables ``kvjax sweep`` runs with (XLA's fresh
output buffer per chunk is then handed back to the kernel and faulted in again, page by
page: docs/performance.md).  The LocalCluster of ``--dask local:N`` keeps kvjax's value;
for a cluster of your own, set the same value in the workers' environment
(``DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_``, docs/scale-out.md)."""


def require_dask(value=None):
    """The ``distributed`` module; without the ``dask`` extra, a one-line ``InputError``."""
    try:
        import distributed
    except ImportError:
        raise fail("needs Dask: pip install 'kvjax[dask]'", field="--dask",
                   value=value) from None  # fmt: skip
    return distributed


def parse_address(text) -> tuple[str, object]:
    """``"local"`` -> ``("local", cpu count)``, ``"local:N"`` -> ``("local", N)``, a file
    ending ``.json`` -> ``("file", path)`` (a ``--scheduler-file``), else
    ``("address", text)`` (``tcp://host:8786``, ``host:8786``).

    >>> parse_address("local:4"), parse_address("tcp://10.0.0.5:8786")
    (('local', 4), ('address', 'tcp://10.0.0.5:8786'))
    """
    text = str(text).strip()
    if text == "local":
        return "local", max(1, os.cpu_count() or 1)
    if text.startswith("local:"):
        n = text.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise fail("local:N needs a whole number N >= 1 of workers", field="--dask",
                       value=text)  # fmt: skip
        return "local", int(n)
    if not text:
        raise fail("expected local, local:N, a scheduler address or a scheduler file",
                   field="--dask", value=text)  # fmt: skip
    if text.endswith(".json"):
        if not Path(text).is_file():
            raise fail("no such scheduler file", field="--dask", value=text)
        return "file", text
    return "address", text


@contextmanager
def dask_client(address):
    """``with dask_client("local:2") as client:`` -- a ``distributed.Client`` on a new
    LocalCluster (worker processes of one thread each; closed after), on a running
    scheduler (``TIMEOUT_S`` to connect: an unreachable address is one line), or the
    ``distributed.Client`` passed in."""
    distributed = require_dask(str(address))
    if isinstance(address, distributed.Client):
        yield address
        return
    kind, value = parse_address(address)
    cluster, timeout = None, _timeout_s()
    try:
        if kind == "local":
            import dask

            with dask.config.set(LOCAL_WORKER_ENV):
                cluster = distributed.LocalCluster(
                    n_workers=value, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                )  # fmt: skip
            client = distributed.Client(cluster)
        else:
            where = {"scheduler_file": value} if kind == "file" else {"address": value}
            client = distributed.Client(**where, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        if cluster is not None:
            cluster.close()
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise fail(f"cannot reach the Dask scheduler within {timeout:g} s ({why})",
                   field="--dask", value=str(address)) from None  # fmt: skip
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------- worker side

_KERNELS: dict = {}
_KERNELS_LOCK = threading.Lock()


def worker_kernel(spec, dtype: str, catalog_hash: str, catalog=None):
    """``(kernel, compiled_now)``: this process's compiled kernel for the spec (compiled on
    first use, then cached for every later task).  A worker whose catalog differs from
    the client's is refused (its numbers would differ)."""
    key = (spec.hash, dtype, catalog_hash)
    with _KERNELS_LOCK:
        kernel = _KERNELS.get(key)
        if kernel is not None:
            return kernel, False
        cat = catalog or _catalog
        if cat.catalog_hash() != catalog_hash:
            raise fail(f"the catalog of this worker ({socket.gethostname()}) differs from "
                       "the client's; install the same kvjax and data everywhere",
                       field="catalog hash", value=cat.catalog_hash())  # fmt: skip
        kernel = _KERNELS[key] = compile_kernel(plan_sweep(spec, dtype, cat), cat)
        return kernel, True


def chunk_task(spec, dtype, catalog_hash, catalog, store, chunk_ids, durable, threads):
    """One Dask task: compute and write ``chunk_ids`` into ``store`` on this worker, make
    them durable, write their done records; return the records and timings."""
    t0 = time.perf_counter()
    kernel, compiled = worker_kernel(spec, dtype, catalog_hash, catalog)
    writer = st.ChunkWriter(store, durable=durable, keep_records=True)
    points, seconds = run_chunks(kernel, writer, list(chunk_ids), threads=threads)
    return {
        "records": writer.committed,
        "points": points,
        "loop_s": seconds,
        "task_s": time.perf_counter() - t0,
        "compile_s": kernel.compile_s if compiled else 0.0,
        "bytes": writer.bytes_written,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


# ----------------------------------------------------------------------------- client side


def default_task_chunks(n_chunks: int, n_workers: int) -> int:
    """About 8 tasks per worker (balance, and little lost with a worker), at most 64
    chunks per task (a task of 64 1M-point chunks takes seconds; the measured per-task
    overhead of a few ms is then well under 1%; docs/scale-out.md).

    >>> default_task_chunks(116, 2), default_task_chunks(100_000, 100)
    (8, 64)
    """
    return max(1, min(MAX_TASK_CHUNKS, math.ceil(n_chunks / (8 * max(1, n_workers)))))


def run_on_dask(plan, cat, cat_hash, target, todo, address, *, progress=None, threads=2,
                durable=True, task_chunks=None, on_task=None):  # fmt: skip
    """Compute the chunks ``todo`` of ``plan`` into ``target`` as Dask tasks; returns
    ``(points, seconds, bytes, compile seconds)``.  ``on_task(result)`` sees each
    finished task's result (the benchmark's per-task timings)."""
    distributed = require_dask(str(address))
    label = getattr(getattr(address, "scheduler", None), "address", None) or str(address)
    store = str(target) if is_url(target) else str(Path(target).absolute())
    catalog = None if cat is _catalog else cat
    total = sum(plan.real_points(c) for c in todo)
    with dask_client(address) as client:
        n_workers = len(client.scheduler_info().get("workers", {}))
        k = task_chunks or default_task_chunks(len(todo), n_workers)
        groups = [todo[i : i + k] for i in range(0, len(todo), k)]
        run = uuid.uuid4().hex[:8]
        spec = client.scatter(plan.spec, broadcast=True, hash=False)
        t0 = time.perf_counter()
        futures = {
            client.submit(chunk_task, spec, plan.dtype, cat_hash, catalog, store, g, durable,
                          threads, key=f"kvjax-{run}-chunks-{g[0]}-{g[-1]}", pure=False,
                          retries=2): g
            for g in groups
        }  # fmt: skip
        done_pts = nbytes = 0
        compile_s = 0.0
        pending = set(futures)
        try:
            while pending:
                if STOP.is_set():
                    client.cancel(list(pending))
                    STOP.clear()
                    raise Interrupted(target)
                try:
                    finished = distributed.wait(pending, timeout=0.25,
                                                return_when="FIRST_COMPLETED").done  # fmt: skip
                except TimeoutError:
                    continue
                for fut in finished:
                    pending.discard(fut)
                    r = fut.result()
                    if sorted(rec["chunk"] for rec in r["records"]) != sorted(futures[fut]):
                        raise fail("a Dask task returned records of other chunks than it was "
                                   "given", field="--dask", value=label)  # fmt: skip
                    done_pts += r["points"]
                    nbytes += r["bytes"]
                    compile_s = max(compile_s, r["compile_s"])
                    if on_task is not None:
                        on_task(r)
                    if progress is not None:
                        progress(done_pts, total, time.perf_counter() - t0)
        except distributed.KilledWorker as e:
            raise fail(f"the workers running task {e.task} died too often (Dask's "
                       "distributed.scheduler.allowed-failures); the store is resumable with "
                       "--resume", field="--dask", value=label) from None  # fmt: skip
    return done_pts, time.perf_counter() - t0, nbytes, compile_s
