"""Elasticities inside sweeps: the ``[elasticity]`` spec section, the stored ``elasticity``
variable (dims, coords, attrs, values equal ``kvjax.model.elasticity``), NaN at infeasible
points, and kill/resume still bit-identical."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from test_resume import _assert_identical, run_whole_and_killed

from kvjax import catalog
from kvjax.cli import main
from kvjax.errors import InputError
from kvjax.model import Scenario, Workload, elasticity, elasticity_leaves, metric_leaves
from kvjax.sweep import (
    block_split,
    dry_run,
    info,
    open_sweep,
    parse_text,
    plan_sweep,
    run_sweep,
)

METRICS = ["decode_step_s", "kv_bytes_per_user", "concurrency", "session_gpu_s"]
WRT = ["hardware.hbm_bytes_per_s", "hardware.flop_per_s", "workload.kv_bits",
       "workload.context_tokens", "workload.batch"]  # fmt: skip
SPEC = """
name = "el"
metrics = ["decode_step_s", "session_gpu_s", "fits"]
[axes.model]
catalog = "model"
names = ["yi-34b", "mixtral-8x7b", "deepseek-v3"]
[axes.hardware]
catalog = "hardware"
names = ["a100-80gb-sxm", "h100-sxm"]
[axes.batch]
leaf = "workload.batch"
values = [1, 3, 8, 64]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 1000000, 37]
[fixed]
workload.output_tokens = 200
workload.kv_bits = 8
[elasticity]
metrics = ["decode_step_s", "kv_bytes_per_user", "concurrency", "session_gpu_s"]
wrt = ["hbm_bytes_per_s", "hardware.flop_per_s", "workload.kv_bits", "context_tokens",
       "batch"]
