"""kvjax: where the cost of serving long-context LLMs comes from, and what would remove it.

A differentiable roofline model (Yao Fu, arXiv 2405.08944) in pure JAX: one scenario in,
named scalars out; ``jax.vmap`` and the sweep engine make the grids.

Layers, each importing only those below it (``pyproject.toml`` states the contract and
``lint-imports`` checks it)::

    kvjax.cli        the ``kvjax`` command, one module per subcommand
    kvjax.explore    the Panel app, the offline HTML report, exports of stored sweeps
    kvjax.paper      the paper's running example, reproduced
    kvjax.analysis   Pareto sets, regime boundaries, inverse design, the ds.kv accessor
    kvjax.sweep      specs -> plan -> jit kernel -> zarr stores -> xarray
    kvjax.catalog    model and hardware catalogs, the Hugging Face config importer
    kvjax.costs      every cost function, re-exported
    kvjax.model      input trees, numerics, cost functions, metric registry, elasticities
    kvjax.errors, kvjax.units, kvjax._format, kvjax._version

Nothing heavy is imported here: ``import kvjax`` (and so ``kvjax --help``) loads JAX, xarray
and the cost model only when one of the names below is first used.  Opening a store through
:func:`open_sweep` registers the ``ds.kv`` accessor (``import kvjax.analysis`` does too).
"""

from __future__ import annotations

import importlib

from ._version import __version__ as __version__

_LAZY = {
    "DEFAULT_METRICS": "model", "METRICS": "model", "Hardware": "model", "Model": "model",
    "Scenario": "model", "Workload": "model", "elasticity": "model", "evaluate": "model",
    "run_sweep": "sweep",
}  # fmt: skip
"""Re-exported names and the subpackage each comes from (imported on first use)."""

__all__ = ["__version__", "open_sweep", *_LAZY]


def open_sweep(store, allow_partial: bool = False, chunks=None, verify: bool = False):
    """``kvjax.sweep.open_sweep`` with the ``ds.kv`` accessor registered (and, when pint is
    imported, kvjax's units added to its registry, so ``ds.pint.quantify()`` works)."""
    import sys

    from . import analysis as _analysis  # noqa: F401  (registers ds.kv)
    from .sweep import open_sweep as _open

    if "pint" in sys.modules:
        from .units import unit_registry

        unit_registry()
    return _open(store, allow_partial=allow_partial, chunks=chunks, verify=verify)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kvjax' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
