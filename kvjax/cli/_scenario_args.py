"""One scenario from command-line options, shared by ``eval``, ``grad`` and ``solve``, and
the one parser of ``LEAF=VALUE`` items (``--set``, ``--bound``, ``--reference-set``).

``--model NAME`` (or ``--hf-config PATH`` for a local config.json), ``--hardware NAME``,
``--precision bf16|fp8``, one flag per workload leaf (``--context``, ``--batch``, ``--tp``,
``--kv-bits``, ...; help text and units from the leaf metadata), and
``--set group.leaf=VALUE`` for any other leaf.
"""

from __future__ import annotations

import argparse
import math

from .. import catalog
from ..errors import InputError
from ..model import Scenario, Workload, leaf_info, replace_leaf, resolve_leaf

ALIASES = {"context_tokens": ["--context"]}


def split_list(values) -> list[str]:
    """Items of repeatable, comma-separated options: ``["a,b", "c"] -> ["a", "b", "c"]``."""
    out = []
    for v in values or ():
        out += [x.strip() for x in str(v).split(",") if x.strip()]
    return out


def parse_assignment(item: str, flag: str) -> tuple[str, float]:
    """``"group.leaf=VALUE"`` (or ``"leaf=VALUE"``) -> ``(leaf path, float)``; bad names,
    numbers or non-finite / negative values raise a one-line ``InputError`` naming ``flag``."""
    name, sep, raw = item.partition("=")
    if not sep:
        raise InputError(f"{flag} {item!r}: expected LEAF=VALUE")
    path = resolve_leaf(name.strip(), field=flag)
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{flag} {path} = {raw!r}: not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{flag} {path} = {raw!r}: must be finite and >= 0")
    return path, value


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
        info = leaf_info(f"workload.{name}")
        flags = ALIASES.get(name, []) + ["--" + name.replace("_", "-")]
        units = "" if info.units == "1" else f" [{info.units}]"
        required = " (required)" if name == "context_tokens" else ""
        g.add_argument(*flags, dest=name, type=float, metavar="X",
                       help=f"workload.{name}: {info.doc}{units}{required}")  # fmt: skip
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
        model, _ = catalog.model_from_hf_config(args.hf_config)
    hardware = catalog.load_hardware(args.hardware, args.precision)
    given = {n: getattr(args, n) for n in Workload.leaf_names() if getattr(args, n) is not None}
    if "context_tokens" not in given:
        raise InputError("--context is required (tokens of context per user)")
    for name, value in given.items():
        if not math.isfinite(value) or value < 0:
            raise InputError(f"--{name.replace('_', '-')} = {value!r}: must be finite and >= 0")
    s = Scenario(model, hardware, Workload(**given))
    for item in args.set:
        s = replace_leaf(s, *parse_assignment(item, "--set"))
    return s
