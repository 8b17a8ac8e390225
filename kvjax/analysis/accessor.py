"""The ``ds.kv`` accessor: kvjax's analyses on any stored sweep (thin wrappers).

``import kvjax`` (or ``import kvjax.analysis``) registers it::

    ds = kvjax.open_sweep("runs/context.zarr")
    front = ds.kv.pareto(minimize="usd_per_million_output_tokens", maximize="context_tokens",
                         over=["hardware", "batch"])       # one frontier per model
    ds.where(ds.kv.pareto_mask(minimize=["decode_step_s", "usd_per_session"]))
    edge = ds.kv.boundary("batch", "decode_compute_bound")  # batch where decode turns
                                                              # compute-bound, per other dims
"""

from __future__ import annotations

import xarray as xr

from . import _boundary, _frontier


@xr.register_dataset_accessor("kv")
class KvAccessor:
    """kvjax analyses of a sweep dataset (Pareto sets and regime boundaries)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def pareto_mask(self, minimize=(), maximize=(), over=None) -> xr.DataArray:
        """Bool mask of the Pareto set (``kvjax.analysis.pareto_mask``)."""
        return _frontier.pareto_mask(self._ds, minimize, maximize, over)

    def pareto(self, minimize=(), maximize=(), over=None, extra=()) -> xr.Dataset:
        """The Pareto points along a ``point`` dim (``kvjax.analysis.pareto_table``)."""
        return _frontier.pareto_table(self._ds, minimize, maximize, over, extra)

    def boundary(self, dim: str, condition: str, target=None, **kw) -> xr.Dataset:
        """Where along ``dim`` the ``condition`` holds, per point of the other dims
        (``kvjax.analysis.boundary_dataset``)."""
        return _boundary.boundary_dataset(self._ds, dim, condition, target, **kw)
