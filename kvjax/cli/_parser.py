"""The argument parser every ``kvjax`` subcommand is built on, and the ``--json`` output.

``kvjax --help`` must start in well under a second, so building the parser imports nothing
heavy: a subcommand whose options come from the cost model's leaf metadata (``eval``,
``grad``, ``solve``) *defers* adding them (:meth:`LazyParser.defer`) until that subcommand
is parsed or its help is shown.  Errors are one line (``kvjax eval: error: ...``) and exit
status 2, like every other bad input; each subcommand's ``--help`` ends with examples.
"""

from __future__ import annotations

import argparse
import json
import sys


class _Formatter(argparse.HelpFormatter):
    """Wraps descriptions; keeps the examples epilog as written (one command a line)."""

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class LazyParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose slow-to-build arguments are added on first use, and
    whose usage errors are one line on stderr with exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._deferred = []

    def defer(self, add) -> None:
        """Call ``add(self)`` before this parser first parses or prints help."""
        self._deferred.append(add)

    def resolve(self) -> LazyParser:
        """Add every deferred argument now (and in the subcommands' parsers)."""
        while self._deferred:
            self._deferred.pop(0)(self)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for p in action.choices.values():
                    if isinstance(p, LazyParser):
                        p.resolve()
        return self

    def parse_known_args(self, args=None, namespace=None):
        while self._deferred:
            self._deferred.pop(0)(self)
        return super().parse_known_args(args, namespace)

    def format_help(self):
        while self._deferred:
            self._deferred.pop(0)(self)
        return super().format_help()

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def examples(*lines: str) -> str:
    """An ``epilog`` listing example command lines."""
    return "examples:\n" + "\n".join(f"  {x}" for x in lines)


def print_json(doc) -> None:
    """One JSON document on stdout: NaN and infinities as ``null`` (strict JSON), numpy
    scalars as numbers, anything else as its string."""
    print(json.dumps(_plain(doc), indent=2, allow_nan=False))
    sys.stdout.flush()


def _plain(x):
    import math

    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if hasattr(x, "dtype") and getattr(x.dtype, "kind", "") in "iub":
        return int(x) if x.dtype.kind != "b" else bool(x)
    return f if math.isfinite(f) else None
