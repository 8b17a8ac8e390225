"""``kvjax sweep`` and ``kvjax info``: registered on the main parser by ``add_commands``.

``kvjax sweep SPEC -o STORE`` evaluates a spec (a path or a built-in name such as
``paper-running-example``) into a zarr store with a progress line on stderr.  Before any
work it re-executes itself once with glibc's huge-page malloc tunables set (XLA allocates a
fresh output buffer per chunk; without them page faults cost 2-4x, docs/performance.md);
``KVJAX_NO_REEXEC=1`` turns that off.  Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import os
import signal
import sys

from .._format import duration, human_bytes
from ..errors import InputError
from . import _signals
from ._parser import examples, print_json

GLIBC_TUNABLES = (
    "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:"
    "glibc.malloc.trim_threshold=4294967296"
)


def add_commands(subparsers) -> None:
    """Register ``sweep`` and ``info`` on an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "sweep",
        help="evaluate a sweep spec over its grid into a zarr store",
        description="Evaluate a sweep spec (a TOML path or a built-in name) into a zarr store.",
        epilog=examples(
            "kvjax sweep context-scaling -o runs/cs.zarr && kvjax explore runs/cs.zarr",
            "kvjax sweep my-spec.toml -o runs/my.zarr --resume      # finish a killed run",
            "kvjax sweep benchmark-100m --dry-run --json | jq .points",
            "kvjax list sweeps                                        # the built-in specs",
            "kvjax sweep big.toml -o /shared/big.zarr --dask local:8   # docs/scale-out.md",
            "kvjax sweep big.toml -o s3://b/big.zarr --shard $I/100   # one of 100 array jobs",
        ),
    )
    p.add_argument("spec", nargs="?", help="sweep spec: a .toml path or a built-in name")
    p.add_argument("-o", "--output",
                   help="output store: a directory (out.zarr) or an fsspec URL (s3://b/x.zarr)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted store")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("--dry-run", action="store_true", help="print grid size, bytes and time")
    p.add_argument("--json", action="store_true",
                   help="with --dry-run: one JSON document (docs/cli-json.md)")  # fmt: skip
    p.add_argument("--float64", action="store_true", help="compute and store float64")
    p.add_argument("--force", action="store_true", help="ignore the free-disk check")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--workers", type=int, default=2, help="compress/write threads (2)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not use the persistent compilation cache (~/.cache/kvjax, or "
                        "$KVJAX_CACHE_DIR): compile the kernel afresh")  # fmt: skip
    g = p.add_argument_group("scale-out (docs/scale-out.md)")
    g.add_argument("--dask", metavar="ADDRESS",
                   help="compute on Dask: local, local:N (a LocalCluster of N workers), a "
                        "scheduler address (tcp://host:8786) or a scheduler file (.json)")
    g.add_argument("--task-chunks", type=int, metavar="K",
                   help="chunks per Dask task (default: about 8 tasks per worker, at most 64)")
    g.add_argument("--shard", metavar="I/N",
                   help="compute shard I of N (0-based) into a store that N runs share")
    g.add_argument("--finalize", metavar="STORE",
                   help="mark a sharded store complete once every chunk is done")
    p.set_defaults(func=cmd_sweep)

    p = subparsers.add_parser(
        "info",
        help="describe a sweep store",
        epilog=examples("kvjax info runs/cs.zarr", "kvjax info runs/cs.zarr --json | jq .dims",
                        "kvjax info runs/cs.zarr --spec > cs.toml   # the spec it came from"),
    )
    p.add_argument("store", help="a store written by `kvjax sweep`")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--spec", action="store_true", help="print the spec text it was made from")
    p.add_argument("--verify", action="store_true",
                   help="check every chunk file against its done record (size and CRC-32); "
                        "exit 2 naming the missing or corrupt ones")  # fmt: skip
    p.set_defaults(func=cmd_info)


