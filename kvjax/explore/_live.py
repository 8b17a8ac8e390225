"""The Live view's numbers: curves computed on the fly from the cost model, no store needed.

One point of the cost model costs nanoseconds, so a whole curve (81 contexts x a few
accelerators) is recomputed for every slider move: :func:`live_dataset` evaluates every
float metric over ``(hardware, x)`` under one ``jit`` and labels the result like a stored
sweep (same coords, ``units``, ``long_name``, ``kvjax_spacing``), so the Curves plot draws
it unchanged.  The scenario's leaf values are arguments of the compiled function, so moving
a slider never recompiles; changing the x leaf or the hardware list compiles once::

    ds = live_dataset("yi-34b", ["a100-80gb-sxm"], {"batch": 1.0})
    ds.decode_step_s.sel(hardware="a100-80gb-sxm").interp(context=4000.0)   # 0.0342 s

(the paper's 8.5 s for 250 tokens at 4K, Yao Fu arXiv 2405.08944 section 3, within 3%;
``tests/test_explore.py`` checks it).
"""

from __future__ import annotations

import functools

import numpy as np

X_AXES = {
    "context": ("workload.context_tokens", np.geomspace(1e3, 1e7, 81), "log"),
    "batch": ("workload.batch", np.geomspace(1, 512, 37), "log"),
    "output_tokens": ("workload.output_tokens", np.geomspace(10, 1e5, 41), "log"),
    "kv_bits": ("workload.kv_bits", np.linspace(2, 16, 29), "linear"),
}
"""The x axes the Live view offers: name -> (leaf, values, spacing)."""

SLIDERS = {
    "context_tokens": [1e3, 4e3, 8e3, 16e3, 32e3, 64e3, 128e3, 256e3, 512e3, 1e6, 2e6, 10e6],
    "batch": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    "output_tokens": [50, 100, 250, 500, 1000, 2000, 4000, 8000],
    "tp": [1, 2, 4, 8, 16],
    "kv_bits": [2, 3, 4, 6, 8, 16],
    "kv_layer_keep": [0.125, 0.25, 0.5, 0.75, 1.0],
    "kv_head_keep": [0.125, 0.25, 0.5, 0.75, 1.0],
    "kv_token_keep": [0.05, 0.1, 0.25, 0.5, 0.75, 1.0],
}
"""Workload leaves with a slider, and its stops (each includes the leaf's neutral value)."""


def slider_leaves() -> dict[str, list[float]]:
    """The sliders for this build's workload leaves: ``{leaf name: stops}`` (a stop list
    gains the leaf's default if it lacks it)."""
    from ..model import Workload, leaf_defaults

    defaults = leaf_defaults()
    out = {}
    for name, stops in SLIDERS.items():
        if name not in Workload.leaf_names():
            continue
        d = defaults.get(f"workload.{name}")
        values = sorted({float(v) for v in stops} | ({float(d)} if d is not None else set()))
        out[name] = values
    return out


def live_sliders(x: str) -> dict[str, list[float]]:
    """The sliders shown with x axis ``x``: every slider leaf but the one on the x axis."""
    leaf = X_AXES[x][0].split(".")[1]
    return {n: v for n, v in slider_leaves().items() if n != leaf}


def default_workload() -> dict[str, float]:
    """The starting slider values: every leaf's neutral default, context 4,000 tokens."""
    from ..model import leaf_defaults

    d = leaf_defaults()
    out = {n: float(d[f"workload.{n}"]) for n in slider_leaves() if f"workload.{n}" in d}
    out["context_tokens"] = 4000.0
    return out


def check_names(model: str, hardware: list[str], precision: str = "bf16") -> None:
    """Refuse unknown catalog ids before any work (one-line ``InputError``)."""
    from .. import catalog

    catalog.load_model(model)
    for h in hardware:
        catalog.load_hardware(h, precision)


@functools.lru_cache(maxsize=16)
def _compiled(x_leaf: str):
    import jax

    from ..model import METRICS, evaluate, replace_leaf

    names = tuple(n for n, i in METRICS.items() if i.kind in ("float", "bool", "code"))

    def f(s, xs):
        s = replace_leaf(s, x_leaf, xs)
        return evaluate(s, names)

    return jax.jit(f), names


def live_dataset(model: str, hardware: list[str], workload: dict, x: str = "context",
                 precision: str = "bf16"):  # fmt: skip
    """Every metric of ``model`` on each of ``hardware`` over the Live x axis ``x``, at the
    ``workload`` leaf values, as a Dataset with dims ``(hardware, x)`` labelled like a store."""
    import jax
    import jax.numpy as jnp
    import xarray as xr

    from .. import catalog
    from ..model import METRICS, Scenario, Workload, leaf_defaults, leaf_info
    from ..sweep._dataset import metric_attrs

    leaf, xs, spacing = X_AXES[x]
    m = catalog.load_model(model)
    hw = catalog.stack_hardware(list(hardware), precision)
    d = leaf_defaults()
    given = {n: float(workload.get(n, d.get(f"workload.{n}", 0.0))) for n in Workload.leaf_names()
             if n in workload or f"workload.{n}" in d}  # fmt: skip
    given.setdefault("context_tokens", 4000.0)
    fn, names = _compiled(leaf)
    with jax.enable_x64(True):
        hw = hw.replace(**{k: jnp.asarray(v, jnp.float64)[:, None]
                           for k, v in hw.as_dict().items()})  # fmt: skip
        s = Scenario(m, hw, Workload(**{k: jnp.float64(v) for k, v in given.items()}))
        out = fn(s, jnp.asarray(xs, jnp.float64)[None, :])
        shape = (len(hardware), xs.size)
        data = {n: (("hardware", x), np.broadcast_to(np.asarray(out[n]), shape).copy(),
                    metric_attrs(n)) for n in names}  # fmt: skip
    for n, (_, v, _) in data.items():
        if METRICS[n].kind == "code":
            data[n] = (data[n][0], v.astype(np.int8), data[n][2])
    info = leaf_info(leaf)
    coords = {
        "hardware": ("hardware", np.asarray(list(hardware), dtype=object),
                     {"long_name": "hardware (catalog id)", "kvjax_catalog": "hardware"}),
        x: (x, xs, {"units": info.units, "long_name": leaf.split(".")[1].replace("_", " "),
                    "kvjax_leaf": leaf, "kvjax_spacing": spacing}),
    }  # fmt: skip
    attrs = {"title": f"kvjax live: {model}", "kvjax_live_model": model}
    return xr.Dataset(data, coords=coords, attrs=attrs)
