"""Scenario leaves by path (``"group.leaf"``): listing, defaults, lookup, checks, edits.

>>> resolve_leaf("kv_bits")
'workload.kv_bits'
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import fields

import numpy as np

from ..errors import fail, suggest
from ._leaves import LeafInfo
from ._types import GROUP_CLASSES, Scenario


def leaf_paths() -> tuple[str, ...]:
    """Every scenario leaf as ``"group.leaf"`` (``"workload.context_tokens"``, ...)."""
    return _PATHS


_PATHS = tuple(f"{g}.{n}" for g, cls in GROUP_CLASSES.items() for n in cls.leaf_names())
_SHORT = {p.split(".")[1]: p for p in _PATHS}  # leaf names are unique across groups
_INFO = {
    f"{g}.{f.name}": f.metadata["kvjax"] for g, cls in GROUP_CLASSES.items() for f in fields(cls)
}
_DEFAULTS = {
    f"{g}.{f.name}": float(f.default)
    for g, cls in GROUP_CLASSES.items()
    for f in fields(cls)
    if f.default is not dataclasses.MISSING
}


def leaf_info(path: str) -> LeafInfo:
    """The :class:`LeafInfo` of ``"group.leaf"``."""
    return _INFO[path]


def leaf_defaults() -> dict[str, float]:
    """``{"group.leaf": neutral value}`` of every leaf that has a default."""
    return dict(_DEFAULTS)


def resolve_leaf(name, file=None, entry=None, field=None) -> str:
    """The canonical ``"group.leaf"`` path of ``name`` (a path, or an unambiguous bare leaf
    name such as ``"kv_bits"``); anything else raises a one-line ``InputError`` located at
    ``file``/``entry``/``field`` with the closest names suggested.

    >>> resolve_leaf("kv_bits")
    'workload.kv_bits'
    """
    if isinstance(name, str):
        if name in _INFO:
            return name
        if name in _SHORT:
            return _SHORT[name]
        if name in GROUP_CLASSES:
            raise fail("is a group, not a leaf; name one of its leaves", file, entry, field, name)
    else:
        raise fail("must be a leaf name such as 'workload.batch'", file, entry, field, name)
    choices = _PATHS + tuple(_SHORT)
    raise fail(f"unknown scenario leaf{suggest(name, choices)}", file, entry, field, name)


def resolve_leaves(names, file=None, entry=None, field=None) -> tuple[str, ...]:
    """:func:`resolve_leaf` of each name (a string or a list); a leaf named twice is refused."""
    names = (names,) if isinstance(names, str) else tuple(names)
    out = tuple(resolve_leaf(n, file, entry, field) for n in names)
    for p in out:
        if out.count(p) > 1:
            raise fail("leaf named twice", file, entry, field, p)
    return out


def check_leaf_value(path: str, value, file=None, entry=None, field=None) -> float:
    """``value`` as a float inside the valid domain of leaf ``path``, else ``InputError``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise fail("must be a number", file, entry, field, value)
    v = float(value)
    domain = _INFO[path].domain
    if not math.isfinite(v) and not (math.isnan(v) and domain.nan_ok):
        raise fail(f"must be finite (the valid domain of {path} is {domain})", file, entry,
                   field, value)  # fmt: skip
    if not domain.contains(v):
        raise fail(f"outside the valid domain of {path}: {domain}", file, entry, field, value)
    return v


def get_leaf(scenario: Scenario, path: str):
    """The value of leaf ``"group.leaf"`` of ``scenario``."""
    group, name = path.split(".")
    return getattr(getattr(scenario, group), name)


def replace_leaf(scenario: Scenario, path: str, value) -> Scenario:
    """A copy of ``scenario`` with the leaf at ``"group.leaf"`` set to ``value``."""
    group, name = path.split(".")
    sub = getattr(scenario, group).replace(**{name: value})
    return scenario.replace(**{group: sub})


def scenario_from_leaves(values: dict) -> Scenario:
    """The ``Scenario`` of a flat ``{"group.leaf": value}`` dict naming every leaf."""
    groups = {
        g: cls(**{n: values[f"{g}.{n}"] for n in cls.leaf_names()})
        for g, cls in GROUP_CLASSES.items()
    }
    return Scenario(**groups)
