"""The sweep engine: dependence-pruned dims, chunking with padding, values equal ``evaluate``."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
import xarray as xr

from kvjax import catalog
from kvjax.model import METRICS, REGIMES, Scenario, Workload, evaluate, metric_leaves
from kvjax.sweep import chunk_shape, open_sweep, parse_text, plan_sweep, run_sweep

SPEC = """
name = "small"
metrics = "all"
[axes.model]
catalog = "model"
names = ["yi-34b", "mixtral-8x7b", "deepseek-v3"]
[axes.hardware]
catalog = "hardware"
names = ["a100-80gb-sxm", "h100-sxm"]
[axes.batch]
leaf = "workload.batch"
values = [1, 3, 8]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 1000000, 7]
[fixed]
workload.output_tokens = 200
workload.kv_bits = 8
[chunks]
points = 20
"""


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "small.zarr"
    report = run_sweep(parse_text(SPEC, "small.toml"), path)
    return path, report


def test_metric_leaves_from_jaxpr():
    kv = metric_leaves("kv_bytes_per_user")
    assert "workload.context_tokens" in kv and "model.n_kv_heads" in kv
    assert not any(p.startswith("hardware.") for p in kv)
    assert "workload.batch" not in kv and "workload.output_tokens" not in kv
    assert "workload.batch" in metric_leaves("decode_step_s")
    assert "hardware.hbm_bytes_per_s" in metric_leaves("decode_step_s")
    # issue 11: the input table is gathered, not multiplied (embedding_params, tied_embeddings)
    assert metric_leaves("active_params") <= {f"model.{n}" for n in
                                              ("params_total", "n_experts", "experts_per_token",
                                               "expert_params", "embedding_params",
                                               "tied_embeddings")}  # fmt: skip


def test_chunk_shape():
    assert chunk_shape((3, 2, 3, 7), 20) == (1, 1, 2, 7)
    assert chunk_shape((10, 1000), 1 << 20) == (10, 1000)
    assert chunk_shape((29, 24, 128, 1200), 1 << 20) == (1, 6, 128, 1200)
    assert chunk_shape((5, 3_000_000), 1 << 20) == (1, 1_000_000)


def test_pruned_dims(small_store):
    ds = open_sweep(small_store[0])
    assert ds.kv_bytes_per_user.dims == ("model", "context")
    assert ds.kv_bytes_per_token.dims == ("model",)
    assert ds.concurrency.dims == ("model", "hardware", "context")
    assert ds.decode_step_s.dims == ("model", "hardware", "batch", "context")
    plan = plan_sweep(parse_text(SPEC, "small.toml"))
    assert plan.chunks == (1, 1, 2, 7) and plan.n_chunks == 12  # batch padded 3 -> 4


def test_attrs_and_coords(small_store):
    ds = open_sweep(small_store[0])
    for name, v in ds.data_vars.items():
        assert v.attrs["units"] == METRICS[name].units
        assert v.attrs["long_name"] == METRICS[name].long_name
    assert ds.decode_regime.dtype == np.int8 and ds.fits.dtype == bool
    assert ds.decode_regime.attrs["flag_values"] == sorted(REGIMES)  # 0-5
    assert len(ds.decode_regime.attrs["flag_meanings"].split()) == len(REGIMES)
    assert ds.decode_step_s.dtype == np.float32
    assert list(ds.model.values) == ["yi-34b", "mixtral-8x7b", "deepseek-v3"]
    assert ds.hardware_vendor.values[0] == "nvidia"
    assert ds.model_params_total.values[0] == catalog.load_model("yi-34b").params_total
    assert ds.context.attrs["units"] == "tokens"
    a = ds.attrs
    for key in ("kvjax_spec", "kvjax_spec_hash", "kvjax_catalog_hash", "kvjax_version",
                "jax_version", "device", "kvjax_dtype", "kvjax_created"):  # fmt: skip
        assert a[key], key
    assert a["kvjax_status"] == "complete" and a["kvjax_dtype"] == "float32"
    assert "[axes.model]" in a["kvjax_spec"]


def _stacked_scenarios(ds, dtype):
    pts = list(itertools.product(*(range(ds.sizes[d]) for d in ("model", "hardware", "batch",
                                                                 "context"))))  # fmt: skip
    m = catalog.stack_models([str(ds.model.values[p[0]]) for p in pts])
    h = catalog.stack_hardware([str(ds.hardware.values[p[1]]) for p in pts])
    n = len(pts)
    w = Workload(
        context_tokens=np.asarray([ds.context.values[p[3]] for p in pts], dtype),
        batch=np.asarray([ds.batch.values[p[2]] for p in pts], dtype),
        output_tokens=np.full(n, 200.0, dtype),
        **{f: np.full(n, v, dtype) for f, v in Workload(1.0, kv_bits=8.0).as_dict().items()
           if f not in ("context_tokens", "batch", "output_tokens")},
    )  # fmt: skip
    cast = lambda t: jax.tree.map(lambda x: np.asarray(x, dtype), t)  # noqa: E731
    return pts, Scenario(cast(m), cast(h), w)


def _check_equal_to_evaluate(ds, dtype, rtol):
    pts, s = _stacked_scenarios(ds, dtype)
    ref = jax.jit(jax.vmap(evaluate))(s)
    for name in METRICS:
        stored = ds[name]
        full = stored.broadcast_like(ds.decode_step_s).transpose(*ds.decode_step_s.dims).values
        got = full.reshape(-1)
        want = np.asarray(ref[name])
        if METRICS[name].kind == "float":
            np.testing.assert_allclose(got, want, rtol=rtol, equal_nan=True, err_msg=name)
        else:
            agree = np.mean(got.astype(float) == want.astype(float))
            assert agree > 0.98, (name, agree)  # ties at kinks may round either way


def test_values_equal_evaluate(small_store):
    ds = open_sweep(small_store[0]).load()
    _check_equal_to_evaluate(ds, np.float32, 2e-5)
    report = small_store[1]
    assert report.points == 3 * 2 * 3 * 7 and report.chunks == report.chunks_total == 12


def test_float64(tmp_path):
    spec = parse_text(SPEC.replace("points = 20", "points = 100"), "small.toml")
    run_sweep(spec, tmp_path / "f64.zarr", float64=True)
    ds = open_sweep(tmp_path / "f64.zarr").load()
    assert ds.decode_step_s.dtype == np.float64 and ds.attrs["kvjax_dtype"] == "float64"
    with jax.enable_x64(True):
        _check_equal_to_evaluate(ds, np.float64, 1e-12)


def test_fixed_overrides_catalog_leaf(tmp_path, small_store):
    text = SPEC.replace(
        "workload.kv_bits = 8", 'workload.kv_bits = 8\n"hardware.usd_per_hour" = 1.0'
    )
    ds_path = tmp_path / "o.zarr"
    run_sweep(parse_text(text, "o.toml"), ds_path)
    ds = open_sweep(ds_path)
    ref = open_sweep(small_store[0])  # the same spec at the catalog's prices
    # the cost is linear in the price: $1/h instead of the catalog's list price per GPU
    # (hardware.toml: 5.1207 $/h for the A100-80GB SXM, 12.29 $/h for the H100 SXM)
    hw = ref.hardware.values
    price = xr.DataArray([catalog.load_hardware(str(h)).usd_per_hour for h in hw],
                         dims="hardware", coords={"hardware": hw})  # fmt: skip
    assert float(price.min()) > 1.0  # so a lost override cannot pass
    want = (ref.usd_per_session / price).transpose(*ds.usd_per_session.dims)
    np.testing.assert_allclose(ds.usd_per_session.values, want.values, rtol=1e-6)
    # and nothing but the price moved
    np.testing.assert_array_equal(ds.session_gpu_s.values, ref.session_gpu_s.values)
