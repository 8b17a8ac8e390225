"""``kvjax frontier STORE --boundary DIM --condition NAME``: regime boundaries from the shell.

The value of one continuous dim of a stored sweep where a condition holds (the binding
resource changes, or a limit becomes tight), refined by Newton beyond the grid, for every
point of the other dims (``kvjax.boundary.boundary_dataset``); a summary table on stdout and,
with ``--out``, the full result as a zarr store with units and provenance.
"""

from __future__ import annotations

import math

from .errors import InputError


def conditions_help() -> str:
    """The ``--condition`` help: every named condition and the metric form."""
    from .boundary import CONDITIONS

    named = "; ".join(
        f"{name}{' (needs --target s)' if needs else ''}: {text}"
        for name, (_, needs, text) in CONDITIONS.items()
    )
    return f"{named}; or any float metric, e.g. prefill_s, with --target (metric = target)"


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
    widths = [max(len(x) for x in col) for col in cells]
    for i in range(len(cells[0])):
        print("  ".join(col[i].rjust(w) for col, w in zip(cells, widths)))
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


def run(args, ds) -> int:
    """The ``--boundary`` form of ``kvjax frontier`` on an opened store ``ds``."""
    import os

    import numpy as np

    from . import __version__
    from .boundary import CONDITIONS, boundary_dataset, condition_description
    from .dataset import utc_now

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
    print(
        f"Boundary along {dim}: {condition_description(condition, target)} ({condition}); "
        f"grid {len(grid)} values {grid.min():g} .. {grid.max():g}"
        f"{'' if units in ('', '1') else ' ' + units}, refined by Newton"
    )
    if args.out:
        result.to_zarr(args.out, mode="w", consolidated=False)
    print_table(result, dim, args.limit, args.found_only)
    if args.out:
        print(f"saved {dict(result[dim].sizes)} to {args.out}")
    return 0
