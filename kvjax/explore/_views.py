"""The explorer's four views as Panel objects: Curves, Map, Pareto and Live.

Each view owns its widgets and one plot pane; every decision (which widgets, which slice,
labels, scales) is a pure function in ``_logic``; the figures are built by ``_plots``.  A
change of any widget reads only the displayed slice of the (lazily opened) store and swaps
the figure.  Widgets carry CSS classes (``kvjax-metric``, ``kvjax-sel-<dim>``) so that the
browser tests can find them.
"""

from __future__ import annotations

import numpy as np

from . import _live
from . import _logic as L
from . import _plots as P

NONE = "(none)"


def _pn():
    import panel as pn

    return pn


def _quiet(widget):
    """Change ``widget``'s options and value without firing its watchers."""
    import param

    return param.discard_events(widget)


def selector_widget(sel: L.Selector, view: str = ""):
    """A Select (catalog axis) or a DiscreteSlider (numeric axis) for one ``Selector``;
    CSS class ``kvjax-<view>-sel-<dim>``."""
    pn = _pn()
    css = [f"kvjax-{view}-sel-{sel.dim}"]
    if sel.kind == "select":
        return pn.widgets.Select(label=sel.dim, options=list(sel.options), value=sel.value,
                                 css_classes=css, width=220)  # fmt: skip
    opts = {L.fmt_value(v): v for v in sel.options}
    return pn.widgets.DiscreteSlider(label=sel.dim, options=opts, value=sel.value,
                                     css_classes=css, width=220)  # fmt: skip


class _SliceView:
    """Shared machinery: a metric select, the per-variable selectors, one plot pane."""

    view = ""

    def __init__(self, ds, metrics, css):
        pn = _pn()
        self.ds = ds
        self.metric = pn.widgets.Select(label="metric", options=metrics, value=metrics[0],
                                        css_classes=[css], width=220)  # fmt: skip
        self.selector_box = pn.Column(width=240)
        self.sel_widgets: dict = {}
        self.plot = pn.pane.Bokeh(None)
        self.selection: dict = {}

    def set_selectors(self, sels: list[L.Selector]) -> None:
        """Replace the selector widgets (a dim the variable lacks gets none)."""
        self.sel_widgets = {s.dim: selector_widget(s, self.view) for s in sels}
        for w in self.sel_widgets.values():
            w.param.watch(lambda e: self.redraw(), "value")
        self.selector_box.objects = list(self.sel_widgets.values())

    def current(self) -> dict:
        return {d: w.value for d, w in self.sel_widgets.items()}


class CurvesView(_SliceView):
    """Any float metric against any numeric axis, coloured by a chosen axis."""

    view = "curves"

    def __init__(self, ds):
        pn = _pn()
        super().__init__(ds, L.float_metrics(ds), "kvjax-metric")
        first = next(m for m in L.float_metrics(ds) if L.numeric_dims(ds, m))
        self.metric.value = "decode_step_s" if "decode_step_s" in self.metric.options else first
        self.x = pn.widgets.Select(label="x axis", css_classes=["kvjax-x"], width=220)
        self.by = pn.widgets.Select(label="colour by", css_classes=["kvjax-by"], width=220)
        self.fits = pn.widgets.Checkbox(label="only points that fit", value=False,
                                        css_classes=["kvjax-fits"])  # fmt: skip
        self.logy = pn.widgets.Checkbox(label="log y", value=True, css_classes=["kvjax-logy"])
        self.legend = pn.pane.HTML("", width=200)
        self._axes()
        self.metric.param.watch(lambda e: (self._axes(), self.redraw()), "value")
        self.x.param.watch(lambda e: (self._by(), self.redraw()), "value")
        self.by.param.watch(lambda e: (self._selectors(), self.redraw()), "value")
        self.fits.param.watch(lambda e: self.redraw(), "value")
        self.logy.param.watch(lambda e: self.redraw(), "value")
        self.redraw()

    def _axes(self):
        var = self.metric.value
        nums = L.numeric_dims(self.ds, var)
        x = self.x.value if self.x.value in nums else L.default_x(self.ds, var)
        with _quiet(self.x):
            self.x.options, self.x.value = nums, x
        self._by()

    def _by(self):
        var, x = self.metric.value, self.x.value
        opts = [d for d in self.ds[var].dims if d != x] + [NONE]
        by = self.by.value if self.by.value in opts else (L.default_by(self.ds, var, x) or NONE)
        with _quiet(self.by):
            self.by.options, self.by.value = opts, by
        self._selectors()

    def _selectors(self):
        var, x = self.metric.value, self.x.value
        by = None if self.by.value == NONE else self.by.value
        self.set_selectors(L.selectors(self.ds, var, x, by, previous=self.current()))

    def redraw(self):
        var, x = self.metric.value, self.x.value
        by = None if self.by.value == NONE else self.by.value
        sel = self.current()
        da = L.curve_slice(self.ds, var, x, by, sel, fits_only=self.fits.value)
        vals = np.asarray(da.values, dtype=np.float64)
        logy = self.logy.value and P._positive(vals)
        fig, legend = P.curves(self.ds, var, x, by, da, sel, logy=logy)
        self.plot.object = fig
        self.legend.object = P.legend_html(legend, by) if by else ""
        return fig

    def panel(self):
        pn = _pn()
        controls = pn.Column(self.metric, self.x, self.by, self.fits, self.logy,
                             self.selector_box, width=250)  # fmt: skip
        return pn.Row(controls, self.plot, self.legend, name="Curves")


