"""A selection of a stored sweep, written as netCDF, Parquet, CSV or zarr.

One place decides how tables leave kvjax (``kvjax export`` and ``kvjax frontier --out``):

- the format comes from ``--to`` or the file's extension (``.nc``, ``.parquet``/``.pq``,
  ``.csv``, ``.zarr``);
- an existing path is never replaced without ``overwrite``, a directory is never replaced
  by a file (no directory named ``x.csv``), and the output is never one of its inputs (nor
  inside one, nor holding one);
- the file is written beside its final path and renamed into place, so a failed export
  leaves nothing behind.

A selection is ``{dim: [labels]}`` (``select``): labels are catalog ids or numbers,
matched exactly (numbers to within 1e-9 relative), unknown ones answered with suggestions.
CSV and Parquet are long tables, one row per point, one column per dim and variable
(``to_dataframe``); catalog fields (``model_params_total``, ...) come along with
``catalog_fields=True``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError, suggest

FORMATS = {".nc": "netcdf", ".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
           ".zarr": "zarr"}  # fmt: skip
"""File extension -> format."""

EXTENSION = {"netcdf": ".nc", "parquet": ".parquet", "csv": ".csv", "zarr": ".zarr"}


def format_of(path, to: str | None = None) -> str:
    """The output format: ``to`` if given, else from the extension of ``path``.

    >>> format_of("front.csv"), format_of("out.ZARR"), format_of("x.bin", "netcdf")
    ('csv', 'zarr', 'netcdf')
    """
    if to is not None:
        if to not in EXTENSION:
            raise InputError(f"--to {to!r}: one of {', '.join(EXTENSION)}{suggest(to, EXTENSION)}")
        return to
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise InputError(f"{path}: unknown extension {ext or '(none)'!r}; use one of "
                         f"{', '.join(FORMATS)} (or --to FORMAT)")  # fmt: skip
    return FORMATS[ext]


def check_output(path, overwrite: bool, inputs=(), fmt: str | None = None) -> None:
    """Refuse an output path that exists (unless ``overwrite``), that is a folder of the
    user's files, that is, holds or lies inside one of ``inputs``
    (``kvjax.sweep.check_output_path``), or that is a directory where a file would go."""
    from ..sweep import check_output_path

    one_file = fmt if fmt is not None and fmt != "zarr" else None
    check_output_path(path, overwrite=overwrite, inputs=inputs, what="output", one_file=one_file)


def _match(coord, raw: str, dim: str):
    values = coord.values
    if values.dtype.kind in "fiu":
        try:
            x = float(raw)
        except ValueError:
            raise InputError(f"--sel {dim}={raw!r}: {dim} is numeric; expected a number") from None
        hit = np.flatnonzero(np.isclose(values.astype(np.float64), x, rtol=1e-9, atol=0.0))
        if hit.size == 0:
            near = [f"{v:g}" for v in values[np.argsort(np.abs(values - x))[:3]]]
            raise InputError(f"--sel {dim}={raw}: not on the grid; nearest {', '.join(near)}")
        return values[hit[0]]
    names = [str(v) for v in values]
    if raw not in names:
        raise InputError(f"--sel {dim}={raw!r}: no such {dim}{suggest(raw, names)}")
    return values[names.index(raw)]


def parse_selection(items) -> dict[str, list[str]]:
    """``["model=yi-34b,llama-2-7b", "batch=8"]`` -> ``{"model": [...], "batch": ["8"]}``.

    >>> parse_selection(["model=yi-34b,mistral-7b", "batch=8"])
    {'model': ['yi-34b', 'mistral-7b'], 'batch': ['8']}
    """
    out: dict[str, list[str]] = {}
    for item in items or ():
        dim, sep, raw = str(item).partition("=")
        if not sep or not raw.strip():
            raise InputError(f"--sel {item!r}: expected DIM=VALUE[,VALUE...]")
        out.setdefault(dim.strip(), []).extend(x.strip() for x in raw.split(",") if x.strip())
    return out


def select(ds, selection: dict, variables=()):
    """The part of ``ds`` at ``selection`` (``{dim: [labels]}``), with only ``variables``
    (default: all); every dim keeps its name (a one-label selection stays a dim)."""
    for dim in selection:
        if dim not in ds.dims:
            raise InputError(f"--sel {dim}: not a dim of the store{suggest(dim, list(ds.dims))}")
    index = {d: [_match(ds.coords[d], r, d) for r in raws] for d, raws in selection.items()}
    if variables:
        for v in variables:
            if v not in ds.data_vars:
                raise InputError(f"--vars {v}: no such variable{suggest(v, list(ds.data_vars))}")
        ds = ds[list(variables)]
    return ds.sel(index)


def write(ds, path, fmt: str | None = None, overwrite: bool = False, inputs=(),
          catalog_fields: bool = False) -> str:  # fmt: skip
    """Write ``ds`` to ``path`` in ``fmt`` (default: from the extension); returns the format.

    Parquet needs pyarrow and netCDF4 files need netCDF4 (``pip install 'kvjax[export]'``);
    without netCDF4, netCDF is written as netCDF3 by scipy (which JAX installs).
    """
    from ..sweep import safe_output

    fmt = format_of(path, fmt)
    check_output(path, overwrite, inputs, fmt)
    with safe_output(path, overwrite=overwrite, inputs=inputs) as tmp:
        if fmt == "zarr":
            with warnings.catch_warnings():  # zarr-python: "not part of the v3 spec (yet)"
                warnings.filterwarnings("ignore", "Consolidated metadata", UserWarning)
                ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=3)
        elif fmt == "netcdf":
            ds.to_netcdf(tmp, engine=_netcdf_engine())
        else:
            df = _frame(ds, catalog_fields)
            if fmt == "csv":
                df.to_csv(tmp)
            else:
                _need("pyarrow", "Parquet")
                df.to_parquet(tmp)
    return fmt


def _frame(ds, catalog_fields: bool):
    if not catalog_fields:
        ds = ds.drop_vars([c for c in ds.coords if c not in ds.dims])
    if not ds.dims:  # a single point: one row
        ds = ds.expand_dims("point")
    return ds.to_dataframe()


def records(ds, limit: int | None = None) -> list[dict]:
    """The points of ``ds`` as JSON-ready rows ``{dim or variable: value}``."""
    df = _frame(ds, catalog_fields=False).reset_index()
    if limit is not None:
        df = df.head(limit)
    return [{k: _scalar(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def _scalar(v):
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v if isinstance(v, (int, str)) or v is None else str(v)


def _netcdf_engine() -> str:
    try:
        import netCDF4  # noqa: F401

        return "netcdf4"
    except ImportError:
        return "scipy"


def _need(module: str, what: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise InputError(f"{what} output needs {module}: pip install 'kvjax[export]'") from None
