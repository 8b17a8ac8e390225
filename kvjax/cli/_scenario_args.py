"""One scenario from command-line options, shared by ``eval``, ``grad`` and ``solve``, and
the one parser of ``LEAF=VALUE`` items (``--set``, ``--bound``, ``--reference-set``).

``--model NAME`` (or ``--hf-config PATH`` for a local config.json), ``--hardware NAME``,
``--precision bf16|fp8``, one flag per workload leaf (``--context``, ``--batch``, ``--tp``,
``--kv-bits``, the deployment ``--ep``, ``--dp-attention``, ``--pp``, ``--cp``, ...; help
text and units from the leaf metadata), ``--nodes N`` (spread one replica over N scale-up
domains, ``kvjax.model.nodes_deployment``), and ``--set group.leaf=VALUE`` for any other
leaf.  Deployments no system can run break a rule of ``kvjax.model.RULES`` (the one
validation): a one-line error, the same as in a sweep spec.  DeepSeek-V3 decode as
DeepSeek serves it (18 nodes of 8 H800, DP attention and EP over all 144 GPUs, fp8)::

    kvjax eval --model deepseek-v3 --hardware h800 --precision fp8 \
        --weight-bytes-per-param 1 --nodes 18 --context 4989 --batch 12686
  Every token count (``--context``,
``--output-tokens``, ``--reference-context``, ...) goes through :func:`parse_tokens`, so
``4k``, ``128K`` and ``1M`` work wherever a number of tokens does.

Nothing here imports JAX at import time: the per-leaf flags are added when the subcommand is
parsed (``LazyParser.defer``), so ``kvjax --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import re

from ..errors import InputError, fail

ALIASES = {"context_tokens": ["--context"]}

_TOKEN_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "ki": 2.0**10, "mi": 2.0**20,
                 "gi": 2.0**30}  # fmt: skip
_NUMBER = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?"
_TOKEN_RE = re.compile(rf"\s*({_NUMBER})\s*([kmg]i?)?\s*", re.IGNORECASE)


def parse_tokens(text) -> float:
    """A token count: a number with an optional decimal suffix ``k``/``K`` (1e3), ``M`` (1e6),
    ``G`` (1e9), or binary ``Ki``/``Mi``/``Gi`` (2**10, 2**20, 2**30).  Decimal, as the
    paper counts ("4K" = 4,000 tokens); ``128Ki`` is 131,072.  Plain numbers (also ``nan``,
    ``-5``) pass through ``float``: the range (finite, >= 0) is checked where the scenario is
    built, with the leaf's name in the message.

    >>> parse_tokens("4k"), parse_tokens("128K"), parse_tokens("1M"), parse_tokens("1e6")
    (4000.0, 128000.0, 1000000.0, 1000000.0)
    >>> parse_tokens("128Ki"), parse_tokens("2.5k"), parse_tokens(250)
    (131072.0, 2500.0, 250.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    m = _TOKEN_RE.fullmatch(str(text))
    if m is not None:
        return float(m.group(1)) * _TOKEN_SUFFIX[(m.group(2) or "").lower()]
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: not a token count (e.g. 4000, 4k, 128K, 1M, 128Ki)"
        ) from None


def split_list(values) -> list[str]:
    """Items of repeatable, comma-separated options: ``["a,b", "c"] -> ["a", "b", "c"]``."""
    out = []
    for v in values or ():
        out += [x.strip() for x in str(v).split(",") if x.strip()]
    return out


def parse_assignment(item: str, flag: str) -> tuple[str, float]:
    """``"group.leaf=VALUE"`` (or ``"leaf=VALUE"``) -> ``(leaf path, float)``; bad names,
    numbers or non-finite / negative values raise a one-line ``InputError`` naming ``flag``."""
    from ..model import check_leaf_value, leaf_info, resolve_leaf

    name, sep, raw = item.partition("=")
    if not sep:
        raise InputError(f"{flag} {item!r}: expected LEAF=VALUE")
    path = resolve_leaf(name.strip(), field=flag)
    try:
        if leaf_info(path).units == "tokens":
            value = parse_tokens(raw.strip())
        else:
            value = float(raw)
    except (ValueError, argparse.ArgumentTypeError):
        raise InputError(f"{flag} {path} = {raw!r}: not a number") from None
    return path, check_leaf_value(path, value, field=f"{flag} {path}")


