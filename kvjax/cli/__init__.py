"""The ``kvjax`` command line: one module per subcommand (``_eval``: paper, eval, list;
``_sweep``: sweep, info; ``_grad``; ``_frontier``; ``_solve``; ``_explore``: explore, report,
export), the shared scenario options (``_scenario_args``), the lazy parser and ``--json``
output (``_parser``) and ``main`` (``_main``).  Importing it imports neither JAX nor xarray."""

from ._main import build_parser as build_parser
from ._main import main as main