def _maybe_reexec(argv) -> None:
    """Restart this process once with ``GLIBC_TUNABLES`` set (it only works at start-up)."""
    if os.environ.get("KVJAX_NO_REEXEC") or "GLIBC_TUNABLES" in os.environ:
        return
    if argv is None and os.path.basename(sys.argv[0]) in ("kvjax", "cli.py", "__main__.py"):
        argv = sys.argv[1:] if sys.argv[1:2] == ["sweep"] else None
    if not sys.platform.startswith("linux") or argv is None:
        return
    env = dict(os.environ, GLIBC_TUNABLES=GLIBC_TUNABLES, KVJAX_NO_REEXEC="1")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "kvjax", *argv], env)


class ProgressLine:
    """``\\r  42.0%  4,200,000/10,000,000 points  35.1 M points/s  ETA 0:00:01`` on stderr."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.last_len = 0
        self.last_print = -1e9

    def __call__(self, done, total, seconds):
        rate = done / seconds if seconds > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        pct = 100.0 * done / total if total else 100.0
        line = (f"{pct:6.1f}%  {done:,}/{total:,} points  {rate / 1e6:,.1f} M points/s  "
                f"ETA {duration(eta)}")  # fmt: skip
        end = "\r" if self.tty and done < total else "\n"
        if self.tty or done >= total or seconds - self.last_print >= 5.0:
            self.last_print = seconds
            pad = " " * max(0, self.last_len - len(line))
            self.stream.write(("\r" if self.tty else "") + line + pad + end)
            self.stream.flush()
        self.last_len = len(line)


def cmd_sweep(args, argv=None) -> int:
    if args.json and not args.dry_run:
        raise InputError("sweep: --json goes with --dry-run (a sweep prints its report on stderr)")
    if not args.dry_run and not args.finalize:
        if not args.output:
            raise InputError("sweep: -o/--output STORE is required (or --dry-run)")
        _maybe_reexec(argv)  # before anything imports JAX: the restart then imports it once
    from .. import sweep

    if args.dry_run and not args.spec:
        raise InputError("sweep: --dry-run needs a SPEC")
    if not args.no_cache:
        sweep.enable_compile_cache()
    if args.dry_run:
        d = sweep.dry_run(args.spec, args.output, float64=args.float64 or None)
        if args.json:
            print_json(d)
            return 0
        print(f"spec: {d['spec']}")
        print("dims: " + ", ".join(f"{k}: {v:,}" for k, v in d["dims"].items()))
        print(f"points: {d['points']:,}  chunks: {d['n_chunks']:,} of {d['chunks']}  "
              f"dtype: {d['dtype']}")  # fmt: skip
        print(f"stored bytes (uncompressed, upper bound): {human_bytes(d['bytes_uncompressed'])}")
        if d["disk_free"] is not None:
            print(f"free disk at the output: {human_bytes(d['disk_free'])}")
        print(f"compile: {d['compile_s']:.2f} s  estimated run time: "
              f"{duration(d['estimated_s'])} (h:mm:ss)")  # fmt: skip
        print("variables:")
        for m, dims in d["variables"].items():
            print(f"  {m:34} ({', '.join(dims)})")
        return 0
    shard = _check_modes(args, sweep)
    if args.finalize:
        n = sweep.finalize_store(args.finalize)
        print(f"finalized {args.finalize}: all {n:,} chunks done; status complete",
              file=sys.stderr)  # fmt: skip
        return 0
    progress = None if args.quiet else ProgressLine()
    common = dict(resume=args.resume, float64=args.float64 or None, force=args.force,
                  progress=progress, workers=max(1, args.workers))  # fmt: skip
    try:
        with _signals.deferred():
            if shard is not None:
                r = sweep.run_shard(args.spec, args.output, *shard, **common)
            else:
                r = sweep.run_sweep(args.spec, args.output, overwrite=args.overwrite,
                                    dask=args.dask, task_chunks=args.task_chunks, **common)
    except sweep.Interrupted as e:
        signum = _signals.received() or signal.SIGINT
        again = (f"--shard {args.shard}" if shard is not None else
                 f"--dask {args.dask} --resume" if args.dask else "--resume")  # fmt: skip
        what = (f"the store is resumable: kvjax sweep {args.spec} -o {args.output} {again}"
                if e.store else "nothing was written")  # fmt: skip
        print(f"kvjax sweep: stopped by {_signals.SIGNALS[signum]}; {what}", file=sys.stderr)
        return 128 + signum
    what = f"shard {args.shard} of {r.store}" if shard is not None else r.store
    line = (f"wrote {what}: {r.points:,} points in {r.chunks}/{r.chunks_total} chunks, "
            f"{r.seconds:.2f} s ({r.points_per_s / 1e6:,.1f} M points/s), compile "
            f"{r.compile_s:.2f} s, {human_bytes(r.bytes_written)} compressed")  # fmt: skip
    if shard is not None and r.status == "complete":
        line += "; the store is complete"
    elif shard is not None:
        line += (f"; {r.chunks_missing:,} chunks of other shards still missing (the last "
                 f"shard to finish completes the store; or kvjax sweep --finalize STORE)")
    print(line, file=sys.stderr)
    return 0


def _check_modes(args, sweep):
    """Refuse flag combinations that make no sense (one line); returns ``(I, N)`` for
    ``--shard`` (else ``None``)."""
    if args.finalize:
        extra = [f for f, v in (("SPEC", args.spec), ("-o", args.output), ("--shard", args.shard),
                                ("--dask", args.dask)) if v]  # fmt: skip
        if extra:
            raise InputError(f"--finalize STORE takes no {', '.join(extra)}")
        return None
    if not args.spec:
        raise InputError("sweep: a SPEC is required (a .toml path or a built-in name)")
    if not args.output:
        raise InputError("sweep: -o/--output STORE is required (or --dry-run)")
    if args.dask and args.shard:
        raise InputError(f"--shard = {args.shard!r}: --shard and --dask exclude each other "
                         "(shards are for batch schedulers without Dask)")  # fmt: skip
    if args.task_chunks is not None and (not args.dask or args.task_chunks < 1):
        raise InputError(f"--task-chunks = {args.task_chunks}: needs --dask and K >= 1")
    if args.dask:
        sweep.parse_address(args.dask)
        sweep.require_dask(args.dask)
        return None
    if args.shard is None:
        return None
    shard = sweep.parse_shard(args.shard)
    if args.overwrite:
        raise InputError(f"--shard = {args.shard!r}: --overwrite cannot be combined with "
                         "--shard (shards join one store; replace it in one run, or delete it "
                         "first)")  # fmt: skip
    return shard


def cmd_info(args, argv=None) -> int:
    from ..sweep import info, verify

    d = info(args.store)
    if args.verify or d["attrs"].get("kvjax_store_format", 1) >= 2:
        v = verify(args.store, checksums=args.verify)  # without --verify: sizes only (stat)
        if not v.ok:
            raise InputError(f"{args.store}: {v.summary()}")
        if args.verify:
            print(v.summary(), file=sys.stderr)
    if args.spec:
        print(d["spec_text"])
    elif args.json:
        print_json(d)
    else:
        print(format_info(d))
    return 0


def format_info(d: dict) -> str:
    """``kvjax info`` text of ``kvjax.sweep.info``'s dict."""
    import numpy as np

    lines = [f"store: {d['store']}"]
    status = d["status"]
    pct = 100.0 * d["chunks_done"] / d["chunks_total"] if d["chunks_total"] else 0.0
    lines.append(f"status: {status} ({d['chunks_done']}/{d['chunks_total']} chunks, {pct:.1f}%)")
    order = list(d["dims"])  # in the spec's order (kvjax.sweep.info reads kvjax_dims)
    dims = ", ".join(f"{k}: {d['dims'][k]}" for k in order if k in d["dims"])
    n = int(np.prod(list(d["dims"].values()))) if d["dims"] else 1
    lines.append(f"dims: {dims}  ({n:,} points)")
    lines.append("variables:")
    for k, v in d["variables"].items():
        lines.append(f"  {k:34} ({', '.join(v['dims'])}) {v['dtype']:8} [{v['units']}] "
                     f"{v['long_name']}")  # fmt: skip
    lines.append("provenance:")
    for k in ("kvjax_spec_name", "kvjax_spec_source", "kvjax_spec_hash", "kvjax_catalog_hash",
              "kvjax_version", "jax_version", "device", "kvjax_dtype", "kvjax_created",
              "kvjax_completed"):  # fmt: skip
        if k in d["attrs"]:
            lines.append(f"  {k:20} {d['attrs'][k]}")
    return "\n".join(lines)
