"""Analyses of cost surfaces and stored sweeps: Pareto sets, regime boundaries, inverse design.

Everything here reads the cost model (``kvjax.model``) or a stored sweep (``kvjax.sweep``)
and never writes stores.  One root finder (``bracketed_newton``) serves the boundaries and
``solve``.  Importing this package registers the ``ds.kv`` accessor on ``xarray.Dataset``.
"""

from . import accessor as _accessor  # noqa: F401  (registers ds.kv)
from ._boundary import CONDITIONS as CONDITIONS
from ._boundary import boundary_dataset as boundary_dataset
from ._boundary import check_condition as check_condition
from ._boundary import condition_description as condition_description
from ._boundary import condition_units as condition_units
from ._boundary import find_boundary as find_boundary
from ._boundary import residual_fn as residual_fn
from ._boundary import store_scenarios as store_scenarios
from ._frontier import pareto_blocks as pareto_blocks
from ._frontier import pareto_front as pareto_front
from ._frontier import pareto_mask as pareto_mask
from ._frontier import pareto_table as pareto_table
from ._roots import bracketed_newton as bracketed_newton
from ._solve import DESIGN_KNOBS as DESIGN_KNOBS
from ._solve import GROW_KNOBS as GROW_KNOBS
from ._solve import HARDWARE_KNOBS as HARDWARE_KNOBS
from ._solve import KV_AXES as KV_AXES
from ._solve import OBJECTIVES as OBJECTIVES
from ._solve import SOLVE_KNOBS as SOLVE_KNOBS
from ._solve import Solution as Solution
from ._solve import make_path as make_path
from ._solve import solve as solve
from ._solve import solve_all as solve_all
