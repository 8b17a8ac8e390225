"""Scale-out: the chunk API, ``--shard I/N`` + ``--finalize``, ``--dask`` and object-store
URLs all produce the single process's store -- the same arrays, and the same chunk file
bytes where the writer is the same -- and every way of being killed is resumable,
recomputing only the missing chunks (docs/scale-out.md, docs/reliability.md)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import chunk_file_bytes
from corpus import TINY_SPEC

from kvjax.errors import InputError
from kvjax.sweep import (
    ChunkWriter,
    StoreLock,
    compile_kernel,
    compute_chunk,
    create_template,
    finalize,
    finalize_store,
    open_sweep,
    parse_text,
    plan_sweep,
    run_shard,
    run_sweep,
    store_files,
    verify,
    write_chunk,
)
from kvjax.sweep import _zarr_writer as st

# 1.2M points in 120 chunks of 10,000, with catalog axes (so some variables are pruned of
# axes and written by few chunks) and light metrics (a quick compile in every process): long
# enough to kill a run in the middle of.
SPEC = """
name = "scale"
metrics = ["kv_bytes_per_user", "fits", "prefill_s", "decode_step_s", "decode_regime"]
[axes.model]
catalog = "model"
names = ["yi-34b", "mixtral-8x7b", "deepseek-v3"]
[axes.hardware]
catalog = "hardware"
names = ["a100-80gb-sxm", "h100-sxm"]
[axes.batch]
leaf = "workload.batch"
range = [1, 100]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 10000000, 2000]
[fixed]
workload.output_tokens = 250
[chunks]
points = 10000
"""

DIFFERING_ATTRS = {"kvjax_created", "kvjax_completed", "kvjax_shards"}
"""Root attrs that legitimately differ between runs: the wall-clock times of the template
and of completion, and the N of a store written by ``--shard I/N``."""


def assert_same_store(a, b, same_bytes=True):
    """The stores are the same sweep: every variable's values, dtype, shape and attrs; the
    root attrs but ``DIFFERING_ATTRS``; with ``same_bytes`` every chunk file's bytes and
    every done record but its ``writer`` (host:pid)."""
    da, db = open_sweep(a), open_sweep(b)
    assert list(da.data_vars) == list(db.data_vars) and list(da.coords) == list(db.coords)
    for name in da.variables:
        va, vb = da[name].values, db[name].values
        assert va.dtype == vb.dtype and va.shape == vb.shape, name
        assert np.array_equal(va, vb, equal_nan=va.dtype.kind == "f"), name
        assert da[name].attrs == db[name].attrs, name
    ra, rb = st.read_attrs(a), st.read_attrs(b)
    assert set(ra) - DIFFERING_ATTRS == set(rb) - DIFFERING_ATTRS
    assert {k: v for k, v in ra.items() if k not in DIFFERING_ATTRS} == {
        k: v for k, v in rb.items() if k not in DIFFERING_ATTRS}
    if same_bytes:
        assert chunk_file_bytes(a) == chunk_file_bytes(b)

        def records(path):
            return {c: {k: v for k, v in r.items() if k != "writer"}
                    for c, r in st.read_records(path).items()}  # fmt: skip

        assert records(a) == records(b)


@pytest.fixture(scope="module")
def tiny():
    return parse_text(TINY_SPEC, "tiny.toml")


@pytest.fixture(scope="module")
def tiny_ref(tmp_path_factory, tiny):
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_sweep(tiny, path, durable=False)
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """The 120-chunk spec as a file, and its single-process store."""
    d = tmp_path_factory.mktemp("big")
    (d / "scale.toml").write_text(SPEC)
    run_sweep(d / "scale.toml", d / "ref.zarr", durable=False)
    return d / "scale.toml", d / "ref.zarr"


# ----------------------------------------------------------------------------- in process


def test_chunk_api_composes_to_the_single_process_store(tmp_path, tiny, tiny_ref):
    plan = plan_sweep(tiny)
    store = tmp_path / "api.zarr"
    create_template(store, plan)
    kernel = compile_kernel(plan)
    writer = ChunkWriter(store, keep_records=True)
    records = [write_chunk(writer, plan, c, compute_chunk(kernel, c)) for c in (2, 0, 1)]
    with pytest.raises(InputError, match="3 of 3 chunks have no done record"):
        finalize(store)  # written, but not recorded before the commit
    writer.close()
    assert sorted(r["chunk"] for r in writer.committed) == [0, 1, 2] and len(records) == 3
    assert finalize(store) == 3
    assert_same_store(tiny_ref, store)


def test_shards_in_process_finalize_and_mismatches(tmp_path, tiny, tiny_ref):
    store = tmp_path / "sh.zarr"
    r0 = run_shard(tiny, store, 0, 2, durable=False)
    assert (r0.status, r0.chunks, r0.chunks_missing) == ("incomplete", 1, 2)
    with pytest.raises(InputError, match=r"2 of 3 chunks have no done record: 2 of shard 1/2 "
                                         r"\(chunks 1-2\)"):  # fmt: skip
        finalize_store(store)
    other = parse_text(TINY_SPEC.replace("[1, 2, 4, 8, 16]", "[1, 2, 4]"), "other.toml")
    with pytest.raises(InputError, match=r"different spec \(axis 'batch': workload.batch, 5 "
                                         r"values 1..16 in the store, workload.batch, 3 values "
                                         r"1..4 here\)"):  # fmt: skip
        run_shard(other, store, 1, 2)
    with pytest.raises(InputError, match="holds float32, not float64"):
        run_shard(tiny, store, 1, 2, float64=True)
    with pytest.raises(InputError, match="being written in 2 shards, not 3"):
        run_shard(tiny, store, 1, 3)
    r1 = run_shard(tiny, store, 1, 2, durable=False)
    assert (r1.status, r1.chunks, r1.chunks_missing) == ("complete", 2, 0)
    assert run_shard(tiny, store, 0, 2).chunks == 0  # a rerun finds its chunks done
    assert finalize_store(store) == 3
    assert_same_store(tiny_ref, store)


def test_shared_lock_excludes_exclusive_writers(tmp_path, tiny):
    store = tmp_path / "l.zarr"
    run_shard(tiny, store, 0, 2, durable=False)
    with StoreLock(store, command="kvjax sweep tiny.toml --shard 1/2", shared=True):
        with StoreLock(store, command="kvjax sweep tiny.toml --shard 0/2", shared=True):
            pass  # another shard: fine (the lock file names the latest shard to start)
        for attempt in (lambda: run_sweep(tiny, store, resume=True),
                        lambda: run_sweep(tiny, store, overwrite=True),
                        lambda: finalize_store(store)):  # fmt: skip
            with pytest.raises(InputError, match=r"being written by another process \(pid "
                                                 r"\d+ .*--shard [01]/2\)"):  # fmt: skip
                attempt()
    with StoreLock(store, command="kvjax sweep tiny.toml -o l.zarr --resume"):
        with pytest.raises(InputError, match="being written by another process.*--resume"):
            run_shard(tiny, store, 1, 2)


def test_memory_store_round_trip_and_resume(tiny, tiny_ref):
    url = f"memory://kvjax-test-{os.getpid()}/t.zarr"
    files = store_files(url)
    try:
        r = run_sweep(tiny, url)
        assert r.chunks == 3 and open_sweep(url).attrs["kvjax_status"] == "complete"
        assert_same_store(tiny_ref, url, same_bytes=False)
        for key in chunk_file_bytes(tiny_ref):  # same encoder: the same bytes
            assert files.read(key) == (tiny_ref / key).read_bytes(), key
        with pytest.raises(InputError, match="store exists; pass --resume"):
            run_sweep(tiny, url)
        with pytest.raises(InputError, match="--overwrite is not supported"):
            run_sweep(tiny, url, overwrite=True)
        files.remove(st.record_key(1))  # a lost record, and a damaged file of chunk 2
        files.write("decode_step_s/c/2/0", b"\x02\x01" + b"\xaa" * 20)
        st.update_attrs(url, {st.STATUS_KEY: "incomplete"})
        assert not verify(url).ok
        assert run_sweep(tiny, url, resume=True).chunks == 2
        assert verify(url).ok
        assert_same_store(tiny_ref, url, same_bytes=False)
    finally:
        files.remove("")


def test_memory_store_shards_join_a_template_half_uploaded(tiny, tiny_ref):
    """Object stores have no setup lock: a shard that finds another's template half
    uploaded (no root zarr.json yet) uploads it too, rather than refusing foreign objects."""
    base = f"memory://kvjax-shards-{os.getpid()}"
    url, files = f"{base}/s.zarr", store_files(f"{base}/s.zarr")
    try:
        create_template(f"{base}/full.zarr", plan_sweep(tiny))
        full = store_files(f"{base}/full.zarr")
        files.write("_kvjax/zarr.json", full.read("_kvjax/zarr.json"))
        files.write("batch/zarr.json", full.read("batch/zarr.json"))
        assert run_shard(tiny, url, 1, 2).status == "incomplete"
        assert run_shard(tiny, url, 0, 2).status == "complete"
        assert_same_store(tiny_ref, url, same_bytes=False)
        other = f"{base}/o.zarr"
        store_files(other).write("notes.txt", b"mine")
        with pytest.raises(InputError, match="not a kvjax sweep store"):
            run_shard(tiny, other, 0, 2)
    finally:
        store_files(base).remove("")


def test_without_dask_one_line(monkeypatch, tiny, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    with pytest.raises(InputError, match=r"needs Dask: pip install 'kvjax\[dask\]'"):
        run_sweep(tiny, tmp_path / "d.zarr", dask="local:2")
    assert not (tmp_path / "d.zarr").exists()


@pytest.fixture(scope="module")
def threads_client():
    """A LocalCluster of 2 thread workers in this process: no worker start-up cost, and a
    ``memory://`` store is visible to them (the process-worker tests are below)."""
    import distributed  # the dask extra (in the dev extra: CI installs it)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        yield client


