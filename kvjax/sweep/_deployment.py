"""A spec's ``[deployment]`` table: the deployment leaves by their short names.

The table sets the deployment leaves by their short names (any of them can instead be an
axis, like every leaf)::

    [deployment]            # DeepSeek-V3 decode as DeepSeek serves it (day 6, Feb 2025)
    nodes = 18              # 18 x 8 H800: dp_attention = ep = 144 (needs a fixed hardware)
    comm_overlap = 1.0

``nodes`` spreads one replica over that many scale-up domains
(``kvjax.model.nodes_deployment``, the same rule as ``--nodes``).  Then every point of the
grid -- fixed values, axis values, catalog entries -- goes through the one validation,
``kvjax.model.RULES`` (``_spec.check_rules``), so a spec and the command line refuse the
same deployments with the same message.
"""

from __future__ import annotations

from ..errors import fail, suggest
from ..model import check_leaf_value, nodes_deployment

KEYS = ("tp", "ep", "dp_attention", "pp", "microbatches_per_stage", "cp", "comm_overlap",
        "moe_imbalance")  # fmt: skip
"""The workload leaves a ``[deployment]`` table may set (plus ``nodes``)."""


def parse_deployment(raw, source, fixed, fixed_catalog, axes, catalog) -> dict:
    """The leaves of a ``[deployment]`` table, ``{"workload.x": value}`` (validated)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail("[deployment] must be a table", source, "deployment")
    allowed = (*KEYS, "nodes")
    on_axes = {a.leaf for a in axes if a.kind == "leaf"}
    out = {}
    for key, value in raw.items():
        name = key.removeprefix("workload.")
        if name not in allowed:
            raise fail(f"unknown key{suggest(name, allowed)}", source, "deployment", key, value)
        if name == "nodes":
            continue
        path = f"workload.{name}"
        if path in fixed:
            raise fail("set both in [fixed] and [deployment]", source, "deployment", key, value)
        if path in on_axes:
            raise fail("leaf is both an axis and in [deployment]", source, "deployment", key,
                       value)  # fmt: skip
        out[path] = check_leaf_value(path, value, source, "deployment", key)
    if "nodes" in raw:
        nodes = raw["nodes"]
        if isinstance(nodes, bool) or not isinstance(nodes, int | float):
            raise fail("must be a number", source, "deployment", "nodes", nodes)
        if "hardware" not in fixed_catalog:
            raise fail('nodes needs a fixed hardware (hardware = "<id>" under [fixed])', source,
                       "deployment", "nodes", nodes)  # fmt: skip
        known = _scalars(fixed_catalog, catalog)
        known.update({**fixed, **out})
        known.update({f"given:{p}": v for p, v in {**fixed, **out}.items()})
        if any(a.kind == "model" for a in axes):
            raise fail("nodes needs a fixed model (the experts decide ep)", source,
                       "deployment", "nodes", nodes)  # fmt: skip
        updates, errors = nodes_deployment(float(nodes), known)
        if errors:
            path, value, message = errors[0]
            raise fail(message, source, "deployment", path, value)
        out.update({p: v for p, v in updates.items() if p not in on_axes})
    return out


def _scalars(fixed_catalog, catalog) -> dict:
    out = {}
    for group, (name, precision) in fixed_catalog.items():
        tree = catalog.load_model(name) if group == "model" else catalog.load_hardware(name,
                                                                                      precision)
        out.update({f"{group}.{k}": float(v) for k, v in tree.as_dict().items()})
    return out
