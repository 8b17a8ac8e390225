"""Sweep throughput: JAX kernel vs vectorized NumPy vs a scalar Python loop, and end to end.

    python benchmarks/bench_sweep.py                 # the >= 1e8-point spec, ~1-2 minutes
    python benchmarks/bench_sweep.py --quick         # fewer chunks, smoke test

Measures, in one run on this machine:
  * jit compile time of the chunk kernel;
  * compute only (no store), DEFAULT_METRICS and all of METRICS, points/s;
  * the same metrics in vectorized NumPy (checked equal to JAX first) and a Python loop;
  * end to end into zarr through ``kvjax sweep`` in a subprocess: points/s of the chunk
    loop, wall time of the whole command, peak RSS (the child's own VmHWM: ``wait4``'s
    ``ru_maxrss`` would inherit this process's peak across fork).
Prints a Markdown table (docs/performance.md) and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TUNABLES = (
    "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:"
    "glibc.malloc.trim_threshold=4294967296"
)


def machine() -> str:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = re.search(r"Model name:\s*(.+)", out).group(1).strip()
    except Exception:  # noqa: BLE001 - lscpu missing
        pass
    return f"{model}, {os.cpu_count()} cores"


def compute_bench(spec, n_chunks: int, repeats: int):
    import jax
    import numpy as np
    from numpy_metrics import NumpyKernel, check_numpy_equals_jax, python_points

    from kvjax.model import METRICS
    from kvjax.sweep import build_kernel, chunk_slices, padded_axes, plan_sweep

    plan = plan_sweep(spec)
    t0 = time.perf_counter()
    kernel = build_kernel(plan)
    padded = padded_axes(plan)
    compiled = kernel.lower(*chunk_slices(plan, padded, 0)).compile()
    compile_s = time.perf_counter() - t0
    check_numpy_equals_jax(plan, compiled, padded, chunk_slices, n_chunks=2)

    n = min(n_chunks, plan.n_chunks)
    slices = [chunk_slices(plan, padded, c) for c in range(n)]
    jax.block_until_ready(compiled(*slices[0]))
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for sl in slices:
            out = compiled(*sl)
        jax.block_until_ready(out)
        rates.append(n * plan.chunk_points / (time.perf_counter() - t))

    npk = NumpyKernel(plan)
    t = time.perf_counter()
    for sl in slices[:3]:
        npk(*sl)
    np_rate = min(3, n) * plan.chunk_points / (time.perf_counter() - t)

    n_py = 2000
    t = time.perf_counter()
    rows = python_points(plan, n_py)
    py_rate = n_py / (time.perf_counter() - t)
    # the loop agrees with JAX on the first points (the chunk's first rows)
    first = [np.asarray(x).reshape(-1) for x in compiled(*slices[0])]
    for k, m in enumerate(plan.var_dims):
        if METRICS[m].kind == "float" and len(plan.var_dims[m]) == len(plan.spec.axes):
            want = np.asarray([r[k] for r in rows[:50]], np.float64)
            np.testing.assert_allclose(first[k][:50], want, rtol=1e-4, equal_nan=True, err_msg=m)
    return {
        "metrics": len(plan.var_dims),
        "chunk": plan.chunks,
        "chunk_points": plan.chunk_points,
        "compile_s": compile_s,
        "jax_points_per_s_best": max(rates),
        "jax_points_per_s_median": statistics.median(rates),
        "numpy_points_per_s": np_rate,
        "python_points_per_s": py_rate,
        "points_timed": n * plan.chunk_points,
    }


def end_to_end(spec_path: str, out_dir: str):
    cmd = [sys.executable, __file__, "--cli", "sweep", spec_path, "-o", out_dir,
           "--overwrite", "--quiet"]  # fmt: skip
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, _usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(text)
    m = re.search(r"wrote .*: ([\d,]+) points .* ([\d.]+) s \(([\d.,]+) M points/s\), "
                  r"compile ([\d.]+) s, ([\d.,]+ \w+) compressed", text)  # fmt: skip
    return {
        "points": int(m.group(1).replace(",", "")),
        "loop_s": float(m.group(2)),
        "points_per_s": float(m.group(3).replace(",", "")) * 1e6,
        "compile_s": float(m.group(4)),
        "compressed": m.group(5),
        "wall_s": wall,
        "peak_rss_mb": int(re.search(r"VmHWM_kB=(\d+)", text).group(1)) / 1024,
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--cli"]:  # the end-to-end child: `kvjax sweep ...`
        from kvjax.cli import main as cli_main

        rc = cli_main(argv[1:])
        status = Path("/proc/self/status").read_text()
        print(f"VmHWM_kB={status.split('VmHWM:')[1].split()[0]}", file=sys.stderr)
        return rc
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="benchmark-100m")
    ap.add_argument("--out", default=None, help="store directory for the end-to-end runs")
    ap.add_argument("--chunks", type=int, default=40, help="chunks timed for compute only")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if "GLIBC_TUNABLES" not in os.environ:  # must be set before the process starts
        env = dict(os.environ, GLIBC_TUNABLES=TUNABLES)
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)

    import jax
    import numpy as np

    from kvjax.model import METRICS
    from kvjax.sweep import load_spec

    if args.quick:
        args.chunks, args.repeats = 8, 1
    spec = load_spec(args.spec)
    results = {
        "machine": machine(),
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "grid_points": spec.size,
        "compute": {},
        "end_to_end": {},
    }
    variants = {
        "DEFAULT_METRICS": dataclasses.replace(spec, metrics=tuple(spec.metrics)),
        "all METRICS": dataclasses.replace(spec, metrics=tuple(METRICS)),
    }
    for label, s in variants.items():
        results["compute"][label] = compute_bench(s, args.chunks, args.repeats)

    with tempfile.TemporaryDirectory(dir=args.out and Path(args.out).parent) as tmp:
        out = args.out or str(Path(tmp) / "bench.zarr")
        src = spec.text if spec.text else Path(args.spec).read_text()
        for label, metrics in (("DEFAULT_METRICS", "default"), ("all METRICS", "all")):
            p = Path(tmp) / f"bench-{metrics}.toml"
            p.write_text(re.sub(r"(?m)^metrics = .*$", f'metrics = "{metrics}"', src))
            if args.quick:
                p.write_text(
                    p.read_text().replace(
                        "geomspace = [1000, 10_000_000, 1200]",
                        "geomspace = [1000, 10_000_000, 120]",
                    )
                )
            results["end_to_end"][label] = end_to_end(str(p), out)

    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def table(r) -> str:
    lines = [
        f"Machine: {r['machine']} (JAX {r['jax']} on {r['device']}, NumPy {r['numpy']}); "
        f"grid {r['grid_points']:,} points.",
        "",
        "| metric set | path | points/s | notes |",
        "|---|---|---:|---|",
    ]
    for label, c in r["compute"].items():
        lines += [
            f"| {label} ({c['metrics']}) | JAX compute only, best of runs | "
            f"{c['jax_points_per_s_best'] / 1e6:,.1f} M | median "
            f"{c['jax_points_per_s_median'] / 1e6:,.1f} M; chunk {c['chunk']}; "
            f"compile {c['compile_s']:.2f} s |",
            f"| {label} | vectorized NumPy (same formulas) | "
            f"{c['numpy_points_per_s'] / 1e6:,.1f} M | checked equal to JAX |",
            f"| {label} | scalar Python loop | {c['python_points_per_s'] / 1e3:,.1f} k | |",
        ]
    for label, e in r["end_to_end"].items():
        lines.append(
            f"| {label} | end to end into zarr (`kvjax sweep`) | "
            f"{e['points_per_s'] / 1e6:,.1f} M | {e['points']:,} points, loop {e['loop_s']:.2f} s, "
            f"command {e['wall_s']:.1f} s, compile {e['compile_s']:.2f} s, peak RSS "
            f"{e['peak_rss_mb']:,.0f} MB, {e['compressed']} on disk |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