def test_dask_tasks_write_the_single_process_store_and_report_progress(tmp_path, tiny, tiny_ref,
                                                                       threads_client):
    seen = []
    r = run_sweep(tiny, tmp_path / "d.zarr", dask=threads_client, task_chunks=1,
                  durable=False, progress=lambda *a: seen.append(a[:2]))  # fmt: skip
    assert (r.points, r.chunks) == (155, 3)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 3  # per task
    assert seen[-1] == (155, 155)
    assert_same_store(tiny_ref, tmp_path / "d.zarr")
    url = f"memory://kvjax-dask-{os.getpid()}/t.zarr"
    try:
        run_sweep(tiny, url, dask=threads_client, task_chunks=2)
        assert_same_store(tiny_ref, url, same_bytes=False)
        assert run_sweep(tiny, url, dask=threads_client, resume=True).chunks == 0
    finally:
        store_files(url).remove("")


# ----------------------------------------------------------------------------- processes


def _cli(*args, env=None, **kw):
    env = dict(os.environ, KVJAX_NO_REEXEC="1", KVJAX_COMMIT_INTERVAL_S="0.02", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "kvjax", "sweep", *map(str, args), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kw)


@pytest.mark.slow
def test_two_shard_processes_started_together_equal_the_single_process(tmp_path, big):
    spec, ref = big
    store = tmp_path / "sh.zarr"
    procs = [_cli(spec, "-o", store, "--shard", f"{i}/2") for i in range(2)]
    errs = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert sum("the store is complete" in e for e in errs) >= 1, errs
    assert all("60/120 chunks" in e for e in errs), errs
    assert_same_store(ref, store)


