"""``kvjax frontier``: the Pareto set (``--minimize``/``--maximize``) or a regime boundary
(``--boundary DIM --condition NAME``) of a stored sweep, from the shell.

A boundary is the value of one continuous dim where a condition holds (the binding resource
changes, or a limit becomes tight), refined by Newton beyond the grid, for every point of the
other dims (``kvjax.analysis.boundary_dataset``); a summary table on stdout (or one JSON
document with ``--json``) and, with ``--out``, the full result as CSV, Parquet or a zarr
store by the file's extension (``kvjax.explore.write``: never over an existing path without
``--overwrite``, never over the input).
"""

from __future__ import annotations

import math

from .._format import columns, si
from ..errors import InputError
from ._parser import examples, print_json
from ._scenario_args import reading_store, split_list


def _save(args, result) -> None:
    from ..explore import write

    write(result, args.out, overwrite=args.overwrite, inputs=[args.store])


def _check_out(args) -> None:
    if args.out:
        from ..explore import check_output, format_of

        check_output(args.out, args.overwrite, [args.store], format_of(args.out))


def _cmd_frontier(args) -> int:
    import numpy as np

    from ..analysis import pareto_table

    check_args(args)
    _check_out(args)  # before any work
    minimize, maximize = split_list(args.minimize), split_list(args.maximize)
    over = split_list(args.over) or None
    ds = _open(args.store)
    if args.boundary is not None:
        with reading_store(args.store):
            return run_boundary(args, ds)
    with reading_store(args.store):
        table = pareto_table(ds, minimize, maximize, over, split_list(args.extra))
    n = table.sizes["point"]
    if args.out:
        _save(args, table)
    kept = [d for d in table.coords if d not in table.attrs["over"].split(",")]
    if args.json:
        from ..explore import records

        print_json({"kind": "pareto", "store": args.store, "minimize": minimize,
                    "maximize": maximize, "over": table.attrs["over"].split(","),
                    "per": kept, "n": n, "points": records(table, args.limit),
                    "out": args.out})  # fmt: skip
        return 0
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
                col.append(si(float(x), units) if is_num else str(x))
    print("\n".join(columns(cells)))
    if n > args.limit:
        print(f"... {n - args.limit} more (--limit, or --out PATH to save them all)")
    if any_nan:
        print("(-: NaN in an --extra variable: infeasible there, e.g. the batch does not fit)")
    return 0


def _open(store):
    import os

    import xarray as xr

    from ..sweep import is_kvjax_store, open_sweep

    if not os.path.exists(store):
        raise InputError(f"{store}: no such store")
    if is_kvjax_store(store):
        return open_sweep(store)
    try:  # any xarray-readable zarr store (e.g. a saved frontier)
        return xr.open_dataset(store, engine="zarr", consolidated=False)
    except Exception as e:  # noqa: BLE001 - one line for the user, whatever the reader says
        raise InputError(f"{store}: cannot open as a sweep store: {e}") from None


# ----------------------------------------------------------------------------- boundary


def conditions_help() -> str:
    """The ``--condition`` help: every named condition and the metric form."""
    from ..analysis import CONDITIONS

    named = "; ".join(
        f"{name}{' (needs --target s)' if needs else ''}: {text}"
        for name, (_, needs, text) in CONDITIONS.items()
    )
    return f"{named}; or any float metric, e.g. prefill_s, with --target (metric = target)"


def _condition_help(p) -> None:
    for action in p._actions:
        if "--condition" in action.option_strings:
            action.help = "with --boundary: " + conditions_help()


def _target(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"--target {raw!r}: expected a number") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"--target = {raw}: must be finite and > 0")
    return value


def check_args(args) -> None:
    """Refuse mixing a boundary with Pareto options, and a condition without a boundary."""
    pareto = [f"--{k}" for k in ("minimize", "maximize", "over", "extra") if getattr(args, k)]
    if args.boundary is None:
        if args.condition is not None or args.target is not None:
            raise InputError("--condition/--target need --boundary DIM (a regime boundary)")
        return
    if pareto:
        raise InputError(
            f"--boundary finds a regime boundary and {'/'.join(pareto)} a Pareto set: "
            "use one or the other"
        )
    if args.condition is None:
        raise InputError("--boundary DIM needs --condition NAME (see kvjax frontier --help)")


def _constant_dims(result, dim: str) -> list[str]:
    """Kept dims along which the whole answer is the same (shown once in the table)."""
    import numpy as np

    same = []
    for d in result[dim].dims:
        first = result.isel({d: 0})
        ok = True
        for name in (dim, "found", "iterations", "residual"):
            a, b = result[name].values, first[name].expand_dims(d, result[name].dims.index(d))
            b = np.broadcast_to(b.values, a.shape)
            if a.dtype.kind == "f":
                ok &= bool(np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True))
            else:
                ok &= bool(np.array_equal(a, b))
        if ok and result.sizes[d] > 1:
            same.append(d)
    return same


