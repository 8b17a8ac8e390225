"""What a user feels: the wall time of the whole ``kvjax`` command, as ratios to a baseline
measured in the same run.

    python benchmarks/bench_command.py                # 1e6, 1e7, 1e8 points
    python benchmarks/bench_command.py --sizes 1e6,1e7 --repeats 5

Baseline: ``python -c "import jax"`` (the floor of any JAX tool's start-up).  For each grid
size (the ``benchmark-100m`` spec with the number of contexts scaled to give about that many
points) it times the real console script (``kvjax sweep SPEC -o STORE --overwrite --quiet``,
with its huge-page re-exec) three ways: with an empty compilation cache (cold), again with the
cache the cold run filled (warm: what a rerun, resume or same-shape sweep costs) and with
``--no-cache``.  It also times ``kvjax --help`` and ``kvjax list models``.  Each figure is the
median of ``--repeats`` runs; the ratios are to the baseline's median.  The chunk loop's own
seconds and the compile seconds come from the command's summary line, so the fixed cost is
wall - loop.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KVJAX = [sys.executable, "-m", "kvjax"]


def wall(cmd, env=None) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr}")
    return dt, r.stderr


def spec_for(points: float, tmp: Path) -> tuple[Path, int]:
    import math

    from kvjax.sweep import load_spec

    base = load_spec("benchmark-100m")
    per_context = math.prod(base.shape) // len(base.axes[-1].values)
    n_ctx = max(2, round(points / per_context))
    text = re.sub(r"geomspace = \[1000, 10_000_000, \d+\]",
                  f"geomspace = [1000, 10_000_000, {n_ctx}]", base.text)  # fmt: skip
    path = tmp / f"b{n_ctx}.toml"
    path.write_text(text)
    return path, n_ctx * per_context


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e6,1e7,1e8", help="grid sizes (points)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    med = statistics.median
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = med([wall([sys.executable, "-c", "import jax"])[0] for _ in range(args.repeats)])
        print(f"baseline `python -c \"import jax\"`: {base:.2f} s (median of {args.repeats})")
        print("\n| command | points | wall s | / baseline | chunk loop s | compile s |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, cmd in (("kvjax --help", ["--help"]), ("kvjax list models", ["list", "models"])):
            t = med([wall(KVJAX + cmd)[0] for _ in range(args.repeats)])
            print(f"| `{label}` | | {t:.2f} | {t / base:.2f}x | | |")
        for size in (float(s) for s in args.sizes.split(",")):
            spec, n = spec_for(size, tmp)
            for mode in ("cold", "warm", "--no-cache"):
                runs = []
                for i in range(args.repeats):
                    cache = tmp / f"cache-{n}-{i if mode == 'cold' else 'w'}"
                    if mode == "warm" and not cache.exists():
                        wall(KVJAX + ["sweep", str(spec), "-o", str(tmp / "o.zarr"),
                                      "--overwrite", "--quiet"],
                             dict(os.environ, KVJAX_CACHE_DIR=str(cache)))  # fmt: skip
                    env = dict(os.environ, KVJAX_CACHE_DIR=str(cache))
                    extra = ["--no-cache"] if mode == "--no-cache" else []
                    t, err = wall(KVJAX + ["sweep", str(spec), "-o", str(tmp / "o.zarr"),
                                           "--overwrite", "--quiet", *extra], env)  # fmt: skip
                    m = re.search(r"chunks, ([\d.]+) s .* compile ([\d.]+) s", err)
                    runs.append((t, float(m.group(1)), float(m.group(2))))
                t, loop, comp = (med(x) for x in zip(*runs))
                print(f"| `kvjax sweep` ({mode}) | {n:,} | {t:.2f} | {t / base:.2f}x "
                      f"| {loop:.2f} | {comp:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
