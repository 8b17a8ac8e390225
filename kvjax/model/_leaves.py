"""Leaf metadata and the frozen-PyTree machinery of the input trees (``_types.py``).

:class:`Domain` (a leaf's valid interval), :class:`LeafInfo` (symbol, units, domain,
meaning: dataclass field metadata via ``_leaf``), the float conversion of every leaf on
construction, and ``_pytree``, which freezes a class, registers it with JAX and writes its
leaves into its docstring.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Domain:
    """The valid values of a leaf: an interval, open or closed at each end."""

    lo: float
    hi: float = math.inf
    lo_closed: bool = True
    hi_closed: bool = False
    nan_ok: bool = False  # NaN allowed (a price that is not public)

    def contains(self, v: float) -> bool:
        if math.isnan(v):
            return self.nan_ok
        lo_ok = v >= self.lo if self.lo_closed else v > self.lo
        hi_ok = v <= self.hi if self.hi_closed else v < self.hi
        return math.isfinite(v) and lo_ok and hi_ok

    def mask(self, values: np.ndarray) -> np.ndarray:
        """Elementwise :meth:`contains` of a float array."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            lo_ok = v >= self.lo if self.lo_closed else v > self.lo
            hi_ok = v <= self.hi if self.hi_closed else v < self.hi
        return (np.isfinite(v) & lo_ok & hi_ok) | (np.isnan(v) & self.nan_ok)

    def __str__(self) -> str:
        lo, hi = "[" if self.lo_closed else "(", "]" if self.hi_closed else ")"
        return f"{lo}{self.lo:g}, {self.hi:g}{hi}"


POSITIVE = Domain(0.0, lo_closed=False)
NONNEGATIVE = Domain(0.0)
AT_LEAST_1 = Domain(1.0)
FRACTION = Domain(0.0, 1.0, lo_closed=False, hi_closed=True)  # (0, 1]
SHARE = Domain(0.0, 1.0, hi_closed=True)  # [0, 1]


@dataclass(frozen=True)
class LeafInfo:
    """Metadata of one leaf: its symbol, SI units (``"1"`` if none), valid domain, meaning."""

    symbol: str
    units: str
    domain: Domain
    doc: str


def _leaf(default=dataclasses.MISSING, *, symbol, doc, units="1", domain=POSITIVE):
    info = LeafInfo(symbol, units, domain, doc)
    return dataclasses.field(default=default, metadata={"kvjax": info})


def _is_int(v) -> bool:
    if isinstance(v, bool | np.bool_):
        return False
    if isinstance(v, int | np.integer):
        return True
    dtype = getattr(v, "dtype", None)
    return dtype is not None and np.issubdtype(dtype, np.integer)


def _as_float(v):
    """A float leaf from any number; arrays, tracers and sub-trees of floats pass through."""
    if not _is_int(v):
        return v
    if isinstance(v, int | np.integer):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.astype(np.float64)
    return jnp.asarray(v, dtype=jnp.result_type(float))  # a jax integer array or tracer


def _pytree(cls):
    """Freeze ``cls``, register it as a PyTree of data leaves, document its leaves."""
    cls = dataclass(frozen=True)(cls)
    names = [f.name for f in fields(cls)]
    rows = [
        f"  {f.name}: {f.metadata['kvjax'].symbol + ', ' if f.metadata['kvjax'].symbol else ''}"
        f"{f.metadata['kvjax'].doc} [{f.metadata['kvjax'].units}]"
        for f in fields(cls)
        if "kvjax" in f.metadata
    ]
    if rows:
        doc = (cls.__doc__ or "").rstrip()
        cls.__doc__ = doc + "\n\n    Attributes:\n    " + "\n    ".join(rows)
    return jax.tree_util.register_dataclass(cls, data_fields=names, meta_fields=[])


class _Leaves:
    """Helpers shared by the input trees."""

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            c = _as_float(v)
            if c is not v:
                object.__setattr__(self, f.name, c)

    def replace(self, **changes):
        """A copy with some leaves changed (a what-if): ``model.replace(n_kv_heads=1.0)``."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def leaf_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