@pytest.mark.slow
def test_dask_two_workers_survive_a_killed_worker_and_equal_the_single_process(tmp_path, big):
    import distributed  # the dask extra (CI installs it: .ci/run)

    spec, ref = big
    store = tmp_path / "dk.zarr"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        pids = sorted(client.run(os.getpid).values())
        out = {}

        def run():
            try:
                out["report"] = run_sweep(spec, store, dask=client, task_chunks=4,
                                          durable=False)  # fmt: skip
            except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
                out["error"] = e

        t = threading.Thread(target=run)
        t.start()
        t0 = time.time()
        while time.time() - t0 < 120 and t.is_alive():
            if store.exists() and len(st.done_chunks(store)) >= 8:
                break
            time.sleep(0.01)
        n_at_kill = len(st.done_chunks(store))
        assert t.is_alive() and n_at_kill < 120, "the run ended before a worker was killed"
        os.kill(pids[0], signal.SIGKILL)
        t.join(300)
        assert "error" not in out, out.get("error")
    assert out["report"].chunks == 120 and open_sweep(store).attrs["kvjax_status"] == "complete"
    assert_same_store(ref, store)


@pytest.mark.slow
def test_killed_dask_run_resumes_only_the_missing_chunks(tmp_path, big):
    spec, ref = big
    store = tmp_path / "k.zarr"
    proc = _cli(spec, "-o", store, "--dask", "local:1", "--task-chunks", "4",
                start_new_session=True)  # its own process group: the workers die with it
    t0 = time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        if store.exists() and len(st.done_chunks(store)) >= 8:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    time.sleep(0.5)  # the workers' SIGKILLs take effect
    done = len(st.done_chunks(store))
    assert 8 <= done < 120 and st.read_attrs(store)[st.STATUS_KEY] == "incomplete"
    r = run_sweep(spec, store, resume=True, durable=False)
    assert r.chunks == 120 - done  # only the missing chunks were recomputed
    assert_same_store(ref, store)
