"""Stores that every tool opens cleanly: xarray with default arguments, DataTree, dask,
netCDF, pint units, and a second zarr implementation (tensorstore).

Stores carry consolidated metadata from their creation on, and kvjax's bookkeeping is a
proper zarr group (``_kvjax``): nothing foreign for a reader to warn about.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest


@pytest.fixture(scope="module")
def store(explore_store):
    return explore_store  # built once a session (conftest.py)


def _no_warning(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    assert [str(w.message) for w in caught] == []
    return out


def test_open_zarr_with_defaults_warns_of_nothing(store):
    import xarray as xr

    ds = _no_warning(lambda: xr.open_zarr(store))
    assert "decode_step_s" in ds


def test_open_dataset_with_defaults_warns_of_nothing(store):
    import xarray as xr

    ds = _no_warning(lambda: xr.open_dataset(store, engine="zarr"))
    assert "decode_step_s" in ds


def test_open_datatree_warns_of_nothing(store):
    import xarray as xr

    tree = _no_warning(lambda: xr.open_datatree(store, engine="zarr"))
    # the root is the sweep; the one child group holds only the per-chunk done records
    assert "decode_step_s" in tree.dataset and list(tree.children) == ["_kvjax"]
    assert list(tree["_kvjax"].dataset.data_vars) == ["done"]


def test_chunks_auto_and_dask_dataframe(store):
    import xarray as xr

    ds = xr.open_dataset(store, engine="zarr", consolidated=False, chunks="auto")
    assert ds.decode_step_s.chunks is not None
    df = ds[["decode_step_s", "fits"]].to_dask_dataframe()
    assert len(df) == 2 * 3 * 3 * 13
    assert np.isclose(float(df.decode_step_s.max().compute()),
                      float(ds.decode_step_s.max().compute()))  # fmt: skip


def test_to_netcdf_in_the_default_install(store):
    """No list-valued string attrs: ``ds.to_netcdf()`` (scipy, netCDF3, which JAX brings)
    writes and reads back."""
    import xarray as xr

    import kvjax

    ds = kvjax.open_sweep(store)
    for name, v in [("", ds), *ds.variables.items()]:
        for k, a in v.attrs.items():
            assert not (isinstance(a, list) and any(isinstance(x, str) for x in a)), (name, k)
    data = ds.to_netcdf()
    back = xr.open_dataset(data)
    assert np.array_equal(back.decode_step_s.values, ds.decode_step_s.values, equal_nan=True)
    assert json.loads(back.attrs["kvjax_dims"]) == ["model", "hardware", "batch", "context"]


def test_units_parse_with_pint_and_convert(store):
    import pint_xarray  # noqa: F401

    import kvjax
    from kvjax.units import unit_registry

    ds = kvjax.open_sweep(store)
    ureg = unit_registry()
    for v in ds.variables.values():
        if "units" in v.attrs:
            ureg.Unit(v.attrs["units"])  # every units string parses
    q = ds.drop_vars("elasticity").pint.quantify()
    ms = q.pint.to(decode_step_s="ms")
    assert str(ms.decode_step_s.pint.units) == "millisecond"
    np.testing.assert_allclose(ms.decode_step_s.pint.magnitude,
                               1e3 * ds.decode_step_s.values, rtol=1e-6)  # fmt: skip
    flops = q.prefill_s.pint.units * ureg.Unit("FLOP/s")
    assert str(flops) == "FLOP"


def test_catalog_labels_in_an_attribute(store):
    import kvjax

    ds = kvjax.open_sweep(store)
    assert json.loads(ds.model.attrs["kvjax_labels"]) == ["yi-34b", "llama-3.1-8b"]
    assert json.loads(ds.hardware.attrs["kvjax_labels"]) == [str(h) for h in ds.hardware.values]


def test_tensorstore_reads_every_array_like_zarr_python(store):
    import tensorstore as ts
    import zarr

    group = zarr.open_group(store, mode="r")
    compared = 0
    for name, arr in group.arrays():
        if arr.dtype.kind not in "fiub":  # variable-length strings: zarr v3 has no
            continue  # portable string type yet; labels are also in kvjax_labels
        t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{store}/{name}"}},
                    read=True).result()  # fmt: skip
        a = t.read().result()
        b = arr[...]
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=b.dtype.kind == "f"), name
        compared += 1
    assert compared >= 10
