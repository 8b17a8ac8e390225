"""``kvjax paper``, ``kvjax eval`` and ``kvjax list``: one scenario, the paper, the catalogs."""

from __future__ import annotations

import math

from ..errors import fail
from ._parser import examples, print_json
from ._scenario_args import (
    add_scenario_arguments,
    check_scenario,
    scenario_from_args,
    use_compile_cache,
)


def scenario_json(args, s) -> dict:
    """The ``scenario`` member of ``--json`` output: the names given and every leaf value."""
    from ..model import get_leaf, leaf_paths

    return {
        "model": args.model,
        "hf_config": args.hf_config,
        "hardware": args.hardware,
        "precision": args.precision,
        "leaves": {p: float(get_leaf(s, p)) for p in leaf_paths()},
    }


def _cmd_paper(args) -> int:
    from .. import paper

    print(paper.report(markdown=args.markdown))
    return 0


def _list_models(as_json: bool) -> list:
    from .. import catalog

    rows = []
    if not as_json:
        print(f"{'id':22} {'params':>9} {'L':>4} {'N':>4} {'K':>4} {'H':>4}  name")
    for n in catalog.model_names():
        i, m = catalog.model_info(n), catalog.load_model(n)
        rows.append({"id": n, "name": i["name"], **{k: float(v) for k, v in m.as_dict().items()}})
        if not as_json:
            print(f"{n:22} {m.params_total / 1e9:8.1f}B {m.n_layers:4.0f} {m.n_heads:4.0f} "
                  f"{m.n_kv_heads:4.0f} {m.head_dim:4.0f}  {i['name']}")  # fmt: skip
    return rows


def _list_hardware(as_json: bool) -> list:
    from .. import catalog
    from ..units import GB, GiB

    rows = []
    if not as_json:
        print(f"{'id':16} {'bf16 TFLOP/s':>12} {'HBM GiB':>8} {'HBM GB/s':>9} {'$/h':>6}  name")
    for n in catalog.hardware_names():
        i, h = catalog.hardware_info(n), catalog.load_hardware(n)
        rows.append({"id": n, "name": i["name"], **{k: float(v) for k, v in h.as_dict().items()}})
        if not as_json:
            price = "-" if math.isnan(h.usd_per_hour) else f"{h.usd_per_hour:.2f}"
            print(f"{n:16} {h.flop_per_s / 1e12:12.0f} {h.hbm_bytes / GiB:8.1f} "
                  f"{h.hbm_bytes_per_s / GB:9.0f} {price:>6}  {i['name']}")  # fmt: skip
    return rows


def _list_sweeps(as_json: bool) -> list:
    from ..sweep import builtin_names, load_spec

    rows = []
    if not as_json:
        print(f"{'name':24} {'points':>13}  description")
    for n in builtin_names():
        spec = load_spec(n)
        rows.append({"name": n, "points": spec.size, "dims": dict(zip(spec.dims, spec.shape)),
                     "description": spec.description})  # fmt: skip
        if not as_json:
            print(f"{n:24} {spec.size:13,}  {spec.description}")
    return rows


def _list_metrics(as_json: bool) -> list:
    from ..model import DEFAULT_METRICS, METRICS

    rows = []
    if not as_json:
        print(f"{'metric':32} {'units':6} {'kind':5} {'better':6}  long name "
              "(* stored by default)")  # fmt: skip
    for n, i in METRICS.items():
        better = {"min": "lower", "max": "higher"}.get(i.sense, "-")
        star = " *" if n in DEFAULT_METRICS else ""
        rows.append({"name": n, "units": i.units, "kind": i.kind, "sense": i.sense,
                     "long_name": i.long_name, "default": n in DEFAULT_METRICS})  # fmt: skip
        if not as_json:
            print(f"{n:32} {i.units:6} {i.kind:5} {better:6}  {i.long_name}{star}")
    return rows


def _cmd_list(args) -> int:
    fn = {"models": _list_models, "hardware": _list_hardware, "sweeps": _list_sweeps,
          "metrics": _list_metrics}[args.what]  # fmt: skip
    rows = fn(args.json)
    if args.json:
        print_json({"kind": args.what, "items": rows})
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

    from ..model import METRICS, REGIMES, evaluate

    s = scenario_from_args(args)
    use_compile_cache(args)
    with jax.enable_x64(True):
        r = jax.jit(evaluate)(s)
    split = _disaggregated(args, s)
    if args.json:
        metrics = {}
        for name, info in METRICS.items():
            v = float(r[name])
            m = {"value": v, "units": info.units, "kind": info.kind,
                 "long_name": info.long_name}  # fmt: skip
            if info.kind == "code":
                m["label"] = REGIMES.get(int(v), str(v))
            if info.kind == "bool":
                m["value"] = bool(v)
            metrics[name] = m
        doc = {"scenario": scenario_json(args, s), "metrics": metrics}
        if split is not None:
            doc["disaggregated"] = {"prefill_hardware": args.prefill_hardware,
                                    "prefill_tp": args.prefill_tp, **split}  # fmt: skip
        print_json(doc)
        return 0
    width = max(len(n) for n in METRICS)
    for name, info in METRICS.items():
        print(f"{name:{width}}  {format_value(float(r[name]), info.units, info.kind):28}  "
              f"{info.long_name}")  # fmt: skip
    if split is not None:
        print(f"\ndisaggregated: prefill on {args.prefill_hardware} (tp {args.prefill_tp:g}), "
              f"decode as above")
        for name, (units, long_name) in DISAGG_FIELDS.items():
            print(f"{name:{width}}  {format_value(split[name], units, 'float'):28}  {long_name}")
    return 0


