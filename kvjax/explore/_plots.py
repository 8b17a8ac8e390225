"""Bokeh figures of sweep slices, shared by the app (``_app``) and the report (``_report``).

Each function takes an already-loaded slice (``kvjax.explore._logic``) and returns a Bokeh
model; titles and axis labels come from the variables' ``long_name`` and ``units``, log axes
from the store's ``kvjax_spacing``; colours from :func:`kvjax.explore._logic.palette`.
Every figure's ``name`` (``curves``, ``map``, ``pareto``, ``live``) lets a browser test find
it in the document model.
"""

from __future__ import annotations

import numpy as np

from . import _logic as L

WIDTH, HEIGHT = 760, 440


def _figure(name, title, x_label, y_label, logx, logy, **kw):
    from bokeh.plotting import figure

    p = figure(name=name, title=title, width=kw.pop("width", WIDTH),
               height=kw.pop("height", HEIGHT), x_axis_type="log" if logx else "linear",
               y_axis_type="log" if logy else "linear", x_axis_label=x_label,
               y_axis_label=y_label, tools="pan,wheel_zoom,box_zoom,reset,save", **kw)  # fmt: skip
    p.toolbar.logo = None
    return p


def _positive(values) -> bool:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool((v > 0).all())


def curves(ds, var, x, by, da, selection, logy=None, name="curves"):
    """Lines of ``da`` (dims ``(by, x)`` or ``(x,)``) against ``x``, one colour per ``by``
    value (one ``multi_line`` and one scatter renderer, however many entries: fast to
    build); hover on a point shows its coordinates.  Returns ``(figure, [(label,
    colour)])`` (the app draws the legend itself, so that it can scroll)."""
    from bokeh.models import ColumnDataSource, CustomJSHover, HoverTool, LinearColorMapper

    xs = np.asarray(ds.coords[x].values, dtype=np.float64)
    vals = np.asarray(da.values, dtype=np.float64)
    if logy is None:
        logy = _positive(vals)
    p = _figure(name, L.title(ds, var, selection), L.label(ds, x), L.label(ds, var),
                L.is_log(ds, x), logy)  # fmt: skip
    groups = [var] if by is None or by not in da.dims else (
        L.labels(ds, by) if L.is_catalog(ds, by) else [L.fmt_value(v) for v in ds.coords[by].values]
    )  # fmt: skip
    rows = vals.reshape(len(groups), -1)
    if logy:
        rows = np.where(rows > 0, rows, np.nan)
    colours = L.palette(len(groups))
    names = [str(g) for g in groups]
    lines = ColumnDataSource({"xs": [xs] * len(groups), "ys": list(rows), "color": colours,
                              "by": names})  # fmt: skip
    p.multi_line("xs", "ys", source=lines, color="color", line_width=2)
    # the points as binary arrays (no per-point strings): colour and name from an index
    idx = np.repeat(np.arange(len(groups), dtype=np.int32), xs.size)
    pts = ColumnDataSource({"x": np.tile(xs, len(groups)), "y": rows.reshape(-1), "i": idx})
    mapper = LinearColorMapper(palette=colours, low=-0.5, high=len(groups) - 0.5)
    dots = p.scatter("x", "y", source=pts, size=4, line_color=None,
                     fill_color={"field": "i", "transform": mapper})  # fmt: skip
    name_of = CustomJSHover(code="return names[value]", args={"names": names})
    tips = [(x, "@x{0.[000]a}"), (var, "@y{0.[000]e}")]
    if by is not None:
        tips.insert(0, (by, "@i{custom}"))
    p.add_tools(HoverTool(renderers=[dots], formatters={"@i": name_of},
                          tooltips=tips + [(d, L.fmt_value(v)) for d, v in selection.items()]))
    return p, list(zip([str(g) for g in groups], colours))


def legend_html(items, title=None) -> str:
    """A legend as HTML: one swatch per entry, in a box that scrolls past ~20 entries."""
    import html

    rows = "".join(
        f'<div style="white-space:nowrap"><span style="display:inline-block;width:14px;'
        f'height:4px;background:{c};vertical-align:middle;margin-right:6px"></span>'
        f"{html.escape(str(n))}</div>"
        for n, c in items
    )
    head = f"<b>{html.escape(title)}</b>" if title else ""
    return (f'<div class="kvjax-legend" style="max-height:{HEIGHT - 40}px;overflow-y:auto;'
            f'font-size:12px;padding-right:8px">{head}{rows}</div>')  # fmt: skip


