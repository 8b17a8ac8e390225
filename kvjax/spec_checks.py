"""The ``[elasticity]`` section of a sweep spec: parsing and validation.

::

    [elasticity]
    metrics = ["decode_step_s", "session_gpu_s"]            # float metrics
    wrt = ["hardware.hbm_bytes_per_s", "workload.kv_bits"]  # scenario leaves, or "default"
    block_points = 65536                                    # optional, points per sub-block

gives one stored variable ``elasticity`` with dims ``(metric, knob, <sweep dims>)``.  Every
problem is a one-line ``InputError`` naming the spec file, the key and the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import fail, suggest
from .metrics import METRICS
from .types import leaf_paths

ELASTICITY_VAR = "elasticity"
ELASTICITY_DIMS = ("metric", "knob")
DEFAULT_BLOCK_POINTS = 65_536
"""Points per elasticity sub-block inside a chunk (``kvjax.sweep_elasticity``): measured
16K-256K alike within noise, 1M slower, on XLA CPU (docs/performance.md)."""

_KEYS = ("metrics", "wrt", "block_points")
_LEAVES = leaf_paths()
_SHORT = {p.split(".")[1]: p for p in _LEAVES}


@dataclass(frozen=True)
class ElasticitySpec:
    """Metrics and knobs (leaf paths) of a spec's ``[elasticity]`` section."""

    metrics: tuple[str, ...]
    wrt: tuple[str, ...]
    block_points: int = DEFAULT_BLOCK_POINTS

    def canonical(self) -> dict:
        return {"metrics": list(self.metrics), "wrt": list(self.wrt),
                "block_points": int(self.block_points)}  # fmt: skip


def _names(x, source, key):
    if isinstance(x, str):
        x = [x]
    if not isinstance(x, list) or not x or not all(isinstance(v, str) for v in x):
        raise fail("must be a non-empty list of names", source, "elasticity", key, x)
    if len(set(x)) != len(x):
        dup = next(v for v in x if x.count(v) > 1)
        raise fail("named twice", source, "elasticity", key, dup)
    return x


def parse_elasticity(raw, source, axis_names=()) -> ElasticitySpec | None:
    """The validated ``[elasticity]`` table, or None if the spec has none."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("[elasticity] must be a table", source, "elasticity")
    for k in raw:
        if k not in _KEYS:
            raise fail(f"unknown key{suggest(k, _KEYS)}", source, "elasticity", k, raw[k])
    for k in ("metrics", "wrt"):
        if k not in raw:
            raise fail(f"[elasticity] needs {k} = [...]", source, "elasticity", k)
    floats = tuple(n for n, i in METRICS.items() if i.kind == "float")
    metrics = _names(raw["metrics"], source, "metrics")
    for n in metrics:
        if n not in METRICS:
            raise fail(f"unknown metric{suggest(n, floats)}", source, "elasticity", "metrics", n)
        if METRICS[n].kind != "float":
            raise fail(f"a {METRICS[n].kind} metric has no elasticity (piecewise constant); "
                       f"name a float metric{suggest(n, floats)}", source, "elasticity",
                       "metrics", n)  # fmt: skip
    wrt = raw["wrt"]
    if wrt == "default":
        from .sensitivity import KNOBS

        paths = list(KNOBS)
    else:
        paths = []
        for n in _names(wrt, source, "wrt"):
            if n in _LEAVES:
                paths.append(n)
            elif n in _SHORT:
                paths.append(_SHORT[n])
            else:
                raise fail(f"unknown scenario leaf{suggest(n, _LEAVES + tuple(_SHORT))}",
                           source, "elasticity", "wrt", n)  # fmt: skip
        if len(set(paths)) != len(paths):
            dup = next(p for p in paths if paths.count(p) > 1)
            raise fail("leaf named twice", source, "elasticity", "wrt", dup)
    block = raw.get("block_points", DEFAULT_BLOCK_POINTS)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise fail("must be a positive integer", source, "elasticity", "block_points", block)
    for name in axis_names:
        if name in ELASTICITY_DIMS or name == ELASTICITY_VAR:
            raise fail(f"axis name {name!r} is taken by the elasticity variable's dims",
                       source, f"axes.{name}")  # fmt: skip
    return ElasticitySpec(tuple(metrics), tuple(paths), block)
