"""``kvjax grad``, ``kvjax frontier`` and ``kvjax solve``: the gradient layer from the shell.

``add_commands(subparsers)`` registers the three; ``kvjax.cli`` calls it and turns an
``InputError`` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math

from .errors import InputError

DEFAULT_GRAD_METRICS = (
    "concurrency",
    "prefill_s",
    "decode_step_s",
    "context_switch_s",
    "session_gpu_s",
    "usd_per_million_output_tokens",
)

_PREFIX = [(1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"),
           (1e9, "G"), (1e12, "T"), (1e15, "P")]  # fmt: skip


def _fmt(v: float, units: str = "") -> str:
    """A number with an SI prefix for s / bytes / FLOP; plain otherwise."""
    if not math.isfinite(v):
        return str(v)
    if units in ("s", "bytes", "FLOP", "FLOP/s", "bytes/s") and v != 0:
        scale, p = max((x for x in _PREFIX if abs(v) >= x[0]), default=_PREFIX[0])
        unit = "B" if units == "bytes" else ("B/s" if units == "bytes/s" else units)
        return f"{v / scale:.4g} {p}{unit}"
    u = "" if units in ("1", "") else f" {units}"
    return f"{v:.4g}{u}"


def _split(values) -> list[str]:
    out = []
    for v in values or ():
        out += [x.strip() for x in str(v).split(",") if x.strip()]
    return out


# ----------------------------------------------------------------------------- grad


def _infeasible_line(s, r) -> str | None:
    conc, batch = float(r["concurrency"]), float(s.workload.batch)
    if conc >= batch:
        return None
    from . import memory as mem
    from .units import GiB

    weights = float(mem.weight_bytes_per_device(s)) / GiB
    kv = float(mem.kv_bytes_per_user(s)) / GiB / float(s.workload.tp)
    hbm = float(s.hardware.hbm_bytes) / GiB
    what = (
        "one user's KV cache does not fit" if conc < 1 else f"the batch of {batch:g} does not fit"
    )
    return (
        f"infeasible: {what} in HBM (capacity constraint): concurrency = {conc:.3g} < "
        f"{max(1.0, batch) if conc < 1 else batch:g}; per device: weights {weights:.3g} GiB + "
        f"KV {kv:.3g} GiB per user vs HBM {hbm:.3g} GiB"
    )


def _cmd_grad(args) -> int:
    import jax

    from .cli_common import scenario_from_args
    from .metrics import METRICS, evaluate
    from .sensitivity import KNOBS, check_float_metrics, check_leaf_paths, elasticity, ranked

    metrics = check_float_metrics(_split(args.metrics) or DEFAULT_GRAD_METRICS, "--metrics")
    wrt = check_leaf_paths(_split(args.wrt) or KNOBS, "--wrt")
    s = scenario_from_args(args)
    with jax.enable_x64(True):
        r = jax.jit(lambda s: evaluate(s, ("concurrency", *metrics)))(s)
        e = jax.jit(lambda s: elasticity(s, metrics, wrt))(s)
        rows = ranked(e)
    banner = _infeasible_line(s, r)
    if banner:
        print(banner)
    width = max(len(p) for p in wrt)
    for name in metrics:
        info = METRICS[name]
        v = float(r[name])
        if math.isnan(v):
            why = "no price for this hardware" if banner is None else "the KV does not fit"
            print(f"\n{name}: infeasible here ({why}): no elasticities")
            continue
        print(f"\n{name} = {_fmt(v, info.units)}  ({info.long_name})")
        if v == 0:
            print("  metric is 0 at this point: elasticities are 0 or undefined")
            continue
        items = [(p, x) for p, x in rows[name] if args.all or x != 0.0][: args.top]
        if not items:
            print("  no knob moves it")
        for p, x in items:
            bar = "#" * min(20, int(round(10 * abs(x)))) if math.isfinite(x) else ""
            print(f"  {p:{width}}  {x:+8.3f}  {bar}")
    return 0


# ----------------------------------------------------------------------------- frontier


def _cmd_frontier(args) -> int:
    import numpy as np

    from .frontier import pareto_table

    try:
        from .dataset import open_sweep
    except ImportError:  # pragma: no cover - the sweep engine is optional here
        open_sweep = None
    from . import cli_boundary

    cli_boundary.check_args(args)
    minimize, maximize = _split(args.minimize), _split(args.maximize)
    over = _split(args.over) or None
    ds = _open(args.store, open_sweep)
    if args.boundary is not None:
        return cli_boundary.run(args, ds)
    table = pareto_table(ds, minimize, maximize, over, _split(args.extra))
    n = table.sizes["point"]
    if args.out:
        table.to_zarr(args.out, mode="w", consolidated=False)
    kept = [d for d in table.coords if d not in table.attrs["over"].split(",")]
    print(
        f"Pareto set of {n} points: minimize {minimize or '-'}, maximize {maximize or '-'}, "
        f"over {table.attrs['over'].split(',')}" + (f", one set per {kept}" if kept else "")
    )
    cols = list(table.coords) + [v for v in table.data_vars]
    if n == 0:
        return 0
    cells = [[c] for c in cols]
    any_nan = False
    for j in range(min(n, args.limit)):
        for col, c in zip(cells, cols):
            x = table[c].values[j]
            units = table[c].attrs.get("units", "")
            is_num = isinstance(x, (float, np.floating, int, np.integer))
            if is_num and np.isnan(x):
                col.append("-")  # NaN: the KV does not fit there (or no price)
                any_nan = True
            else:
                col.append(_fmt(float(x), units) if is_num else str(x))
    widths = [max(len(x) for x in col) for col in cells]
    for i in range(len(cells[0])):
        print("  ".join(col[i].rjust(w) for col, w in zip(cells, widths)))
    if n > args.limit:
        print(f"... {n - args.limit} more (--limit, or --out PATH to save them all)")
    if any_nan:
        print("(-: NaN in an --extra variable: infeasible there, e.g. the batch does not fit)")
    return 0


def _open(store, open_sweep):
    import os

    import xarray as xr

    if not os.path.exists(store):
        raise InputError(f"{store}: no such store")
    from . import store as st

    if open_sweep is not None and st.is_kvjax_store(store):
        return open_sweep(store)
    try:  # any xarray-readable zarr store (e.g. a saved frontier)
        return xr.open_dataset(store, engine="zarr", consolidated=False)
    except Exception as e:  # noqa: BLE001 - one line for the user, whatever the reader says
        raise InputError(f"{store}: cannot open as a sweep store: {e}") from None


# ----------------------------------------------------------------------------- solve


def _cmd_solve(args) -> int:
    import jax

    from .cli_common import scenario_from_args
    from .sensitivity import check_leaf_paths
    from .solve import KNOBS, OBJECTIVES, solve
    from .types import replace_leaf

    objectives = _split(args.objective) or ["usd_per_million_output_tokens"]
    if objectives == ["all"]:
        objectives = list(OBJECTIVES)
    knobs = _split(args.knob) or ["all"]
    if knobs == ["all"]:
        knobs = list(KNOBS)
    bounds = {}
    for item in args.bound or ():
        k, sep, v = item.partition("=")
        try:
            bounds[k.strip()] = float(v)
        except ValueError:
            raise InputError(f"--bound {item!r}: expected LEAF=VALUE") from None
        if not sep:
            raise InputError(f"--bound {item!r}: expected LEAF=VALUE")
    target = scenario_from_args(args)
    if not (args.reference_context > 0 and math.isfinite(args.reference_context)):
        raise InputError(f"--reference-context = {args.reference_context!r}: must be > 0")
    reference = replace_leaf(target, "workload.context_tokens", args.reference_context)
    for item in args.reference_set or ():
        path, sep, raw = item.partition("=")
        try:
            (path,) = check_leaf_paths((path.strip(),), "--reference-set")
            value = float(raw)
        except ValueError:
            raise InputError(f"--reference-set {item!r}: expected LEAF=VALUE") from None
        if not sep or not (math.isfinite(value) and value >= 0):
            raise InputError(f"--reference-set {item!r}: expected LEAF=VALUE, VALUE >= 0")
        reference = replace_leaf(reference, path, value)
    ctx = float(target.workload.context_tokens)
    with jax.enable_x64(True):
        for obj in objectives:
            sols = [solve(target, reference, k, obj, bounds) for k in knobs]
            print(
                f"\n{obj}: reference {_fmt(sols[0].reference)} at {args.reference_context:g} "
                f"tokens; target context {ctx:g} tokens"
            )
            answers = [
                ", ".join(f"{k.split('.')[1]}={v:.4g}" for k, v in s.values.items()) or "-"
                for s in sols
            ]
            w = max(6, *(len(a) for a in answers))
            print(f"  {'knob':31} {'status':10} {'factor':>8}  {'answer':{w}} "
                  f"{'achieved':>10} {'rel.err':>9} {'steps':>5}  note")  # fmt: skip
            for s, answer in zip(sols, answers):
                it = f"{s.iterations['fit']}+{s.iterations['match']}"
                factor = f"{s.factor:8.4g}" if s.status == "ok" else f"{'-':>8}"
                done = math.isfinite(s.achieved)
                achieved = _fmt(s.achieved) if done else "-"
                err = f"{s.relative_error:+9.2e}" if done else f"{'-':>9}"
                print(
                    f"  {s.knob:31} {s.status:10} {factor}  {answer:{w}} "
                    f"{achieved:>10} {err} {it:>5}  {s.binding}"
                )
    return 0


# ----------------------------------------------------------------------------- parser


def add_commands(subparsers) -> None:
    """Register ``grad``, ``frontier`` and ``solve`` on ``subparsers``."""
    from .cli_common import add_scenario_arguments

    p = subparsers.add_parser(
        "grad",
        help="elasticities d ln(metric) / d ln(knob) of one scenario, ranked",
        description="Per metric, the knobs ranked by |elasticity| (percent change of the "
        "metric per percent change of the knob), with sign.",
    )
    add_scenario_arguments(p)
    p.add_argument("--metrics", action="append", help="comma-separated float metrics")
    p.add_argument("--wrt", action="append", help="comma-separated leaves (default: the knobs)")
    p.add_argument("--top", type=int, default=12, help="knobs shown per metric (default 12)")
    p.add_argument("--all", action="store_true", help="also show knobs with elasticity 0")
    p.set_defaults(func=_cmd_grad)

    from .cli_boundary import conditions_help

    p = subparsers.add_parser(
        "frontier",
        help="Pareto set or regime boundary of a stored sweep",
        description="Pareto set (--minimize/--maximize): points of STORE that no other point "
        "beats on every objective; one set per value of the dims not in --over; NaN "
        "(infeasible) points are excluded.  Regime boundary (--boundary DIM --condition NAME "
        "[--target X]): the value of the continuous dim DIM where the condition holds, "
        "bracketed on the grid and refined by Newton's method with autodiff, for every point "
        "of the other dims; 'no crossing in the grid' where the condition does not change "
        "sign.  Use one form or the other.",
    )
    p.add_argument("store", metavar="STORE", help="a sweep store (zarr)")
    p.add_argument("--minimize", action="append", help="objectives to minimise (comma list)")
    p.add_argument("--maximize", action="append", help="objectives to maximise (comma list)")
    p.add_argument("--over", action="append", help="dims to take the set across (default all)")
    p.add_argument("--extra", action="append", help="other variables to show (comma list)")
    p.add_argument("--boundary", metavar="DIM",
                   help="find a regime boundary along this continuous dim (e.g. context, "
                        "batch) instead of a Pareto set")  # fmt: skip
    p.add_argument("--condition", metavar="NAME", help="with --boundary: " + conditions_help())
    p.add_argument(
        "--target",
        metavar="X",
        help="with --boundary: the level of an SLO (seconds) or metric condition",
    )
    p.add_argument(
        "--found-only",
        action="store_true",
        help="with --boundary: print only the points with a crossing",
    )
    p.add_argument("--limit", type=int, default=40, help="rows printed (default 40)")
    p.add_argument("--out", help="save the Pareto table or boundary dataset as a zarr store")
    p.set_defaults(func=_cmd_frontier)

    p = subparsers.add_parser(
        "solve",
        help="inverse design: KV compression or hardware that makes --context cost like "
        "--reference-context",
        description="Find the least KV compression (layer, head, token, bits, or combined "
        "'kv') or hardware scale-up that brings the target context to the reference's "
        "objective value, by safeguarded Newton; says 'infeasible' when none within bounds.",
    )
    add_scenario_arguments(p)
    p.add_argument("--reference-context", type=float, default=4000.0, metavar="T",
                   help="reference context tokens (default 4000)")  # fmt: skip
    p.add_argument("--objective", action="append",
                   help="usd_per_million_output_tokens (default), session_gpu_s_per_output_token,"
                        " concurrency, decode_step_s, any float metric, or 'all'")  # fmt: skip
    p.add_argument("--knob", action="append",
                   help="kv_layer_keep, kv_head_keep, kv_token_keep, kv_bits, kv (combined), "
                        "hbm_bytes_per_s, hbm_bytes, host_link_bytes_per_s, flop_per_s; "
                        "default all")  # fmt: skip
    p.add_argument("--reference-set", action="append", metavar="LEAF=X",
                   help="change a leaf of the reference only (it is otherwise the target at "
                        "--reference-context), e.g. workload.kv_bits=16")  # fmt: skip
    p.add_argument("--bound", action="append", metavar="LEAF=X",
                   help="bound of a knob: lower for KV axes (default 1/64, 2 bits), upper for "
                        "hardware (default 64x)")  # fmt: skip
    p.set_defaults(func=_cmd_solve)


def _parser() -> argparse.ArgumentParser:  # for tests without kvjax.cli
    parser = argparse.ArgumentParser(prog="kvjax")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser
