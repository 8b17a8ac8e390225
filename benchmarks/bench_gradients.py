"""Benchmarks of the gradient layer: elasticities vs forward, Pareto sets, boundary Newton.

    python benchmarks/bench_gradients.py            # the figures in docs/performance.md
    python benchmarks/bench_gradients.py --quick    # smaller sizes, a smoke run

1. ``jit(vmap(evaluate))`` vs ``jit(vmap(elasticity_fn))`` (4 knobs) on the same points and
   metrics: the elasticities should cost at most 3x the forward evaluation.
2. ``pareto_front`` on 1e7 points (2 and 3 objectives, random and all-on-the-front), and a
   grouped ``pareto_blocks``: under 5 s each.
3. ``find_boundary`` over every catalog model x hardware x context: the distribution of
   Newton steps (target: at most 8 to 1e-5 relative).
4. One point, every float metric x the 24 KNOBS (what ``kvjax grad`` and the tests compile):
   ``elasticity`` (one vmapped jvp) against the per-leaf jvps of ``elasticity_fn`` and the
   grid kernel (``elasticity_columns_fn``) in the same run: trace + compile and one call,
   float64.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import kvjax.analysis  # noqa: F401 - registers ds.kv
from kvjax import catalog
from kvjax.analysis import find_boundary, pareto_blocks, pareto_front
from kvjax.model import (
    DEFAULT_METRICS,
    METRICS,
    Scenario,
    Workload,
    elasticity,
    elasticity_columns_fn,
    elasticity_fn,
    evaluate,
)

FLOAT_DEFAULTS = tuple(m for m in DEFAULT_METRICS if METRICS[m].kind == "float")
KNOBS4 = (
    "hardware.hbm_bytes_per_s",
    "hardware.flop_per_s",
    "hardware.hbm_bytes",
    "workload.kv_bits",
)


def best_of(fn, repeat=5):
    """Minimum wall time of ``fn()`` (blocks on the result) over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def grid_points(n_side: int) -> Scenario:
    """A sweep-like flat grid: Yi-34B on an A100, context x batch x kv_bits."""
    ctx = np.geomspace(1e3, 1e6, n_side)
    batch = np.arange(1, 33, dtype=float)
    bits = np.array([2.0, 4.0, 8.0, 16.0])
    c, b, k = (a.reshape(-1) for a in np.meshgrid(ctx, batch, bits, indexing="ij"))
    n = c.size
    model = jax.tree.map(lambda x: jnp.full(n, x, jnp.float32), catalog.load_model("yi-34b"))
    hw = jax.tree.map(lambda x: jnp.full(n, x, jnp.float32), catalog.load_hardware("a100-80gb-sxm"))
    w = jax.tree.map(
        lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), (n,)),
        Workload(context_tokens=c, batch=b, kv_bits=k),
    )
    return Scenario(model, hw, w)


def bench_elasticities(n_side: int) -> None:
    s = grid_points(n_side)
    n = s.workload.context_tokens.shape[0]
    fwd = jax.jit(jax.vmap(lambda p: evaluate(p, FLOAT_DEFAULTS)))
    el = elasticity_fn(FLOAT_DEFAULTS, KNOBS4)
    variants = {
        "forward  jit(vmap(evaluate))": fwd,
        "elasticity_fn, vmap out_axes=-1": jax.jit(jax.vmap(el, out_axes=-1)),
        "elasticity_columns_fn": jax.jit(jax.vmap(elasticity_columns_fn(FLOAT_DEFAULTS, KNOBS4))),
        "elasticity_fn, vmap out_axes=0": jax.jit(jax.vmap(el)),
    }
    print(f"## elasticities: {n:,} points, {len(FLOAT_DEFAULTS)} metrics, {len(KNOBS4)} knobs")
    for f in variants.values():
        jax.block_until_ready(f(s))
    times = {}
    for _ in range(3):  # interleave the variants so machine noise hits them alike
        for name, f in variants.items():
            times[name] = min(times.get(name, np.inf), best_of(lambda f=f: f(s), 3))
    t_f = times["forward  jit(vmap(evaluate))"]
    for name, t in times.items():
        ratio = "" if t is t_f else f"  {t / t_f:5.2f}x forward"
        print(f"{name:34} {t * 1e3:8.1f} ms  {n / t / 1e6:6.1f} M points/s{ratio}")
    e = np.asarray(variants["elasticity_fn, vmap out_axes=-1"](s))
    print(f"(NaN share of the elasticities: {np.isnan(e).mean():.2f}: infeasible points)")

    # the same grid in cache-sized chunks, as a sweep engine evaluates it
    def over_chunks(f, chunks):
        return lambda: [f(c) for c in chunks]

    for cs in (8192, 32768):
        chunks = [jax.tree.map(lambda x, i=i, cs=cs: x[i : i + cs], s) for i in range(0, n, cs)]
        fns = {k: variants[k] for k in list(variants)[:3]}
        for f in fns.values():
            jax.block_until_ready(over_chunks(f, chunks)())
        times = {}
        for _ in range(3):
            for name, f in fns.items():
                t = best_of(over_chunks(f, chunks), 3)
                times[name] = min(times.get(name, np.inf), t)
        t_f = times["forward  jit(vmap(evaluate))"]
        print(f"in chunks of {cs:,} points:")
        for name, t in times.items():
            ratio = "" if t is t_f else f"  {t / t_f:5.2f}x forward"
            print(f"  {name:32} {t * 1e3:8.1f} ms  {n / t / 1e6:6.1f} M points/s{ratio}")