class MapView(_SliceView):
    """A metric or a regime over two numeric axes, regime boundaries on top."""

    view = "map"

    def __init__(self, ds):
        pn = _pn()
        metrics = [m for m in L.code_metrics(ds) + L.float_metrics(ds)
                   if len(L.numeric_dims(ds, m)) >= 2]  # fmt: skip
        self.available = bool(metrics)
        super().__init__(ds, metrics or [""], "kvjax-map-metric")
        if not metrics:
            self.plot = pn.pane.Markdown("No variable of this store has two numeric axes.")
            return
        self.metric.value = "decode_regime" if "decode_regime" in metrics else metrics[0]
        self.x = pn.widgets.Select(label="x axis", width=220, css_classes=["kvjax-map-x"])
        self.y = pn.widgets.Select(label="y axis", width=220, css_classes=["kvjax-map-y"])
        self.show_boundaries = pn.widgets.Checkbox(label="regime boundaries", value=True)
        self._cache: dict = {}
        self._axes()
        self.metric.param.watch(lambda e: (self._axes(), self.redraw()), "value")
        for w in (self.x, self.y):
            w.param.watch(lambda e: (self._selectors(), self.redraw()), "value")
        self.show_boundaries.param.watch(lambda e: self.redraw(), "value")
        self.redraw()

    def _axes(self):
        var = self.metric.value
        nums = L.numeric_dims(self.ds, var)
        x = self.x.value if self.x.value in nums else L.default_x(self.ds, var)
        ys = [d for d in nums if d != x]
        y = self.y.value if self.y.value in ys else ("batch" if "batch" in ys else ys[0])
        with _quiet(self.x), _quiet(self.y):
            self.x.options, self.x.value = nums, x
            self.y.options, self.y.value = nums, y
        self._selectors()

    def _selectors(self):
        var = self.metric.value
        sels = L.selectors(self.ds, var, self.x.value, self.y.value, previous=self.current())
        self.set_selectors(sels)

    def boundaries(self, sel):
        """``(label, x, y)`` lines of the regime boundaries along x, one x per y value
        (``ds.kv.boundary``; cached per slice)."""
        var, x, y = self.metric.value, self.x.value, self.y.value
        out = []
        for cond in L.boundary_conditions(var):
            key = (cond, x, y, tuple(sorted(sel.items())))
            if key not in self._cache:
                try:
                    sub = self.ds.sel(sel)
                    b = sub.kv.boundary(x, cond)
                    bx = np.asarray(b[x].transpose(y).values, np.float64)
                    by = np.asarray(self.ds.coords[y].values, np.float64)
                    self._cache[key] = (cond.replace("_", " "), bx, by)
                except Exception:  # noqa: BLE001 - no spec, or not a sweep axis: no line
                    self._cache[key] = None
            if self._cache[key] is not None:
                out.append(self._cache[key])
        return out

    def redraw(self):
        if not self.available:
            return None
        var, x, y = self.metric.value, self.x.value, self.y.value
        sel = self.current()
        da = L.map_slice(self.ds, var, x, y, sel)
        lines = self.boundaries(sel) if self.show_boundaries.value else []
        fig = P.heatmap(self.ds, var, x, y, da, sel, lines)
        self.plot.object = fig
        return fig

    def panel(self):
        pn = _pn()
        if not self.available:
            return pn.Column(self.plot, name="Map")
        controls = pn.Column(self.metric, self.x, self.y, self.show_boundaries,
                             self.selector_box, width=250)  # fmt: skip
        return pn.Row(controls, self.plot, name="Map")


