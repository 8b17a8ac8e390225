"""kvjax: where the cost of serving long-context LLMs comes from, and what would remove it.

A differentiable roofline model (Yao Fu, arXiv 2405.08944) in pure JAX: one scenario in,
named scalars out; ``jax.vmap`` and the sweep engine make the grids.
"""

from . import accessor as _accessor  # noqa: F401  (registers the ds.kv accessor)
from .dataset import open_sweep as open_sweep
from .metrics import DEFAULT_METRICS as DEFAULT_METRICS
from .metrics import METRICS as METRICS
from .metrics import evaluate as evaluate
from .sweep import run_sweep as run_sweep
from .types import Hardware as Hardware
from .types import Model as Model
from .types import Scenario as Scenario
from .types import Workload as Workload

__version__ = "0.1.0"
