"""A validated sweep spec (:class:`SweepSpec`), its canonical form and hash, and the one
place where a spec becomes scenarios: defaults < fixed catalog entries < fixed leaves < axes.

``kvjax.sweep._parse`` builds a ``SweepSpec`` from TOML; the engine, the boundary refinement
of stored sweeps and the benchmarks all turn it into leaf values with :func:`base_leaves`
and :func:`catalog_axis_leaves`, then into a ``Scenario`` with
``kvjax.model.scenario_from_leaves``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from .. import catalog as _catalog
from ..errors import fail
from ..model import DEFAULT_METRICS, GROUP_CLASSES, first_problem, leaf_defaults

CATALOG_GROUPS = ("model", "hardware")
DEFAULT_CHUNK_POINTS = 1 << 20
"""Points per compute chunk: ~1e6 keeps a chunk's outputs in cache (docs/performance.md)."""

ELASTICITY_VAR = "elasticity"
ELASTICITY_DIMS = ("metric", "knob")
DEFAULT_BLOCK_POINTS = 65_536
"""Points per elasticity sub-block inside a chunk (``kvjax.sweep._kernel``): measured
16K-256K alike within noise, 1M slower, on XLA CPU (docs/performance.md)."""


@dataclass(frozen=True)
class ElasticitySpec:
    """Metrics and knobs (leaf paths) of a spec's ``[elasticity]`` section."""

    metrics: tuple[str, ...]
    wrt: tuple[str, ...]
    block_points: int = DEFAULT_BLOCK_POINTS

    def canonical(self) -> dict:
        return {"metrics": list(self.metrics), "wrt": list(self.wrt),
                "block_points": int(self.block_points)}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Axis:
    """One dimension of the grid.

    ``kind`` is ``"leaf"`` (``values``: a read-only float64 array set on ``leaf``) or a
    catalog group, ``"model"`` / ``"hardware"`` (``values`` are catalog ids; the axis is an
    index axis whose stacked leaves are gathered inside ``jit``).  ``spacing`` (``"log"``
    for a ``geomspace`` or a list in geometric progression, else ``"linear"``) is how plots
    scale the axis; it is a label, not part of the spec hash.
    """

    name: str
    kind: str
    values: object  # np.ndarray (leaf axis) or tuple of catalog ids
    leaf: str | None = None
    precision: str = "bf16"
    spacing: str = "linear"  # "log" for geomspace (or values in geometric progression)

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
    elasticity: ElasticitySpec | None = None

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
        group = GROUP_CLASSES[axis.kind]
        taken = set(self.fixed) | {a.leaf for a in self.axes if a.kind == "leaf"}
        return frozenset(p for n in group.leaf_names() if (p := f"{axis.kind}.{n}") not in taken)