class ParetoView(_SliceView):
    """Two objectives over the current slice, the front highlighted; a tapped point shows
    its whole scenario and, where the store holds elasticities, its knobs ranked."""

    view = "pareto"

    def __init__(self, ds):
        pn = _pn()
        metrics = L.float_metrics(ds)
        super().__init__(ds, metrics, "kvjax-pareto-x")
        self.metric.label = "objective x"
        self.metric.value = next((m for m in ("decode_step_s",) if m in metrics), metrics[0])
        ys = [m for m in ("usd_per_million_output_tokens", "session_gpu_s") if m in metrics]
        self.y = pn.widgets.Select(label="objective y", options=metrics,
                                   value=ys[0] if ys else metrics[-1], width=220,
                                   css_classes=["kvjax-pareto-y"])  # fmt: skip
        dims = [d for d in ds.dims if d not in ("metric", "knob")]
        over = [d for d in ("hardware", "batch") if d in dims] or dims[:1]
        self.over = pn.widgets.MultiChoice(label="free dims (the front is taken across them)",
                                           options=dims, value=over, width=220,
                                           css_classes=["kvjax-over"])  # fmt: skip
        self.details = pn.pane.HTML("<i>Tap a point to see its scenario.</i>", width=380,
                                    css_classes=["kvjax-scenario"])  # fmt: skip
        self.source = None
        self.points = None
        self._selectors()
        for w in (self.metric, self.y, self.over):
            w.param.watch(lambda e: (self._selectors(), self.redraw()), "value")
        self.redraw()

    def _selectors(self):
        fixed = [d for d in self.ds.dims if d not in self.over.value and d not in
                 ("metric", "knob")]  # fmt: skip
        dims = set(self.ds[self.metric.value].dims) | set(self.ds[self.y.value].dims)
        prev = self.current()
        sels = [s for s in L.selectors(self.ds, _all_dims_var(self.ds), None, None, prev)
                if s.dim in fixed and s.dim in dims]  # fmt: skip
        self.set_selectors(sels)

    def redraw(self):
        sel = self.current()
        pts, mask = L.pareto_points(self.ds, self.metric.value, self.y.value, sel,
                                    self.over.value)  # fmt: skip
        self.points = (pts, mask, sel)
        fig, src = P.pareto(self.ds, self.metric.value, self.y.value, pts, mask, sel)
        src.selected.on_change("indices", lambda attr, old, new: self.show(new))
        self.source = src
        self.plot.object = fig
        return fig

    def show(self, indices) -> str:
        """The scenario (and ranked knobs) of the first selected point, as HTML."""
        import html

        if not indices or self.points is None:
            return self.details.object
        pts, _, sel = self.points
        i = indices[0]
        point = dict(sel)
        for d in pts:
            if d not in ("x", "y"):
                point[d] = pts[d][i]
        rows = L.scenario_rows(self.ds, point)
        body = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td>"
                       f"<td>{html.escape(u)}</td></tr>" for n, v, u in rows)  # fmt: skip
        text = f'<table class="kvjax-scenario-table">{body}</table>'
        leaves = L.scenario_leaves(self.ds, point)
        if leaves:
            body = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td>"
                           f"<td>{html.escape(u)}</td></tr>" for n, v, u in leaves)  # fmt: skip
            text += f"<b>every leaf of the scenario</b><table>{body}</table>"
        for m in (self.metric.value, self.y.value):
            knobs = L.ranked_knobs(self.ds, point, m)
            if knobs:
                items = "".join(f"<li>{html.escape(k)}: {e:+.3f}</li>" for k, e in knobs)
                text += f"<b>knobs of {html.escape(m)} (elasticity)</b><ol>{items}</ol>"
        self.details.object = text
        return text

    def panel(self):
        pn = _pn()
        controls = pn.Column(self.metric, self.y, self.over, self.selector_box, width=250)
        return pn.Row(controls, self.plot, pn.Column(self.details, scroll=True, height=520),
                      name="Pareto")  # fmt: skip


