"""One scenario from command-line options, shared by ``kvjax eval`` and ``kvjax grad``.

``--model NAME`` (or ``--hf-config PATH`` for a local config.json), ``--hardware NAME``,
``--precision bf16|fp8``, one flag per workload leaf (``--context``, ``--batch``, ``--tp``,
``--kv-bits``, ...), and ``--set group.leaf=VALUE`` for any other leaf.
"""

from __future__ import annotations

import argparse
import math

from . import catalog
from .errors import InputError, suggest
from .types import Scenario, Workload, leaf_paths, replace_leaf

ALIASES = {"context_tokens": ["--context"]}


def add_scenario_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario")
    g.add_argument("--model", help="catalog model id (kvjax list models)")
    g.add_argument("--hf-config", metavar="PATH", help="a local Hugging Face config.json")
    g.add_argument("--hardware", required=True, help="catalog hardware id (kvjax list hardware)")
    g.add_argument(
        "--precision",
        default="bf16",
        choices=["bf16", "fp8"],
        help="compute precision of the peak FLOP/s (default bf16)",
    )
    for name in Workload.leaf_names():
        flags = ALIASES.get(name, []) + ["--" + name.replace("_", "-")]
        g.add_argument(
            *flags,
            dest=name,
            type=float,
            metavar="X",
            help=f"workload.{name}" + (" (required)" if name == "context_tokens" else ""),
        )
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="GROUP.LEAF=X",
        help="set any scenario leaf, e.g. --set model.n_kv_heads=1 (repeatable)",
    )


def scenario_from_args(args) -> Scenario:
    """Build the scenario; bad names or values raise a one-line ``InputError``."""
    if (args.model is None) == (args.hf_config is None):
        raise InputError("give exactly one of --model NAME and --hf-config PATH")
    if args.model is not None:
        model = catalog.load_model(args.model)
    else:
        from .hf_config import model_from_hf_config

        model, _ = model_from_hf_config(args.hf_config)
    hardware = catalog.load_hardware(args.hardware, args.precision)
    given = {n: getattr(args, n) for n in Workload.leaf_names() if getattr(args, n) is not None}
    if "context_tokens" not in given:
        raise InputError("--context is required (tokens of context per user)")
    for name, value in given.items():
        if not math.isfinite(value) or value < 0:
            raise InputError(f"--{name.replace('_', '-')} = {value!r}: must be finite and >= 0")
    s = Scenario(model, hardware, Workload(**given))
    for item in args.set:
        path, sep, raw = item.partition("=")
        if not sep:
            raise InputError(f"--set {item!r}: expected GROUP.LEAF=VALUE")
        if path not in leaf_paths():
            raise InputError(f"--set {path!r}: unknown leaf{suggest(path, leaf_paths())}")
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"--set {path} = {raw!r}: not a number") from None
        if not math.isfinite(value) or value < 0:
            raise InputError(f"--set {path} = {raw!r}: must be finite and >= 0")
        s = replace_leaf(s, path, value)
    return s