def bench_pareto(n: int) -> None:
    rng = np.random.default_rng(0)
    cases = {
        "2 objectives, random": rng.random((n, 2)),
        "3 objectives, random": rng.random((n, 3)),
        "2 objectives, all on the front": np.stack(
            [np.linspace(0, 1, n), np.linspace(1, 0, n)], axis=1
        ),
        "3 objectives, 95% infeasible (NaN)": np.where(  # own generator: same data below
            np.random.default_rng(1).random((n, 1)) < 0.95, np.nan,
            np.random.default_rng(2).random((n, 3))),  # fmt: skip
    }
    print(f"\n## Pareto sets over {n:,} points")
    for name, f in cases.items():
        t = time.perf_counter()
        m = pareto_front(f)
        print(f"{name:34} {time.perf_counter() - t:6.2f} s  {int(m.sum()):,} on the front")
    shape = (1000, 100, n // 100_000)
    ds = xr.Dataset(
        {"usd_per_million_output_tokens": (("context_tokens", "batch", "kv_bits"),
                                           rng.random(shape).astype(np.float32))},
        coords={"context_tokens": np.geomspace(1e3, 1e7, shape[0]),
                "batch": np.arange(1.0, shape[1] + 1), "kv_bits": np.linspace(2, 16, shape[2])},
    )  # fmt: skip
    for over in (None, ["batch", "kv_bits"]):
        t = time.perf_counter()
        m = ds.kv.pareto_mask(minimize="usd_per_million_output_tokens",
                              maximize="context_tokens", over=over)  # fmt: skip
        label = f"ds.kv.pareto_mask over {'all dims' if over is None else over}"
        print(f"{label:34} {time.perf_counter() - t:6.2f} s  {int(m.sum()):,} on the front(s)")
    for groups in (100, 100_000):
        f = rng.random((2, groups, n // groups))
        t = time.perf_counter()
        m = pareto_blocks(f)
        dt = time.perf_counter() - t
        print(
            f"{f'2 objectives, {groups:,} groups':34} {dt:6.2f} s  {int(m.sum()):,} on the fronts"
        )


def bench_pareto_store(store: str) -> None:
    """Pareto over a real store (mostly infeasible points) against loading its objectives."""
    import kvjax

    ds = kvjax.open_sweep(store)
    objs = ["usd_per_million_output_tokens", "decode_step_s", "prefill_s"]
    t = time.perf_counter()
    _ = [ds[o].values for o in objs]
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    m = ds.kv.pareto_mask(minimize=objs)
    t_p = time.perf_counter() - t
    n = int(np.prod([ds.sizes[d] for d in m.dims]))
    print(f"\n## Pareto over the store {store} ({n:,} points)")
    print(f"load 3 objective arrays {t_load:6.2f} s; Pareto of {objs}: {t_p:6.2f} s "
          f"= {t_p / t_load:.1f}x the load; {int(m.sum()):,} on the front")  # fmt: skip


def bench_boundaries(n_ctx: int) -> None:
    models = catalog.model_names()
    hws = catalog.hardware_names()
    m = catalog.stack_models(models)
    h = catalog.stack_hardware(hws)
    m = jax.tree.map(lambda x: np.asarray(x, np.float64)[:, None, None], m)
    h = jax.tree.map(lambda x: np.asarray(x, np.float64)[None, :, None], h)
    ctx = np.geomspace(100, 2e5, n_ctx)[None, None, :]
    print(f"\n## boundaries: {len(models)} models x {len(hws)} hardware x {n_ctx} contexts")
    cases = [
        ("decode_compute_bound", "workload.batch", np.geomspace(1, 65536, 17), None, ctx),
        ("fits_one", "workload.context_tokens", np.geomspace(1e2, 1e8, 13), None, 1.0),
        ("prefill_slo", "workload.context_tokens", np.geomspace(1e2, 1e8, 13), 2.0, 1.0),
    ]
    with jax.enable_x64(True):
        for cond, axis, grid, target, c in cases:
            w = Workload(context_tokens=c)
            find_boundary(m, h, w, axis, cond, grid, target=target)  # compile
            t = time.perf_counter()
            out = find_boundary(m, h, w, axis, cond, grid, target=target)
            dt = time.perf_counter() - t
            found = np.asarray(out["found"])
            it = np.asarray(out["iterations"])[found]
            conv = np.asarray(out["converged"])[found]
            hist = np.bincount(it, minlength=9)
            print(
                f"{cond:22} along {axis:25} {found.sum():6d}/{found.size} bracketed, "
                f"{conv.mean() * 100:5.1f}% converged, steps max {it.max()} "
                f"median {np.median(it):.0f}, {dt * 1e3:.0f} ms"
            )
            print(f"{'':22} steps histogram (0..): {hist.tolist()}")


def bench_point(model: str, hardware: str) -> None:
    """Trace + compile + one call of the two elasticity layouts at one point (float64)."""
    from kvjax.model import KNOBS

    names = tuple(n for n, i in METRICS.items() if i.kind == "float" and n != "concurrency_floor")
    m, h = catalog.load_model(model), catalog.load_hardware(hardware)
    s = Scenario(m, h, Workload(context_tokens=10_000.0, batch=2.0, tp=8.0))
    print(f"\n## one point: {model} on 8 {hardware}, {len(names)} metrics x {len(KNOBS)} knobs")
    with jax.enable_x64(True):
        out = {}
        def point(names, knobs):
            return lambda s: elasticity(s, names, knobs)

        for label, make in (("per-leaf jvps (elasticity_fn)", elasticity_columns_fn),
                            ("one vmapped jvp (elasticity)", point)):  # fmt: skip
            f = jax.jit(make(names, KNOBS))
            t = time.perf_counter()
            c = f.lower(s).compile()
            t1 = time.perf_counter()
            r = jax.block_until_ready(c(s))
            t2 = time.perf_counter()
            out[label] = (t1 - t, t2 - t1)
            ms = (t2 - t1) * 1e3
            print(f"{label:34} trace + compile {t1 - t:6.1f} s   one call {ms:6.1f} ms")
            if (names[0], KNOBS[0]) in r:
                cols = np.array([[float(r[(n, k)]) for k in KNOBS] for n in names])
            else:
                mat = np.array([[float(r[n][k]) for k in KNOBS] for n in names])
        both = np.isfinite(cols) & np.isfinite(mat)
        same = bool((np.isnan(cols) == np.isnan(mat)).all())
        err = float(np.max(np.abs(cols[both] - mat[both]) / np.maximum(1.0, np.abs(cols[both]))))
        (a, _), (b, _) = out.values()
        print(f"compile ratio {a / b:.1f}x; same NaN pattern: {same}; "
              f"max relative difference {err:.1e}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["elasticities", "pareto", "boundaries", "point"])
    p.add_argument("--n-side", type=int, default=None, help="contexts in the grid (x128 points)")
    p.add_argument("--store", help="also time a Pareto set over this sweep store")
    args = p.parse_args()
    print(
        f"# bench_gradients: JAX {jax.__version__} on {jax.devices()[0].platform}, "
        f"{platform.processor() or platform.machine()}, float32 unless stated"
    )
    if args.only in (None, "elasticities"):
        bench_elasticities(args.n_side or (256 if args.quick else 8192))
    if args.only in (None, "pareto"):
        bench_pareto(1_000_000 if args.quick else 10_000_000)
        if args.store:
            bench_pareto_store(args.store)
    if args.only in (None, "boundaries"):
        bench_boundaries(8 if args.quick else 64)
    if args.only in (None, "point"):
        bench_point("llama-3.1-8b" if args.quick else "deepseek-v3", "h100-sxm")


if __name__ == "__main__":
    main()
