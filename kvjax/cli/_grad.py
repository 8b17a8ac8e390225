"""``kvjax grad``: elasticities d ln(metric) / d ln(knob) of one scenario, knobs ranked."""

from __future__ import annotations

import math

from .._format import si
from ._parser import examples, print_json
from ._scenario_args import (
    add_scenario_arguments,
    scenario_from_args,
    split_list,
    use_compile_cache,
)


def _infeasible_line(s, r) -> str | None:
    conc, batch = float(r["concurrency"]), float(s.workload.batch)
    if conc >= batch:
        return None
    from .. import costs
    from ..units import GiB

    weights = float(costs.weight_bytes_per_device(s)) / GiB
    kv = float(costs.kv_bytes_per_user(s)) / GiB / float(s.workload.tp)
    w = s.workload
    hbm = float(s.hardware.hbm_bytes) / GiB
    usable = float(costs.usable_hbm_bytes_per_device(s)) / GiB
    if usable != hbm:  # the engine's share and reserve (the defaults: vLLM's 0.9, 1.79 GiB)
        hbm_text = f"usable HBM {usable:.3g} GiB ({float(w.hbm_utilization):g} x {hbm:.3g} GiB"
        hbm_text += f" - {float(w.hbm_reserve_bytes) / GiB:.3g} GiB reserve)"
    else:
        hbm_text = f"HBM {hbm:.3g} GiB"
    what = (
        "one user's KV cache does not fit" if conc < 1 else f"the batch of {batch:g} does not fit"
    )
    return (
        f"infeasible: {what} in HBM (capacity constraint): concurrency = {conc:.3g} < "
        f"{max(1.0, batch) if conc < 1 else batch:g}; per device: weights {weights:.3g} GiB + "
        f"KV {kv:.3g} GiB per user vs {hbm_text}"
    )


def _cmd_grad(args) -> int:
    import jax

    from ..model import (
        GRAD_METRICS,
        KNOBS,
        METRICS,
        elasticity,
        evaluate,
        ranked,
        resolve_leaves,
        resolve_metrics,
    )

    metrics = resolve_metrics(split_list(args.metrics) or GRAD_METRICS, field="--metrics",
                              kinds=("float",))  # fmt: skip
    wrt = resolve_leaves(split_list(args.wrt) or KNOBS, field="--wrt")
    s = scenario_from_args(args)
    use_compile_cache(args)
    with jax.enable_x64(True):
        r = jax.jit(lambda s: evaluate(s, ("concurrency", *metrics)))(s)
        e = jax.jit(lambda s: elasticity(s, metrics, wrt))(s)
        rows = ranked(e)
    banner = _infeasible_line(s, r)
    if args.json:
        from ._eval import scenario_json

        out = {}
        for name in metrics:
            v = float(r[name])
            items = [] if not math.isfinite(v) or v == 0 else [
                {"knob": p, "elasticity": x} for p, x in rows[name] if args.all or x != 0.0
            ][: args.top]  # fmt: skip
            out[name] = {"value": v, "units": METRICS[name].units, "elasticities": items}
        print_json({"scenario": scenario_json(args, s), "infeasible": banner, "metrics": out})
        return 0
    if banner:
        print(banner)
    width = max(len(p) for p in wrt)
    for name in metrics:
        info = METRICS[name]
        v = float(r[name])
        if math.isnan(v):
            why = "no price for this hardware" if banner is None else "the KV does not fit"
            print(f"\n{name}: infeasible here ({why}): no elasticities")
            continue
        print(f"\n{name} = {si(v, info.units)}  ({info.long_name})")
        if v == 0:
            print("  metric is 0 at this point: elasticities are 0 or undefined")
            continue
        items = [(p, x) for p, x in rows[name] if args.all or x != 0.0][: args.top]
        if not items:
            print("  no knob moves it")
        for p, x in items:
            bar = "#" * min(20, int(round(10 * abs(x)))) if math.isfinite(x) else ""
            print(f"  {p:{width}}  {x:+8.3f}  {bar}")
    return 0


def add_commands(subparsers) -> None:
    """Register ``grad``."""
    p = subparsers.add_parser(
        "grad",
        help="elasticities d ln(metric) / d ln(knob) of one scenario, ranked",
        description="Per metric, the knobs ranked by |elasticity| (percent change of the "
        "metric per percent change of the knob), with sign.",
        epilog=examples(
            "kvjax grad --model yi-34b --hardware a100-80gb-sxm --context 5k --batch 8",
            "kvjax grad --model llama-3.1-70b --hardware h100-sxm --context 128K --tp 4 "
            "--metrics decode_step_s --wrt hardware.hbm_bytes_per_s,workload.kv_bits",
            "kvjax grad --model yi-34b --hardware h100-sxm --context 4k --json",
        ),
    )
    add_scenario_arguments(p)
    p.add_argument("--metrics", action="append", help="comma-separated float metrics")
    p.add_argument("--wrt", action="append", help="comma-separated leaves (default: the knobs)")
    p.add_argument("--top", type=int, default=12, help="knobs shown per metric (default 12)")
    p.add_argument("--all", action="store_true", help="also show knobs with elasticity 0")
    p.add_argument("--json", action="store_true",
                   help="one JSON document: {scenario, infeasible, metrics: {name: {value, "
                        "units, elasticities: [{knob, elasticity}]}}} (docs/cli-json.md)")
    p.set_defaults(func=_cmd_grad)
