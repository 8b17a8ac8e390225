"""The ``kvjax`` command: the parser (each subcommand registered by its module) and ``main``.

Bad input (``InputError``) prints one line on stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._version import __version__
from ..errors import InputError
from . import _eval, _frontier, _grad, _signals, _solve, _sweep

COMMANDS = (_eval, _sweep, _grad, _frontier, _solve)
"""The modules that register subcommands, in the order ``kvjax --help`` lists them."""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (``kvjax eval: error: ...``) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kvjax",
        description="Where the cost of serving long-context LLMs comes from (KV-cache roofline).",
    )
    parser.add_argument("--version", action="version", version=f"kvjax {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.add_commands(sub)
    return parser


def main(argv=None) -> int:
    with _signals.handled():
        command = "kvjax"
        try:
            args = build_parser().parse_args(argv)
            command = args.command
            return int(args.func(args) or 0)
        except InputError as e:
            print(f"kvjax {command}: error: {e}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # e.g. `kvjax list models | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except _signals.Stopped as e:
            print(f"kvjax {command}: stopped by {e}", file=sys.stderr)
            return e.exit_status
        except KeyboardInterrupt:
            hint = " (resume with --resume)" if command == "sweep" else ""
            print(f"kvjax: interrupted{hint}", file=sys.stderr)
            return 130
