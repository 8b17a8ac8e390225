"""Issue 11's defects, before -> after: the quantity each defect got wrong, in float64.

Run from the repository root: ``python docs/scripts/issue11_defects.py``.  The scenarios are
the hand-built ones of tests/conftest.py (each cited there, under the paper's memory
convention) plus model-card figures.  ``issue11_defects_after.txt`` is this tree's output;
``issue11_defects_before.txt`` is the output recorded on the tree before issue 11 was merged
(its leaves existed there with their neutral values and the old formulas).  Each "after" is
pinned by a hand-worked golden test in tests/test_ops_golden.py.
"""

import sys

sys.path.insert(0, "tests")
import jax

jax.config.update("jax_enable_x64", True)
from conftest import A100_80GB, DEEPSEEK_V3, GEMMA_2_9B, H100_SXM, YI_34B, scenario

from kvjax import costs as c
from kvjax.model import Model

f = float
# Llama-3.1-8B config.json: 32 layers, hidden 4096, 32 heads, 8 KV, head 128, vocab 128256,
# untied, intermediate 14336; 8.03e9 params (model card).
LLAMA8 = Model(
    n_layers=32, d_model=4096, n_heads=32, n_kv_heads=8, head_dim=128, params_total=8.03e9
)
TABLE = 128256 * 4096
LLAMA8T = LLAMA8.replace(
    embedding_params=TABLE, output_head_params=TABLE, activation_width=2 * 14336
)
DSV3T = DEEPSEEK_V3.replace(
    embedding_params=129280 * 7168, output_head_params=129280 * 7168, v_head_dim=128.0
)

print("1 CLA: Yi-34B layers_per_kv=2, T=4000, batch 1, A100: decode_step_bytes, decode_step_s")
s = scenario(YI_34B.replace(layers_per_kv=2.0), A100_80GB, context_tokens=4000.0)
print("   ", f(c.decode_step_bytes(s)), f(c.decode_step_s(s)), "concurrency", f(c.concurrency(s)))
print(
    "2 MLA: DeepSeek-V3 (v_head_dim 128) T=4000: prefill_attention_flop; decode_step_flop - 2 P_a (attention/token)"
)
s = scenario(DSV3T, H100_SXM, context_tokens=4000.0)
print("   ", f(c.prefill_attention_flop(s)), f(c.decode_step_flop(s) - 2 * c.active_params(s)))
print(
    "3 tables: Llama-3.1-8B (tables set) H100, T=4000 batch 1: decode_step_bytes, prefill_flop; DeepSeek-V3 active_params"
)
s = scenario(LLAMA8T, H100_SXM, context_tokens=4000.0)
print(
    "   ",
    f(c.decode_step_bytes(s)),
    f(c.prefill_flop(s)),
    f(c.active_params(scenario(DSV3T, H100_SXM, context_tokens=4000.0))),
)
print("4 windows: Gemma-2-9B T=8192 (2W) prefill_attention_flop")
s = scenario(GEMMA_2_9B, A100_80GB, context_tokens=8192.0)
print("   ", f(c.prefill_attention_flop(s)))
print(
    "5 head axis: Yi-34B kv_head_keep=0.25 T=100000: decode_step_flop; DeepSeek-V3 kv_head_keep=0.5 kv_bytes_per_token"
)
s = scenario(YI_34B, A100_80GB, context_tokens=1e5, kv_head_keep=0.25)
s2 = scenario(DSV3T, H100_SXM, context_tokens=4000.0, kv_head_keep=0.5)
print("   ", f(c.decode_step_flop(s)), f(c.kv_bytes_per_token(s2)))
print(
    "6 precision: DeepSeek-V3 T=4000 prefill_s on H100 (989e12 bf16, 1979e12 fp8), fp8 GEMM + bf16 attention, fp8 weights + bf16 tables"
)
h = H100_SXM.replace(bf16_flop_per_s=989e12, fp8_flop_per_s=1979e12)
s = scenario(
    DSV3T,
    h,
    context_tokens=4000.0,
    tp=8.0,
    weight_bytes_per_param=1.0,
    gemm_compute_bits=8.0,
    attention_compute_bits=16.0,
)
print("   ", f(c.prefill_compute_s(s)), "weight_bytes", f(c.weight_bytes(s)))
print(
    "7 missing: Llama-3.1-8B T=1e6 H100: concurrency (activation_width set, unchunked); concurrency at hbm_utilization 0.9, T=4000"
)
s = scenario(LLAMA8T, H100_SXM, context_tokens=1e6)
s9 = scenario(LLAMA8, H100_SXM, context_tokens=4000.0, hbm_utilization=0.9)
s1 = scenario(LLAMA8, H100_SXM, context_tokens=4000.0)
print("   ", f(c.free_hbm_bytes_per_device(s)), f(c.concurrency(s9)), f(c.concurrency(s1)))
