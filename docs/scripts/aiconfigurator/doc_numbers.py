"""Numbers for docs/validation.md: per scenario, aiconfigurator SOL by op group and kvjax
under the paper's conventions (catalog row as is) and under matched conventions.
Run: python doc_numbers.py
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
import test_validation_aic as t  # noqa: E402

from kvjax import catalog, costs  # noqa: E402
from kvjax.model import Scenario  # noqa: E402

ops = json.loads((HERE / "ops.json").read_text())
GROUPS = {
    "comm": ("_ar", "dispatch", "p2p"),
    "gemm": ("gemm",),
    "attention": ("attention", "mla_block"),
    "moe": ("moe",),
    "elementwise": ("add_norm", "act_gate", "embedding"),
}


def groups(phase_ops):
    out = {g: 0.0 for g in GROUPS}
    for name, (v, src) in phase_ops.items():
        g = next(
            (
                g
                for g, keys in GROUPS.items()
                if any(k in name for k in keys) and not (g == "gemm" and "logits" in name)
            ),
            "logits" if "logits" in name else "other",
        )
        if "moe" in name and "dispatch" not in name:
            g = "moe"
        out[g] = out.get(g, 0.0) + v
    return {k: round(v, 3) for k, v in out.items() if v}


for r in t.load_rows():
    sid = r["scenario"]
    pf = ops.get(sid + ".pf", ops[sid])
    sp, sd = t.scenario_for(r, "prefill"), t.scenario_for(r, "decode")
    m = catalog.load_model(r["kvjax_model"])
    paper_p = Scenario(m, sp.hardware, sp.workload)
    paper_d = Scenario(m, sd.hardware, sd.workload)
    print(f"## {sid}  (kvjax {r['kvjax_model']} on {r['kvjax_hardware']})")
    print("  aic prefill ms", pf["ttft_ms"], groups(pf["context"]))
    print("  aic decode  ms", ops[sid]["tpot_ms"], groups(ops[sid]["generation"]))
    print(
        "  kvjax paper   prefill %.3f decode %.4f"
        % (costs.prefill_s(paper_p) * 1e3, costs.decode_step_s(paper_d) * 1e3)
    )
    print(
        "  kvjax matched prefill %.3f decode %.4f"
        % (costs.prefill_s(sp) * 1e3, costs.decode_step_s(sd) * 1e3)
    )
    print(
        "  kvjax matched prefill compute %.3f memory %.3f comm %.3f | attention FLOP %.4g"
        % (
            costs.prefill_compute_s(sp) * 1e3,
            costs.prefill_memory_s(sp) * 1e3,
            costs.prefill_comm_s(sp) * 1e3,
            costs.prefill_attention_flop(sp),
        )
    )
    c, mm, cm = costs.decode_step_parts_at(sd, sd.workload.batch)
    print(
        "  kvjax matched decode compute %.4f memory %.4f comm %.4f | bytes %.5g experts touched %.3f"
        % (
            c * 1e3,
            mm * 1e3,
            cm * 1e3,
            costs.decode_step_bytes(sd),
            costs.expected_experts_touched(sd, sd.workload.batch),
        )
    )