def _all_dims_var(ds) -> str:
    """A variable over every sweep dim (for the selectors of the Pareto slice)."""
    full = [d for d in ds.dims if d not in ("metric", "knob")]
    for v in ds.data_vars:
        if set(full) <= set(ds[v].dims) and "metric" not in ds[v].dims:
            return v
    return max(L.float_metrics(ds), key=lambda v: ds[v].ndim)


class LiveView:
    """Curves from the cost model, recomputed for each slider move (no store)."""

    def __init__(self, model: str, hardware: list[str], precision: str = "bf16"):
        pn = _pn()
        from ..model import METRICS

        self.model, self.hardware, self.precision = model, list(hardware), precision
        metrics = [n for n, i in METRICS.items() if i.kind == "float"]
        self.metric = pn.widgets.Select(label="metric", options=metrics, value="decode_step_s",
                                        css_classes=["kvjax-live-metric"], width=220)  # fmt: skip
        self.x = pn.widgets.Select(label="x axis", options=list(_live.X_AXES), value="context",
                                   css_classes=["kvjax-live-x"], width=220)  # fmt: skip
        self.fits = pn.widgets.Checkbox(label="only points that fit", value=True)
        self.values = _live.default_workload()
        self.slider_box = pn.Column(width=240)
        self.plot = pn.pane.Bokeh(None)
        self.legend = pn.pane.HTML("", width=200)
        self._sliders()
        self.metric.param.watch(lambda e: self.redraw(), "value")
        self.x.param.watch(lambda e: (self._sliders(), self.redraw()), "value")
        self.fits.param.watch(lambda e: self.redraw(), "value")
        self.redraw()

    def _sliders(self):
        pn = _pn()
        widgets = []
        for name, stops in _live.live_sliders(self.x.value).items():
            v = self.values.get(name, stops[0])
            w = pn.widgets.DiscreteSlider(label=name, options={L.fmt_value(s): s for s in stops},
                                          value=v if v in stops else stops[0], width=220,
                                          css_classes=[f"kvjax-live-{name}"])  # fmt: skip
            w.param.watch(lambda e, n=name: self._set(n, e.new), "value")
            widgets.append(w)
        self.slider_box.objects = widgets

    def _set(self, name, value):
        self.values[name] = float(value)
        self.redraw()

    def redraw(self):
        ds = _live.live_dataset(self.model, self.hardware, self.values, self.x.value,
                                self.precision)  # fmt: skip
        sel = {"model": self.model}
        da = L.curve_slice(ds, self.metric.value, self.x.value, "hardware", {},
                           fits_only=self.fits.value)  # fmt: skip
        fig, legend = P.curves(ds, self.metric.value, self.x.value, "hardware", da, sel,
                               name="live")  # fmt: skip
        self.plot.object = fig
        self.legend.object = P.legend_html(legend, "hardware")
        return fig

    def panel(self):
        pn = _pn()
        intro = pn.pane.Markdown(f"**{self.model}**, computed live from the cost model")
        controls = pn.Column(intro, self.metric, self.x, self.fits, self.slider_box, width=250)
        return pn.Row(controls, self.plot, self.legend, name="Live")
