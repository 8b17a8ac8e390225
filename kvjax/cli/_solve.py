"""``kvjax solve``: inverse design, the least KV compression or hardware scale-up that makes
a long context cost what a short one does (``kvjax.analysis.solve``)."""

from __future__ import annotations

import math

from .._format import si
from ..errors import InputError
from ._parser import examples, print_json
from ._scenario_args import (
    add_scenario_arguments,
    parse_assignment,
    parse_tokens,
    scenario_from_args,
    split_list,
    use_compile_cache,
)


def _cmd_solve(args) -> int:
    import jax

    from ..analysis import OBJECTIVES, SOLVE_KNOBS, solve
    from ..model import replace_leaf

    objectives = split_list(args.objective) or ["usd_per_million_output_tokens"]
    if objectives == ["all"]:
        objectives = list(OBJECTIVES)
    knobs = split_list(args.knob) or ["all"]
    if knobs == ["all"]:
        knobs = list(SOLVE_KNOBS)
    bounds = dict(parse_assignment(item, "--bound") for item in args.bound or ())
    target = scenario_from_args(args)
    use_compile_cache(args)
    if not (args.reference_context > 0 and math.isfinite(args.reference_context)):
        raise InputError(f"--reference-context = {args.reference_context!r}: must be > 0")
    reference = replace_leaf(target, "workload.context_tokens", args.reference_context)
    for item in args.reference_set or ():
        reference = replace_leaf(reference, *parse_assignment(item, "--reference-set"))
    ctx = float(target.workload.context_tokens)
    doc = {"target_context_tokens": ctx, "reference_context_tokens": args.reference_context,
           "objectives": {}}  # fmt: skip
    with jax.enable_x64(True):
        for obj in objectives:
            sols = [solve(target, reference, k, obj, bounds) for k in knobs]
            if args.json:
                doc["objectives"][obj] = {
                    "reference": sols[0].reference,
                    "solutions": [
                        {"knob": s.knob, "status": s.status, "factor": s.factor,
                         "values": s.values, "achieved": s.achieved,
                         "relative_error": s.relative_error, "binding": s.binding,
                         "iterations": s.iterations}  # fmt: skip
                        for s in sols
                    ],
                }
                continue
            print(
                f"\n{obj}: reference {si(sols[0].reference)} at {args.reference_context:g} "
                f"tokens; target context {ctx:g} tokens"
            )
            answers = [
                ", ".join(f"{k.split('.')[1]}={v:.4g}" for k, v in s.values.items()) or "-"
                for s in sols
            ]
            w = max(6, *(len(a) for a in answers))
            print(f"  {'knob':31} {'status':10} {'factor':>8}  {'answer':{w}} "
                  f"{'achieved':>10} {'rel.err':>9} {'steps':>5}  note")  # fmt: skip
            for s, answer in zip(sols, answers):
                it = f"{s.iterations['fit']}+{s.iterations['match']}"
                factor = f"{s.factor:8.4g}" if s.status == "ok" else f"{'-':>8}"
                done = math.isfinite(s.achieved)
                achieved = si(s.achieved) if done else "-"
                err = f"{s.relative_error:+9.2e}" if done else f"{'-':>9}"
                print(
                    f"  {s.knob:31} {s.status:10} {factor}  {answer:{w}} "
                    f"{achieved:>10} {err} {it:>5}  {s.binding}"
                )
    if args.json:
        print_json(doc)
    return 0


def add_commands(subparsers) -> None:
    """Register ``solve``."""
    p = subparsers.add_parser(
        "solve",
        help="inverse design: KV compression or hardware that makes --context cost like "
        "--reference-context",
        description="Find the least KV compression (layer, head, token, bits, or combined "
        "'kv') or hardware scale-up that brings the target context to the reference's "
        "objective value, by safeguarded Newton; says 'infeasible' when none within bounds.",
        epilog=examples(
            "kvjax solve --model yi-34b --hardware a100-80gb-sxm --context 1M --objective all",
            "kvjax solve --model yi-34b --hardware a100-80gb-sxm --context 128K "
            "--reference-context 4k --knob kv_bits --bound workload.kv_bits=2",
            "kvjax solve --model yi-34b --hardware h100-sxm --context 200k --json",
        ),
    )
    add_scenario_arguments(p)
    p.add_argument("--reference-context", type=parse_tokens, default=4000.0, metavar="T",
                   help="reference context tokens (default 4000; 4k, 128K, 1M accepted)")
    p.add_argument("--objective", action="append",
                   help="usd_per_million_output_tokens (default), session_gpu_s_per_output_token,"
                        " concurrency, decode_step_s, any float metric, or 'all'")  # fmt: skip
    p.add_argument("--knob", action="append",
                   help="kv_layer_keep, kv_head_keep, kv_token_keep, kv_bits, kv (combined), "
                        "hbm_bytes_per_s, hbm_bytes, host_link_bytes_per_s, flop_per_s; "
                        "default all")  # fmt: skip
    p.add_argument("--reference-set", action="append", metavar="LEAF=X",
                   help="change a leaf of the reference only (it is otherwise the target at "
                        "--reference-context), e.g. workload.kv_bits=16")  # fmt: skip
    p.add_argument("--bound", action="append", metavar="LEAF=X",
                   help="bound of a knob: lower for KV axes (default 1/64, 2 bits), upper for "
                        "hardware (default 64x)")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help="one JSON document: {target_context_tokens, reference_context_tokens, "
                        "objectives: {name: {reference, solutions: [...]}}} (docs/cli-json.md)")
    p.set_defaults(func=_cmd_solve)
