"""Interaction latency of ``kvjax explore`` on a 1e8-point store (not a timed test).

Builds (once) the ``benchmark-100m`` store (1.07e8 points: every model x every accelerator
x batch 1..128 x 1,200 contexts), opens it lazily as the app does, and times what one
widget change costs on the server: reading the displayed slice from zarr and building the
new figure, for the Curves, Map and Pareto views.  Each figure is the median of ``--repeat``
changes to a different value (so no slice is read twice).  The baseline in the same run is
the same interaction on the 2.1e5-point ``context-scaling`` store: the ratio says how much
the store's size costs (lazy opening and slicing should make it ~1).

    python benchmarks/bench_explore.py [--store runs/b100m.zarr] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _store(spec, path):
    from kvjax.sweep import run_sweep

    if not os.path.exists(os.path.join(path, "zarr.json")):
        t = time.perf_counter()
        run_sweep(spec, path, overwrite=True)
        print(f"built {path} in {time.perf_counter() - t:.1f} s")
    return path


def _time(fn, values):
    out = []
    for v in values:
        t = time.perf_counter()
        fn(v)
        out.append(time.perf_counter() - t)
    return statistics.median(out), max(out)


def measure(path, repeat):
    import kvjax
    from kvjax.explore._views import CurvesView, MapView, ParetoView

    t = time.perf_counter()
    ds = kvjax.open_sweep(path)
    open_s = time.perf_counter() - t
    n = 1
    for d in ("model", "hardware", "batch", "context"):
        n *= ds.sizes[d]
    models = [str(m) for m in ds.model.values][1 : repeat + 1]
    hardware = [str(h) for h in ds.hardware.values][1 : repeat + 1]
    batches = [float(b) for b in ds.batch.values][1 : repeat + 1]
    c = CurvesView(ds)
    m = MapView(ds)
    m.show_boundaries.value = False  # boundaries: timed separately (a Newton solve per row)
    p = ParetoView(ds)
    rows = {
        "Curves: change model": _time(lambda v: c.sel_widgets["model"].param.update(value=v),
                                      models),  # fmt: skip
        "Curves: change batch": _time(lambda v: c.sel_widgets["batch"].param.update(value=v),
                                      batches),  # fmt: skip
        "Map: change hardware": _time(lambda v: m.sel_widgets["hardware"].param.update(value=v),
                                      hardware),  # fmt: skip
        "Pareto: change model": _time(lambda v: p.sel_widgets["model"].param.update(value=v),
                                      models),  # fmt: skip
    }
    m.show_boundaries.value = True
    rows["Map: boundaries, new slice"] = _time(
        lambda v: m.sel_widgets["hardware"].param.update(value=v), hardware[:3])
    return n, open_s, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="runs/benchmark-100m.zarr")
    ap.add_argument("--baseline", default="runs/context-scaling.zarr")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    measure(_store("context-scaling", a.baseline), 2)  # warm-up: imports, jit compiles
    base = measure(a.baseline, a.repeat)
    big = measure(_store("benchmark-100m", a.store), a.repeat)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores; {os.uname().machine}; load average {load}")
    print(f"{'interaction':32} {'baseline ms':>12} {'1e8 store ms (max)':>20} {'ratio':>6}")
    print(f"{'open the store (lazy)':32} {1e3 * base[1]:12.0f} {1e3 * big[1]:20.0f}")
    for k in big[2]:
        b, g = base[2][k], big[2][k]
        print(f"{k:32} {1e3 * b[0]:12.0f} {1e3 * g[0]:9.0f} ({1e3 * g[1]:5.0f})"
              f"{'':5} {g[0] / b[0]:6.2f}")  # fmt: skip
    print(f"points: baseline {base[0]:,}, store {big[0]:,}")


if __name__ == "__main__":
    main()
