"""Issue 11's new leaves at four architectures (GQA, MoE, MLA, a hybrid with state-space
layers): vmap equals a loop, elasticities equal central finite differences, float32 agrees
with float64, and no gradient is NaN at a feasible point.  One module, few compiles: every
check runs one jitted program over the four scenarios stacked (or over all perturbations).

Architectures (hand-built, cited in tests/conftest.py and tests/test_ops_golden.py):
Llama-3.1-8B (GQA) on an H100 at 32K, Mixtral-8x7B (MoE) on two, DeepSeek-V3 (MLA, with
DeepSeek-V3.2's sparse top-k and indexer) in fp8 on eight H200-class devices, and a
Jamba-style hybrid (Yi-34B's layer shape, 3/4 linear layers, 1/8 windowed).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import DEEPSEEK_V3, H100_SXM, MIXTRAL_8X7B, YI_34B
from test_ops_golden import LLAMA_8B

from kvjax.model import (
    Scenario,
    Workload,
    elasticity_fn,
    get_leaf,
    leaf_paths,
    metric_vector_fn,
    replace_leaf,
)

NEW_LEAVES = (
    "model.embedding_params", "model.output_head_params", "model.v_head_dim",
    "model.sparse_topk_tokens", "model.indexer_flop_per_key", "model.indexer_bytes_per_token",
    "model.linear_layer_fraction", "model.state_bytes_per_layer",
    "model.linear_flop_per_token", "model.activation_width",
    "hardware.bf16_flop_per_s", "hardware.fp8_flop_per_s",
    "workload.gemm_flop_efficiency", "workload.attention_flop_efficiency",
    "workload.attention_bandwidth_efficiency", "workload.operator_overlap",
    "workload.embedding_bytes_per_param", "workload.weight_scale_bytes_per_param",
    "workload.activation_bits", "workload.elementwise_vectors_per_layer",
    "workload.prefill_chunk_tokens", "workload.logits_token_share",
    "workload.hbm_utilization", "workload.capacity_decode_share",
    "workload.kv_head_keep", "model.layers_per_kv",
)  # fmt: skip
"""Every new continuous leaf (the bit switches and tied_embeddings are piecewise constant),
plus the two old leaves whose meaning issue 11 fixed."""

METRICS = ("prefill_s", "decode_step_s", "concurrency", "decode_attention_s")

H = H100_SXM.replace(bf16_flop_per_s=989e12, fp8_flop_per_s=1979e12)
H200 = H.replace(hbm_bytes=141e9, hbm_bytes_per_s=4.8e12)  # H200 datasheet: 141 GB, 4.8 TB/s
COMMON = dict(  # away from every kink: chunk < T / u, efficiencies < 1, overlap inside (0, 1)
    context_tokens=32768.0, output_tokens=256.0, gemm_compute_bits=8.0,
    attention_compute_bits=16.0, gemm_flop_efficiency=0.8, attention_flop_efficiency=0.7,
    attention_bandwidth_efficiency=0.9, operator_overlap=0.5, weight_scale_bytes_per_param=0.01,
    elementwise_vectors_per_layer=6.0, prefill_chunk_tokens=8192.0, logits_token_share=0.1,
    hbm_utilization=0.9, capacity_decode_share=1.0, kv_head_keep=0.75,
)  # fmt: skip
TABLES = dict(embedding_params=32000 * 4096.0, output_head_params=32000 * 4096.0)
ARCHS = {
    "gqa": Scenario(LLAMA_8B.replace(layers_per_kv=2.0), H, Workload(batch=4.0, **COMMON)),
    "moe": Scenario(MIXTRAL_8X7B.replace(activation_width=2 * 2 * 14336.0, **TABLES), H,
                    Workload(batch=2.0, tp=2.0, **COMMON)),
    "mla": Scenario(DEEPSEEK_V3.replace(v_head_dim=128.0, sparse_topk_tokens=2048.0,
                                        indexer_flop_per_key=16384.0,
                                        indexer_bytes_per_token=132.0,
                                        activation_width=8 * 2 * 2048.0),
                    H200, Workload(batch=2.0, tp=8.0, weight_bytes_per_param=1.0, **COMMON)),
    "hybrid": Scenario(YI_34B.replace(n_layers=64.0, linear_layer_fraction=0.75,
                                      state_bytes_per_layer=2.0**20, linear_flop_per_token=1e6,
                                      windowed_layer_fraction=0.125, window_tokens=4096.0,
                                      activation_width=2 * 20480.0),
                       H, Workload(batch=2.0, tp=2.0, **COMMON)),
}  # fmt: skip


def _stack(scenarios, dtype):
    return jax.tree.map(lambda *x: jnp.asarray(np.array(x), dtype), *scenarios)


def _unstack(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


@pytest.fixture(scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def test_all_new_leaves_exist_and_every_scenario_is_feasible(x64):
    assert set(NEW_LEAVES) <= set(leaf_paths())
    values = jax.jit(jax.vmap(metric_vector_fn(METRICS)))(_stack(ARCHS.values(), jnp.float64))
    assert np.isfinite(np.asarray(values)).all(), values


def test_vmap_equals_loop_and_float32_agrees(x64):
    f = metric_vector_fn(METRICS)
    batch = jax.jit(jax.vmap(f))
    stacked = _stack(ARCHS.values(), jnp.float64)
    vm = np.asarray(batch(stacked))
    one = jax.jit(f)
    loop = np.stack([np.asarray(one(_unstack(stacked, i))) for i in range(len(ARCHS))])
    np.testing.assert_allclose(vm, loop, rtol=1e-12)
    with jax.enable_x64(False):
        f32 = np.asarray(jax.jit(jax.vmap(f))(_stack(ARCHS.values(), jnp.float32)))
    np.testing.assert_allclose(f32, vm, rtol=2e-5)


def _log_metrics(z, s):
    """ln metrics of ``s`` with each new leaf scaled by ``e^z``: its Jacobian at ``z = 0`` is
    the elasticities (forward mode, all leaves in one batched jvp)."""
    for k, p in enumerate(NEW_LEAVES):
        s = replace_leaf(s, p, get_leaf(s, p) * jnp.exp(z[k]))
    return jnp.log(metric_vector_fn(METRICS)(s))


def test_elasticities_match_finite_differences_and_are_finite(x64):
    stacked = _stack(ARCHS.values(), jnp.float64)
    zero = jnp.zeros(len(NEW_LEAVES))
    e = np.asarray(jax.jit(jax.vmap(jax.jacfwd(_log_metrics), (None, 0)))(zero, stacked))
    assert np.isfinite(e).all()  # feasible points: no NaN gradient anywhere
    # the library's elasticity (one jvp per leaf) is this Jacobian: one point, two leaves
    s0 = ARCHS["mla"]
    lib = elasticity_fn(("decode_step_s",), ("model.sparse_topk_tokens",
                                             "workload.attention_bandwidth_efficiency"))(s0)
    np.testing.assert_allclose(np.asarray(lib)[0], e[2, 1, [3, 14]], rtol=1e-9)
    # central differences in ln x: every (architecture, leaf, sign) in one vmapped program
    h, points = 1e-5, []
    for s in ARCHS.values():
        for p in NEW_LEAVES:
            x = float(get_leaf(s, p))
            points += [replace_leaf(s, p, x * np.exp(h)), replace_leaf(s, p, x * np.exp(-h))]
    m = np.asarray(jax.jit(jax.vmap(metric_vector_fn(METRICS)))(_stack(points, jnp.float64)))
    m = m.reshape(len(ARCHS), len(NEW_LEAVES), 2, len(METRICS))
    fd = (np.log(m[:, :, 0]) - np.log(m[:, :, 1])) / (2 * h)  # (arch, leaf, metric)
    np.testing.assert_allclose(e, fd.transpose(0, 2, 1), rtol=1e-4, atol=1e-6)
    # each new leaf moves some metric at some architecture (none is dead code)
    moved = np.abs(e).max(axis=(0, 1)) > 1e-9
    assert moved.all(), [p for p, ok in zip(NEW_LEAVES, moved) if not ok]
