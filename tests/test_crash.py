"""Crash harness: sweeps killed with SIGKILL at random moments -- while the template is built,
while chunks are written, during an ``--overwrite`` (while its replacement is built and while
it is swapped in) -- then resumed, end in stores identical, bit for bit, to uninterrupted
runs; and after every kill the store a user had is intact."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import chunk_file_bytes

from kvjax.sweep import (
    done_chunks,
    is_kvjax_store,
    open_sweep,
    parse_text,
    pending_path,
    read_attrs,
)
from kvjax.sweep import run_sweep as run_in_process

pytestmark = pytest.mark.slow  # ~1 minute of subprocesses (CI runs it)

SPEC = """
name = "crash"
metrics = ["kv_bytes_per_user", "decode_step_s", "session_gpu_s", "fits", "decode_regime"]
[axes.model]
catalog = "model"
names = ["yi-34b", "mixtral-8x7b", "deepseek-v3"]
[axes.batch]
leaf = "workload.batch"
range = [1, 40]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 1000000, 2000]
[fixed]
hardware = "h100-sxm"
[chunks]
points = 4000
"""
SPEC2 = SPEC.replace("range = [1, 40]", "range = [1, 32]").replace('"fits", ', "")


def _start(spec, store, *flags):
    env = dict(os.environ, KVJAX_COMMIT_INTERVAL_S="0.02", KVJAX_NO_REEXEC="1")
    cmd = [sys.executable, "-m", "kvjax", "sweep", str(spec), "-o", str(store), "--quiet",
           *flags]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(spec, store, *flags) -> int:
    """Run to completion; the exit status."""
    proc = _start(spec, store, *flags)
    proc.communicate()
    return proc.returncode


def _kill_when(proc, ready, timeout=60.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; True if it was killed (not already done)."""
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.003)
    proc.wait()
    proc.stderr.close()
    return proc.returncode == -signal.SIGKILL


def _trigger(rng, target):
    """A random moment: while the template is built (if it is yet to be), after k more done
    records, or after a random delay (imports, compile, or anywhere)."""
    fresh = not is_kvjax_store(target)
    kind = rng.choice(["template", "template", "records", "delay"] if fresh else
                      ["records", "records", "delay"])  # fmt: skip
    if kind == "template":
        return kind, lambda: any(target.parent.glob(f"{target.name}.partial-*"))
    if kind == "records":
        k = (0 if fresh else len(done_chunks(target))) + rng.randint(1, 30)
        return kind, lambda: is_kvjax_store(target) and len(done_chunks(target)) >= k
    t = time.time() + rng.uniform(0.3, 3.0)
    return kind, lambda: time.time() >= t


def _same(a, b):
    assert chunk_file_bytes(a) == chunk_file_bytes(b)
    da, db = open_sweep(a), open_sweep(b)
    for v in db.data_vars:
        np.testing.assert_array_equal(da[v].values, db[v].values)


def test_random_kills_then_resume_are_bit_identical(tmp_path):
    rng = random.Random(20261201)
    spec, spec2 = tmp_path / "s.toml", tmp_path / "s2.toml"
    spec.write_text(SPEC)
    spec2.write_text(SPEC2)
    ref, ref2 = tmp_path / "ref.zarr", tmp_path / "ref2.zarr"
    run_in_process(parse_text(SPEC, str(spec)), ref)
    run_in_process(parse_text(SPEC2, str(spec2)), ref2)
    store = tmp_path / "runs" / "s.zarr"
    hash2 = read_attrs(ref2)["kvjax_spec_hash"]
    kills, phases = 0, set()

    # 1. new stores, killed and resumed until complete; each complete one is compared with the
    # uninterrupted run, then deleted to start again
    completed = 0
    for _ in range(60):
        if kills >= 14 and completed >= 2:
            break
        if is_kvjax_store(store) and read_attrs(store)["kvjax_status"] == "complete":
            _same(store, ref)
            completed += 1
            shutil.rmtree(store)
        kind, ready = _trigger(rng, store)
        if _kill_when(_start(spec, store, "--resume"), ready):
            kills += 1
            phases.add(kind)
            assert not store.exists() or is_kvjax_store(store)  # whole or not at all
    assert _finish(spec, store, "--resume") == 0
    _same(store, ref)

    # 2. --overwrite with another spec, killed; the old store stays intact until the swap
    new = pending_path(store)
    for attempt in range(40):
        if kills >= 24:
            break
        flags = ["--overwrite"] if attempt == 0 or rng.random() < 0.3 else ["--resume"]
        kind, ready = _trigger(rng, new)
        if rng.random() < 0.2:
            kind, ready = "swap", lambda: any(store.parent.glob(f".{store.name}.kvjax-trash-*"))
        if _kill_when(_start(spec2, store, *flags), ready):
            kills += 1
            phases.add(f"overwrite-{kind}")
            if store.exists():  # the old store, or the new one once swapped in
                swapped = read_attrs(store)["kvjax_spec_hash"] == hash2
                _same(store, ref2 if swapped else ref)
                if swapped:
                    break
            else:  # killed between the two renames: the next command finishes the swap
                assert is_kvjax_store(new)
    assert _finish(spec2, store, "--resume") == 0
    _same(store, ref2)
    assert not new.exists() and not list(store.parent.glob(".s.zarr.kvjax-trash-*"))
    assert kills >= 20, kills
    assert {"template", "records", "overwrite-records"} <= phases, (phases, kills)


def test_two_concurrent_writers_one_wins(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    ref = tmp_path / "ref.zarr"
    run_in_process(parse_text(SPEC, str(spec)), ref)
    for trial in range(3):
        store = tmp_path / f"c{trial}.zarr"
        a, b = _start(spec, store), _start(spec, store)
        errs = [p.communicate()[1].decode() for p in (a, b)]
        codes = sorted([a.returncode, b.returncode])
        assert codes == [0, 2], (codes, errs)
        loser = errs[[a.returncode, b.returncode].index(2)]
        assert "being written by another process (pid" in loser and loser.count("\n") == 1
        _same(store, ref)
        # --overwrite of a store being written is refused too
        c = _start(spec, store, "--overwrite")
        d = _start(spec, store, "--overwrite")
        outs = [p.communicate()[1].decode() for p in (c, d)]
        assert sorted([c.returncode, d.returncode]) == [0, 2], outs
        _same(store, ref)
    assert Path(tmp_path / ".c0.zarr.kvjax-lock").exists()  # the lock file stays; its lock not
