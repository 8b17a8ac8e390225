"""The sweep kernel's compute rate for a chosen metric set (no store), one line.

    python benchmarks/bench_metric_kernel.py session_gpu_s
    python benchmarks/bench_metric_kernel.py --default
    PYTHONPATH=/path/to/older/checkout python benchmarks/bench_metric_kernel.py --default

Compiles the chunk kernel of ``benchmark-100m`` restricted to the metrics named, then times 6
chunks three times and prints the compile time and the best rate.  Run it on two checkouts
one after the other (the second line above) to compare a change with its parent on the same
machine: the ratio is the figure, the machines are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="*")
    ap.add_argument("--default", action="store_true", help="the spec's default metric set")
    ap.add_argument("--chunks", type=int, default=6)
    args = ap.parse_args()

    import jax

    from kvjax.sweep import build_kernel, chunk_slices, load_spec, padded_axes, plan_sweep

    spec = load_spec("benchmark-100m")
    if not args.default:
        spec = dataclasses.replace(spec, metrics=tuple(args.metrics))
    plan = plan_sweep(spec)
    padded = padded_axes(plan)
    t = time.perf_counter()
    kernel = build_kernel(plan).lower(*chunk_slices(plan, padded, 0)).compile()
    compile_s = time.perf_counter() - t
    slices = [chunk_slices(plan, padded, i) for i in range(args.chunks)]
    jax.block_until_ready(kernel(*slices[0]))
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for sl in slices:
            out = kernel(*sl)
        jax.block_until_ready(out)
        best = max(best, args.chunks * plan.chunk_points / (time.perf_counter() - t))
    rate = f"best {best / 1e6:.1f} M points/s"
    print(f"{len(plan.var_dims)} metrics: compile {compile_s:.2f} s, {rate}")


if __name__ == "__main__":
    main()
