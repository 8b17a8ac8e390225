"""``kvjax explore``, ``kvjax report`` and ``kvjax export``: looking at stored sweeps.

``explore STORE`` serves the Panel app (``kvjax.explore``) on 127.0.0.1 and prints its URL;
``explore --live --model M --hardware H`` needs no store.  ``report STORE -o report.html``
writes one offline HTML file; ``export STORE --to FORMAT -o OUT`` a selection as netCDF,
Parquet, CSV or zarr.  Bad input (not a store, a partial store without ``--allow-partial``,
nothing to plot, a port in use, an unknown model): one line, exit status 2.
"""

from __future__ import annotations

from ..errors import InputError
from ._parser import examples
from ._scenario_args import split_list


def _need_explore() -> None:
    try:
        import bokeh  # noqa: F401
        import panel  # noqa: F401
    except ImportError:
        raise InputError("needs the explore extra (Panel, hvplot): pip install 'kvjax[explore]'"
                         ) from None  # fmt: skip


def _cmd_explore(args) -> int:
    from .. import explore

    if args.live:
        if args.store is not None:
            raise InputError("--live computes from the cost model: give no STORE")
        if not args.model or not args.hardware:
            raise InputError("--live needs --model NAME and --hardware NAME[,NAME...]")
        hardware = split_list(args.hardware)
        explore._live.check_names(args.model, hardware, args.precision)
        ds, live = None, (args.model, hardware, args.precision)
        title = f"kvjax explore --live: {args.model}"
    else:
        if args.store is None:
            raise InputError("give a STORE (from `kvjax sweep SPEC -o STORE`), or --live")
        ds = explore.open_store(args.store, allow_partial=args.allow_partial)
        live = explore._logic.live_seed(ds)  # the store's first model, on its accelerators
        title = f"kvjax explore: {args.store}"
    explore.check_port(args.port)
    _need_explore()
    explore._app.warm_up(ds, live)
    try:
        explore.serve(lambda: explore.build_app(ds, live, title), port=args.port,
                      open_browser=not args.no_browser, title=title)  # fmt: skip
    except KeyboardInterrupt:
        pass  # Panel usually catches Ctrl-C itself and returns
    import os
    import sys

    print("kvjax explore: stopped", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    # the warm-up thread may still be inside an XLA compile, which aborts the process if
    # the interpreter is torn down around it: leave at once instead
    os._exit(0)


def _cmd_report(args) -> int:
    import sys

    from .. import explore

    ds = explore.open_store(args.store, allow_partial=args.allow_partial)
    _need_explore()
    metrics = split_list(args.metrics) or explore._report.DEFAULT_METRICS
    for m in metrics:
        if m not in ds.data_vars:
            from ..errors import suggest

            raise InputError(f"--metrics {m}: not in the store{suggest(m, list(ds.data_vars))}")
    size = explore.write_report(ds, args.output, metrics, overwrite=args.overwrite,
                                inputs=[args.store])  # fmt: skip
    print(f"wrote {args.output}: {size / 1e6:.2f} MB, self-contained (opens offline)",
          file=sys.stderr)  # fmt: skip
    return 0


def _cmd_export(args) -> int:
    import sys

    from .. import explore

    fmt = explore.format_of(args.output, args.to)
    explore.check_output(args.output, args.overwrite, [args.store], fmt)
    ds = explore.open_store(args.store, allow_partial=args.allow_partial)
    sub = explore.select(ds, explore.parse_selection(args.sel), split_list(args.vars))
    n = int(sub.sizes and __import__("math").prod(sub.sizes.values()) or 1)
    explore.write(sub, args.output, fmt, overwrite=args.overwrite, inputs=[args.store],
                  catalog_fields=args.catalog_fields)  # fmt: skip
    print(f"wrote {args.output} ({fmt}): {len(sub.data_vars)} variables over "
          f"{dict(sub.sizes)} ({n:,} points)", file=sys.stderr)  # fmt: skip
    return 0


def add_commands(sub) -> None:
    """Register ``explore``, ``report`` and ``export``."""
    p = sub.add_parser(
        "explore",
        help="serve an app to explore a stored sweep (or --live, the cost model itself)",
        description="Serve a local Panel app on 127.0.0.1: Curves (any metric against any "
        "axis), Map (a metric or regime over two axes, boundaries on top), Pareto (two "
        "objectives, the front, a point's scenario and knobs) and Live (curves computed on "
        "the fly, no store). Needs the explore extra.",
        epilog=examples(
            "kvjax sweep context-scaling -o runs/cs.zarr && kvjax explore runs/cs.zarr",
            "kvjax explore runs/cs.zarr --port 8080 --no-browser",
            "kvjax explore --live --model llama-3.1-70b --hardware h100-sxm,a100-80gb-sxm",
        ),
    )
    p.add_argument("store", nargs="?", metavar="STORE", help="a store written by kvjax sweep")
    p.add_argument("--port", type=int, default=5006, help="port on 127.0.0.1 (default 5006; "
                   "0: any free port)")  # fmt: skip
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--allow-partial", action="store_true",
                   help="open an unfinished store (missing chunks read as NaN)")  # fmt: skip
    p.add_argument("--live", action="store_true", help="no store: curves from the cost model")
    p.add_argument("--model", help="with --live: catalog model id")
    p.add_argument("--hardware", help="with --live: catalog hardware ids (comma list)")
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp8"],
                   help="with --live: compute precision (default bf16)")  # fmt: skip
    p.set_defaults(func=_cmd_explore)

    p = sub.add_parser(
        "report",
        help="one self-contained offline HTML file of a store's headline plots",
        description="Per model: the metrics against context by accelerator, the Pareto "
        "front of decode time vs cost, the decode regime map. Inline JavaScript and data: "
        "the file opens without a network.",
        epilog=examples(
            "kvjax report runs/cs.zarr -o report.html",
            "kvjax report runs/cs.zarr -o cost.html --metrics usd_per_session,decode_s",
        ),
    )
    p.add_argument("store", metavar="STORE", help="a store written by kvjax sweep")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file")
    p.add_argument("--metrics", action="append", help="float metrics to plot (comma list; "
                   "default decode_step_s, prefill_s, usd_per_million_output_tokens)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    p.add_argument("--allow-partial", action="store_true", help="report an unfinished store")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "export",
        help="write a selection of a store as netCDF, Parquet, CSV or zarr",
        description="Select labels (--sel DIM=A,B; every dim keeps its name) and variables "
        "(--vars), and write them; the format is --to or the extension of OUT (.nc, "
        ".parquet, .csv, .zarr). CSV and Parquet are long tables: one row per point.",
        epilog=examples(
            "kvjax export runs/cs.zarr -o yi.csv --sel model=yi-34b --sel batch=1,8 "
            "--vars decode_step_s,fits",
            "kvjax export runs/cs.zarr --to netcdf -o cs.nc",
            "kvjax export runs/cs.zarr -o h100.parquet --sel hardware=h100-sxm",
        ),
    )
    p.add_argument("store", metavar="STORE", help="a store written by kvjax sweep")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output path")
    p.add_argument("--to", choices=["netcdf", "parquet", "csv", "zarr"],
                   help="format (default: from the extension of OUT)")  # fmt: skip
    p.add_argument("--sel", action="append", metavar="DIM=A[,B]", help="labels to keep "
                   "(repeatable)")  # fmt: skip
    p.add_argument("--vars", action="append", help="variables to keep (comma list)")
    p.add_argument("--catalog-fields", action="store_true",
                   help="CSV/Parquet: also the catalog fields (model_params_total, ...)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--allow-partial", action="store_true", help="export an unfinished store")
    p.set_defaults(func=_cmd_export)
