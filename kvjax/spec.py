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

Every error is a one-line ``InputError`` naming the spec file, the key and the value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import InputError, fail, suggest
from .metrics import DEFAULT_METRICS, METRICS
from .spec_checks import ElasticitySpec, parse_elasticity
from .types import Hardware, Model, Workload, leaf_paths

CATALOG_GROUPS = ("model", "hardware")
DEFAULT_CHUNK_POINTS = 1 << 20
"""Points per compute chunk: ~1e6 keeps a chunk's outputs in cache (docs/performance.md)."""

MAX_AXIS_LEN = 100_000_000

_INF = math.inf
# Valid domain of every leaf: (low, high, low inclusive, high inclusive); NaN allowed only
# for prices.  Used to reject a spec value before anything is computed.
_POS = (0.0, _INF, False, False)
_NONNEG = (0.0, _INF, True, False)
_AT_LEAST_1 = (1.0, _INF, True, False)
_FRACTION = (0.0, 1.0, False, True)
DOMAINS = {
    "model.n_layers": _AT_LEAST_1,
    "model.d_model": _POS,
    "model.n_heads": _AT_LEAST_1,
    "model.n_kv_heads": _AT_LEAST_1,
    "model.head_dim": _POS,
    "model.params_total": _POS,
    "model.expert_params": _NONNEG,
    "model.n_experts": _AT_LEAST_1,
    "model.experts_per_token": _AT_LEAST_1,
    "model.kv_latent_dim": _NONNEG,
    "model.kv_rope_dim": _NONNEG,
    "model.window_tokens": _NONNEG,
    "model.windowed_layer_fraction": (0.0, 1.0, True, True),
    "model.layers_per_kv": _AT_LEAST_1,
    "hardware.flop_per_s": _POS,
    "hardware.hbm_bytes": _POS,
    "hardware.hbm_bytes_per_s": _POS,
    "hardware.host_link_bytes_per_s": _POS,
    "hardware.scaleup_bytes_per_s": _POS,
    "hardware.scaleup_latency_s": _NONNEG,
    "hardware.usd_per_hour": _NONNEG,
    "workload.context_tokens": _POS,
    "workload.output_tokens": _AT_LEAST_1,
    "workload.batch": _AT_LEAST_1,
    "workload.tp": _AT_LEAST_1,
    "workload.weight_bytes_per_param": _POS,
    "workload.kv_bits": (0.0, 64.0, False, True),
    "workload.kv_layer_keep": _FRACTION,
    "workload.kv_head_keep": _FRACTION,
    "workload.kv_token_keep": _FRACTION,
    "workload.hbm_reserve_bytes": _NONNEG,
    "workload.attention_mask_fraction": _FRACTION,
    "workload.flop_efficiency": _FRACTION,
    "workload.bandwidth_efficiency": _FRACTION,
}

LEAF_UNITS = {
    "model.params_total": "1",
    "model.expert_params": "1",
    "model.window_tokens": "tokens",
    "hardware.flop_per_s": "FLOP/s",
    "hardware.hbm_bytes": "bytes",
    "hardware.hbm_bytes_per_s": "bytes/s",
    "hardware.host_link_bytes_per_s": "bytes/s",
    "hardware.scaleup_bytes_per_s": "bytes/s",
    "hardware.scaleup_latency_s": "s",
    "hardware.usd_per_hour": "USD/h",
    "workload.context_tokens": "tokens",
    "workload.output_tokens": "tokens",
    "workload.kv_bits": "bits",
    "workload.weight_bytes_per_param": "bytes",
    "workload.hbm_reserve_bytes": "bytes",
}
"""Units of the leaves (``"1"`` for those not listed); become the coordinates' ``units``."""

_GROUP_CLASSES = {"model": Model, "hardware": Hardware, "workload": Workload}
_LEAVES = leaf_paths()
_SHORT = {p.split(".")[1]: p for p in _LEAVES}  # leaf names are unique across groups
_NUMERIC_FORMS = ("values", "linspace", "geomspace", "range")
_TOP_KEYS = ("name", "description", "metrics", "dtype", "axes", "fixed", "chunks", "elasticity")


