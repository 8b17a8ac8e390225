"""Sweep specs: ``sweeps/*.toml`` -> a validated :class:`SweepSpec` (+ canonical form and hash).

A spec names the axes of a grid, the fixed values of every other leaf, the metrics to store
and a chunk hint (the format is documented in ``docs/sweeps.md``)::

    name = "context-scaling"
    metrics = "default"                  # or "all", or a list of metric names

    [axes.model]                         # a catalog axis: names or "all"
    catalog = "model"
    names = ["yi-34b", "llama-3.1-70b"]

    [axes.context]                       # a numeric axis on any scenario leaf
    leaf = "workload.context_tokens"
    geomspace = [1e3, 1e7, 41]           # or values, linspace, range

    [fixed]
    hardware = "a100-80gb-sxm"           # a catalog entry for a group with no axis
    workload.output_tokens = 250

    [deployment]                         # optional: tp, ep, dp_attention, pp, cp, ..., nodes
    tp = 8                               # (kvjax/sweep/_deployment.py)

Every error is a one-line ``InputError`` naming the spec file, the key and the value.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np

from .. import catalog as _catalog
from ..errors import InputError, fail, suggest
from ..model import (
    DEFAULT_METRICS,
    GROUP_CLASSES,
    KNOBS,
    METRICS,
    check_leaf_value,
    leaf_defaults,
    leaf_info,
    leaf_paths,
    resolve_leaf,
    resolve_leaves,
    resolve_metrics,
)
from ._deployment import parse_deployment
from ._spec import (
    CATALOG_GROUPS,
    DEFAULT_BLOCK_POINTS,
    DEFAULT_CHUNK_POINTS,
    ELASTICITY_DIMS,
    ELASTICITY_VAR,
    Axis,
    ElasticitySpec,
    SweepSpec,
    check_rules,
)

MAX_AXIS_LEN = 100_000_000
_NUMERIC_FORMS = ("values", "linspace", "geomspace", "range")
_TOP_KEYS = ("name", "description", "metrics", "dtype", "axes", "fixed", "deployment", "chunks",
             "elasticity")  # fmt: skip
_SPECS = "kvjax.sweep"


# ----------------------------------------------------------------------------- loading


def builtin_names() -> tuple[str, ...]:
    """Names of the specs shipped with kvjax (``kvjax/sweep/specs/*.toml``)."""
    d = resources.files(_SPECS) / "specs"
    return tuple(sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".toml")))


def load_spec(spec, catalog=None) -> SweepSpec:
    """A ``SweepSpec`` from a spec, a path to a TOML file, or a built-in spec name."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return parse_spec(spec, "<dict>", catalog=catalog)
    path = Path(spec)
    if not path.is_file():
        name = str(spec).removesuffix(".toml")
        res = resources.files(_SPECS) / "specs" / f"{name}.toml"
        if path.suffix == ".toml" or "/" in str(spec) or not res.is_file():
            choices = builtin_names()
            raise fail(f"no such spec file or built-in spec{suggest(name, choices)}", spec)
        return parse_text(res.read_text(), f"{name} (built-in)", catalog=catalog)
    return parse_text(path.read_text(), str(path), catalog=catalog)


def parse_text(text: str, source: str = "<spec>", catalog=None) -> SweepSpec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise fail(f"not valid TOML: {e}", source) from None
    return parse_spec(raw, source, text=text, catalog=catalog)


def parse_spec(raw: dict, source: str = "<spec>", text: str = "", catalog=None) -> SweepSpec:
    """Validate a parsed TOML table; every problem raises a one-line ``InputError``."""
    cat = catalog or _catalog
    for k in raw:
        if k not in _TOP_KEYS:
            raise fail(f"unknown key{suggest(k, _TOP_KEYS)}", source, field=k, value=raw[k])
    axes_raw = raw.get("axes")
    if not isinstance(axes_raw, dict) or not axes_raw:
        raise fail("a spec needs at least one [axes.NAME] table", source, field="axes")
    axes = tuple(_parse_axis(n, a, source, cat) for n, a in axes_raw.items())
    _check_duplicates(axes, source)

    fixed, fixed_catalog = _parse_fixed(raw.get("fixed", {}), source, cat)
    deployment = parse_deployment(raw.get("deployment"), source, fixed, fixed_catalog, axes, cat)
    fixed.update(deployment)
    for a in axes:
        if a.kind == "leaf" and a.leaf in fixed:
            raise fail("leaf is both an axis and fixed", source, "fixed", a.leaf, fixed[a.leaf])
        if a.kind != "leaf" and a.kind in fixed_catalog:
            raise fail("group is both a catalog axis and fixed", source, "fixed", a.kind,
                       fixed_catalog[a.kind][0])  # fmt: skip
    for group in CATALOG_GROUPS:
        has_axis = any(a.kind == group for a in axes)
        if not has_axis and group not in fixed_catalog:
            defaults = leaf_defaults()
            missing = [
                p for n in GROUP_CLASSES[group].leaf_names()
                if (p := f"{group}.{n}") not in fixed
                and not any(a.leaf == p for a in axes)
                and p not in defaults
            ]  # fmt: skip
            if missing:
                raise fail(f"no {group}: add a [axes.{group}] catalog axis or "
                           f'{group} = "<catalog id>" under [fixed]', source, "fixed")  # fmt: skip
    if "workload.context_tokens" not in fixed and not any(
        a.leaf == "workload.context_tokens" for a in axes
    ):
        raise fail("workload.context_tokens needs an axis or a fixed value", source, "fixed")

    metrics = _parse_metrics(raw.get("metrics", "default"), source)
    chunk_points = _parse_chunks(raw.get("chunks", {}), source)
    elasticity = parse_elasticity(raw.get("elasticity"), source, [a.name for a in axes])
    dtype = raw.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        raise fail("dtype must be 'float32' or 'float64'", source, field="dtype", value=dtype)
    name = raw.get("name", Path(source).stem)
    spec = SweepSpec(
        name=str(name),
        axes=axes,
        fixed=fixed,
        fixed_catalog=fixed_catalog,
        metrics=metrics,
        chunk_points=chunk_points,
        dtype=dtype,
        description=str(raw.get("description", "")),
        text=text,
        source=source,
        elasticity=elasticity,
    )
    written = {k.removeprefix("workload.") for k in raw.get("deployment") or {}}
    entries = {}  # [deployment] leaves are named there, those nodes set as coming from it
    for path in deployment:
        name = path.split(".")[1]
        entries[path] = ("deployment", name if name in written else f"{name} (from nodes)")
    check_rules(spec, cat, entries)
    return spec


def _numbers(x, n, source, entry, key):
    if not isinstance(x, list) or len(x) != n:
        raise fail(f"must be a list of {n} numbers", source, entry, key, x)
    for v in x:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise fail(f"must be a list of {n} finite numbers", source, entry, key, x)
    return x


def _count(num, source, entry, key, x):
    if isinstance(num, bool) or not isinstance(num, int | float) or num != int(num) or num < 1:
        raise fail("the number of points must be a positive integer", source, entry, key, x)
    if num > MAX_AXIS_LEN:
        raise fail(f"more than {MAX_AXIS_LEN:,} points on one axis", source, entry, key, x)
    return int(num)


def _parse_numeric(name, a, source) -> np.ndarray:
    entry = f"axes.{name}"
    forms = [k for k in _NUMERIC_FORMS if k in a]
    if len(forms) != 1:
        raise fail(f"give exactly one of {', '.join(_NUMERIC_FORMS)}", source, entry,
                   "/".join(forms) or None)  # fmt: skip
    key = forms[0]
    x = a[key]
    if key == "values":
        if not isinstance(x, list) or not x:
            raise fail("must be a non-empty list of numbers", source, entry, key, x)
        _numbers(x, len(x), source, entry, key)
        vals = np.asarray(x, dtype=np.float64)
    elif key in ("linspace", "geomspace"):
        start, stop, num = _numbers(x, 3, source, entry, key)
        num = _count(num, source, entry, key, x)
        if key == "geomspace":
            if start <= 0 or stop <= 0:
                raise fail("geomspace needs positive start and stop", source, entry, key, x)
            vals = np.geomspace(start, stop, num)
        else:
            vals = np.linspace(start, stop, num)
        if num > 1 and start == stop:
            raise fail("empty range: start == stop", source, entry, key, x)
    else:
        if not isinstance(x, list) or len(x) not in (2, 3):
            raise fail("range = [start, stop] or [start, stop, step] (stop included)", source,
                       entry, key, x)  # fmt: skip
        if any(isinstance(v, bool) or not isinstance(v, int) for v in x):
            raise fail("range takes integers", source, entry, key, x)
        start, stop, step = (*x, 1) if len(x) == 2 else x
        if step <= 0:
            raise fail("range step must be positive", source, entry, key, x)
        if stop < start:
            raise fail("empty range: stop < start", source, entry, key, x)
        _count((stop - start) // step + 1, source, entry, key, x)
        vals = np.arange(start, stop + 1, step, dtype=np.float64)
    if np.unique(vals).size != vals.size:
        raise fail("values repeat", source, entry, key, x)
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    vals.flags.writeable = False
    return vals


def _parse_axis(name, a, source, cat) -> Axis:
    entry = f"axes.{name}"
    if not isinstance(a, dict):
        raise fail("must be a table", source, entry, value=a)
    if "catalog" in a:
        group = a["catalog"]
        allowed = {"catalog", "names", "precision"}
        for k in a:
            if k not in allowed:
                raise fail(f"unknown key{suggest(k, allowed)}", source, entry, k, a[k])
        if group not in CATALOG_GROUPS:
            raise fail(f"catalog must be one of {CATALOG_GROUPS}{suggest(group, CATALOG_GROUPS)}",
                       source, entry, "catalog", group)  # fmt: skip
        known = cat.model_names() if group == "model" else cat.hardware_names()
        names = a.get("names", "all")
        if names == "all":
            names = list(known)
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names:
            raise fail('names must be "all" or a non-empty list', source, entry, "names", names)
        for n in names:
            if n not in known:
                raise fail(f"unknown {group}{suggest(n, known)}", source, entry, "names", n)
        if len(set(names)) != len(names):
            raise fail("names repeat", source, entry, "names", names)
        precision = a.get("precision", "bf16")
        if group == "hardware":
            for n in names:
                try:
                    cat.load_hardware(n, precision)
                except InputError as e:
                    raise fail(f"{n}: {e}", source, entry, "precision", precision) from None
        return Axis(name=name, kind=group, values=tuple(names), precision=precision)
    allowed = {"leaf", *_NUMERIC_FORMS}
    for k in a:
        if k not in allowed:
            raise fail(f"unknown key{suggest(k, allowed)}", source, entry, k, a[k])
    if "leaf" not in a:
        raise fail("an axis needs leaf = '<group.leaf>' or catalog = 'model'/'hardware'",
                   source, entry)  # fmt: skip
    leaf = resolve_leaf(a["leaf"], source, entry, "leaf")
    values = _parse_numeric(name, a, source)
    key = next(k for k in _NUMERIC_FORMS if k in a)
    ok = leaf_info(leaf).domain.mask(values)
    if not ok.all():  # name the first offending value
        check_leaf_value(leaf, float(values[np.argmin(ok)]), source, entry, key)
    return Axis(name=name, kind="leaf", values=values, leaf=leaf, spacing=_spacing(key, values))


def _spacing(form: str, values) -> str:
    """``"log"`` for a geomspace, or 3+ positive values in one geometric progression (e.g.
    batch 1, 2, 4, ..., 256); ``"linear"`` otherwise."""
    if form == "geomspace":
        return "log"
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size >= 3 and v[0] > 0:
        ratios = v[1:] / v[:-1]
        if np.allclose(ratios, ratios[0], rtol=1e-6) and ratios[0] > 1.0:
            return "log"
    return "linear"


def _check_duplicates(axes, source):
    seen: dict = {}
    for a in axes:
        what = a.leaf if a.kind == "leaf" else f"catalog {a.kind}"
        if what in seen:
            raise fail(f"duplicate axis: {what} is already axis {seen[what]!r}", source,
                       f"axes.{a.name}", value=None)  # fmt: skip
        seen[what] = a.name
        if a.name in leaf_paths() or "." in a.name or not a.name.isidentifier():
            raise fail("axis names must be plain identifiers", source, f"axes.{a.name}")


def _flatten(d, prefix=""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def _parse_fixed(raw, source, cat):
    if not isinstance(raw, dict):
        raise fail("[fixed] must be a table", source, "fixed")
    fixed, fixed_catalog = {}, {}
    precision = raw.get("precision", "bf16")
    for key, v in _flatten(raw):
        if key == "precision":
            continue
        if key in CATALOG_GROUPS:
            known = cat.model_names() if key == "model" else cat.hardware_names()
            if v not in known:
                raise fail(f"unknown {key}{suggest(str(v), known)}", source, "fixed", key, v)
            if key == "hardware":
                try:
                    cat.load_hardware(v, precision)
                except InputError as e:
                    raise fail(str(e), source, "fixed", "precision", precision) from None
            fixed_catalog[key] = (v, precision if key == "hardware" else "")
            continue
        path = resolve_leaf(key, source, "fixed", key)
        fixed[path] = check_leaf_value(path, v, source, "fixed", key)
    return fixed, fixed_catalog


def _parse_metrics(m, source):
    if m == "default":
        return tuple(DEFAULT_METRICS)
    if m == "all":
        return tuple(METRICS)
    if not isinstance(m, str | list) or not m:
        raise fail('metrics must be "default", "all" or a non-empty list', source, "metrics",
                   value=m)  # fmt: skip
    return resolve_metrics(m, source, field="metrics")


def _parse_chunks(c, source):
    if not isinstance(c, dict):
        raise fail("[chunks] must be a table", source, "chunks")
    for k in c:
        if k != "points":
            raise fail("unknown key (only 'points')", source, "chunks", k, c[k])
    p = c.get("points", DEFAULT_CHUNK_POINTS)
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise fail("must be a positive integer", source, "chunks", "points", p)
    return p


def _names(x, source, key):
    if isinstance(x, str):
        x = [x]
    if not isinstance(x, list) or not x or not all(isinstance(v, str) for v in x):
        raise fail("must be a non-empty list of names", source, "elasticity", key, x)
    return x


def parse_elasticity(raw, source, axis_names=()) -> ElasticitySpec | None:
    """The validated ``[elasticity]`` table, or None if the spec has none::

        [elasticity]
        metrics = ["decode_step_s", "session_gpu_s"]            # float metrics
        wrt = ["hardware.hbm_bytes_per_s", "workload.kv_bits"]  # scenario leaves, or "default"
        block_points = 65536                                    # optional, points per sub-block

    gives one stored variable ``elasticity`` with dims ``(metric, knob, <sweep dims>)``.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("[elasticity] must be a table", source, "elasticity")
    keys = ("metrics", "wrt", "block_points")
    for k in raw:
        if k not in keys:
            raise fail(f"unknown key{suggest(k, keys)}", source, "elasticity", k, raw[k])
    for k in ("metrics", "wrt"):
        if k not in raw:
            raise fail(f"[elasticity] needs {k} = [...]", source, "elasticity", k)
    metrics = resolve_metrics(_names(raw["metrics"], source, "metrics"), source, "elasticity",
                              "metrics", kinds=("float",))  # fmt: skip
    wrt = raw["wrt"]
    if wrt == "default":
        paths = KNOBS
    else:
        paths = resolve_leaves(_names(wrt, source, "wrt"), source, "elasticity", "wrt")
    block = raw.get("block_points", DEFAULT_BLOCK_POINTS)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise fail("must be a positive integer", source, "elasticity", "block_points", block)
    for name in axis_names:
        if name in ELASTICITY_DIMS or name == ELASTICITY_VAR:
            raise fail(f"axis name {name!r} is taken by the elasticity variable's dims",
                       source, f"axes.{name}")  # fmt: skip
    return ElasticitySpec(tuple(metrics), tuple(paths), block)
