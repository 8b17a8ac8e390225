"""Nothing lost, nothing nonsensical accepted: damaged stores are named and repaired by resume,
--overwrite keeps the old store until the new one is complete, a full disk is one line and
leaves a resumable store, and random scenarios show the documented NaN pattern with finite
gradients wherever the value is finite (float32 and float64)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import chunk_file_bytes
from corpus import TINY_SPEC

from kvjax import catalog
from kvjax.cli import main
from kvjax.errors import InputError
from kvjax.model import (
    METRICS,
    Hardware,
    Model,
    Scenario,
    Workload,
    elasticity_fn,
    leaf_info,
)
from kvjax.sweep import STOP, Interrupted, open_sweep, parse_text, pending_path, run_sweep, verify

SPEC = parse_text(TINY_SPEC, "tiny.toml")


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_sweep(SPEC, path, durable=False)
    return path


def _copy(ref, tmp_path, name="s.zarr"):
    path = tmp_path / name
    shutil.copytree(ref, path)
    return path


# ----------------------------------------------------------------------------- damage


@pytest.mark.parametrize("how", ["delete", "garbage", "truncate", "record"])
def test_damaged_chunks_are_named_and_resume_rewrites_them(ref, tmp_path, how):
    path = _copy(ref, tmp_path)
    chunk = path / "decode_step_s" / "c" / "1" / "0"
    if how == "delete":
        chunk.unlink()
    elif how == "garbage":
        chunk.write_bytes(os.urandom(len(chunk.read_bytes())))
    elif how == "truncate":
        chunk.write_bytes(chunk.read_bytes()[:7])
    else:  # a lost done record: that chunk is simply recomputed
        (path / "_kvjax" / "done" / "c" / "1").unlink()
    v = verify(path)
    if how == "record":
        assert v.ok and v.chunks_done == 2
    else:
        assert not v.ok and v.bad_chunks == {1}
        assert "decode_step_s/c/1/0" in v.summary() and "\n" not in v.summary()
        with pytest.raises(InputError, match="decode_step_s/c/1/0"):
            open_sweep(path, verify=True)
    r = run_sweep(SPEC, path, resume=True, durable=False)
    assert r.chunks == 1  # only the damaged (or unrecorded) chunk is recomputed
    assert verify(path).ok
    assert chunk_file_bytes(path) == chunk_file_bytes(ref)


def test_damaged_metadata_is_one_line(ref, tmp_path):
    path = _copy(ref, tmp_path)
    (path / "zarr.json").write_text((path / "zarr.json").read_text()[:100])
    for fn in (open_sweep, verify):
        with pytest.raises(InputError, match="corrupt store metadata|not a kvjax") as e:
            fn(path)
        assert "\n" not in str(e.value)


def test_stores_open_without_warnings(ref):
    """Consolidated metadata and no foreign object in the zarr hierarchy."""
    import warnings

    import xarray as xr
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "decode_step_s" in xr.open_zarr(ref)
        assert "decode_step_s" in xr.open_dataset(ref, engine="zarr")
        tree = xr.open_datatree(ref, engine="zarr")
        assert "decode_step_s" in tree.ds
        names = {k for k, _ in zarr.open_group(ref, mode="r", use_consolidated=False).members()}
    assert "_kvjax" in names


# ----------------------------------------------------------------------------- replacement


def _stop_after_first_commit(monkeypatch):
    """Set STOP (as a signal handler would) once the first chunk is committed."""
    import sys

    from kvjax.sweep import _zarr_writer

    commit = _zarr_writer.ChunkWriter.commit

    def commit_then_stop(self):
        n = commit(self)
        STOP.set()
        return n

    monkeypatch.setattr(_zarr_writer.ChunkWriter, "commit", commit_then_stop)
    monkeypatch.setattr(sys.modules["kvjax.sweep._chunks"], "COMMIT_INTERVAL_S", -1.0)


def test_overwrite_keeps_the_old_store_until_the_new_one_is_complete(ref, tmp_path, monkeypatch):
    path = _copy(ref, tmp_path)
    other = parse_text(TINY_SPEC.replace("[1, 2, 4, 8, 16]", "[1, 3]"), "other.toml")
    with monkeypatch.context() as m:
        _stop_after_first_commit(m)
        with pytest.raises(Interrupted):
            run_sweep(other, path, overwrite=True, durable=False)
    assert chunk_file_bytes(path) == chunk_file_bytes(ref)  # the old store, untouched
    assert open_sweep(path).sizes["batch"] == 5
    new = pending_path(path)
    assert new.exists()
    run_sweep(other, path, resume=True, durable=False)  # finishes the replacement
    assert open_sweep(path).sizes["batch"] == 2 and not new.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("s.zarr",)]
    assert leftovers == [".s.zarr.kvjax-lock"], leftovers


def test_signal_during_compile_writes_nothing(tmp_path):
    STOP.set()
    with pytest.raises(Interrupted) as e:
        run_sweep(SPEC, tmp_path / "n.zarr", durable=False)
    assert e.value.store is None and not (tmp_path / "n.zarr").exists()
    assert not STOP.is_set()


# ----------------------------------------------------------------------------- full disk


@pytest.fixture
def tiny_disk(tmp_path):
    """A 512 KiB tmpfs (needs root and mount privileges; skipped plainly elsewhere)."""
    d = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(d)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_full_disk_is_one_line_and_the_store_resumable(tiny_disk, tmp_path, capsys):
    spec = tmp_path / "big.toml"  # ~1.4 MB of chunk files: more than the 512 KiB disk
    spec.write_text(TINY_SPEC.replace("geomspace = [1000, 100000, 31]",
                                      "geomspace = [1000, 100000, 200000]")
                    .replace("points = 62", "points = 100000"))  # fmt: skip
    store = tiny_disk / "s.zarr"
    rc = main(["sweep", str(spec), "-o", str(store), "--quiet", "--force"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "no space left on the device" in err, err
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], check=True)
    assert main(["sweep", str(spec), "-o", str(store), "--quiet", "--resume"]) == 0
    assert verify(store).ok and open_sweep(store).attrs["kvjax_status"] == "complete"


# ----------------------------------------------------------------------------- fuzz

GRAD = ["concurrency", "prefill_s", "decode_step_s", "session_gpu_s"]
WRT = ["hardware.flop_per_s", "hardware.hbm_bytes_per_s", "hardware.hbm_bytes",
       "workload.context_tokens", "workload.batch", "workload.tp"]  # fmt: skip
"""The elasticities fuzzed: the metrics and knobs whose products overflow float32 first
(FLOP x FLOP/s at 1e8 tokens); the compile of all 22 x 18 pairs alone takes a minute."""


def _random_scenarios(n, seed):
    """``n`` random points over the catalog's models and accelerators and wide workloads."""
    rng = np.random.default_rng(seed)
    models = [catalog.load_model(m) for m in catalog.model_names()]
    hws = [catalog.load_hardware(h) for h in catalog.hardware_names()]
    mi, hi = rng.integers(len(models), size=n), rng.integers(len(hws), size=n)

    def stack(trees, idx, cls):
        return cls(**{f: np.array([getattr(trees[i], f) for i in idx]) for f in cls.leaf_names()})

    tp = np.array([1, 2, 4, 8])[rng.integers(4, size=n)]
    w = Workload(
        context_tokens=10 ** rng.uniform(2, 8, n), output_tokens=10 ** rng.uniform(0, 4, n),
        batch=np.round(10 ** rng.uniform(0, 3, n)), tp=tp.astype(float),
        weight_bytes_per_param=rng.choice([0.5, 1.0, 2.0], n),
        kv_bits=rng.choice([2.0, 4.0, 8.0, 16.0], n), kv_layer_keep=rng.uniform(0.05, 1, n),
        kv_head_keep=rng.uniform(0.05, 1, n), kv_token_keep=rng.uniform(0.01, 1, n),
        hbm_reserve_bytes=rng.uniform(0, 8e9, n), flop_efficiency=rng.uniform(0.2, 1, n),
        bandwidth_efficiency=rng.uniform(0.2, 1, n),
    )  # fmt: skip
    s = Scenario(stack(models, mi, Model), stack(hws, hi, Hardware), w)
    return jax.tree.map(lambda x: np.broadcast_to(np.asarray(x, np.float64), (n,)), s)


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_fuzz_nan_pattern_and_finite_gradients(x64):
    """2,000 random points: each metric is NaN exactly when its registry entry says (one
    user's KV, or the whole batch's, does not fit; or no price); ``fits`` is false whenever
    the weights alone do not fit; elasticities are finite wherever the metric is."""
    s = _random_scenarios(2000, seed=8)
    for p in ("workload.kv_bits", "workload.batch"):
        g, n = p.split(".")
        assert leaf_info(p).domain.mask(getattr(getattr(s, g), n)).all()
    with jax.enable_x64(x64):
        s = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64 if x64 else jnp.float32), s)
        r = jax.jit(jax.vmap(lambda t: {n: METRICS[n].fn(t) for n in METRICS}))(s)
        e = jax.jit(jax.vmap(elasticity_fn(GRAD, WRT)))(s)
        g = jax.jit(jax.vmap(jax.grad(lambda t: METRICS["session_gpu_s"].fn(t))))(s)
    r = {k: np.asarray(v) for k, v in r.items()}
    e = np.asarray(e)
    conc, batch = r["concurrency"], np.asarray(s.workload.batch)
    one, all_ = conc >= 1.0, conc >= batch
    weights_fit = np.asarray(s.hardware.hbm_bytes) - np.asarray(s.workload.hbm_reserve_bytes) \
        > r["weight_bytes_per_device"]  # fmt: skip
    assert not r["fits"][~weights_fit].any()
    assert (r["fits"] == all_).all()
    assert 0.05 < one.mean() < 0.95 and 0.05 < all_.mean() < 0.95  # both sides are sampled
    priced = np.isfinite(np.asarray(s.hardware.usd_per_hour))
    for name, info in METRICS.items():
        v = r[name]
        ok = {None: np.ones_like(one), "one": one, "batch": all_}[info.nan_unless]
        if info.kind == "code":
            assert ((v == 4) == ~ok).all(), name
            continue
        if info.kind == "bool":
            continue
        want_nan = ~ok | (~priced if name.startswith("usd_") else False)
        assert (np.isnan(v) == want_nan).all(), (name, int((np.isnan(v) != want_nan).sum()))
    for i, name in enumerate(GRAD):
        finite = np.isfinite(r[name]) & (r[name] != 0)
        assert np.isfinite(e[finite, i, :]).all(), (name, np.argwhere(~np.isfinite(
            e[finite, i, :]))[:3])  # fmt: skip
    finite = np.isfinite(r["session_gpu_s"])
    paths = [f"{grp}.{n}" for grp in ("model", "hardware", "workload")
             for n in getattr(g, grp).leaf_names()]  # fmt: skip
    for path, leaf in zip(paths, jax.tree.leaves(g), strict=True):  # reverse mode too
        assert np.isfinite(np.asarray(leaf)[finite]).all(), path


def test_corpus_runner_classifies_like_the_test():
    from corpus import classify

    assert classify(2, "kvjax eval: error: x\n") == "clean"
    assert classify(2, "usage: kvjax\nkvjax: error: x\n") == "other"
    assert classify(1, "Traceback (most recent call last):\n  ...\n") == "traceback"
    assert classify(0, "") == "accepted"


def test_json_info_of_a_verified_store(ref, capsys):
    assert main(["info", str(ref), "--verify", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "complete" and "all present" in err
