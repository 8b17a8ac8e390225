"""``kvjax paper``, ``kvjax eval`` and ``kvjax list``: one scenario, the paper, the catalogs."""

from __future__ import annotations

import math

from ._scenario_args import add_scenario_arguments, scenario_from_args


def _cmd_paper(args) -> int:
    from .. import paper

    print(paper.report(markdown=args.markdown))
    return 0


def _list_models() -> None:
    from .. import catalog

    print(f"{'id':22} {'params':>9} {'L':>4} {'N':>4} {'K':>4} {'H':>4}  name")
    for n in catalog.model_names():
        i, m = catalog.model_info(n), catalog.load_model(n)
        print(f"{n:22} {m.params_total / 1e9:8.1f}B {m.n_layers:4.0f} {m.n_heads:4.0f} "
              f"{m.n_kv_heads:4.0f} {m.head_dim:4.0f}  {i['name']}")  # fmt: skip


def _list_hardware() -> None:
    from .. import catalog
    from ..units import GB, GiB

    print(f"{'id':16} {'bf16 TFLOP/s':>12} {'HBM GiB':>8} {'HBM GB/s':>9} {'$/h':>6}  name")
    for n in catalog.hardware_names():
        i, h = catalog.hardware_info(n), catalog.load_hardware(n)
        price = "-" if math.isnan(h.usd_per_hour) else f"{h.usd_per_hour:.2f}"
        print(f"{n:16} {h.flop_per_s / 1e12:12.0f} {h.hbm_bytes / GiB:8.1f} "
              f"{h.hbm_bytes_per_s / GB:9.0f} {price:>6}  {i['name']}")  # fmt: skip


def _list_sweeps() -> None:
    from ..sweep import builtin_names, load_spec

    print(f"{'name':24} {'points':>13}  description")
    for n in builtin_names():
        spec = load_spec(n)
        print(f"{n:24} {spec.size:13,}  {spec.description}")


def _list_metrics() -> None:
    from ..model import DEFAULT_METRICS, METRICS

    print(f"{'metric':32} {'units':6} {'kind':5} {'better':6}  long name (* stored by default)")
    for n, i in METRICS.items():
        better = {"min": "lower", "max": "higher"}.get(i.sense, "-")
        star = " *" if n in DEFAULT_METRICS else ""
        print(f"{n:32} {i.units:6} {i.kind:5} {better:6}  {i.long_name}{star}")


def _cmd_list(args) -> int:
    {"models": _list_models, "hardware": _list_hardware, "sweeps": _list_sweeps,
     "metrics": _list_metrics}[args.what]()  # fmt: skip
    return 0


def format_value(v: float, units: str, kind: str) -> str:
    """One metric value as ``kvjax eval`` prints it."""
    from ..model import REGIMES
    from ..units import GiB

    if kind == "bool":
        return "yes" if v else "no"
    if kind == "code":
        return REGIMES.get(int(v), str(v))
    if math.isnan(v):
        return "NaN (does not fit)"
    if units == "bytes":
        return f"{v:,.0f} B ({v / GiB:.4g} GiB)"
    return f"{v:.6g} {units if units != '1' else ''}".rstrip()


def _cmd_eval(args) -> int:
    import jax

    from ..model import METRICS, evaluate

    s = scenario_from_args(args)
    with jax.enable_x64(True):
        r = jax.jit(evaluate)(s)
    width = max(len(n) for n in METRICS)
    for name, info in METRICS.items():
        print(f"{name:{width}}  {format_value(float(r[name]), info.units, info.kind):28}  "
              f"{info.long_name}")  # fmt: skip
    return 0


def add_commands(sub) -> None:
    """Register ``paper``, ``eval`` and ``list``."""
    p = sub.add_parser("paper", help="reproduce the paper's running example (Yi-34B, A100)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=_cmd_paper)

    p = sub.add_parser("eval", help="every metric of one scenario")
    add_scenario_arguments(p)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("list", help="list what is built in: models, hardware, sweeps, metrics")
    p.add_argument("what", choices=["models", "hardware", "sweeps", "metrics"])
    p.set_defaults(func=_cmd_list)

