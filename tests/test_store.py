"""The store: zarr v3 layout, done records, partial and overwrite refusals, zarr readback."""

from __future__ import annotations

import json

import numcodecs
import numpy as np
import pytest
import zarr

from kvjax.errors import InputError
from kvjax.sweep import StoreLock, completeness, open_sweep, parse_text, run_sweep
from kvjax.sweep import _zarr_writer as st

SPEC = """
metrics = ["kv_bytes_per_user", "decode_step_s", "fits", "decode_regime"]
[axes.batch]
leaf = "workload.batch"
values = [1, 2, 4, 8, 16]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 1000000, 31]
[fixed]
model = "yi-34b"
hardware = "h100-sxm"
[chunks]
points = 64
"""


@pytest.fixture
def spec():
    return parse_text(SPEC, "store.toml")


def test_layout_and_zarr_readback(tmp_path, spec):
    path = tmp_path / "s.zarr"
    run_sweep(spec, path)
    meta = json.loads((path / "decode_step_s" / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["dimension_names"] == ["batch", "context"]
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [2, 31]
    # a chunk file is a plain Blosc frame of the C-ordered (padded) chunk
    raw = numcodecs.Blosc().decode((path / "decode_step_s" / "c" / "0" / "0").read_bytes())
    first = np.frombuffer(raw, np.float32).reshape(2, 31)
    z = zarr.open_array(path / "decode_step_s", mode="r")
    np.testing.assert_array_equal(z[0:2, :], first)
    assert z.shape == (5, 31)
    # pruned variable: written once per chunk of its own dims
    assert sorted(p.name for p in (path / "kv_bytes_per_user" / "c").iterdir()) == ["0"]
    assert completeness(path) == (3, 3)
    ds = open_sweep(path)
    np.testing.assert_array_equal(ds.decode_step_s.values, z[:])


def test_partial_store_refused(tmp_path, spec):
    path = tmp_path / "p.zarr"
    run_sweep(spec, path)
    st.update_attrs(path, {st.STATUS_KEY: "incomplete"})
    records = path / st.RECORDS / "c"
    (records / "1").unlink()
    (records / "2").write_bytes(b"\x01\x00\x00\x00garbage")  # an undecodable record
    assert st.done_chunks(path) == {0}
    with pytest.raises(InputError, match="incomplete sweep store \\(1/3 chunks"):
        open_sweep(path)
    ds = open_sweep(path, allow_partial=True)
    assert ds.sizes["batch"] == 5


def test_missing_chunks_read_as_fill(tmp_path, spec):
    path = tmp_path / "m.zarr"
    run_sweep(spec, path)
    for var in ("decode_step_s", "fits", "decode_regime"):
        (path / var / "c" / "2" / "0").unlink()  # batch rows 4.. of the last chunk
    st.update_attrs(path, {st.STATUS_KEY: "incomplete"})
    ds = open_sweep(path, allow_partial=True)
    assert np.isnan(ds.decode_step_s.values[4]).all()
    assert (ds.decode_regime.values[4] == -1).all() and not ds.fits.values[4].any()


def test_overwrite_refused_and_allowed(tmp_path, spec):
    path = tmp_path / "o.zarr"
    run_sweep(spec, path)
    with pytest.raises(InputError, match="store exists.*--overwrite"):
        run_sweep(spec, path)
    run_sweep(spec, path, overwrite=True)
    assert open_sweep(path).attrs["kvjax_status"] == "complete"


def test_overwrite_refuses_foreign_directory(tmp_path, spec):
    d = tmp_path / "notastore"
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a zarr store"):
        run_sweep(spec, d, overwrite=True)
    with pytest.raises(InputError, match="cannot resume"):
        run_sweep(spec, d, resume=True)
    assert (d / "precious.txt").exists()


def test_not_a_store(tmp_path):
    with pytest.raises(InputError, match="not a kvjax sweep store"):
        open_sweep(tmp_path)


def _peak_rss_mb(spec_path, store):
    """Peak RSS of a fresh `kvjax sweep` process, as the process itself reports it (VmHWM).

    Not ``wait4``'s ``ru_maxrss``: a forked child inherits the parent's high-water mark,
    so after other tests it reads the pytest process's peak, not the sweep's.
    """
    import os
    import subprocess
    import sys

    from kvjax.cli._sweep import GLIBC_TUNABLES

    code = (
        "import sys\n"
        "from kvjax.cli import main\n"
        f"rc = main(['sweep', {str(spec_path)!r}, '-o', {str(store)!r}, '--quiet'])\n"
        "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(hwm)\n"
        "sys.exit(rc)\n"
    )
    env = dict(os.environ, GLIBC_TUNABLES=GLIBC_TUNABLES, KVJAX_NO_REEXEC="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1]) / 1024  # kB -> MB


@pytest.mark.slow  # two sweep subprocesses (CI runs it)
def test_peak_memory_bounded_by_chunk_not_grid(tmp_path):
    """1.07e8 points (1.9 GB of outputs) peak about as high as 1.5e7 points in the same chunks."""
    from importlib import resources

    text = (resources.files("kvjax.sweep") / "specs" / "benchmark-100m.toml").read_text()
    big = tmp_path / "big.toml"
    big.write_text(text)
    small = tmp_path / "small.toml"
    four = 'names = ["yi-34b", "llama-2-7b", "llama-2-13b", "llama-2-70b"]'
    small.write_text(text.replace('catalog = "model"\nnames = "all"', f'catalog = "model"\n{four}'))
    rss_small = _peak_rss_mb(small, tmp_path / "small.zarr")
    rss_big = _peak_rss_mb(big, tmp_path / "big.zarr")
    grid_mb = 106_905_600 * 18 / 1e6  # ~18 bytes per point stored (DEFAULT_METRICS)
    assert rss_big < 1000 and rss_big - rss_small < 0.1 * grid_mb, (rss_small, rss_big, grid_mb)


def test_second_writer_refused(tmp_path, spec):
    path = tmp_path / "l.zarr"
    run_sweep(spec, path)
    with StoreLock(path, command="kvjax sweep first"):
        with pytest.raises(InputError, match=r"being written by another process \(pid "
                           r"\d+ on .* since .*: kvjax sweep first\)"):  # fmt: skip
            run_sweep(spec, path, overwrite=True)
        with pytest.raises(InputError, match="being written by another process"):
            run_sweep(spec, path, resume=True)
    run_sweep(spec, path, overwrite=True)  # the lock died with its holder
