"""kvjax with the issue-11 operator-class leaves vs aiconfigurator SOL (run after ops lands
behaviour): the input table as a gather (embedding_params set), the head on the last prompt
token (logits_token_share 0), bf16 tables (embedding_bytes_per_param 2), each operator class
its own roofline (operator_overlap 0), the peer's elementwise traffic
(elementwise_vectors_per_layer = 8 for its two add_norm ops, 4 D-vectors each, + 3 F / D for
a separate SwiGLU act_gate op), attention at bf16 with fp8 GEMMs.  Compared with the peer's
FULL prefill (elementwise included).
Run: python compare_issue11.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
import test_validation_aic as t  # noqa: E402

from kvjax import catalog, costs  # noqa: E402
from kvjax.model import Scenario, Workload  # noqa: E402

for r in t.load_rows():
    m = catalog.load_model(r["kvjax_model"])
    info = catalog.model_info(r["kvjax_model"])
    dense_act = 3 * info["d_ff"] / float(m.d_model) if float(m.n_experts) == 1 else 0.0
    hw = catalog.load_hardware(r["kvjax_hardware"]).replace(
        flop_per_s=t.AIC_FLOP_PER_S[r["kvjax_compute"]],
        bf16_flop_per_s=989e12,
        fp8_flop_per_s=1978e12,
    )
    fp8 = r["kvjax_compute"] == "fp8"
    out = []
    for phase in ("prefill", "decode"):
        w = Workload(
            context_tokens=float(r["isl"]),
            output_tokens=1.0,
            batch=1.0 if phase == "prefill" else float(r["batch"]),
            tp=float(r["tp"]),
            weight_bytes_per_param=float(r["weight_bytes_per_param"]),
            kv_bits=16.0,
            operator_overlap=0.0,
            elementwise_vectors_per_layer=8.0 + dense_act,
            embedding_bytes_per_param=2.0,
            logits_token_share=0.0,
            gemm_compute_bits=8.0 if fp8 else 16.0,
            attention_compute_bits=16.0,
        )
        s = Scenario(m, hw, w)
        out.append(float(costs.prefill_s(s) if phase == "prefill" else costs.decode_step_s(s)))
    pf, dec = float(r["prefill_s"]), float(r["decode_step_s"])
    print(
        f"{r['scenario']:30s} prefill {out[0] * 1e3:9.3f} / {pf * 1e3:9.3f} = {out[0] / pf:.4f}   "
        f"decode {out[1] * 1e3:8.4f} / {dec * 1e3:8.4f} = {out[1] / dec:.4f}"
    )
