"""Scale-out: one process vs ``--dask local:N`` vs ``--shard I/N`` + ``--finalize``, and the
per-task overheads that decide how a sweep scales on a real cluster (docs/scale-out.md).

    python benchmarks/bench_scale_out.py                       # benchmark-100m, ~10 min
    python benchmarks/bench_scale_out.py --spec context-scaling --workers 1,2   # smoke test

Measures, in one run on this machine (the single process is the baseline of every ratio):
  * cold: ``kvjax sweep SPEC -o STORE`` in a subprocess, wall time of the whole command; the
    same with ``--dask local:N`` for each N of ``--workers`` (the command starts the
    LocalCluster; each worker imports kvjax and compiles once);
  * warm: the chunk loop's points/s in one process, and on a running LocalCluster of N
    process workers that compiled already (what transfers to a long-lived cluster);
  * N shards started together (``--shard I/N``) and ``--finalize``: wall time until done;
  * each distributed store against the single process's: every file byte for byte, except
    the root attrs ``kvjax_created``/``kvjax_completed``/``kvjax_shards`` and each done
    record's ``writer`` (host:pid);
  * per-task overhead on one warm worker: tasks of one small chunk, (wall - sum of the
    tasks' chunk loops) / tasks; no-op tasks per second through the scheduler; and the cost
    of one done record (its write, and one ``syncfs``).
Prints a Markdown table (docs/performance.md) and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sweep import TUNABLES, machine  # noqa: E402

DIFFERING_ATTRS = ("kvjax_created", "kvjax_completed", "kvjax_shards")
_LINE = re.compile(r"wrote .*: ([\d,]+) points in (\d+)/(\d+) chunks, ([\d.]+) s .*compile "
                   r"([\d.]+) s")  # fmt: skip


def cli(*args):
    return [sys.executable, "-m", "kvjax", "sweep", *map(str, args), "--quiet"]


def run_cli(*args) -> dict:
    t = time.perf_counter()
    p = subprocess.run(cli(*args), capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    m = _LINE.search(p.stderr)
    points, loop_s, compile_s = int(m.group(1).replace(",", "")), float(m[4]), float(m[5])
    return {"wall_s": wall, "points": points, "loop_s": loop_s, "compile_s": compile_s}


def store_identity(a: Path, b: Path) -> str:
    """``"identical"`` (see the module docstring for what may differ), else the first
    difference."""
    from kvjax.sweep import read_attrs
    from kvjax.sweep._zarr_writer import read_records

    def files(root):
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
                and "/tmp" not in f"/{p.relative_to(root).as_posix()}"
                and not p.name.startswith(".")}  # fmt: skip

    fa, fb = files(a), files(b)
    if fa != fb:
        return f"different files: {sorted(fa ^ fb)[:3]}"
    ra, rb = read_attrs(a), read_attrs(b)
    for k in DIFFERING_ATTRS:
        ra.pop(k, None), rb.pop(k, None)
    if ra != rb:
        return f"root attrs differ: {[k for k in ra if ra[k] != rb.get(k)]}"
    ka = {c: {k: v for k, v in r.items() if k != "writer"} for c, r in read_records(a).items()}
    kb = {c: {k: v for k, v in r.items() if k != "writer"} for c, r in read_records(b).items()}
    if ka != kb:
        return "done records differ"
    for rel in sorted(fa):
        if rel == "zarr.json" or rel.startswith("_kvjax/done/c/"):
            continue
        if (a / rel).read_bytes() != (b / rel).read_bytes():
            return f"{rel} differs"
    return "identical"


def shards(spec, store: Path, n: int) -> dict:
    t = time.perf_counter()
    procs = [subprocess.Popen(cli(spec, "-o", store, "--shard", f"{i}/{n}"),
                              stderr=subprocess.PIPE, text=True) for i in range(n)]  # fmt: skip
    errs = [p.communicate()[1] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(errs)
    fin = subprocess.run([sys.executable, "-m", "kvjax", "sweep", "--finalize", str(store)],
                         capture_output=True, text=True)  # fmt: skip
    if fin.returncode:
        raise RuntimeError(fin.stderr)
    wall = time.perf_counter() - t
    loops = [float(_LINE.search(e)[4]) for e in errs]
    return {"wall_s": wall, "loop_s": max(loops)}


def _compile(spec, catalog_hash) -> None:
    from kvjax.sweep import worker_kernel

    worker_kernel(spec, spec.dtype, catalog_hash)  # cached in the worker process


def warm_rates(spec, tmp: Path, sizes) -> dict:
    """Steady-state chunk-loop points/s with everything warm (imports, compiles): the single
    process's second run, and each LocalCluster of ``sizes`` process workers' second run
    (``run_sweep(..., dask=client)``): what transfers to a cluster, where start-up is paid
    once per worker."""
    import dask
    import distributed

    from kvjax import catalog
    from kvjax.sweep import load_spec, run_sweep
    from kvjax.sweep._distributed import LOCAL_WORKER_ENV

    spec, out = load_spec(spec), {}

    def best(**kw):  # the best of 2 timed runs, after a warm-up run
        rates = []
        for i in range(3):
            r = run_sweep(spec, tmp / f"w{i}.zarr", **kw)
            rates.append(r.points_per_s)
            shutil.rmtree(tmp / f"w{i}.zarr")
        return max(rates[1:])

    out[0] = best()
    for n in sizes:
        with dask.config.set(LOCAL_WORKER_ENV), \
                distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=":0",
                                         silence_logs=logging.ERROR) as c, \
                distributed.Client(c) as client:  # fmt: skip
            client.run(_compile, spec, catalog.catalog_hash())  # on every worker
            out[n] = best(dask=client)
    return out


def _noop(i):
    return i


def overheads(tmp: Path, n_tasks: int = 64) -> dict:
    """Per-task overhead of the scheduler and the worker side, on one warm process worker;
    and one done record's cost (the record write plus a ``syncfs`` per commit of one)."""
    import distributed

    from kvjax import catalog
    from kvjax.sweep import create_template, parse_text, plan_sweep, run_sweep, store_files
    from kvjax.sweep._distributed import run_on_dask
    from kvjax.sweep._zarr_writer import write_records

    text = ('name = "ovh"\nmetrics = "default"\n[axes.context]\nleaf = '
            f'"workload.context_tokens"\ngeomspace = [1000, 1000000, {n_tasks * 1024}]\n'
            '[fixed]\nmodel = "yi-34b"\nhardware = "h100-sxm"\n[chunks]\npoints = 1024\n')
    spec = parse_text(text, "ovh.toml")
    plan = plan_sweep(spec)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as c, \
            distributed.Client(c) as client:  # fmt: skip
        t = time.perf_counter()
        distributed.wait(client.map(_noop, range(2000), pure=False))
        sched_rate = 2000 / (time.perf_counter() - t)  # tasks/s through the scheduler
        run_sweep(spec, tmp / "warm.zarr", dask=client, task_chunks=n_tasks)  # compile once
        results = []
        create_template(tmp / "ovh.zarr", plan)
        _, seconds, _, _ = run_on_dask(plan, catalog, catalog.catalog_hash(), tmp / "ovh.zarr",
                                       list(range(plan.n_chunks)), client, task_chunks=1,
                                       on_task=results.append)  # fmt: skip
    loops = sum(x["loop_s"] for x in results)
    worker_side = sum(x["task_s"] - x["loop_s"] for x in results) / len(results)
    n = 1000
    recs = [{"chunk": i, "files": {f"v/c/{i}": [100, 1]}, "writer": "bench"} for i in range(n)]
    (tmp / "rec").mkdir()
    files = store_files(tmp / "rec")
    t = time.perf_counter()
    write_records(tmp / "rec", recs)
    per_record = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(20):
        files.sync()
    per_sync = (time.perf_counter() - t) / 20
    return {"tasks": len(results), "task_total_s": (seconds - loops) / len(results),
            "task_worker_s": worker_side, "record_s": per_record, "syncfs_s": per_sync,
            "chunk_loop_s": loops / len(results), "scheduler_tasks_per_s": sched_rate}  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="benchmark-100m")
    ap.add_argument("--workers", default="1,2,4", help="LocalCluster sizes to run")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if "GLIBC_TUNABLES" not in os.environ:  # as `kvjax sweep` does (set before start-up)
        env = dict(os.environ, GLIBC_TUNABLES=TUNABLES)
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    out = {"machine": machine(), "spec": args.spec, "dask": {}, "n_shards": args.shards}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        d = Path(d)
        single = out["single"] = run_cli(args.spec, "-o", d / "single.zarr")
        for n in [int(n) for n in args.workers.split(",")]:
            r = run_cli(args.spec, "-o", d / f"dask{n}.zarr", "--dask", f"local:{n}")
            r["ratio_wall"] = single["wall_s"] / r["wall_s"]
            r["identity"] = store_identity(d / "single.zarr", d / f"dask{n}.zarr")
            out["dask"][n] = r
            shutil.rmtree(d / f"dask{n}.zarr")
        sh = out["shards"] = shards(args.spec, d / "shards.zarr", args.shards)
        sh["ratio_wall"] = single["wall_s"] / sh["wall_s"]
        sh["identity"] = store_identity(d / "single.zarr", d / "shards.zarr")
        shutil.rmtree(d / "shards.zarr")
        sizes = [int(n) for n in args.workers.split(",")]
        out["warm"] = warm_rates(args.spec, d, sizes)
        out["overheads"] = overheads(d)
    print(table(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def table(r) -> str:
    s = r["single"]
    lines = [f"Machine: {r['machine']}; spec {r['spec']} ({s['points']:,} points).", "",
             "Cold: the whole command (start-up, imports, cluster, compiles, the sweep):", "",
             "| run | wall s | x single | store vs single |", "|---|---:|---:|---|",
             f"| single process | {s['wall_s']:.1f} | 1.00 | baseline |"]  # fmt: skip
    for n, x in r["dask"].items():
        lines.append(f"| `--dask local:{n}` | {x['wall_s']:.1f} | {x['ratio_wall']:.2f} | "
                     f"{x['identity']} |")
    sh = r["shards"]
    lines.append(f"| `--shard I/{r['n_shards']}` x {r['n_shards']} + `--finalize` | "
                 f"{sh['wall_s']:.1f} | {sh['ratio_wall']:.2f} | {sh['identity']} |")
    w = r["warm"]
    lines += ["", "Warm (chunk loop only, best of 2 runs after a warm-up, in one process or one "
              "running cluster whose workers compiled already):", "",
              "| run | M points/s | per worker, x single |", "|---|---:|---:|",
              f"| single process | {w[0] / 1e6:.1f} | 1.00 |"]
    for n, x in w.items():
        if n:
            lines.append(f"| LocalCluster, {n} process workers | {x / 1e6:.1f} | "
                         f"{x / n / w[0]:.2f} |")
    o = r["overheads"]
    lines += ["", f"Per task (one warm worker, {o['tasks']} tasks of one 1,024-point chunk): "
              f"{o['task_total_s'] * 1e3:.1f} ms beyond the chunk loop "
              f"({o['task_worker_s'] * 1e3:.1f} ms of it on the worker: kernel lookup, writer, "
              f"commit); chunk loop {o['chunk_loop_s'] * 1e3:.1f} ms. One done record "
              f"{o['record_s'] * 1e6:.0f} us to write; one syncfs {o['syncfs_s'] * 1e3:.2f} ms. "
              f"No-op tasks through the scheduler: {o['scheduler_tasks_per_s']:,.0f}/s."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
