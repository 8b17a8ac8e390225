"""Run `aiconfigurator cli estimate ...` with every op listed in --detail time tables.

The CLI shows the 12 largest ops per phase; this wrapper only raises that display limit
(estimate_detail_report._format_time_detail's top_n_ops) so every op's SOL time is printed.
Usage: venv/bin/python aic_all_ops.py cli estimate ARGS...
"""

import sys

import aiconfigurator.cli.estimate_detail_report as report

_orig = report._format_time_detail


def _all_ops(*args, **kwargs):
    kwargs["top_n_ops"] = 1000
    return _orig(*args, **kwargs)


report._format_time_detail = _all_ops
from aiconfigurator.main import main  # noqa: E402

sys.argv = ["aiconfigurator", *sys.argv[1:]]
sys.exit(main())