DISAGG_FIELDS = {
    "ttft_s": ("s", "first token: prefill pool + KV transfer not streamed under it"),
    "tpot_s": ("s", "decode step on the decode pool"),
    "transfer_s": ("s", "the prompt's KV between the pools"),
    "prefill_replica_s": ("s", "prefill-replica seconds per session"),
    "decode_replica_s": ("s", "decode-replica seconds per session"),
    "balanced_pool_ratio": ("1", "prefill replicas per decode replica, balanced"),
    "session_gpu_s": ("s", "device-seconds per session, both pools"),
    "usd_per_session": ("USD", "US$ per session, both pools"),
    "sessions_per_hour": ("1/h", "sessions per hour per decode replica"),
}


def _disaggregated(args, s):
    """The disaggregated figures when ``--prefill-hardware`` is given (else None): the
    prefill pool is ``s`` on that hardware at ``--prefill-tp``, one prompt at a time."""
    if args.prefill_hardware is None:
        return None
    import jax

    from .. import catalog
    from ..costs import disaggregated
    from ..model import check_leaf_value
    from ..units import GB

    check_leaf_value("workload.tp", args.prefill_tp, field="--prefill-tp")
    if not 0.0 <= args.layer_overlap <= 1.0:
        raise fail("must lie in [0, 1]", field="--layer-overlap", value=args.layer_overlap)
    hardware = catalog.load_hardware(args.prefill_hardware, args.precision)
    p = s.replace(hardware=hardware, workload=s.workload.replace(tp=args.prefill_tp, batch=1.0))
    check_scenario(p, {"workload.tp": "--prefill-tp"},
                   {"model": "--model", "hardware": f"--prefill-hardware {args.prefill_hardware}"})
    link = None if args.kv_link_gb_per_s is None else args.kv_link_gb_per_s * GB
    if link is not None and not link > 0:
        raise fail("must be > 0", field="--kv-link-gb-per-s", value=args.kv_link_gb_per_s)
    with jax.enable_x64(True):
        d = jax.jit(disaggregated)(p, s, link, args.layer_overlap)
    return {k: float(v) for k, v in d._asdict().items()}


def add_commands(sub) -> None:
    """Register ``paper``, ``eval`` and ``list``."""
    p = sub.add_parser("paper", help="reproduce the paper's running example (Yi-34B, A100)",
                       epilog=examples("kvjax paper", "kvjax paper --markdown > table.md"))
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=_cmd_paper)

    p = sub.add_parser(
        "eval",
        help="every metric of one scenario",
        epilog=examples(
            "kvjax eval --model yi-34b --hardware a100-80gb-sxm --context 4k",
            "kvjax eval --model llama-3.1-70b --hardware h100-sxm --context 128K --batch 8 "
            "--tp 4 --kv-bits 8",
            "kvjax eval --hf-config config.json --hardware h100-sxm --context 1M --json | "
            "jq .metrics.decode_step_s.value",
        ),
    )
    add_scenario_arguments(p)
    p.add_argument("--json", action="store_true",
                   help="one JSON document: {scenario, metrics: {name: {value, units, kind, "
                        "long_name}}} (docs/cli-json.md)")  # fmt: skip
    g = p.add_argument_group("disaggregated serving (docs/cost-model.md 12.5)")
    g.add_argument("--prefill-hardware", metavar="ID",
                   help="also serve the prompts on a separate prefill pool of this hardware")
    g.add_argument("--prefill-tp", type=float, default=1.0, metavar="N",
                   help="the prefill pool's tensor-parallel degree (default 1)")
    g.add_argument("--kv-link-gb-per-s", type=float, metavar="X",
                   help="KV link between the pools per device, one way, GB/s (default: the "
                        "slower NIC)")  # fmt: skip
    g.add_argument("--layer-overlap", type=float, default=1.0, metavar="X",
                   help="share of the prefill the KV transfer streams under (default 1, layer "
                        "by layer; 0: after it)")  # fmt: skip
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "list",
        help="list what is built in: models, hardware, sweeps, metrics",
        epilog=examples("kvjax list models", "kvjax list hardware --json | jq '.items[].id'"),
    )
    p.add_argument("what", choices=["models", "hardware", "sweeps", "metrics"])
    p.add_argument("--json", action="store_true",
                   help="one JSON document: {kind, items: [...]} (docs/cli-json.md)")  # fmt: skip
    p.set_defaults(func=_cmd_list)

