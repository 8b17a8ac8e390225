"""Nothing lost: a sweep killed with SIGKILL and resumed equals an uninterrupted run, bit
for bit; resuming with another spec is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import chunk_file_bytes

from kvjax.errors import InputError
from kvjax.sweep import _zarr_writer as st
from kvjax.sweep import info, open_sweep, run_sweep

pytestmark = pytest.mark.slow  # subprocesses killed and resumed: seconds each (CI runs them)

# 2.4M points in 120 chunks, done records committed every 20 ms: killed midway.
SPEC = """
name = "resume"
metrics = "default"
[axes.model]
catalog = "model"
names = ["yi-34b", "mixtral-8x7b", "deepseek-v3", "gemma-2-9b"]
[axes.hardware]
catalog = "hardware"
names = ["a100-80gb-sxm", "h100-sxm", "mi300x"]
[axes.batch]
leaf = "workload.batch"
range = [1, 100]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 10000000, 2000]
[fixed]
workload.output_tokens = 250
[chunks]
points = 20000
"""


def _start(spec_path, store, *extra):
    cmd = [sys.executable, "-m", "kvjax", "sweep", str(spec_path), "-o", str(store),
           "--quiet", *extra]  # fmt: skip
    env = dict(os.environ, KVJAX_COMMIT_INTERVAL_S="0.02")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _kill_when_some_done(proc, store, min_done=1, timeout=60.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            break
        if store.exists() and len(st.done_chunks(store)) >= min_done:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    return proc.returncode


def _assert_identical(a, b):
    da, db = open_sweep(a), open_sweep(b)
    assert list(da.data_vars) == list(db.data_vars)
    for name in da.variables:
        va, vb = da[name].values, db[name].values
        assert va.dtype == vb.dtype and va.shape == vb.shape, name
        assert np.array_equal(va, vb, equal_nan=va.dtype.kind == "f"), name
        assert da[name].attrs == db[name].attrs, name
    assert chunk_file_bytes(a) == chunk_file_bytes(b)


def run_whole_and_killed(tmp_path, spec_text: str):
    """Write ``spec_text``, run it uninterrupted into ``whole.zarr`` and SIGKILL a second run
    into ``broken.zarr`` once some chunks are done: ``(spec_path, whole, broken, n_done,
    n_total)``."""
    spec_path = tmp_path / "resume.toml"
    spec_path.write_text(spec_text)
    whole, broken = tmp_path / "whole.zarr", tmp_path / "broken.zarr"
    run_sweep(spec_path, whole)
    proc = _start(spec_path, broken)
    rc = _kill_when_some_done(proc, broken)
    assert rc == -signal.SIGKILL, "the run finished before it could be killed"
    n_total = st.read_attrs(broken)["kvjax_n_chunks"]
    n_done = len(st.done_chunks(broken))
    assert 0 < n_done < n_total
    return spec_path, whole, broken, n_done, n_total


def test_kill_and_resume_is_bit_identical(tmp_path):
    spec_path, whole, broken, n_done, n_total = run_whole_and_killed(tmp_path, SPEC)
    assert st.read_attrs(broken)[st.STATUS_KEY] == "incomplete"
    assert info(broken)["status"] == "incomplete" and info(broken)["chunks_done"] == n_done
    with pytest.raises(InputError, match="incomplete"):
        open_sweep(broken)

    # a plain rerun refuses to touch the store; --resume computes only what is missing
    proc = _start(spec_path, broken)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and b"store exists" in err
    proc = _start(spec_path, broken, "--resume")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert f"{n_total - n_done}/{n_total} chunks" in err.decode()
    _assert_identical(whole, broken)


def test_kill_during_start_then_resume(tmp_path):
    spec_path = tmp_path / "resume.toml"
    spec_path.write_text(SPEC)
    store = tmp_path / "early.zarr"
    proc = _start(spec_path, store)
    time.sleep(0.3)  # still importing or compiling: nothing, or only a template, exists
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    r = run_sweep(spec_path, store, resume=True)
    assert r.chunks_total > 0
    assert not list(tmp_path.glob("early.zarr.partial-*"))
    assert open_sweep(store).attrs["kvjax_status"] == "complete"


def test_resume_with_other_spec_refused(tmp_path):
    spec_path = tmp_path / "a.toml"
    spec_path.write_text(SPEC.replace("range = [1, 100]", "range = [1, 4]"))
    store = tmp_path / "a.zarr"
    run_sweep(spec_path, store)
    other = tmp_path / "b.toml"
    other.write_text(SPEC.replace("range = [1, 100]", "range = [1, 5]"))
    with pytest.raises(InputError, match="different spec"):
        run_sweep(other, store, resume=True)
    with pytest.raises(InputError, match="holds float32, not float64"):
        run_sweep(spec_path, store, resume=True, float64=True)
    # resuming a complete store computes nothing
    r = run_sweep(spec_path, store, resume=True)
    assert r.chunks == 0 and r.points == 0
