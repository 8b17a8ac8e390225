"""``kvjax report STORE -o report.html``: the headline plots of a store in one offline file.

Everything the page needs is inside it: BokehJS inline (only the bundles its figures use),
the data as binary arrays, no request to any network.  Per model (each value of the
``model`` dim, or the store as a whole if it has none):

- each chosen metric against context, one curve per accelerator, at the first value of
  every other dim (the first batch, ...: stated in each title);
- the Pareto front of decode step time vs cost per token across accelerators and batch, at
  the context nearest 128K tokens;
- the decode regime map over (batch, context) on one accelerator (the first listed of
  ``h100-sxm``, ``a100-80gb-sxm`` present, else the first), where the store has it.

For the built-in ``context-scaling`` store (12 models x 24 accelerators) the file is a few
megabytes (``docs/explore.md`` gives the measured size).
"""

from __future__ import annotations

import html
import re

import numpy as np

from . import _logic as L
from . import _plots as P

DEFAULT_METRICS = ("decode_step_s", "prefill_s", "usd_per_million_output_tokens")
MAP_HARDWARE = ("h100-sxm", "a100-80gb-sxm")

TEMPLATE = """{% from macros import embed with context %}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1400px} h2{margin-top:36px;
border-bottom:1px solid #ccc} .row{display:flex;flex-wrap:wrap;gap:12px}
table.prov td{padding:1px 10px;font-size:13px;vertical-align:top}</style>
{{ bokeh_js | indent(4) if bokeh_js }}
</head><body>
<h1>{{ title }}</h1>
<p>{{ description }}</p>
{{ provenance }}
<p>Sections, one per model: {{ headings }}. Hover a point for its coordinates; the legend
hides a curve when clicked.</p>
{{ embed(roots.report) }}
{{ plot_script | indent(4) }}
</body></html>
"""


def _first(ds, dims, skip):
    return {d: _value(ds, d, 0) for d in dims if d not in skip}


def _value(ds, d, i):
    return L.labels(ds, d)[i] if L.is_catalog(ds, d) else float(ds.coords[d].values[i])


def _nearest(ds, dim, target):
    v = np.asarray(ds.coords[dim].values, dtype=np.float64)
    return float(v[np.argmin(np.abs(np.log(v) - np.log(target)))]) if (v > 0).all() else v[0]


def figures(ds, metrics=DEFAULT_METRICS):
    """``[(heading, [bokeh figure, ...])]``: the report's sections, figures named uniquely."""
    metrics = [m for m in metrics if m in L.float_metrics(ds)] or L.float_metrics(ds)[:3]
    models = L.labels(ds, "model") if "model" in ds.dims else [None]
    sections = []
    for k, model in enumerate(models):
        base = {} if model is None else {"model": model}
        figs = []
        for m in metrics:
            x = L.default_x(ds, m)
            if x is None:
                continue
            by = L.default_by(ds, m, x)
            sel = {**base, **_first(ds, ds[m].dims, {x, by, "model"})}
            da = L.curve_slice(ds, m, x, by, sel)
            fig, legend = P.curves(ds, m, x, by, da, sel, name=f"curves-{k}-{m}")
            if by is not None and len(legend) > 1:
                _legend_inside(fig, legend)
            figs.append(fig)
        figs += _pareto(ds, base, k)
        figs += _map(ds, base, k)
        sections.append((f"model: {model}" if model else "the store", figs))
    return sections


def _legend_inside(fig, legend):
    from bokeh.models import Legend, LegendItem

    lines = next(r for r in fig.renderers if r.glyph.__class__.__name__ == "MultiLine")
    items = [LegendItem(label=str(n), renderers=[lines], index=i)
             for i, (n, _) in enumerate(legend)]  # fmt: skip
    fig.add_layout(Legend(items=items, label_text_font_size="8pt", spacing=0,
                          glyph_height=10, click_policy="hide"), "right")  # fmt: skip
    fig.width += 170


def _pareto(ds, base, k):
    x_obj, y_obj = "decode_step_s", "usd_per_million_output_tokens"
    if x_obj not in ds.data_vars or y_obj not in ds.data_vars:
        return []
    over = [d for d in ("hardware", "batch") if d in ds.dims]
    sel = dict(base)
    for d in ds[y_obj].dims:
        if d not in over and d not in sel:
            sel[d] = _nearest(ds, d, 128e3) if d == "context" else _value(ds, d, 0)
    pts, mask = L.pareto_points(ds, x_obj, y_obj, sel, over)
    if not pts["x"].size:
        return []
    fig, _ = P.pareto(ds, x_obj, y_obj, pts, mask, sel, name=f"pareto-{k}")
    return [fig]


def _map(ds, base, k):
    var = "decode_regime"
    if var not in ds.data_vars or not {"batch", "context"} <= set(ds[var].dims):
        return []
    sel = dict(base)
    if "hardware" in ds[var].dims:
        names = L.labels(ds, "hardware")
        sel["hardware"] = next((h for h in MAP_HARDWARE if h in names), names[0])
    for d in ds[var].dims:
        if d not in sel and d not in ("batch", "context"):
            sel[d] = _value(ds, d, 0)
    da = L.map_slice(ds, var, "context", "batch", sel)
    return [P.heatmap(ds, var, "context", "batch", da, sel, name=f"map-{k}")]


def _provenance(ds) -> str:
    keys = ("kvjax_spec_name", "kvjax_spec_hash", "kvjax_catalog_hash", "kvjax_version",
            "kvjax_dtype", "kvjax_created", "kvjax_completed", "references")  # fmt: skip
    rows = "".join(f"<tr><td>{k}</td><td>{html.escape(str(ds.attrs[k]))}</td></tr>"
                   for k in keys if k in ds.attrs)  # fmt: skip
    dims = ", ".join(f"{d}: {n}" for d, n in ds.sizes.items())
    return f'<table class="prov"><tr><td>dims</td><td>{html.escape(dims)}</td></tr>{rows}</table>'


def report_html(ds, metrics=DEFAULT_METRICS, title=None) -> str:
    """The report of ``ds`` as one self-contained HTML string."""
    from bokeh.core.templates import get_env
    from bokeh.embed import file_html
    from bokeh.layouts import column, row
    from bokeh.resources import INLINE

    sections = figures(ds, metrics)
    # one root: Bokeh serialises many roots in quadratic time (45 s vs 8 s here)
    layout = column(*[row(*figs) for _, figs in sections if figs], name="report")
    title = title or ds.attrs.get("title", "kvjax report")
    tmpl = get_env().from_string(TEMPLATE)
    variables = {
        "description": html.escape(str(ds.attrs.get("description", ""))),
        "provenance": _provenance(ds),
        "headings": html.escape(", ".join(h for h, _ in sections)),
    }
    text = file_html(layout, resources=INLINE, title=title, template=tmpl,
                     template_variables=variables)  # fmt: skip
    # once Panel is imported (the app, the tests) it adds a script tag for its own module
    # shim to every bundle; the report holds only Bokeh models, so it needs no file at all
    return re.sub(r'<script src="[^"]*"></script>\s*', "", text)


def write_report(ds, path, metrics=DEFAULT_METRICS, overwrite: bool = False, inputs=()) -> int:
    """Write the report to ``path`` (never over an input; not over an existing file without
    ``overwrite``); returns its size in bytes."""
    import os

    from ._export import check_output

    check_output(path, overwrite, inputs, "html")
    text = report_html(ds, metrics)
    tmp = f"{path}.partial-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return os.path.getsize(path)