@dataclass(frozen=True, eq=False)
class Axis:
    """One dimension of the grid.

    ``kind`` is ``"leaf"`` (``values``: a read-only float64 array set on ``leaf``) or a
    catalog group, ``"model"`` / ``"hardware"`` (``values`` are catalog ids; the axis is an
    index axis whose stacked leaves are gathered inside ``jit``).
    """

    name: str
    kind: str
    values: object  # np.ndarray (leaf axis) or tuple of catalog ids
    leaf: str | None = None
    precision: str = "bf16"

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass(frozen=True, eq=False)
class SweepSpec:
    """A validated sweep: axes (outermost first), fixed leaves, metrics, chunk hint."""

    name: str
    axes: tuple[Axis, ...]
    fixed: dict = field(default_factory=dict)  # "group.leaf" -> float
    fixed_catalog: dict = field(default_factory=dict)  # "model"/"hardware" -> (id, precision)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    chunk_points: int = DEFAULT_CHUNK_POINTS
    dtype: str = "float32"
    description: str = ""
    text: str = ""
    source: str = "<spec>"
    elasticity: ElasticitySpec | None = None  # the [elasticity] section (spec_checks.py)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def canonical(self) -> dict:
        """Everything that determines the stored numbers, as plain JSON-able data."""
        out = {
            "axes": [
                {
                    "name": a.name,
                    "kind": a.kind,
                    "leaf": a.leaf,
                    "precision": a.precision,
                    "values": list(a.values) if a.kind != "leaf" else _values_digest(a.values),
                }
                for a in self.axes
            ],  # fmt: skip
            "fixed": {k: float(v) for k, v in sorted(self.fixed.items())},
            "fixed_catalog": {k: list(v) for k, v in sorted(self.fixed_catalog.items())},
            "metrics": list(self.metrics),
            "chunk_points": int(self.chunk_points),
        }
        if self.elasticity is not None:  # absent: the hash of older specs is unchanged
            out["elasticity"] = self.elasticity.canonical()
        return out

    @property
    def hash(self) -> str:
        """sha256 of the canonical form (``dtype`` is recorded separately)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def axis_leaves(self, axis: Axis) -> frozenset:
        """Scenario leaves whose value varies along ``axis``."""
        if axis.kind == "leaf":
            return frozenset([axis.leaf])
        group = _GROUP_CLASSES[axis.kind]
        taken = set(self.fixed) | {a.leaf for a in self.axes if a.kind == "leaf"}
        return frozenset(p for n in group.leaf_names() if (p := f"{axis.kind}.{n}") not in taken)


def _values_digest(values) -> str:
    """sha256 of the float64 little-endian bytes of a numeric axis (exact, any length)."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


# ----------------------------------------------------------------------------- loading


def builtin_names() -> tuple[str, ...]:
    """Names of the specs shipped with kvjax (``kvjax/_sweeps/*.toml``)."""
    d = resources.files("kvjax") / "_sweeps"
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
        res = resources.files("kvjax") / "_sweeps" / f"{name}.toml"
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


def _catalog(catalog):
    if catalog is None:
        from . import catalog
    return catalog


