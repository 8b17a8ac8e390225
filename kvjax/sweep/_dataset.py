"""Sweep results as labelled ``xarray.Dataset``s: coordinates, attrs, provenance, opening.

Dims are the spec's axis names.  A catalog axis is labelled by catalog ids, with per-entry
fields as non-dimension coordinates (``model_params_total``, ``hardware_vendor``, ...); a
numeric axis by its values, with the leaf's ``units``.  Every variable carries ``units`` and
``long_name`` (hvplot labels plots from them); regime codes are int8 with CF
``flag_values`` / ``flag_meanings``; bools are bool.  Provenance is in the global attrs.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path

import numpy as np

from .._version import __version__
from ..errors import fail
from ..model import METRICS, REGIMES, TIE_CONVENTION, leaf_info
from . import _zarr_writer as st
from ._outputs import os_error, store_attrs
from ._outputs import verify as verify_store
from ._plan import Plan
from ._spec import ELASTICITY_DIMS, ELASTICITY_VAR, SweepSpec
from ._storage import is_url, store_files

# Per-entry fields kept as non-dimension coordinates of a catalog axis: (field, units).
MODEL_FIELDS = (
    ("name", None), ("hf_id", None), ("hypothetical", None), ("params_total", "1"),
    ("n_layers", "1"), ("n_heads", "1"), ("n_kv_heads", "1"), ("head_dim", "1"),
    ("max_context_tokens", "tokens"),
)  # fmt: skip
HARDWARE_FIELDS = (
    ("name", None), ("vendor", None), ("hypothetical", None), ("flop_per_s", "FLOP/s"),
    ("hbm_bytes", "bytes"), ("hbm_bytes_per_s", "bytes/s"), ("usd_per_hour", "USD/h"),
)  # fmt: skip


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def flag_meanings() -> str:
    """CF ``flag_meanings`` of the regime codes: one word per code."""
    return " ".join(re.sub(r"[^A-Za-z0-9]+", "_", REGIMES[k]).strip("_") for k in sorted(REGIMES))


def metric_attrs(name: str) -> dict:
    info = METRICS[name]
    attrs = {"units": info.units, "long_name": info.long_name, "kvjax_kind": info.kind}
    if info.kind == "code":
        attrs["flag_values"] = sorted(REGIMES)
        attrs["flag_meanings"] = flag_meanings()
        attrs["comment"] = "-1: not computed yet (partial store)"
    return attrs


ELASTICITY_COMMENT = (
    "d ln(metric) / d ln(knob) by forward-mode autodiff (kvjax.model.elasticity), the other "
    f"leaves held fixed. {TIE_CONVENTION} NaN where the metric is NaN or infinite (an "
    "infeasible point: the KV does not fit); 0 where the knob is 0."
)


def elasticity_attrs() -> dict:
    """Attrs of the ``elasticity`` variable."""
    return {"units": "1", "long_name": "elasticity d ln(metric) / d ln(knob)",
            "kvjax_kind": "elasticity", "comment": ELASTICITY_COMMENT}  # fmt: skip


def variable_metas(plan: Plan) -> list[st.VarMeta]:
    """The stored arrays of a plan: one per metric, over the axes it depends on, and the
    ``elasticity`` variable (dims ``(metric, knob, *its dims)``, one zarr chunk per
    ``(metric, knob)`` pair and compute chunk) if the spec has one."""
    spec, out = plan.spec, []
    for m, dims in plan.var_dims.items():
        shape, chunks = plan.var_shape(dims)
        out.append(st.VarMeta(m, tuple(spec.axes[j].name for j in dims), shape, chunks,
                              plan.var_dtype(m), plan.var_fill(m), metric_attrs(m)))  # fmt: skip
    if plan.elast_dims is not None:
        e = spec.elasticity
        shape, chunks = plan.var_shape(plan.elast_dims)
        out.append(st.VarMeta(
            ELASTICITY_VAR, (*ELASTICITY_DIMS, *(spec.axes[j].name for j in plan.elast_dims)),
            (len(e.metrics), len(e.wrt), *shape), (1, 1, *chunks), plan.dtype, float("nan"),
            elasticity_attrs(),
        ))  # fmt: skip
    return out


def _strings(values) -> np.ndarray:
    """Variable-length strings (zarr v3 ``string``; fixed-width ``<U`` has no v3 spec)."""
    return np.array(list(values), dtype=np.dtypes.StringDType())


def _field_value(info: dict, tree: dict, key: str):
    v = tree.get(key, info.get(key))
    return "" if v is None else v


def coords_dataset(spec: SweepSpec, catalog):
    """An ``xarray.Dataset`` holding only the coordinates of ``spec``'s grid."""
    import xarray as xr

    coords = {}
    for a in spec.axes:
        if a.kind == "leaf":
            group, leaf = a.leaf.split(".")
            attrs = {"units": leaf_info(a.leaf).units, "long_name": leaf.replace("_", " "),
                     "kvjax_leaf": a.leaf}  # fmt: skip
            coords[a.name] = xr.Variable(a.name, np.asarray(a.values, np.float64), attrs)
            continue
        names = list(a.values)
        coords[a.name] = xr.Variable(
            a.name, _strings(names),
            {"long_name": f"{a.kind} (catalog id)", "kvjax_catalog": a.kind},
        )  # fmt: skip
        if a.kind == "model":
            infos = [catalog.model_info(n) for n in names]
            trees = [catalog.load_model(n).as_dict() for n in names]
            fields = MODEL_FIELDS
        else:
            infos = [catalog.hardware_info(n) for n in names]
            trees = [catalog.load_hardware(n, a.precision).as_dict() for n in names]
            fields = HARDWARE_FIELDS
        for key, units in fields:
            vals = [_field_value(i, t, key) for i, t in zip(infos, trees, strict=True)]
            if units is None:
                if all(isinstance(v, bool) for v in vals):
                    arr = np.asarray(vals, dtype=bool)
                else:
                    arr = _strings([str(v) for v in vals])
                attrs = {"long_name": f"{a.kind} {key.replace('_', ' ')}"}
            else:
                arr = np.asarray([np.nan if v == "" else float(v) for v in vals], np.float64)
                attrs = {"units": units, "long_name": f"{a.kind} {key.replace('_', ' ')}"}
            coords[f"{a.name}_{key}"] = xr.Variable(a.name, arr, attrs)
    e = spec.elasticity
    if e is not None:
        coords["metric"] = xr.Variable(
            "metric", _strings(e.metrics), {"long_name": "metric (kvjax.model.METRICS name)"}
        )
        coords["knob"] = xr.Variable("knob", _strings(e.wrt),
                                     {"long_name": "knob (scenario leaf path)"})  # fmt: skip
    return xr.Dataset(coords=coords)


