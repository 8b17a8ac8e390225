"""The ``kvjax`` command.

Bad input (``InputError``) prints one line on stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import math
import sys

from . import cli_grad, cli_sweep
from .errors import InputError


def _cmd_paper(args) -> int:
    from . import paper

    print(paper.report(markdown=args.markdown))
    return 0


def _cmd_list(args) -> int:
    from . import catalog
    from .units import GB, GiB

    if args.what == "models":
        print(f"{'id':22} {'params':>9} {'L':>4} {'N':>4} {'K':>4} {'H':>4}  name")
        for n in catalog.model_names():
            i = catalog.model_info(n)
            m = catalog.load_model(n)
            print(
                f"{n:22} {m.params_total / 1e9:8.1f}B {m.n_layers:4.0f} {m.n_heads:4.0f} "
                f"{m.n_kv_heads:4.0f} {m.head_dim:4.0f}  {i['name']}"
            )
    else:
        print(f"{'id':16} {'bf16 TFLOP/s':>12} {'HBM GiB':>8} {'HBM GB/s':>9} {'$/h':>6}  name")
        for n in catalog.hardware_names():
            i = catalog.hardware_info(n)
            h = catalog.load_hardware(n)
            price = "-" if math.isnan(h.usd_per_hour) else f"{h.usd_per_hour:.2f}"
            print(
                f"{n:16} {h.flop_per_s / 1e12:12.0f} {h.hbm_bytes / GiB:8.1f} "
                f"{h.hbm_bytes_per_s / GB:9.0f} {price:>6}  {i['name']}"
            )
    return 0


def _format_value(v: float, units: str, kind: str) -> str:
    from .session import REGIMES
    from .units import GiB

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

    from .cli_common import scenario_from_args
    from .metrics import METRICS, evaluate

    s = scenario_from_args(args)
    with jax.enable_x64(True):
        r = jax.jit(evaluate)(s)
    width = max(len(n) for n in METRICS)
    for name, info in METRICS.items():
        print(
            f"{name:{width}}  {_format_value(float(r[name]), info.units, info.kind):28}  "
            f"{info.long_name}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvjax",
        description="Where the cost of serving long-context LLMs comes from (KV-cache roofline).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("paper", help="reproduce the paper's running example (Yi-34B, A100)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=_cmd_paper)

    p = sub.add_parser("eval", help="every metric of one scenario")
    from .cli_common import add_scenario_arguments

    add_scenario_arguments(p)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("list", help="list the catalog: models or hardware")
    p.add_argument("what", choices=["models", "hardware"])
    p.set_defaults(func=_cmd_list)

    cli_sweep.add_commands(sub)
    cli_grad.add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"kvjax {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `kvjax list models | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        hint = " (resume with --resume)" if args.command == "sweep" else ""
        print(f"kvjax: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