def print_table(result, dim: str, limit: int, found_only: bool = False) -> None:
    """The boundary per point of the other dims; constant dims collapsed; ``limit`` rows
    (of the points with a crossing only, with ``found_only``)."""
    import numpy as np

    units = result[dim].attrs.get("units", "")
    same = _constant_dims(result, dim)
    shown = result.isel({d: 0 for d in same}, drop=True)
    shown = shown.drop_vars([c for c in shown.coords if c not in shown.dims])
    dims = list(shown[dim].dims)
    head = [*dims, f"{dim}{f' ({units})' if units not in ('', '1') else ''}",
            "steps", "residual", "concurrency"]  # fmt: skip
    cells = [[h] for h in head]
    n = int(np.prod([shown.sizes[d] for d in dims], dtype=np.int64))
    not_found = int((~shown["found"].values).sum())
    not_conv = int((shown["found"].values & ~shown["converged"].values).sum())
    rows = 0
    for idx in np.ndindex(*[shown.sizes[d] for d in dims]):
        if found_only and not bool(shown["found"].values[idx]):
            continue
        rows += 1
        if rows > limit:
            continue
        at = dict(zip(dims, idx))
        labels = [shown.coords[d].values[i] for d, i in at.items()]
        row = [f"{x:g}" if isinstance(x, (float, np.floating)) else str(x) for x in labels]
        if bool(shown["found"].values[idx]):
            v = float(shown[dim].values[idx])
            tag = "" if bool(shown["converged"].values[idx]) else " (not converged)"
            row += [
                f"{v:.6g}{tag}",
                str(int(shown["iterations"].values[idx])),
                f"{float(shown['residual'].values[idx]):.1e}",
                f"{float(shown['concurrency'].values[idx]):.4g}",
            ]
        else:
            row += ["no crossing in the grid", "-", "-", "-"]
        for col, x in zip(cells, row):
            col.append(x)
    print("\n".join(columns(cells)))
    if rows > limit:
        print(f"... {rows - limit} more (--limit N, or --out PATH to save them all)")
    if same:
        print(f"(the same for every {', '.join(same)}: shown once)")
    if bool((shown["found"] & (shown["concurrency"] < 1)).any()):
        print("(concurrency < 1: not even one user's KV fits in HBM at that boundary point)")
    print(
        f"{n - not_found} of {n} with a boundary; {not_found} with no crossing in the grid"
        + (f"; {not_conv} not converged" if not_conv else "")
    )


def run_boundary(args, ds) -> int:
    """The ``--boundary`` form of ``kvjax frontier`` on an opened store ``ds``."""
    import os

    import numpy as np

    from .._version import __version__
    from ..analysis import CONDITIONS, boundary_dataset, condition_description
    from ..sweep import utc_now

    dim, condition, target = args.boundary, args.condition, _target(args.target)
    if condition in CONDITIONS and not CONDITIONS[condition][1] and target is not None:
        raise InputError(f"condition {condition!r} takes no --target")
    if not ds.attrs.get("kvjax_spec") and not ds.attrs.get("spec"):
        raise InputError(f"{args.store}: not a sweep store (no spec in its attrs)")
    result = boundary_dataset(ds, dim, condition, target)  # float64 inside
    result.attrs.update(
        source_store=os.path.abspath(args.store),
        kvjax_version=__version__,
        created=utc_now(),
        command="kvjax frontier " + " ".join(
            f"{k} {v}" for k, v in (("--boundary", dim), ("--condition", condition),
                                    ("--target", args.target)) if v is not None
        ),
    )  # fmt: skip
    grid = np.asarray(ds.coords[dim].values, dtype=np.float64)
    units = ds.coords[dim].attrs.get("units", "")
    if args.out:
        _save(args, result)
    if args.json:
        from ..explore import records

        print_json({"kind": "boundary", "store": args.store, "dim": dim, "units": units,
                    "condition": condition, "target": target,
                    "description": condition_description(condition, target),
                    "n": int(result["found"].size), "n_found": int(result["found"].sum()),
                    "points": records(result, args.limit), "out": args.out})  # fmt: skip
        return 0
    print(
        f"Boundary along {dim}: {condition_description(condition, target)} ({condition}); "
        f"grid {len(grid)} values {grid.min():g} .. {grid.max():g}"
        f"{'' if units in ('', '1') else ' ' + units}, refined by Newton"
    )
    print_table(result, dim, args.limit, args.found_only)
    if args.out:
        print(f"saved {dict(result[dim].sizes)} to {args.out}")
    return 0


def add_commands(subparsers) -> None:
    """Register ``frontier``."""
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
        epilog=examples(
            "kvjax frontier runs/cs.zarr --minimize usd_per_million_output_tokens "
            "--minimize decode_step_s --over hardware,batch",
            "kvjax frontier runs/cs.zarr --minimize usd_per_session --maximize context "
            "--out front.csv",
            "kvjax frontier runs/paper.zarr --boundary context --condition fits --json",
            "kvjax frontier runs/cs.zarr --boundary batch --condition decode_compute_bound "
            "--out edge.zarr --overwrite",
        ),
    )
    p.add_argument("store", metavar="STORE", help="a sweep store (zarr)")
    p.add_argument("--minimize", action="append", help="objectives to minimise (comma list)")
    p.add_argument("--maximize", action="append", help="objectives to maximise (comma list)")
    p.add_argument("--over", action="append", help="dims to take the set across (default all)")
    p.add_argument("--extra", action="append", help="other variables to show (comma list)")
    p.add_argument("--boundary", metavar="DIM",
                   help="find a regime boundary along this continuous dim (e.g. context, "
                        "batch) instead of a Pareto set")  # fmt: skip
    p.add_argument("--condition", metavar="NAME", help="with --boundary: a condition "
                   "(listed in this help)")  # fmt: skip
    p.defer(_condition_help)  # the list needs kvjax.analysis (JAX): only when used
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
    p.add_argument("--out", metavar="PATH",
                   help="save the whole Pareto table or boundary dataset: .csv, .parquet or "
                        ".zarr by the extension (never over the input)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out PATH")
    p.add_argument("--json", action="store_true",
                   help="one JSON document on stdout: {kind, n, points: [...]} "
                        "(--limit rows; docs/cli-json.md)")  # fmt: skip
    p.set_defaults(func=_cmd_frontier)