def parse_spec(raw: dict, source: str = "<spec>", text: str = "", catalog=None) -> SweepSpec:
    """Validate a parsed TOML table; every problem raises a one-line ``InputError``."""
    cat = _catalog(catalog)
    for k in raw:
        if k not in _TOP_KEYS:
            raise fail(f"unknown key{suggest(k, _TOP_KEYS)}", source, field=k, value=raw[k])
    axes_raw = raw.get("axes")
    if not isinstance(axes_raw, dict) or not axes_raw:
        raise fail("a spec needs at least one [axes.NAME] table", source, field="axes")
    axes = tuple(_parse_axis(n, a, source, cat) for n, a in axes_raw.items())
    _check_duplicates(axes, source)

    fixed, fixed_catalog = _parse_fixed(raw.get("fixed", {}), source, cat)
    for a in axes:
        if a.kind == "leaf" and a.leaf in fixed:
            raise fail("leaf is both an axis and fixed", source, "fixed", a.leaf, fixed[a.leaf])
        if a.kind != "leaf" and a.kind in fixed_catalog:
            raise fail("group is both a catalog axis and fixed", source, "fixed", a.kind,
                       fixed_catalog[a.kind][0])  # fmt: skip
    for group in CATALOG_GROUPS:
        has_axis = any(a.kind == group for a in axes)
        if not has_axis and group not in fixed_catalog:
            cls = _GROUP_CLASSES[group]
            missing = [
                f"{group}.{n}" for n in cls.leaf_names()
                if f"{group}.{n}" not in fixed
                and not any(a.leaf == f"{group}.{n}" for a in axes)
                and not _has_default(cls, n)
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
    return spec


def _has_default(cls, name) -> bool:
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    return f.default is not dataclasses.MISSING


def _resolve_leaf(name, source, entry, key="leaf") -> str:
    if not isinstance(name, str):
        raise fail("must be a leaf name such as 'workload.batch'", source, entry, key, name)
    if name in _LEAVES:
        return name
    if name in _SHORT:
        return _SHORT[name]
    raise fail(f"unknown scenario leaf{suggest(name, _LEAVES + tuple(_SHORT))}", source,
               entry, key, name)  # fmt: skip


def check_value(path: str, value, source, entry, key) -> float:
    """``value`` as a float inside the valid domain of leaf ``path``, else ``InputError``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail("must be a number", source, entry, key, value)
    v = float(value)
    if path == "hardware.usd_per_hour" and math.isnan(v):
        return v
    lo, hi, lo_in, hi_in = DOMAINS[path]
    ok = math.isfinite(v) and (v >= lo if lo_in else v > lo) and (v <= hi if hi_in else v < hi)
    if not ok:
        lo_s = ("[" if lo_in else "(") + f"{lo:g}"
        hi_s = f"{hi:g}" + ("]" if hi_in else ")")
        raise fail(f"outside the valid domain of {path}: {lo_s}, {hi_s}", source, entry, key,
                   value)  # fmt: skip
    return v


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
    leaf = _resolve_leaf(a["leaf"], source, entry)
    values = _parse_numeric(name, a, source)
    key = next(k for k in _NUMERIC_FORMS if k in a)
    lo, hi, lo_in, hi_in = DOMAINS[leaf]
    with np.errstate(invalid="ignore"):
        ok = (values >= lo if lo_in else values > lo) & (values <= hi if hi_in else values < hi)
    if not ok.all():  # name the first offending value
        check_value(leaf, float(values[np.argmin(ok)]), source, entry, key)
    return Axis(name=name, kind="leaf", values=values, leaf=leaf)


def _check_duplicates(axes, source):
    seen: dict = {}
    for a in axes:
        what = a.leaf if a.kind == "leaf" else f"catalog {a.kind}"
        if what in seen:
            raise fail(f"duplicate axis: {what} is already axis {seen[what]!r}", source,
                       f"axes.{a.name}", value=None)  # fmt: skip
        seen[what] = a.name
        if a.name in _LEAVES or "." in a.name or not a.name.isidentifier():
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
        path = _resolve_leaf(key, source, "fixed", key)
        fixed[path] = check_value(path, v, source, "fixed", key)
    return fixed, fixed_catalog


def _parse_metrics(m, source):
    if m == "default":
        return tuple(DEFAULT_METRICS)
    if m == "all":
        return tuple(METRICS)
    if isinstance(m, str):
        m = [m]
    if not isinstance(m, list) or not m:
        raise fail('metrics must be "default", "all" or a non-empty list', source, "metrics",
                   value=m)  # fmt: skip
    for n in m:
        if n not in METRICS:
            raise fail(f"unknown metric{suggest(n, METRICS)}", source, field="metrics", value=n)
    if len(set(m)) != len(m):
        raise fail("metrics repeat", source, field="metrics", value=m)
    return tuple(m)


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
