"""The ``kvjax`` command line: one module per subcommand (``_eval``: paper, eval, list;
``_sweep``: sweep, info; ``_grad``; ``_frontier``; ``_solve``), the shared scenario options
(``_scenario_args``) and the parser (``_main``)."""

from ._main import build_parser as build_parser
from ._main import main as main