block_points = 40
[chunks]
points = 300
"""


@pytest.fixture(scope="module", params=["float32", "float64"])
def el_store(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("el") / f"el-{request.param}.zarr"
    run_sweep(parse_text(SPEC, "el.toml"), path, float64=request.param == "float64")
    return path, request.param


def _reference(ds, dtype, picks):
    """``kvjax.model.elasticity`` at grid points ``picks`` (dicts of dim -> index)."""
    out = []
    with jax.enable_x64(dtype == "float64"):
        for pick in picks:
            c = {d: ds[d].values[i] for d, i in pick.items()}
            s = Scenario(
                catalog.load_model(str(c["model"])),
                catalog.load_hardware(str(c["hardware"])),
                Workload(context_tokens=float(c["context"]), batch=float(c["batch"]),
                         output_tokens=200.0, kv_bits=8.0),
            )  # fmt: skip
            e = elasticity(s, METRICS, WRT)
            out.append(np.array([[float(e[m][p]) for p in WRT] for m in METRICS]))
    return out


def test_values_equal_sensitivity(el_store):
    path, dtype = el_store
    ds = open_sweep(path)
    el = ds.elasticity
    assert el.dtype == np.dtype(dtype)
    rng = np.random.default_rng(0)
    picks = [{d: int(rng.integers(ds.sizes[d])) for d in ("model", "hardware", "batch", "context")}
             for _ in range(12)]  # fmt: skip
    picks.append({"model": 0, "hardware": 0, "batch": 3, "context": 36})  # infeasible
    rtol = 1e-5 if dtype == "float64" else 1e-4
    for pick, want in zip(picks, _reference(ds, dtype, picks), strict=True):
        got = el.isel(pick).values
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)


def test_dims_coords_attrs_and_info(el_store):
    path, dtype = el_store
    ds = open_sweep(path)
    el = ds.elasticity
    assert el.dims == ("metric", "knob", "model", "hardware", "batch", "context")
    assert list(ds.metric.values) == METRICS
    assert list(ds.knob.values) == WRT
    assert el.attrs["units"] == "1"
    assert el.attrs["long_name"] == "elasticity d ln(metric) / d ln(knob)"
    assert "one-sided" in el.attrs["comment"] and "NaN" in el.attrs["comment"]
    # the documented way of reading one map; bandwidth-bound decode at small batch: -1
    d = el.sel(metric="decode_step_s", knob="hardware.hbm_bytes_per_s")
    assert d.dims == ("model", "hardware", "batch", "context")
    assert float(d.sel(model="yi-34b", hardware="a100-80gb-sxm", batch=1).isel(context=0)) == (
        pytest.approx(-1.0, abs=1e-3)
    )
    # metric variables are unchanged by the section
    assert ds.decode_step_s.dims == ("model", "hardware", "batch", "context")
    i = info(path)
    assert i["variables"]["elasticity"]["dims"] == el.dims
    assert i["variables"]["elasticity"]["units"] == "1"


def test_infeasible_nan_feasible_finite(el_store):
    path, _ = el_store
    ds = open_sweep(path)
    fits = ds.fits.values
    assert (~fits).any() and fits.any()
    assert np.isnan(ds.elasticity.sel(metric="decode_step_s").values[:, ~fits]).all()
    for m in ("decode_step_s", "session_gpu_s"):
        e = ds.elasticity.sel(metric=m).values  # (knob, model, hardware, batch, context)
        infeasible = np.isnan(ds[m].values)
        assert infeasible.any()
        assert np.isnan(e[:, infeasible]).all()
        assert np.isfinite(e[:, ~infeasible]).all()
    # the KV per user always exists: finite everywhere; exactly 1 in context, 0 in hardware
    kv = ds.elasticity.sel(metric="kv_bytes_per_user")
    assert np.isfinite(kv.values).all()
    assert np.allclose(kv.sel(knob="hardware.hbm_bytes_per_s"), 0.0)


def test_dependence_pruning(tmp_path):
    text = SPEC.replace(
        'metrics = ["decode_step_s", "kv_bytes_per_user", "concurrency", "session_gpu_s"]',
        'metrics = ["kv_bytes_per_user"]',
    ).replace('"batch"]', '"workload.output_tokens"]')
    plan = plan_sweep(parse_text(text, "p.toml"))
    names = [plan.spec.axes[j].name for j in plan.elast_dims]
    assert names == ["model", "context"]  # no hardware leaf, no batch
    deps = elasticity_leaves(("kv_bytes_per_user",), ("workload.context_tokens",))
    assert deps <= metric_leaves("kv_bytes_per_user")
    d = dry_run(parse_text(text, "p.toml"), time_chunks=1)
    assert d["variables"]["elasticity"] == ("metric", "knob", "model", "context")
    run_sweep(parse_text(text, "p.toml"), tmp_path / "p.zarr")
    el = open_sweep(tmp_path / "p.zarr").elasticity
    assert el.dims == ("metric", "knob", "model", "context")
    np.testing.assert_allclose(el.sel(knob="workload.context_tokens"), 1.0, rtol=1e-5)


@pytest.mark.parametrize("el_store", ["float32"], indirect=True)  # one dtype is enough
def test_block_size_does_not_change_values(tmp_path, el_store):
    path, dtype = el_store
    whole = parse_text(SPEC.replace("block_points = 40", "block_points = 1000000"), "w.toml")
    run_sweep(whole, tmp_path / "w.zarr")
    a = open_sweep(path).elasticity.values
    b = open_sweep(tmp_path / "w.zarr").elasticity.values
    np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6, equal_nan=True)


def test_block_split():
    assert block_split((4, 37), 1000) is None
    assert block_split((2, 4, 37), 40) == (1, 1)
    assert block_split((2, 4, 37), 200) == (0, 1)
    assert block_split((3, 1024), 512) == (1, 512)
    assert block_split((3, 1000), 300) == (1, 250)
    assert block_split((7,), 3) == (0, 1)
    assert block_split((), 3) is None
    assert block_split((2, 500_002), 262_144) == (1, 250_001)
    assert block_split((2, 1_000_003), 262_144) is None  # a prime: one whole block


def test_hash_covers_section():
    base = parse_text(SPEC, "a.toml")
    other = parse_text(SPEC.replace('"batch"]', '"tp"]'), "a.toml")
    none = parse_text(SPEC.split("[elasticity]")[0] + "[chunks]\npoints = 300\n", "a.toml")
    assert len({base.hash, other.hash, none.hash}) == 3
    assert "elasticity" not in none.canonical()  # older specs keep their hash


@pytest.mark.parametrize(
    "section, words",
    [
        ('metrics = ["decode_step"]\nwrt = ["kv_bits"]', ["elasticity", "decode_step",
                                                          "did you mean 'decode_step_s'"]),
        ('metrics = ["fits"]\nwrt = ["kv_bits"]', ["'fits'", "is a bool, not a float metric"]),
        ('metrics = ["decode_regime"]\nwrt = ["kv_bits"]', ["is a code, not a float metric"]),
        ('metrics = ["decode_step_s"]\nwrt = ["kv_bit"]', ["unknown scenario leaf",
                                                           "'workload.kv_bits'"]),
        ('metrics = ["decode_step_s", "decode_step_s"]\nwrt = ["kv_bits"]', ["named twice"]),
        ('metrics = ["decode_step_s"]\nwrt = ["kv_bits", "workload.kv_bits"]',
         ["leaf named twice", "workload.kv_bits"]),
        ('metrics = ["decode_step_s"]', ["needs wrt"]),
        ('metrics = []\nwrt = ["kv_bits"]', ["non-empty list"]),
        ('metrics = ["decode_step_s"]\nwrt = ["kv_bits"]\nknobs = 1', ["unknown key", "knobs"]),
        ('metrics = ["decode_step_s"]\nwrt = ["kv_bits"]\nblock_points = 0', ["block_points"]),
    ],
)  # fmt: skip
def test_bad_section_exit_2(tmp_path, capsys, section, words):
    head = SPEC.split("[elasticity]")[0]
    p = tmp_path / "bad.toml"
    p.write_text(f"{head}[elasticity]\n{section}\n")
    with pytest.raises(InputError) as e:
        parse_text(p.read_text(), str(p))
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and "[elasticity]" in msg
    for w in words:
        assert w in msg, msg
    rc = main(["sweep", str(p), "-o", str(tmp_path / "o.zarr")])
    out, err = capsys.readouterr()
    assert rc == 2 and err.strip().count("\n") == 0 and str(p) in err
    assert not (tmp_path / "o.zarr").exists()


def test_axis_named_like_elasticity_dims_refused():
    text = SPEC.replace("[axes.batch]", "[axes.knob]")
    with pytest.raises(InputError, match="taken by the elasticity"):
        parse_text(text, "k.toml")


def test_default_knobs():
    from kvjax.model import KNOBS

    spec = parse_text(SPEC.replace('"batch"]', '"batch"]').replace(
        'wrt = ["hbm_bytes_per_s", "hardware.flop_per_s", "workload.kv_bits", "context_tokens",\n'
        '       "batch"]', 'wrt = "default"'), "d.toml")  # fmt: skip
    assert spec.elasticity.wrt == KNOBS


# 172,800 points in 72 chunks with 4 x 5 elasticities: killed midway, resumed, compared.
RESUME = (
    SPEC.replace("values = [1, 3, 8, 64]", "range = [1, 40]")
    .replace("geomspace = [1000, 1000000, 37]", "geomspace = [1000, 1000000, 720]")
    .replace("points = 300", "points = 2400")
    .replace("block_points = 40", "block_points = 1024")
)


def test_kill_and_resume_bit_identical(tmp_path):
    spec_path, whole, broken, _, _ = run_whole_and_killed(tmp_path, RESUME)
    run_sweep(spec_path, broken, resume=True)
    _assert_identical(whole, broken)
    assert open_sweep(broken).elasticity.dims[:2] == ("metric", "knob")


def test_shipped_elasticity_map_spec():
    from kvjax.sweep import load_spec

    spec = load_spec("elasticity-map")
    assert len(spec.elasticity.metrics) == 5 and len(spec.elasticity.wrt) == 8
    assert "elasticity" in spec.canonical()
