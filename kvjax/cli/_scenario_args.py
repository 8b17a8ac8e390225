"""One scenario from command-line options, shared by ``eval``, ``grad`` and ``solve``, and
the one parser of ``LEAF=VALUE`` items (``--set``, ``--bound``, ``--reference-set``).

``--model NAME`` (or ``--hf-config PATH`` for a local config.json), ``--hardware NAME``,
``--precision bf16|fp8``, one flag per workload leaf (``--context``, ``--batch``, ``--tp``,
``--kv-bits``, the deployment ``--ep``, ``--dp-attention``, ``--pp``, ``--cp``, ...; help
text and units from the leaf metadata), ``--nodes N`` (spread one replica over N scale-up
domains, ``kvjax.model._parallel.nodes_deployment``), and ``--set group.leaf=VALUE`` for any
other leaf.  Deployments no system can run (``kvjax.model.deployment_errors``) are one-line
errors, the same as in a sweep spec.  DeepSeek-V3 decode as DeepSeek serves it (18 nodes of
8 H800, DP attention and EP over all 144 GPUs, fp8)::

    kvjax eval --model deepseek-v3 --hardware h800 --precision fp8 \
        --weight-bytes-per-param 1 --nodes 18 --context 4989 --batch 12686
"""

from __future__ import annotations

import argparse
import math

from .. import catalog
from ..errors import InputError, fail
from ..model import (
    DEPLOYMENT_LEAVES,
    Scenario,
    Workload,
    deployment_errors,
    get_leaf,
    leaf_info,
    replace_leaf,
    resolve_leaf,
)
from ..model._parallel import nodes_deployment

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
    g.add_argument("--nodes", type=float, metavar="N",
                   help="spread one replica over N scale-up domains (nodes): dp_attention "
                   "fills the devices tp x pp x cp leave, and an MoE model's experts are "
                   "placed whole over them (ep), unless given")  # fmt: skip
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
    assigned = [parse_assignment(item, "--set") for item in args.set]
    for path, value in assigned:
        s = replace_leaf(s, path, value)
    if getattr(args, "nodes", None) is not None:
        known = {p: float(get_leaf(s, p)) for p in DEPLOYMENT_LEAVES}
        explicit = {f"workload.{n}" for n in given} | {p for p, _ in assigned}
        known.update({f"given:{p}": known[p] for p in explicit if p in known})
        updates, errors = nodes_deployment(args.nodes, known)
        if errors:
            raise fail(errors[0][2], field=_flag(errors[0][0]), value=errors[0][1])
        for path, value in updates.items():
            s = replace_leaf(s, path, value)
    check_deployment(s)
    return s


def _flag(path: str) -> str:
    return "--nodes" if path == "nodes" else path


def check_deployment(s: Scenario) -> None:
    """Raise the first of ``kvjax.model.deployment_errors`` for one scenario (one line)."""
    errors = deployment_errors({p: float(get_leaf(s, p)) for p in DEPLOYMENT_LEAVES})
    if errors:
        path, value, message = errors[0]
        raise fail(message, field=path, value=value)
