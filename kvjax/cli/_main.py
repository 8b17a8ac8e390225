"""The ``kvjax`` command: the parser (each subcommand registered by its module) and ``main``.

Bad input (``InputError``, or a usage error) prints one line on stderr and exits with
status 2; no traceback.  Ctrl-C, even while JAX is still being imported, prints one line
(``kvjax: interrupted``, status 130): inside an import it is held until the import is over,
since JAX's extensions crash or print tracebacks when interrupted while they initialise.
``kvjax completion bash|zsh|tcsh`` prints a shell completion script (shtab).
"""

from __future__ import annotations

import os
import sys

from .._version import __version__
from ..errors import InputError
from . import _eval, _explore, _frontier, _grad, _signals, _solve, _sweep
from ._parser import LazyParser, examples

COMMANDS = (_eval, _sweep, _grad, _frontier, _solve, _explore)
"""The modules that register subcommands, in the order ``kvjax --help`` lists them."""


def build_parser(full: bool = False) -> LazyParser:
    """The ``kvjax`` parser; ``full`` adds every deferred argument now (for completion)."""
    parser = LazyParser(
        prog="kvjax",
        description="Where the cost of serving long-context LLMs comes from (KV-cache roofline).",
        epilog=examples(
            "kvjax paper",
            "kvjax eval --model yi-34b --hardware a100-80gb-sxm --context 4k",
            "kvjax sweep context-scaling -o runs/cs.zarr && kvjax explore runs/cs.zarr",
            "kvjax <command> --help      # options and examples of one command",
            'eval "$(kvjax completion bash)"   # tab completion in this shell',
        ),
    )
    parser.add_argument("--version", action="version", version=f"kvjax {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=LazyParser,
                                metavar="COMMAND")  # fmt: skip
    for module in COMMANDS:
        module.add_commands(sub)
    p = sub.add_parser("completion", help="print a shell completion script",
                       epilog=examples("kvjax completion zsh > ~/.zfunc/_kvjax",
                                       'eval "$(kvjax completion bash)"'))  # fmt: skip
    p.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    p.set_defaults(func=_cmd_completion)
    return parser.resolve() if full else parser


def _cmd_completion(args) -> int:
    import shtab

    from .. import catalog

    parser = build_parser(full=True)
    ids = {"model": catalog.model_names(), "hardware": catalog.hardware_names()}
    preamble = {"bash": "", "zsh": ""}
    for what, names in ids.items():
        preamble["bash"] += f'_kvjax_{what}(){{ compgen -W "{" ".join(names)}" -- "$1"; }}\n'
    for action in _walk(parser):
        for what in ids:
            if f"--{what}" in action.option_strings:
                action.complete = {"bash": f"_kvjax_{what}",
                                   "zsh": "(" + " ".join(ids[what]) + ")"}  # fmt: skip
    print(shtab.complete(parser, args.shell, preamble=preamble.get(args.shell, "")))
    return 0


def _walk(parser):
    import argparse

    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for p in action.choices.values():
                yield from _walk(p)


def main(argv=None) -> int:
    command = "kvjax"
    with _signals.handled():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            command = f"kvjax {args.command}"
            return int(args.func(args) or 0)
        except InputError as e:
            print(f"{command}: error: {e}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # e.g. `kvjax list models | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except _signals.Stopped as e:
            print(f"{command}: stopped by {e}", file=sys.stderr)
            return e.exit_status
        except KeyboardInterrupt:
            return _interrupted(command)
        except ImportError as e:  # a signal inside an extension's import surfaces as this
            if not (_signals.received() or _caused_by_interrupt(e)):
                raise
            return _interrupted(command)


def _interrupted(command: str) -> int:
    hint = " (resume with --resume)" if command == "kvjax sweep" else ""
    print(f"kvjax: interrupted{hint}", file=sys.stderr)
    return 130


def _caused_by_interrupt(e: BaseException) -> bool:
    """Whether a ``KeyboardInterrupt`` is in the cause/context chain of ``e``."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False
