"""Elasticities inside sweeps: cost of a 4-knob ``[elasticity]`` section vs the forward sweep.

    python benchmarks/bench_sweep_elasticity.py            # ~16M points, a few minutes
    python benchmarks/bench_sweep_elasticity.py --quick    # ~2M points, smoke test

The same spec with and without a section naming 2 metrics x 4 knobs
(``hbm_bytes_per_s``, ``flop_per_s``, ``kv_bits``, ``context_tokens``), for two metric sets:

  * ``default``: the spec stores DEFAULT_METRICS (10 variables) + elasticities of
    ``decode_step_s`` and ``session_gpu_s``;
  * ``same 2``: the spec stores ``decode_step_s`` and ``session_gpu_s`` + their elasticities.

Measured: compute only (the jitted chunk kernel over ``--chunks`` chunks, no store; with and
without timed alternately, ``--repeats`` times) and end to end (``kvjax sweep`` in a
subprocess into zarr; the chunk loop's seconds, compile excluded, and the command's wall
time).  Ratios are per repeat (with and without back to back): median and range; the
throughputs are from the best times.  Also the compute ratio for other ``block_points``
(sub-block sizes).  Prints a Markdown table; the target: "4 knobs cost at most 3x the
forward sweep".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sweep import TUNABLES, end_to_end, machine  # noqa: E402

KNOBS = ["hardware.hbm_bytes_per_s", "hardware.flop_per_s", "workload.kv_bits",
         "workload.context_tokens"]  # fmt: skip
BASE = """
name = "bench-elasticity"
metrics = {metrics}
[axes.model]
catalog = "model"
names = [
  "yi-34b", "llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
  "mistral-7b", "mixtral-8x7b", "qwen2.5-72b", "deepseek-v3", "gemma-2-27b", "characterai-hybrid",
]
[axes.hardware]
catalog = "hardware"
names = "all"
[axes.batch]
leaf = "workload.batch"
values = [1, 2, 4, 8, 16, 32, 64, 128]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 10_000_000, {n_context}]
[fixed]
workload.output_tokens = 250
"""
SECTION = """
[elasticity]
metrics = ["decode_step_s", "session_gpu_s"]
wrt = {knobs}
block_points = {block}
"""
VARIANTS = {"default": '"default"', "same 2": '["decode_step_s", "session_gpu_s"]'}


def spec_text(metrics: str, n_context: int, block: int | None) -> str:
    text = BASE.format(metrics=metrics, n_context=n_context)
    if block is not None:
        text += SECTION.format(knobs=str(KNOBS).replace("'", '"'), block=block)
    return text


def compiled_kernel(text: str):
    from kvjax.sweep import build_kernel, chunk_slices, padded_axes, parse_text, plan_sweep

    plan = plan_sweep(parse_text(text, "bench.toml"))
    padded = padded_axes(plan)
    t = time.perf_counter()
    compiled = build_kernel(plan).lower(*chunk_slices(plan, padded, 0)).compile()
    return plan, compiled, padded, time.perf_counter() - t


def time_chunks(plan, compiled, padded, n: int) -> float:
    import jax

    from kvjax.sweep import chunk_slices

    slices = [chunk_slices(plan, padded, c) for c in range(min(n, plan.n_chunks))]
    t = time.perf_counter()
    for sl in slices:
        out = compiled(*sl)
    jax.block_until_ready(out)
    return time.perf_counter() - t


def compute_pair(metrics: str, n_context: int, block: int, n_chunks: int, repeats: int):
    """Seconds per repeat, forward and with elasticities, timed alternately."""
    import jax

    from kvjax.sweep import chunk_slices

    fwd = compiled_kernel(spec_text(metrics, n_context, None))
    el = compiled_kernel(spec_text(metrics, n_context, block))
    for plan, compiled, padded, _ in (fwd, el):  # warm up
        jax.block_until_ready(compiled(*chunk_slices(plan, padded, 0)))
    tf, te = [], []
    for _ in range(repeats):
        tf.append(time_chunks(*fwd[:3], n_chunks))
        te.append(time_chunks(*el[:3], n_chunks))
    return {"fwd_s": tf, "el_s": te, "compile_fwd_s": fwd[3], "compile_el_s": el[3],
            "points": min(n_chunks, fwd[0].n_chunks) * fwd[0].chunk_points,
            "chunk": fwd[0].chunks}  # fmt: skip


def _fmt_ratio(a: list, b: list) -> str:
    """Per-repeat ratios (with and without timed back to back): median (min-max)."""
    r = sorted(y / x for x, y in zip(a, b, strict=True))
    return f"**{statistics.median(r):.2f}x** ({r[0]:.2f}-{r[-1]:.2f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", type=int, default=7000, help="context points (grid size)")
    ap.add_argument("--chunks", type=int, default=12, help="chunks timed for compute only")
    ap.add_argument("--repeats", type=int, default=3, help="end-to-end repeats")
    ap.add_argument("--compute-repeats", type=int, default=7)
    ap.add_argument("--block", type=int, default=None, help="block_points (default: kvjax's)")
    ap.add_argument("--blocks", default="16384,262144,1048576", help="other block sizes to try")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if "GLIBC_TUNABLES" not in os.environ:  # must be set before the process starts
        env = dict(os.environ, GLIBC_TUNABLES=TUNABLES)
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    if args.quick:
        args.contexts, args.chunks, args.repeats, args.blocks = 900, 3, 1, ""
        args.compute_repeats = 1

    import jax

    from kvjax.sweep import DEFAULT_BLOCK_POINTS

    block = args.block or DEFAULT_BLOCK_POINTS
    n_points = 12 * 24 * 8 * args.contexts
    print(f"machine: {machine()}; jax {jax.__version__}; grid {n_points:,} points; "
          f"block_points {block}; repeats {args.compute_repeats} / {args.repeats}",
          file=sys.stderr)  # fmt: skip
    rows = []
    for label, metrics in VARIANTS.items():
        c = compute_pair(metrics, args.contexts, block, args.chunks, args.compute_repeats)
        e2e_f, e2e_e = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeats):
                for blk, acc in ((None, e2e_f), (block, e2e_e)):
                    p = Path(tmp) / f"s{blk}.toml"
                    p.write_text(spec_text(metrics, args.contexts, blk))
                    acc.append(end_to_end(str(p), str(Path(tmp) / "o.zarr")))
        rows.append((label, c, e2e_f, e2e_e))
        print(f"done {label}", file=sys.stderr)

    extra = []
    for b in [int(x) for x in args.blocks.split(",") if x]:
        c = compute_pair(VARIANTS["same 2"], args.contexts, b, args.chunks, args.compute_repeats)
        extra.append((b, c))

    out = ["| metrics stored | measure | forward | + 2 x 4 elasticities | ratio median (range) |",
           "|---|---|---:|---:|---:|"]  # fmt: skip
    for label, c, ef, ee in rows:
        pts = c["points"]
        out.append(f"| {label} | compute only, {pts / 1e6:.1f} M points, chunk {c['chunk']} "
                   f"| {pts / min(c['fwd_s']) / 1e6:.0f} M points/s "
                   f"| {pts / min(c['el_s']) / 1e6:.0f} M points/s "
                   f"| {_fmt_ratio(c['fwd_s'], c['el_s'])} |")  # fmt: skip
        out.append(f"| {label} | compile | {c['compile_fwd_s']:.1f} s | {c['compile_el_s']:.1f} s "
                   f"| {c['compile_el_s'] / c['compile_fwd_s']:.1f}x |")  # fmt: skip
        lf, le = [r["loop_s"] for r in ef], [r["loop_s"] for r in ee]
        out.append(f"| {label} | `kvjax sweep` chunk loop, {n_points / 1e6:.1f} M points "
                   f"| {min(lf):.2f} s ({n_points / min(lf) / 1e6:.0f} M/s) "
                   f"| {min(le):.2f} s ({n_points / min(le) / 1e6:.0f} M/s) "
                   f"| {_fmt_ratio(lf, le)} |")  # fmt: skip
        wf, we = [r["wall_s"] for r in ef], [r["wall_s"] for r in ee]
        out.append(f"| {label} | `kvjax sweep` wall (import, compile, write) | {min(wf):.1f} s "
                   f"| {min(we):.1f} s | {_fmt_ratio(wf, we)} |")  # fmt: skip
        out.append(f"| {label} | store (compressed) | {ef[0]['compressed']} "
                   f"| {ee[0]['compressed']} | |")  # fmt: skip
    if extra:
        out += ["", "| block_points | compute ratio, same 2, median (range) |", "|---:|---:|"]
        c0 = rows[1][1]
        out.append(f"| {block} (default) | {_fmt_ratio(c0['fwd_s'], c0['el_s'])} |")
        for b, c in extra:
            out.append(f"| {b} | {_fmt_ratio(c['fwd_s'], c['el_s'])} |")
    print("\n".join(out))
    print(f"\nmedian forward compute, default: "
          f"{statistics.median(rows[0][1]['fwd_s']):.3f} s", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
