"""The single-point cost model: one scenario in, named scalars out (pure ``jnp``).

Layers below it: ``kvjax.errors`` and ``kvjax.units``.  Every cost function lives in a
private module here and is re-exported by ``kvjax.costs``; this namespace holds the input
trees and their leaf metadata, the numerics and tie convention, the metric registry and
the elasticities.
"""

from ._deps import elasticity_leaves as elasticity_leaves
from ._deps import leaves_read as leaves_read
from ._deps import metric_leaves as metric_leaves
from ._elasticity import KNOBS as KNOBS
from ._elasticity import elasticity as elasticity
from ._elasticity import elasticity_columns_fn as elasticity_columns_fn
from ._elasticity import elasticity_fn as elasticity_fn
from ._elasticity import elasticity_tree as elasticity_tree
from ._elasticity import metric_vector_fn as metric_vector_fn
from ._elasticity import ranked as ranked
from ._leaves import Domain as Domain
from ._leaves import LeafInfo as LeafInfo
from ._metrics import DEFAULT_METRICS as DEFAULT_METRICS
from ._metrics import DERIVED_METRICS as DERIVED_METRICS
from ._metrics import GRAD_METRICS as GRAD_METRICS
from ._metrics import METRICS as METRICS
from ._metrics import REGIMES as REGIMES
from ._metrics import MetricInfo as MetricInfo
from ._metrics import evaluate as evaluate
from ._metrics import metric_info as metric_info
from ._metrics import resolve_metrics as resolve_metrics
from ._numerics import TIE_CONVENTION as TIE_CONVENTION
from ._numerics import clamp_min as clamp_min
from ._numerics import kink_max as kink_max
from ._numerics import kink_min as kink_min
from ._numerics import log_ratio as log_ratio
from ._numerics import nan_unless as nan_unless
from ._numerics import safe_div as safe_div
from ._numerics import safe_log as safe_log
from ._parallel import NODES_LEAVES as NODES_LEAVES
from ._parallel import nodes_deployment as nodes_deployment
from ._paths import check_leaf_value as check_leaf_value
from ._paths import get_leaf as get_leaf
from ._paths import leaf_defaults as leaf_defaults
from ._paths import leaf_info as leaf_info
from ._paths import leaf_paths as leaf_paths
from ._paths import replace_leaf as replace_leaf
from ._paths import resolve_leaf as resolve_leaf
from ._paths import resolve_leaves as resolve_leaves
from ._paths import scenario_from_leaves as scenario_from_leaves
from ._types import GROUP_CLASSES as GROUP_CLASSES
from ._types import GROUPS as GROUPS
from ._types import Hardware as Hardware
from ._types import Model as Model
from ._types import Scenario as Scenario
from ._types import Workload as Workload
from ._validate import RULES as RULES
from ._validate import first_problem as first_problem
