"""``kvjax sweep`` / ``kvjax info``: bad input gives one line on stderr and exit status 2."""

from __future__ import annotations

import pytest

from kvjax.cli import main

GOOD = """
metrics = ["kv_bytes_per_user", "decode_step_s", "decode_regime"]
[axes.hardware]
catalog = "hardware"
names = ["a100-80gb-sxm", "h100-sxm"]
[axes.context]
leaf = "workload.context_tokens"
values = [4000, 50000, 100000]
[fixed]
model = "yi-34b"
"""


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_sweep_and_info(tmp_path, capsys):
    spec = write(tmp_path, GOOD)
    rc, out, err = run(capsys, "sweep", spec, "-o", tmp_path / "o.zarr")
    assert rc == 0, err
    assert "100.0%" in err and "points/s" in err and "ETA" in err and "wrote" in err
    rc, out, err = run(capsys, "info", tmp_path / "o.zarr")
    assert rc == 0
    assert "status: complete (1/1 chunks" in out
    assert "kv_bytes_per_user" in out and "(context)" in out and "kvjax_spec_hash" in out
    rc, out, _ = run(capsys, "info", tmp_path / "o.zarr", "--spec")
    assert "[axes.hardware]" in out


def test_builtin_name_and_dry_run(tmp_path, capsys):
    rc, out, err = run(capsys, "sweep", "paper-running-example", "--dry-run")
    assert rc == 0, err
    assert "points: 42" in out and "stored bytes" in out and "estimated run time" in out
    rc, out, err = run(capsys, "sweep", "paper-running-example", "-o", tmp_path / "p.zarr",
                       "--float64", "--quiet")  # fmt: skip
    assert rc == 0, err
    assert not (tmp_path / "p.zarr.partial").exists()


def _edit(old, new):
    assert old in GOOD
    return GOOD.replace(old, new, 1)


BAD = [
    ("unknown leaf", _edit('leaf = "workload.context_tokens"', 'leaf = "workload.contxt"'),
     ["axes.context", "workload.contxt", "did you mean"]),
    ("unknown hardware", _edit('"h100-sxm"]', '"h100-sxn"]'), ["axes.hardware", "h100-sxn"]),
    ("negative context", _edit("[4000, 50000, 100000]", "[-4000, 50000]"),
     ["axes.context", "-4000"]),
    ("kv_token_keep > 1", _edit('model = "yi-34b"', 'model = "yi-34b"\nworkload.kv_token_keep = 2'),
     ["fixed", "kv_token_keep", "2"]),
    ("tp < 1", _edit('model = "yi-34b"', 'model = "yi-34b"\nworkload.tp = 0.5'), ["tp", "0.5"]),
    ("duplicate axis", _edit("[fixed]", '[axes.ctx2]\nleaf = "context_tokens"\nvalues = [1]\n'
                                        "[fixed]"), ["duplicate axis", "axes.ctx2"]),
    ("empty axis", _edit("values = [4000, 50000, 100000]", "values = []"), ["axes.context"]),
]  # fmt: skip


@pytest.mark.parametrize("what,text,words", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_exit_2(tmp_path, capsys, what, text, words):
    spec = write(tmp_path, text, "bad.toml")
    rc, out, err = run(capsys, "sweep", spec, "-o", tmp_path / "o.zarr")
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "bad.toml" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not (tmp_path / "o.zarr").exists()


def test_output_problems_exit_2(tmp_path, capsys):
    spec = write(tmp_path, GOOD)
    # a missing parent is created, like mkdir -p; one that cannot be created is an error
    assert run(capsys, "sweep", spec, "-o", tmp_path / "new" / "dir" / "o.zarr")[0] == 0
    (tmp_path / "afile").write_text("x")
    rc, _, err = run(capsys, "sweep", spec, "-o", tmp_path / "afile" / "sub" / "o.zarr")
    assert rc == 2 and "cannot create the output directory" in err and len(err.splitlines()) == 1
    rc, _, err = run(capsys, "sweep", spec, "-o", tmp_path / "afile")
    assert rc == 2 and "not a directory" in err
    rc, _, err = run(capsys, "sweep", spec, "-o", tmp_path / "afile" / "o.zarr")
    assert rc == 2 and len(err.splitlines()) == 1
    assert run(capsys, "sweep", spec, "-o", tmp_path / "o.zarr")[0] == 0
    rc, _, err = run(capsys, "sweep", spec, "-o", tmp_path / "o.zarr")
    assert rc == 2 and "--overwrite" in err
    assert run(capsys, "sweep", spec, "-o", tmp_path / "o.zarr", "--overwrite", "--quiet")[0] == 0


def test_grid_larger_than_disk_refused(tmp_path, capsys):
    huge = _edit("values = [4000, 50000, 100000]", "geomspace = [1000, 10000000, 2000000]")
    huge = huge.replace("[fixed]", '[axes.batch]\nleaf = "batch"\nrange = [1, 1000000]\n[fixed]')
    spec = write(tmp_path, huge, "huge.toml")
    rc, _, err = run(capsys, "sweep", spec, "-o", tmp_path / "h.zarr")
    assert rc == 2 and "exceeds" in err and "--force" in err and "huge.toml" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "h.zarr").exists()


def test_missing_spec_and_store(tmp_path, capsys):
    rc, _, err = run(capsys, "sweep", tmp_path / "nope.toml", "-o", tmp_path / "o.zarr")
    assert rc == 2 and "nope.toml" in err
    rc, _, err = run(capsys, "info", tmp_path)
    assert rc == 2 and "not a kvjax sweep store" in err


def test_second_run_loads_the_kernel_from_the_compile_cache(tmp_path):
    import os
    import subprocess
    import sys

    import numpy as np

    import kvjax

    spec = write(tmp_path, GOOD)

    def sweep(out, cache, *extra):
        env = dict(os.environ, KVJAX_CACHE_DIR=str(cache), KVJAX_NO_REEXEC="1")
        argv = [sys.executable, "-m", "kvjax", "sweep", str(spec), "-o", str(out), "--quiet"]
        r = subprocess.run([*argv, *extra], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    cache = tmp_path / "cache"
    sweep(tmp_path / "a.zarr", cache)
    entries = {p: p.stat().st_mtime_ns for p in cache.rglob("jit_kernel-*")}
    assert len(entries) == 1  # the chunk kernel; JAX's one-op helpers are under the threshold
    sweep(tmp_path / "b.zarr", cache)  # a hit reads the entry and writes nothing
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("jit_kernel-*")} == entries
    sweep(tmp_path / "c.zarr", tmp_path / "none", "--no-cache")
    assert not (tmp_path / "none").exists()
    a, b, c = (kvjax.open_sweep(tmp_path / f"{n}.zarr").load() for n in "abc")
    for v in a.data_vars:
        np.testing.assert_array_equal(a[v].values, b[v].values)
        np.testing.assert_array_equal(a[v].values, c[v].values)