def add_scenario_arguments(p) -> None:
    """The scenario flags, added when ``p`` (a ``LazyParser``) is first used."""
    if hasattr(p, "defer"):
        p.defer(_add_scenario_arguments)
    else:
        _add_scenario_arguments(p)


def _add_scenario_arguments(p: argparse.ArgumentParser) -> None:
    from ..model import Workload, leaf_info

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
        tokens = info.units == "tokens"
        g.add_argument(*flags, dest=name, type=parse_tokens if tokens else float,
                       metavar="T" if tokens else "X",
                       help=f"workload.{name}: {info.doc}{units}{required}"
                            + (" (4k, 128K, 1M accepted)" if tokens else ""))  # fmt: skip
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
    p.add_argument("--no-cache", action="store_true",
                   help="do not use the persistent compilation cache (as kvjax sweep): "
                        "compile afresh")  # fmt: skip


def use_compile_cache(args) -> None:
    """Turn the persistent compilation cache on (``kvjax.sweep.enable_compile_cache``)
    unless ``--no-cache``: a second ``grad`` of the same shape loads its compiled
    elasticities instead of compiling them again (Yi-34B, 6 metrics x 24 knobs: 23 s)."""
    if not getattr(args, "no_cache", False):
        from ..sweep import enable_compile_cache

        enable_compile_cache()


def scenario_from_args(args):
    """Build the scenario; bad names or values raise a one-line ``InputError``."""
    from .. import catalog
    from ..model import (
        NODES_LEAVES,
        Scenario,
        Workload,
        check_leaf_value,
        get_leaf,
        nodes_deployment,
        replace_leaf,
    )

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
    flags = {f"workload.{n}": "--" + n.replace("_", "-") for n in given}
    for name, value in given.items():
        check_leaf_value(f"workload.{name}", value, field=flags[f"workload.{name}"])
    s = Scenario(model, hardware, Workload(**given))
    for item in args.set:
        path, value = parse_assignment(item, "--set")
        s = replace_leaf(s, path, value)
        flags[path] = f"--set {path}"
    if getattr(args, "nodes", None) is not None:
        known = {p: float(get_leaf(s, p)) for p in NODES_LEAVES}
        known.update({f"given:{p}": known[p] for p in flags if p in known})
        updates, errors = nodes_deployment(args.nodes, known)
        if errors:
            path, value, message = errors[0]
            raise fail(message, field="--nodes" if path == "nodes" else path, value=value)
        for path, value in updates.items():
            s = replace_leaf(s, path, value)
            flags[path] = f"--nodes {args.nodes:g}: {path}"
    check_scenario(s, flags, {"model": f"--model {args.model}" if args.model else "--hf-config",
                              "hardware": f"--hardware {args.hardware}"})  # fmt: skip
    return s


def check_scenario(s, flags: dict, sources: dict) -> None:
    """The rules between leaves (``kvjax.model.RULES``); a broken one is reported against the
    flag that set the leaf it blames (else the flag of its group in ``sources``: the model's
    or the hardware's)."""
    from ..model import GROUPS, first_problem

    values = {f"{g}.{k}": v for g in GROUPS for k, v in getattr(s, g).as_dict().items()}
    problem = first_problem(values)
    if problem is not None:
        leaf, value, message = problem
        group = leaf.split(".")[0]
        where = flags.get(leaf, f"{sources.get(group, sources['model'])}: {leaf}")
        raise fail(message, field=where, value=value)


@contextlib.contextmanager
def reading_store(store):
    """Turn an error met while reading a store's arrays (a damaged chunk file decodes as
    nothing sensible) into one line: the chunk files that fail verification, named."""
    try:
        yield
    except (InputError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - whatever the codec raised, one line for the user
        from ..sweep import is_kvjax_store, verify

        if is_kvjax_store(store):
            v = verify(store)
            if not v.ok:
                raise InputError(f"{store}: corrupt store: {v.summary()}") from None
        raise InputError(f"{store}: cannot read the store ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None  # fmt: skip