def _values_digest(values) -> str:
    """sha256 of the float64 little-endian bytes of a numeric axis (exact, any length)."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


# ----------------------------------------------------------------------------- scenarios


def base_leaves(spec: SweepSpec, catalog=None) -> dict[str, float]:
    """Scalar value of every leaf not on an axis: fixed > fixed catalog entry > default.

    ``workload.context_tokens`` has no default: it is here only when fixed (else an axis
    sets it).
    """
    cat = catalog or _catalog
    base = leaf_defaults()
    for group, (name, precision) in spec.fixed_catalog.items():
        tree = cat.load_model(name) if group == "model" else cat.load_hardware(name, precision)
        base.update({f"{group}.{k}": float(v) for k, v in tree.as_dict().items()})
    base.update(spec.fixed)
    return base


def catalog_axis_leaves(spec: SweepSpec, axis: Axis, catalog=None, names=None) -> dict:
    """``{"group.leaf": float64 array over the entries}`` of a catalog axis, for the leaves
    that vary along it (``spec.axis_leaves``); ``names`` selects entries (default: all)."""
    cat = catalog or _catalog
    names = list(axis.values if names is None else names)
    if axis.kind == "model":
        tree = cat.stack_models(names)
    else:
        tree = cat.stack_hardware(names, axis.precision)
    leaves = spec.axis_leaves(axis)
    return {
        p: np.asarray(v, dtype=np.float64)
        for k, v in tree.as_dict().items()
        if (p := f"{axis.kind}.{k}") in leaves
    }


def check_rules(spec: SweepSpec, catalog=None, entries=None) -> None:
    """The rules between leaves (``kvjax.model.RULES``) at every combination of the spec's
    fixed values, catalog entries and axis values that a rule involves (vectorised).

    ``entries`` maps fixed leaf paths to the ``(table, key)`` a message should name when
    they were written elsewhere than ``[fixed]`` (the ``[deployment]`` table)."""
    nd = len(spec.axes)
    values = dict(base_leaves(spec, catalog))
    origin = {p: ("fixed", p if p in spec.fixed else p.split(".")[0]) for p in values}
    origin.update(entries or {})
    for j, a in enumerate(spec.axes):
        shape = [1] * nd
        shape[j] = a.size
        if a.kind == "leaf":
            values[a.leaf] = np.asarray(a.values).reshape(shape)
            origin[a.leaf] = (f"axes.{a.name}", a.leaf)
            continue
        for p, v in catalog_axis_leaves(spec, a, catalog).items():
            values[p] = v.reshape(shape)
            origin[p] = (f"axes.{a.name}", "names")
    problem = first_problem(values)
    if problem is None:
        return
    leaf, value, message = problem
    shape = problem.shape or (1,) * nd
    at = [f"{a.name} = {a.values[i]!r}" if a.kind != "leaf" else f"{a.name} = {a.values[i]:g}"
          for a, i, n in zip(spec.axes, problem.index or (0,) * nd, shape, strict=True)
          if n > 1]  # fmt: skip
    entry, key = origin.get(leaf, ("fixed", leaf))
    where = f" (at {', '.join(at)})" if at else ""
    raise fail(f"{message}{where}", spec.source, entry, key, value)


# ----------------------------------------------------------------------------- comparing


def _axis_text(a: Axis) -> str:
    if a.kind == "leaf":
        v = np.asarray(a.values)
        return f"{a.leaf}, {v.size} values {v.min():g}..{v.max():g}"
    return f"{a.size} {a.kind} entries ({', '.join(list(a.values)[:3])}{', ...' * (a.size > 3)})"


def _value_text(v) -> str:
    return "not set" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def spec_difference(stored: SweepSpec, spec: SweepSpec) -> str | None:
    """The first thing that differs between two specs, as a phrase (``axis 'batch':
    workload.batch, 100 values 1..100 in the store, workload.batch, 4 values 1..4 here``),
    or ``None`` when their canonical forms (what the spec hash covers) are equal.

    >>> from kvjax.sweep import parse_text
    >>> a = parse_text('[axes.c]\\nleaf = "context_tokens"\\nvalues = [1000, 2000]\\n'
    ...                '[fixed]\\nmodel = "yi-34b"\\nhardware = "h100-sxm"\\n')
    >>> b = parse_text('[axes.c]\\nleaf = "context_tokens"\\nvalues = [1000, 3000]\\n'
    ...                '[fixed]\\nmodel = "yi-34b"\\nhardware = "h100-sxm"\\n')
    >>> print(spec_difference(a, b).replace(" in the store, ", " in the store,\\n"))
    axis 'c': workload.context_tokens, 2 values 1000..2000 in the store,
    workload.context_tokens, 2 values 1000..3000 here
    """
    ca, cb = stored.canonical(), spec.canonical()
    if stored.dims != spec.dims:
        return f"axes ({', '.join(stored.dims)}) in the store, ({', '.join(spec.dims)}) here"
    for a, b, xa, xb in zip(stored.axes, spec.axes, ca["axes"], cb["axes"], strict=True):
        if xa != xb:
            return f"axis {a.name!r}: {_axis_text(a)} in the store, {_axis_text(b)} here"
    for part in ("fixed", "fixed_catalog"):
        for k in sorted(set(ca[part]) | set(cb[part])):
            va, vb = ca[part].get(k), cb[part].get(k)
            if va != vb:
                return f"[fixed] {k}: {_value_text(va)} in the store, {_value_text(vb)} here"
    if ca["metrics"] != cb["metrics"]:
        only_a = [m for m in ca["metrics"] if m not in cb["metrics"]]
        only_b = [m for m in cb["metrics"] if m not in ca["metrics"]]
        parts = [only_a and f"only in the store: {', '.join(only_a)}",
                 only_b and f"only here: {', '.join(only_b)}"]  # fmt: skip
        what = "; ".join(x for x in parts if x) or "another order"
        return f"metrics: {len(ca['metrics'])} in the store, {len(cb['metrics'])} here ({what})"
    if ca["chunk_points"] != cb["chunk_points"]:
        return f"[chunks] points: {ca['chunk_points']} in the store, {cb['chunk_points']} here"
    if ca.get("elasticity") != cb.get("elasticity"):
        return (f"[elasticity]: {ca.get('elasticity') or 'none'} in the store, "
                f"{cb.get('elasticity') or 'none'} here")  # fmt: skip
    return None
