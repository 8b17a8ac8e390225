"""What the explorer shows, as pure functions of a stored sweep (no Panel, no Bokeh).

Every widget decision is made here and unit-tested in Python; ``_app`` only draws:

- which variables can be plotted (:func:`float_metrics`, :func:`code_metrics`), against
  which axes (:func:`numeric_dims`), coloured by which (:func:`catalog_dims`);
- the selectors a variable needs (:func:`selectors`): one per dim *of that variable* that
  is neither the x axis nor the colour -- a select for a catalog axis, a discrete slider for
  a numeric one; a variable without a dim gets no widget for it;
- log scale where the axis was made with ``geomspace`` (:func:`is_log`, from the store's
  ``kvjax_spacing``), labels from ``long_name`` and ``units`` (:func:`label`), titles from the
  variable and the selection only, never from the catalog fields (:func:`title`);
- the slice to draw (:func:`curve_slice`, :func:`map_slice`, :func:`pareto_points`): only
  the displayed values are read from the (lazily opened) store.

Example, on a store with dims ``model, hardware, batch, context``::

    >>> # selectors(ds, "decode_step_s", x="context", by="hardware")
    >>> # -> [Selector("model", "select", (...ids...), "yi-34b"),
    >>> #     Selector("batch", "slider", (1.0, 2.0, ...), 1.0)]
    >>> # selectors(ds, "prefill_s", "context", "hardware")   # no batch: prefill is per user
    >>> # -> [Selector("model", "select", ...)]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

UNITLESS = ("", "1", None)


@dataclass(frozen=True)
class Selector:
    """One widget that fixes a dim: ``kind`` is ``"select"`` (catalog ids) or ``"slider"``
    (the numeric axis' values, discrete); ``value`` its current value."""

    dim: str
    kind: str
    options: tuple
    value: object
    label: str


# ----------------------------------------------------------------------------- variables


def _kind(ds, name) -> str:
    v = ds[name]
    k = v.attrs.get("kvjax_kind")
    if k:
        return k
    if v.dtype.kind == "f":
        return "float"
    return "bool" if v.dtype.kind == "b" else "other"


def float_metrics(ds) -> list[str]:
    """Float variables with at least one dim (the plottable metrics), in store order."""
    return [n for n in ds.data_vars if _kind(ds, n) == "float" and ds[n].ndim > 0]


def code_metrics(ds) -> list[str]:
    """Regime-code variables (CF ``flag_values``) with at least one dim."""
    return [n for n in ds.data_vars if _kind(ds, n) == "code" and ds[n].ndim > 0]


def is_catalog(ds, dim) -> bool:
    """A dim labelled by strings (catalog ids, metric or knob names)."""
    return ds.coords[dim].dtype.kind not in "fiub" if dim in ds.coords else False


def numeric_dims(ds, var=None) -> list[str]:
    """The numeric dims (of ``var``, else of the store), in order."""
    dims = ds[var].dims if var is not None else tuple(ds.dims)
    return [d for d in dims if d in ds.coords and not is_catalog(ds, d)]


def catalog_dims(ds, var=None) -> list[str]:
    """The string-labelled dims (of ``var``, else of the store), in order."""
    dims = ds[var].dims if var is not None else tuple(ds.dims)
    return [d for d in dims if is_catalog(ds, d)]


def is_log(ds, dim) -> bool:
    """Log scale for ``dim``: the store recorded ``kvjax_spacing = "log"`` (a geomspace, or a
    geometric list such as batch 1, 2, 4, ...); stores without the attr: values positive and
    in one geometric progression."""
    c = ds.coords[dim]
    spacing = c.attrs.get("kvjax_spacing")
    if spacing is not None:
        return spacing == "log"
    v = np.sort(np.asarray(c.values, dtype=np.float64))
    if v.size < 3 or v[0] <= 0:
        return False
    r = v[1:] / v[:-1]
    return bool(np.allclose(r, r[0], rtol=1e-6) and r[0] > 1)


def label(ds, name) -> str:
    """``"time per output token (s)"``: ``long_name`` and ``units`` (none for ``1``)."""
    attrs = ds[name].attrs
    text = attrs.get("long_name") or name
    units = attrs.get("units")
    return text if units in UNITLESS else f"{text} ({units})"


def fmt_value(v) -> str:
    """A coordinate value as a label: ``8``, ``1.122e+04``, ``yi-34b``."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v)


def title(ds, var, selection: dict) -> str:
    """The variable's ``long_name`` and the selected values (``dim = value``) only."""
    head = ds[var].attrs.get("long_name") or var
    parts = [f"{d} = {fmt_value(v)}" for d, v in selection.items()]
    return head + (f" -- {', '.join(parts)}" if parts else "")


def labels(ds, dim) -> list[str]:
    """The labels of a catalog dim: its values, or the ``kvjax_labels`` attr."""
    c = ds.coords[dim]
    if c.dtype.kind in "OUST" or str(c.dtype).startswith("StringDType"):
        return [str(v) for v in c.values]
    return json.loads(c.attrs["kvjax_labels"])


# ----------------------------------------------------------------------------- widgets


def default_x(ds, var) -> str | None:
    """``context`` if the variable has it, else its first numeric dim (None: no curve)."""
    nums = numeric_dims(ds, var)
    for pref in ("context", "context_tokens"):
        if pref in nums:
            return pref
    return nums[0] if nums else None


def default_by(ds, var, x) -> str | None:
    """``hardware`` if the variable has it, else its first catalog dim other than ``x``,
    else its first other numeric dim (None: a single curve)."""
    cats = [d for d in catalog_dims(ds, var) if d != x]
    if "hardware" in cats:
        return "hardware"
    if cats:
        return cats[0]
    others = [d for d in numeric_dims(ds, var) if d != x]
    return others[0] if others else None


def selectors(ds, var, x, by, previous: dict | None = None) -> list[Selector]:
    """One selector per dim of ``var`` other than ``x`` and ``by``; a value in ``previous``
    (the last selection) is kept where it is still an option."""
    previous = previous or {}
    out = []
    for d in ds[var].dims:
        if d in (x, by):
            continue
        values = tuple(labels(ds, d)) if is_catalog(ds, d) else tuple(
            float(v) for v in np.asarray(ds.coords[d].values, dtype=np.float64)
        )  # fmt: skip
        kind = "select" if is_catalog(ds, d) else "slider"
        value = previous.get(d, values[0])
        if value not in values:
            value = values[0]
        out.append(Selector(d, kind, values, value, label(ds, d) if d in ds.coords else d))
    return out


def selection_of(sels: list[Selector]) -> dict:
    return {s.dim: s.value for s in sels}


# ----------------------------------------------------------------------------- slices


def _fits_mask(ds, var_da, selection):
    """``fits`` at the selection, broadcast to ``var_da`` (a point of a per-user variable
    that lacks the batch dim fits if some stored batch does: fits falls with batch)."""
    if "fits" not in ds.data_vars:
        return None
    f = ds["fits"].sel({d: v for d, v in selection.items() if d in ds["fits"].dims})
    extra = [d for d in f.dims if d not in var_da.dims]
    if extra:
        f = f.any(extra)
    return f.load()


def curve_slice(ds, var, x, by, selection: dict, fits_only: bool = False):
    """The ``(by, x)`` (or ``(x,)``) values of ``var`` at ``selection``, loaded: the only
    part of the store read.  With ``fits_only``, points where ``fits`` is False are NaN."""
    da = ds[var].sel({d: v for d, v in selection.items() if d in ds[var].dims})
    order = [d for d in (by, x) if d is not None and d in da.dims]
    da = da.transpose(*order).load()
    if fits_only:
        mask = _fits_mask(ds, da, selection)
        if mask is not None:
            da = da.where(mask.transpose(*[d for d in order if d in mask.dims]))
    return da


def map_slice(ds, var, x, y, selection: dict):
    """The ``(y, x)`` grid of ``var`` at ``selection``, loaded."""
    da = ds[var].sel({d: v for d, v in selection.items() if d in ds[var].dims})
    return da.transpose(y, x).load()


def regime_names(ds, var) -> dict[int, str]:
    """``{code: name}`` of a regime variable, from CF ``flag_values`` / ``flag_meanings``."""
    a = ds[var].attrs
    values = a.get("flag_values")
    if values is None:
        return {}
    if isinstance(values, str):
        values = json.loads(values)
    names = str(a.get("flag_meanings", "")).split()
    return {int(v): n.replace("_", " ") for v, n in zip(np.atleast_1d(values), names)}


BOUNDARY_CONDITIONS = {
    "decode_regime": ("fits", "decode_compute_bound"),
    "prefill_regime": ("fits_one", "prefill_compute_bound"),
    "session_regime": ("fits", "decode_compute_bound"),
}
"""Regime boundaries drawn on a map of each regime variable (others: ``fits``)."""


def boundary_conditions(var) -> tuple[str, ...]:
    return BOUNDARY_CONDITIONS.get(var, ("fits",))


# ----------------------------------------------------------------------------- pareto


def pareto_points(ds, x_obj, y_obj, selection: dict, over, fits_only: bool = True):
    """The points of the slice at ``selection`` (every dim in ``over`` free) as flat arrays,
    with the Pareto front of minimising (or maximising, by the metric's sense) both.

    Returns ``(points, mask)``: ``points`` a dict of 1-D arrays (``x``, ``y`` and one per
    free dim), ``mask`` True on the front (``ds.kv.pareto_mask`` across the free dims).
    """
    from ..analysis import pareto_mask

    sub = ds[[x_obj, y_obj]].sel({d: v for d, v in selection.items() if d in ds.dims})
    if fits_only and "fits" in ds.data_vars:
        f = ds["fits"].sel({d: v for d, v in selection.items() if d in ds["fits"].dims})
        sub = sub.where(f)
    sub = sub.load()
    minimize = [m for m in (x_obj, y_obj) if _sense(ds, m) != "max"]
    maximize = [m for m in (x_obj, y_obj) if _sense(ds, m) == "max"]
    if x_obj == y_obj:
        minimize, maximize = minimize[:1], maximize[:1]
    free = [d for d in over if d in sub[x_obj].dims or d in sub[y_obj].dims]
    mask = pareto_mask(sub, minimize, maximize, over=free or None)
    xa, ya, ma = (a.transpose(*mask.dims) for a in
                  (sub[x_obj].broadcast_like(mask), sub[y_obj].broadcast_like(mask), mask))
    points = {"x": xa.values.reshape(-1), "y": ya.values.reshape(-1)}
    grids = np.meshgrid(*[np.arange(mask.sizes[d]) for d in mask.dims], indexing="ij")
    for d, g in zip(mask.dims, grids):
        points[d] = np.asarray(
            labels(ds, d) if is_catalog(ds, d) else ds.coords[d].values, dtype=object
        )[g.reshape(-1)]
    keep = np.isfinite(points["x"]) & np.isfinite(points["y"])
    return {k: v[keep] for k, v in points.items()}, ma.values.reshape(-1)[keep]


def _sense(ds, name) -> str | None:
    from ..model import METRICS

    info = METRICS.get(name)
    return info.sense if info is not None else ds[name].attrs.get("kvjax_sense")


def scenario_rows(ds, point: dict) -> list[tuple[str, str, str]]:
    """Everything the store knows at ``point`` (a value for every dim): each coordinate
    (with its catalog fields) and each variable, as ``(name, value, units)`` rows."""
    at = {d: v for d, v in point.items() if d in ds.dims}
    rows = []
    sub = ds.sel(at)
    for name, c in sub.coords.items():
        if c.ndim == 0:
            rows.append((name, fmt_value(c.values.item()), c.attrs.get("units", "") or ""))
    for name in ds.data_vars:
        v = sub[name]
        if v.ndim:
            continue  # e.g. the elasticity (metric x knob): see ranked_knobs
        x = v.values.item()
        if _kind(ds, name) == "code":
            x = regime_names(ds, name).get(int(x), x)
        elif isinstance(x, float) and math.isnan(x):
            x = "NaN (does not fit)"
        rows.append((name, fmt_value(x), v.attrs.get("units", "") or ""))
    return rows


def scenario_leaves(ds, point: dict) -> list[tuple[str, str, str]]:
    """Every leaf of the scenario at ``point``, rebuilt from the spec in the store's attrs
    (``kvjax.analysis.store_scenarios``), as ``(group.leaf, value, units)`` rows; empty for
    a dataset without a spec."""
    from ..analysis import store_scenarios
    from ..model import leaf_info

    if not (ds.attrs.get("kvjax_spec") or ds.attrs.get("spec")):
        return []
    at = {d: v for d, v in point.items() if d in ds.dims}
    trees, _ = store_scenarios(ds.sel(at))
    rows = []
    for group, tree in zip(("model", "hardware", "workload"), trees):
        for name, v in tree.as_dict().items():
            path = f"{group}.{name}"
            units = leaf_info(path).units
            rows.append((path, fmt_value(float(np.asarray(v).reshape(-1)[0])),
                         "" if units == "1" else units))  # fmt: skip
    return rows


def ranked_knobs(ds, point: dict, metric: str) -> list[tuple[str, float]]:
    """The stored elasticities of ``metric`` at ``point``, knobs ranked by ``|e|``; empty
    where the store holds none for that metric."""
    if "elasticity" not in ds.data_vars or metric not in labels(ds, "metric"):
        return []
    e = ds["elasticity"].sel(metric=metric, **{d: v for d, v in point.items()
                                               if d in ds["elasticity"].dims})  # fmt: skip
    values = np.asarray(e.load().values, dtype=np.float64)
    knobs = labels(ds, "knob")
    rows = [(k, float(x)) for k, x in zip(knobs, values.reshape(-1)) if np.isfinite(x)]
    return sorted(rows, key=lambda r: -abs(r[1]))


# ----------------------------------------------------------------------------- colours


def palette(n: int) -> list[str]:
    """``n`` distinct colours: Category10 up to 10, then Glasbey's maximally distinct set
    (256), so every catalog entry (24 accelerators, 30 models) gets its own.

    >>> palette(3)
    ['#1f77b4', '#ff7f0e', '#2ca02c']
    >>> len(set(palette(30))) == 30
    True
    """
    import colorcet

    rgb = colorcet.glasbey_category10[: max(n, 0)]
    if n > len(rgb):
        raise ValueError(f"{n} colours asked; at most {len(colorcet.glasbey_category10)}")
    return ["#" + "".join(f"{int(round(255 * c)):02x}" for c in col) for col in rgb]


def live_seed(ds, n_hardware: int = 3):
    """``(model, [hardware...], precision)`` for the Live tab of a store: its first model and
    first ``n_hardware`` accelerators (None when the store has no model or hardware axis)."""
    if "model" not in ds.dims or "hardware" not in ds.dims:
        return None
    return labels(ds, "model")[0], labels(ds, "hardware")[:n_hardware], "bf16"


def check_store(ds, source: str) -> None:
    """Refuse a store with nothing to plot (one-line ``InputError``)."""
    from ..errors import InputError

    if not float_metrics(ds):
        raise InputError(f"{source}: no float metric with a dim to plot "
                         f"(variables: {', '.join(ds.data_vars) or 'none'})")  # fmt: skip
    if not any(numeric_dims(ds, v) for v in float_metrics(ds)):
        raise InputError(f"{source}: no numeric axis to plot against")
