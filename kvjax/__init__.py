"""kvjax: where the cost of serving long-context LLMs comes from, and what would remove it.

A differentiable roofline model (Yao Fu, arXiv 2405.08944) in pure JAX: one scenario in,
named scalars out; ``jax.vmap`` and the sweep engine make the grids.

Layers, each importing only those below it (``pyproject.toml`` states the contract and
``lint-imports`` checks it)::

    kvjax.cli        the ``kvjax`` command, one module per subcommand
    kvjax.paper      the paper's running example, reproduced
    kvjax.analysis   Pareto sets, regime boundaries, inverse design, the ds.kv accessor
    kvjax.sweep      specs -> plan -> jit kernel -> zarr stores -> xarray
    kvjax.catalog    model and hardware catalogs, the Hugging Face config importer
    kvjax.costs      every cost function, re-exported
    kvjax.model      input trees, numerics, cost functions, metric registry, elasticities
    kvjax.errors, kvjax.units, kvjax._format, kvjax._version
"""

from . import analysis as _analysis  # noqa: F401  (registers the ds.kv accessor)
from ._version import __version__ as __version__
from .model import DEFAULT_METRICS as DEFAULT_METRICS
from .model import METRICS as METRICS
from .model import Hardware as Hardware
from .model import Model as Model
from .model import Scenario as Scenario
from .model import Workload as Workload
from .model import elasticity as elasticity
from .model import evaluate as evaluate
from .sweep import open_sweep as open_sweep
from .sweep import run_sweep as run_sweep