def provenance(spec: SweepSpec, plan, catalog_hash: str) -> dict:
    """Global attrs: spec text and hash, catalog hash, versions, device, dtype, time."""
    import jax

    dev = jax.devices()[0]
    return {
        "title": f"kvjax sweep {spec.name}",
        "description": spec.description,
        "kvjax_spec_name": spec.name,
        "kvjax_spec_source": spec.source,
        "kvjax_spec": spec.text,
        "kvjax_spec_hash": spec.hash,
        "kvjax_catalog_hash": catalog_hash,
        "kvjax_version": __version__,
        "jax_version": jax.__version__,
        "device": f"{dev.platform}:{dev.device_kind} x{jax.device_count()}",
        "kvjax_dtype": plan.dtype,
        "kvjax_created": utc_now(),
        "kvjax_dims": list(spec.dims),
        "kvjax_chunks": list(plan.chunks),
        "kvjax_n_chunks": plan.n_chunks,
        "kvjax_grid_points": spec.size,
        st.STATUS_KEY: "incomplete",
        "Conventions": "CF-1.10",
        "references": "Yao Fu, Challenges in Deploying Long-Context Transformers, arXiv 2405.08944",
    }


def completeness(store) -> tuple[int, int]:
    """(chunks with a done record, chunks in the grid) of a store."""
    attrs = store_attrs(store)
    return len(st.done_chunks(store)), int(attrs.get("kvjax_n_chunks", 0))


def open_sweep(store, allow_partial: bool = False, chunks=None, verify: bool = False):
    """Open a sweep store as an ``xarray.Dataset`` (lazily loaded).

    Args:
      store: a directory written by :func:`kvjax.sweep.run_sweep`.
      allow_partial: open a store that is still being written or was interrupted; chunks
        not yet computed read as NaN (floats), False (bools) or -1 (regime codes).
      chunks: passed to ``xarray.open_dataset`` (``{}`` for dask arrays, if dask is installed).
      verify: first check every chunk file against its done record (present, size, CRC-32:
        ``kvjax.sweep.verify``); reads the whole store once.

    Raises:
      InputError: not a kvjax store, unreadable metadata, incomplete and ``allow_partial``
        is False, or (``verify``) missing or corrupt chunk files, named.
    """
    import xarray as xr

    path = store if is_url(store) else Path(store)
    attrs = store_attrs(path)
    if attrs.get(st.STATUS_KEY) != "complete" and not allow_partial:
        done, total = completeness(path)
        raise fail(f"incomplete sweep store ({done}/{total} chunks done); finish it with "
                   "`kvjax sweep SPEC -o STORE --resume` or pass allow_partial=True",
                   field="store", value=str(store))  # fmt: skip
    if verify:
        v = verify_store(path)
        if not v.ok:
            raise fail(v.summary(), field="store", value=str(store))
    consolidated = "consolidated_metadata" in json.loads(store_files(path).read("zarr.json"))
    try:
        ds = xr.open_dataset(path, engine="zarr", consolidated=consolidated, chunks=chunks)
    except (ValueError, KeyError, TypeError) as e:  # a damaged array's metadata
        raise fail(f"corrupt store metadata ({type(e).__name__}: {str(e).splitlines()[0]})",
                   field="store", value=str(store)) from None  # fmt: skip
    except OSError as e:
        raise os_error(e, path, doing="reading") from None
    order = [m for m in METRICS if m in ds.data_vars]
    return ds[order + [v for v in ds.data_vars if v not in order]]


def info(store) -> dict:
    """Dims, variables, provenance and completeness of a store, as plain data."""
    path = store if is_url(store) else Path(store)
    ds = open_sweep(path, allow_partial=True)
    done, total = completeness(path)
    attrs = dict(ds.attrs)
    return {
        "store": str(path),
        "dims": {d: int(ds.sizes[d]) for d in attrs.get("kvjax_dims", list(ds.sizes))},
        "coords": {k: str(v.dtype) for k, v in ds.coords.items()},
        "variables": {
            k: {
                "dims": v.dims,
                "dtype": str(v.dtype),
                "units": v.attrs.get("units"),
                "long_name": v.attrs.get("long_name"),
            }
            for k, v in ds.data_vars.items()
        },  # fmt: skip
        "status": attrs.get(st.STATUS_KEY),
        "chunks_done": done,
        "chunks_total": total,
        "attrs": {k: v for k, v in attrs.items() if k != "kvjax_spec"},
        "spec_text": attrs.get("kvjax_spec", ""),
    }