def heatmap(ds, var, x, y, da, selection, boundaries=(), name="map"):
    """``da`` (dims ``(y, x)``) as a heatmap: a regime variable as named categories, a
    float as a colour scale (log where all values are positive); ``boundaries`` are
    ``(label, x values, y values)`` lines drawn on top."""
    from bokeh.models import (
        BasicTicker,
        ColorBar,
        ColumnDataSource,
        CustomJSHover,
        HoverTool,
        Legend,
        LegendItem,
        LinearColorMapper,
        LogColorMapper,
    )

    xs = np.asarray(ds.coords[x].values, dtype=np.float64)
    ys = np.asarray(ds.coords[y].values, dtype=np.float64)
    vals = np.asarray(da.values)
    logx, logy = L.is_log(ds, x), L.is_log(ds, y)
    p = _figure(name, L.title(ds, var, selection), L.label(ds, x), L.label(ds, y), logx, logy,
                width=WIDTH + 140)  # fmt: skip
    xl, xr = _edges(xs, logx)
    yb, yt = _edges(ys, logy)
    gx, gy = np.meshgrid(np.arange(xs.size), np.arange(ys.size))
    gx, gy = gx.reshape(-1), gy.reshape(-1)
    data = {"left": xl[gx], "right": xr[gx], "bottom": yb[gy], "top": yt[gy],
            "x": xs[gx], "y": ys[gy]}  # fmt: skip
    names = L.regime_names(ds, var) if L._kind(ds, var) == "code" else {}
    if names:
        codes = vals.reshape(-1).astype(np.int32)
        data["value"] = codes
        order = sorted(names)
        colours = L.palette(len(order))
        mapper = LinearColorMapper(palette=colours, low=order[0] - 0.5, high=order[-1] + 0.5,
                                   low_color="#dddddd")  # code -1: not computed yet
        src = ColumnDataSource(data)
        r = p.quad(source=src, left="left", right="right", bottom="bottom", top="top",
                   fill_color={"field": "value", "transform": mapper}, line_color=None)  # fmt: skip
        present = [c for c in order if (codes == c).any()]
        leg = Legend(items=[LegendItem(label=names[c], renderers=[r],
                                       index=int(np.flatnonzero(codes == c)[0]))
                            for c in present], location="top_left")  # fmt: skip
        p.add_layout(leg, "right")
        formatter = CustomJSHover(code="return names[value] || 'not computed'",
                                  args={"names": {str(c): n for c, n in names.items()}})
        tip, formatters = "@value{custom}", {"@value": formatter}
    else:
        v = vals.reshape(-1).astype(np.float64)
        data["value"] = v
        finite = v[np.isfinite(v)]
        if finite.size and (finite > 0).all():
            mapper = LogColorMapper(palette="Viridis256", low=finite.min(), high=finite.max(),
                                    nan_color="#dddddd")  # fmt: skip
        else:
            lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
            mapper = LinearColorMapper(palette="Viridis256", low=lo, high=hi,
                                       nan_color="#dddddd")  # fmt: skip
        src = ColumnDataSource(data)
        p.quad(source=src, left="left", right="right", bottom="bottom", top="top",
               fill_color={"field": "value", "transform": mapper}, line_color=None)
        p.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker(), title=L.label(ds, var)),
                     "right")  # fmt: skip
        tip, formatters = "@value{0.[000]e}", {}
    styles = ["solid", "dashed", "dotted", "dotdash"]
    for i, (text, bx, by_) in enumerate(boundaries):
        ok = np.isfinite(bx) & np.isfinite(by_)
        if ok.any():
            p.line(np.asarray(bx)[ok], np.asarray(by_)[ok], color="black", line_width=2.5,
                   line_dash=styles[i % len(styles)], legend_label=text)  # fmt: skip
    if boundaries and p.legend:
        p.legend[0].location = "bottom_right" if not names else p.legend[0].location
    p.add_tools(HoverTool(tooltips=[(x, "@x{0.[000]a}"), (y, "@y{0.[000]a}"), (var, tip)],
                          formatters=formatters))
    p.x_range.range_padding = p.y_range.range_padding = 0
    return p


def _edges(v, log):
    """Cell edges around sorted grid values (geometric means on a log axis)."""
    v = np.asarray(v, dtype=np.float64)
    if v.size == 1:
        return (v / 1.5, v * 1.5) if log else (v - 0.5, v + 0.5)
    t = np.log(v) if log else v
    mid = (t[1:] + t[:-1]) / 2
    lo = np.concatenate([[t[0] - (mid[0] - t[0])], mid])
    hi = np.concatenate([mid, [t[-1] + (t[-1] - mid[-1])]])
    return (np.exp(lo), np.exp(hi)) if log else (lo, hi)


def pareto(ds, x_obj, y_obj, points, mask, selection, name="pareto"):
    """All points of the slice (grey) and the Pareto front (red, joined); returns
    ``(figure, source)`` -- selecting a point (tap) selects it in ``source``."""
    from bokeh.models import ColumnDataSource, HoverTool, TapTool

    logx, logy = _positive(points["x"]), _positive(points["y"])
    p = _figure(name, f"Pareto front: {L.title(ds, x_obj, {})} vs "
                f"{ds[y_obj].attrs.get('long_name', y_obj)}"
                + (f" -- {', '.join(f'{d} = {L.fmt_value(v)}' for d, v in selection.items())}"
                   if selection else ""),
                L.label(ds, x_obj), L.label(ds, y_obj), logx, logy)  # fmt: skip
    dims = [k for k in points if k not in ("x", "y")]
    data = {k: list(points[k]) if k in dims else points[k] for k in points}
    data["front"] = ["yes" if m else "no" for m in mask]
    src = ColumnDataSource(data)
    p.scatter("x", "y", source=src, size=5, color="#9a9a9a", alpha=0.5,
              selection_color="#1f77b4", selection_alpha=1.0, nonselection_alpha=0.3)  # fmt: skip
    order = np.argsort(points["x"][mask]) if mask.any() else []
    fx, fy = points["x"][mask][order], points["y"][mask][order]
    p.line(fx, fy, color="#d62728", line_width=2, legend_label="Pareto front")
    front = ColumnDataSource({k: [data[k][i] for i in np.flatnonzero(mask)[order]]
                              for k in data})  # fmt: skip
    p.scatter("x", "y", source=front, size=8, color="#d62728", legend_label="Pareto front")
    p.add_tools(TapTool(renderers=[p.renderers[0]]),
                HoverTool(renderers=[p.renderers[0]],
                          tooltips=[(d, f"@{{{d}}}") for d in dims]
                          + [(x_obj, "@x{0.[000]e}"), (y_obj, "@y{0.[000]e}"),
                             ("on the front", "@front")]))  # fmt: skip
    p.legend.location = "top_right"
    return p, src
