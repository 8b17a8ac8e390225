"""Sweep results as labelled ``xarray.Dataset``s: coordinates, attrs, provenance, opening.

Dims are the spec's axis names.  A catalog axis is labelled by catalog ids, with per-entry
fields as non-dimension coordinates (``model_params_total``, ``hardware_vendor``, ...); a
numeric axis by its values, with the leaf's ``units``.  Every variable carries ``units`` and
``long_name`` (hvplot labels plots from them), and every ``units`` string parses with pint
once ``kvjax.units.unit_registry()`` has added FLOP, USD and tokens; regime codes are int8
with CF ``flag_values`` / ``flag_meanings``; bools are bool.  A numeric axis records how it
was spaced (``kvjax_spacing``: ``log`` or ``linear``; plots use log axes for ``log``); a
catalog axis also keeps its ids in the ``kvjax_labels`` attr (a JSON list), for readers with
no string dtype, and its text fields (names, vendors, Hugging Face ids) in ``kvjax_fields``
(JSON), which :func:`open_sweep` turns into coordinates.  Provenance is in the global
attrs.  No attr is a list of strings: lists are JSON-encoded strings (``kvjax_dims``,
``kvjax_chunks``), so ``ds.to_netcdf()`` works; :func:`attr_list` reads them (and the
lists of stores written before).
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


def attr_list(attrs: dict, key: str, default=None):
    """A list-valued attr: JSON-encoded text (``'["model", "context"]'``) or, in stores
    written before that, a list; ``default`` when absent.

    >>> attr_list({"kvjax_dims": '["batch", "context"]'}, "kvjax_dims")
    ['batch', 'context']
    >>> attr_list({"kvjax_dims": ["batch"]}, "kvjax_dims"), attr_list({}, "x", [])
    (['batch'], [])
    """
    v = attrs.get(key)
    if v is None:
        return default
    if isinstance(v, str):
        return list(json.loads(v))
    return list(v)


def text_field_coords(ds) -> dict:
    """The catalog axes' text fields (``model_name``, ``model_hf_id``, ``hardware_vendor``,
    ...) as coordinates, from each catalog coordinate's ``kvjax_fields`` attr (a JSON
    ``{coord name: [value per entry]}``).  They are stored as an attr, not as string arrays,
    so that any reader (dask's ``chunks="auto"``, readers without a string type) opens the
    store; ``open_sweep`` adds them back."""
    import xarray as xr

    out = {}
    for dim in ds.dims:
        c = ds.coords.get(dim)
        text = c.attrs.get("kvjax_fields") if c is not None else None
        if not text:
            continue
        kind = c.attrs.get("kvjax_catalog", dim)
        for name, vals in json.loads(text).items():
            words = name[len(dim) + 1 :].replace("_", " ")
            out[name] = xr.Variable(dim, _strings(vals), {"long_name": f"{kind} {words}"})
    return out


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
                     "kvjax_leaf": a.leaf, "kvjax_spacing": a.spacing}  # fmt: skip
            coords[a.name] = xr.Variable(a.name, np.asarray(a.values, np.float64), attrs)
            continue
        names = list(a.values)
        coords[a.name] = xr.Variable(
            a.name, _strings(names),
            {"long_name": f"{a.kind} (catalog id)", "kvjax_catalog": a.kind,
             "kvjax_labels": json.dumps(names)},
        )  # fmt: skip
        if a.kind == "model":
            infos = [catalog.model_info(n) for n in names]
            trees = [catalog.load_model(n).as_dict() for n in names]
            fields = MODEL_FIELDS
        else:
            infos = [catalog.hardware_info(n) for n in names]
            trees = [catalog.load_hardware(n, a.precision).as_dict() for n in names]
            fields = HARDWARE_FIELDS
        text_fields = {}
        for key, units in fields:
            vals = [_field_value(i, t, key) for i, t in zip(infos, trees, strict=True)]
            if units is None:
                if not all(isinstance(v, bool) for v in vals):
                    text_fields[f"{a.name}_{key}"] = [str(v) for v in vals]
                    continue  # kept in the kvjax_fields attr; open_sweep makes coords of them
                arr = np.asarray(vals, dtype=bool)
                attrs = {"long_name": f"{a.kind} {key.replace('_', ' ')}"}
            else:
                arr = np.asarray([np.nan if v == "" else float(v) for v in vals], np.float64)
                attrs = {"units": units, "long_name": f"{a.kind} {key.replace('_', ' ')}"}
            coords[f"{a.name}_{key}"] = xr.Variable(a.name, arr, attrs)
        coords[a.name].attrs["kvjax_fields"] = json.dumps(text_fields)
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
        "kvjax_dims": json.dumps(list(spec.dims)),
        "kvjax_chunks": json.dumps([int(c) for c in plan.chunks]),
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
    files = store_files(path)
    meta = json.loads(files.read("zarr.json"))
    consolidated = "consolidated_metadata" in meta
    if consolidated:  # a stat per array: a deleted array would read as a traceback later
        names = (meta["consolidated_metadata"] or {}).get("metadata") or {}
        gone = sorted(n for n in names if not files.is_file(f"{n}/zarr.json"))
        if gone:
            raise fail(f"damaged store: {len(gone)} array(s) listed but missing on disk "
                       f"({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''})",
                       field="store", value=str(store))  # fmt: skip
    try:
        ds = xr.open_dataset(path, engine="zarr", consolidated=consolidated, chunks=chunks)
        ds = ds.assign_coords(text_field_coords(ds))
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
        "dims": {d: int(ds.sizes[d]) for d in attr_list(attrs, "kvjax_dims", list(ds.sizes))},
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
