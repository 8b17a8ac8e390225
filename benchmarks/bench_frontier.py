"""Pareto sets on a store shaped like a real sweep, beside loading its objectives and beside
an older ``_frontier.py`` run on the same data in the same process (issue 15, item 4).

    python benchmarks/bench_frontier.py
    python benchmarks/bench_frontier.py --baseline 40239d2
    python benchmarks/bench_frontier.py --baseline 07bbc29 --cases one-front

The store (written once to ``--store``, a zarr directory): model 29 x hardware 24 x batch
128 x context 112 = 9,977,856 points of synthetic roofline numbers (seeded), float32, NaN
where weights + batch x context x KV per token exceed 90% of HBM (96% of the points, like a
real sweep); ``prefill_s`` has no batch dim (ties across it).  Each case opens the store
afresh (lazily, as ``kvjax.open_sweep`` does) and times ``ds.kv.pareto_mask`` (or
``pareto_table``), best of ``--repeat``; "load" is reading the case's objective arrays
alone.  ``--baseline REV`` also runs ``kvjax/analysis/_frontier.py`` as of git revision REV
on the same data, checks that its output is identical, and prints the ratio.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import xarray as xr

import kvjax.analysis  # noqa: F401 - registers ds.kv
from kvjax.analysis import _frontier

COST, STEP, PREFILL = "usd_per_million_output_tokens", "decode_step_s", "prefill_s"
CASES = {  # name: (function, minimize, maximize, over)
    "one-front": ("pareto_mask", [COST, STEP, PREFILL], [], None),
    "table": ("pareto_table", [COST, STEP, PREFILL], [], None),
    "2-per-model-hw": ("pareto_mask", [COST, STEP], [], ["batch", "context_tokens"]),
    "3-per-model-hw": ("pareto_mask", [COST, STEP, PREFILL], [], ["batch", "context_tokens"]),
    "cost-vs-batch": ("pareto_mask", [COST], ["batch"], ["batch"]),
}


def synthetic_sweep(n_ctx: int = 112, seed: int = 0) -> xr.Dataset:
    """A sweep-shaped dataset: decode step = bytes / bandwidth, prefill = max(compute,
    weights / bandwidth), cost = price x step / batch; NaN where the KV does not fit."""
    rng = np.random.default_rng(seed)
    nm, nh, nb = 29, 24, 128
    w, kv = rng.uniform(2e9, 8e11, nm), rng.uniform(1e4, 8e5, nm)  # bytes, bytes per token
    hbm, bw = rng.uniform(2.4e10, 2.9e11, nh), rng.uniform(3e11, 8e12, nh)
    flops, usd = rng.uniform(1e14, 4.5e15, nh), rng.uniform(0.5, 12.0, nh)
    W, K = w[:, None, None, None], kv[:, None, None, None]
    H, BW, F, P = (x[None, :, None, None] for x in (hbm, bw, flops, usd))
    B = np.arange(1.0, nb + 1)[None, None, :, None]
    C = np.geomspace(1e3, 1e7, n_ctx)[None, None, None, :]
    need = W + B * C * K
    fits = need <= 0.9 * H
    step = np.where(fits, need / BW, np.nan).astype(np.float32)
    prefill = np.maximum(2 * W * C / F, W / BW)[:, :, 0, :]
    prefill = np.where(fits.any(axis=2), prefill, np.nan).astype(np.float32)
    cost = (P * step / B / 3600 * 1e6 / 250).astype(np.float32)
    dims = ("model", "hardware", "batch", "context_tokens")
    return xr.Dataset(
        {COST: (dims, cost), STEP: (dims, step), "fits": (dims, fits),
         PREFILL: (("model", "hardware", "context_tokens"), prefill)},
        coords={"model": [f"m{i}" for i in range(nm)], "hardware": [f"h{i}" for i in range(nh)],
                "batch": B.reshape(-1), "context_tokens": C.reshape(-1)},
    )  # fmt: skip


def load_baseline(rev: str):
    """``kvjax/analysis/_frontier.py`` at git revision ``rev``, as a module of this kvjax."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = subprocess.run(["git", "-C", root, "show", f"{rev}:kvjax/analysis/_frontier.py"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    name = f"kvjax.analysis._frontier_{rev}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "kvjax.analysis"
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:kvjax/analysis/_frontier.py", "exec"), mod.__dict__)
    return mod


def load(open_store, names):
    """Read the objective arrays alone (the reference for a front's time)."""
    ds = open_store()
    return [ds[v].values for v in names]


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="/tmp/kvjax-bench-frontier.zarr")
    ap.add_argument("--baseline", help="git revision whose _frontier.py to compare with")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list of {list(CASES)}")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(args.store):
        synthetic_sweep().to_zarr(args.store, mode="w")

    def open_store():
        return xr.open_dataset(args.store, engine="zarr", chunks=None)

    ds = open_store()
    n = int(np.prod(list(ds.sizes.values())))
    print(f"store {args.store}: {n:,} points, {float((~ds.fits).mean()):.1%} infeasible; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    base = load_baseline(args.baseline) if args.baseline else None
    for case in args.cases.split(","):
        fn, minimize, maximize, over = CASES[case]
        names = minimize + maximize
        t_load, _ = best(functools.partial(load, open_store, names), 3)
        runs = {"new": _frontier} if base is None else {"new": _frontier, args.baseline: base}
        res = {}
        for label, mod in runs.items():
            call = functools.partial(getattr(mod, fn), minimize=minimize, maximize=maximize,
                                     over=over)  # fmt: skip
            res[label] = best(lambda call=call: call(open_store()), args.repeat)
        t_new, out = res["new"]
        size = out.sizes["point"] if fn == "pareto_table" else int(out.sum())
        line = (f"{case:16} {fn:12} {t_new:6.2f} s = {t_new / t_load:5.1f}x the load "
                f"({t_load:.2f} s); {size:,} points")  # fmt: skip
        if base is not None:
            t_old, old = res[args.baseline]
            assert old.identical(out), f"{case}: {args.baseline} and this tree differ"
            line += f"; {args.baseline} {t_old:6.2f} s = {t_old / t_new:.1f}x slower, identical"
        print(line, flush=True)


if __name__ == "__main__":
    main()
