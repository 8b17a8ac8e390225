"""Deployments across devices: the collectives, expert / DP-attention / pipeline / context
parallelism, against hand-worked numbers from named sources; their gradients, vmap, dtypes.

Citations:

- [sglang2904] sglang PR #2904 (https://github.com/sgl-project/sglang/pull/2904): custom
  all-reduce latency on H100 at TP 2/4/8 and 512 B - 1 MiB (the table is below).
- [day6] DeepSeek, "DeepSeek-V3/R1 Inference System Overview" (open-infra-index, day 6 of
  the open-source week, Feb 2025): decode EP144 / DP144 over 18 nodes of 8 H800, prefill
  EP32 / DP32 over 4 nodes; 14.8k output tokens/s per node; mean KV length 4,989.
- [dsv3] DeepSeek-V3 technical report (arXiv 2412.19437): H800 nodes, 400 Gb/s InfiniBand
  per GPU ("IB (50 GB/s)"), config: 61 layers, the first 3 dense.
- [cp] Yang et al., "Context Parallelism for Scalable Million-Token Inference" (arXiv
  2411.01783): Llama 3 405B, CP16 x TP8 over 16 H100 nodes.
- [megatron] Shoeybi et al. 2019: two all-reduces per layer; [gpipe] Huang et al. 2019:
  the pipeline bubble (pp - 1) ticks.
- [h100] NVIDIA H100 SXM datasheet: NVLink 900 GB/s bidirectional = 450 each way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import DEEPSEEK_V3, H100_SXM, MIXTRAL_8X7B, YI_34B, scenario

from kvjax import costs as c
from kvjax.model import (
    METRICS,
    Model,
    Scenario,
    Workload,
    evaluate,
    first_problem,
    get_leaf,
    metric_vector_fn,
    nodes_deployment,
    replace_leaf,
)

US = 1e-6

# [h100] with [sglang2904]'s fastest one-shot (3.7 us) rounded down to 3.6 us; 8 per node,
# ConnectX-7 400 Gb/s per GPU, 2 us ring step and 3 us RDMA step (conventions).
H100_NODE = H100_SXM.replace(scaleup_latency_s=2 * US, allreduce_latency_s=3.6 * US,
                             scaleup_domain_devices=8.0, scaleout_bytes_per_s=50e9,
                             scaleout_latency_s=3 * US, alltoall_latency_s=2 * US)  # fmt: skip
# [dsv3] H800: H100 compute and HBM, NVLink 400 GB/s bidirectional (200 each way), IB 50 GB/s.
H800 = H100_NODE.replace(flop_per_s=1978.9e12, scaleup_bytes_per_s=200e9)
# [dsv3] config: the first 3 of 61 layers are dense.
DSV3 = DEEPSEEK_V3.replace(n_dense_layers=3.0)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def f(x):
    return float(x)


def ds_decode(batch=12686.0, **kw):
    """[day6] decode: EP144 / DP144 on 18 nodes of 8 H800, fp8 weights, KV length 4,989."""
    w = dict(context_tokens=4989.0, output_tokens=1.0, batch=batch, ep=144.0,
             dp_attention=144.0, weight_bytes_per_param=1.0,
             hbm_utilization=1.0, hbm_reserve_bytes=0.0)  # fmt: skip  # worked: all of HBM
    w.update(kw)
    return Scenario(DSV3, H800, Workload(**w))


# ----------------------------------------------------------------------------- all-reduce

# [sglang2904], H100, "custom allreduce" and "vllm" rows: latency (us) at TP 2 / 4 / 8.
SGLANG_2904 = {
    512: ((3.7, 4.8, 5.9), (9.5, 9.1, 10.1)),
    4096: ((3.9, 3.7, 5.7), (8.8, 8.5, 9.3)),
    32768: ((4.5, 4.8, 7.8), (8.7, 9.2, 11.8)),
    262144: ((7.9, 13.9, 16.7), (12.9, 20.6, 24.1)),
    524288: ((12.5, 20.2, 22.1), (17.7, 26.9, 30.4)),
    1048576: ((19.9, 31.1, 33.8), (26.6, 40.2, 45.0)),
}


def test_allreduce_algorithms_worked_example():
    # [sglang2904] / [h100]: 32 KiB (one Llama-405B decode token, 16384 x 2 B) at TP 8.
    m = 32768.0
    assert f(c.ring_allreduce_s(m, 8.0, 450e9, 2 * US)) == pytest.approx(
        2 * 7 / 8 * m / 450e9 + 14 * 2 * US, rel=1e-12)  # 28.13 us: kvjax before
    assert f(c.oneshot_allreduce_s(m, 8.0, 450e9, 3.6 * US)) == pytest.approx(
        7 * m / 450e9 + 3.6 * US, rel=1e-12)  # 4.11 us
    assert f(c.twoshot_allreduce_s(m, 8.0, 450e9, 3.6 * US)) == pytest.approx(
        2 * 7 / 8 * m / 450e9 + 7.2 * US, rel=1e-12)  # 7.33 us
    t = f(c.allreduce_s(scenario(YI_34B, H100_NODE), m, 8.0))
    assert t == pytest.approx(4.1097 * US, rel=1e-3)  # the one-shot, soft-min'ed
    assert t <= 7.8 * US  # never slower than sglang's measured 7.8 us


@pytest.mark.parametrize("size", sorted(SGLANG_2904))
def test_allreduce_is_never_slower_than_measured(size):
    s = scenario(YI_34B, H100_NODE)
    for tp, custom, vllm in zip((2.0, 4.0, 8.0), *SGLANG_2904[size]):
        t = f(c.allreduce_s(s, float(size), tp)) / US
        assert t <= min(custom, vllm), (size, tp, t)


def test_soft_min_value_gradient_and_limits():
    # t = (a^-16 + b^-16 + c^-16)^(-1/16); dt/da = (t/a)^17 (module docstring)
    a, b, cc = 3.0, 4.0, 5.0
    t = (a**-16 + b**-16 + cc**-16) ** (-1 / 16)
    assert f(c.soft_min(a, b, cc)) == pytest.approx(t, rel=1e-12)
    assert f(jax.grad(c.soft_min)(a, b, cc)) == pytest.approx((t / a) ** 17, rel=1e-9)
    assert f(c.soft_min(2.0, 1e9, 1e9)) == 2.0  # an absent algorithm drops out exactly
    assert f(c.soft_min(1.0, 1.0, jnp.inf)) == pytest.approx(2 ** (-1 / 16), rel=1e-12)
    assert f(c.soft_min(0.0, 0.0, 0.0)) == 0.0


def test_allreduce_across_nodes_is_hierarchical():
    # TP 16 over 2 nodes of 8: the soft minimum inside each node, then a ring of the 1/8
    # shard over the 2 nodes' NICs: 2 x 1/2 x (m / 8) / 50e9 + 2 x 1 x 3 us.
    s = scenario(YI_34B, H100_NODE)
    m = 32768.0
    inter = 2 * (1 / 2) * (m / 8) / 50e9 + 2 * 3 * US
    assert f(c.allreduce_s(s, m, 16.0)) == pytest.approx(
        f(c.allreduce_s(s, m, 8.0)) + inter, rel=1e-9)
    assert first_problem({"workload.tp": 16.0, "hardware.scaleup_domain_devices": 8.0})
    # the default hardware (one domain, no one-shot kernel) is the old ring
    plain = scenario(YI_34B, H100_SXM)
    assert f(c.allreduce_s(plain, m, 8.0)) == pytest.approx(
        f(c.ring_allreduce_s(m, 8.0, 450e9, 5 * US)), rel=1e-15)


def test_llama_405b_fp8_tp8_decode_step_new_against_old():
    # 405.85e9 B of fp8 weights / 8 / 3.35e12 = 15.14 ms of HBM; 252 all-reduces of 32 KiB:
    # ring 252 x 28.13 us = 7.09 ms before, one-shot 252 x 4.11 us = 1.04 ms now.
    llama = Model(n_layers=126, d_model=16384, n_heads=128, n_kv_heads=8, head_dim=128,
                  params_total=405.85e9)  # fmt: skip
    w = Workload(context_tokens=4000.0, tp=8.0, weight_bytes_per_param=1.0)
    new = Scenario(llama, H100_NODE, w)
    old = Scenario(llama, H100_NODE.replace(allreduce_latency_s=1e9), w)
    assert f(c.tp_comm_s(old, 1.0)) == pytest.approx(252 * (2 * 7 / 8 * 32768 / 450e9
                                                            + 14 * 2 * US), rel=1e-9)
    assert f(c.tp_comm_s(new, 1.0)) == pytest.approx(252 * 4.1097 * US, rel=1e-3)
    assert f(c.decode_step_s(old)) / f(c.decode_step_s(new)) == pytest.approx(1.37, abs=0.01)


# ----------------------------------------------------------------------------- EP + DP attention


def test_deepseek_v3_weights_and_capacity_under_dp_attention():
    # [day6]/[dsv3]: non-expert part 671e9 - 256 x 2.554e9 = 17.09e9 B replicated on every
    # GPU, experts 653.91e9 / 144 = 4.54e9: 21.63e9 B of fp8 weights per GPU.
    s = ds_decode()
    routed = 256 * 2_554_331_136
    assert f(c.weight_bytes_per_device(s)) == pytest.approx(671e9 - routed + routed / 144,
                                                            rel=1e-12)  # fmt: skip
    # each GPU keeps its own users' MLA latents: 144 x (80 GiB - 21.63 GB) / (4989 x 70,272 B)
    free = 80 * 2**30 - (671e9 - routed + routed / 144)
    assert f(c.concurrency(s)) == pytest.approx(144 * free / (4989 * 70272), rel=1e-12)
    # the same node at TP 8 (the old only option): the latent is on every rank
    tp8 = Scenario(DSV3, H800, Workload(context_tokens=4989.0, output_tokens=1.0, tp=8.0,
                                        weight_bytes_per_param=1.0, hbm_utilization=1.0,
                                        hbm_reserve_bytes=0.0))  # fmt: skip
    assert f(c.concurrency(tp8)) == pytest.approx((80 * 2**30 - 671e9 / 8) / (4989 * 70272),
                                                  rel=1e-12)  # 5.7 users per node
    assert f(c.concurrency(tp8)) < 6 < 26000 < f(c.concurrency(s)) / 18 * 18
    # with an engine's reserve (the defaults: 0.9 of HBM less 1.79 GiB) the node still holds
    # DeepSeek's published batch: 144 x (0.9 x 80 GiB - 1.79 GiB - 21.63 GB) / (4989 x 70,272)
    engine = ds_decode(hbm_utilization=0.9, hbm_reserve_bytes=1.79 * 2**30)
    free = 0.9 * 80 * 2**30 - 1.79 * 2**30 - (671e9 - routed + routed / 144)
    assert f(c.concurrency(engine)) == pytest.approx(144 * free / (4989 * 70272), rel=1e-12)
    assert 12686 < f(c.concurrency(engine)) < 22100


def test_expert_all_to_all_worked_example():
    # 88 tokens per GPU; n = 8 x 143/144 copies off-rank, over R = 18 nodes:
    # 17 (1 - (17/18)^n) remote nodes per token. fp8 dispatch + bf16 combine = 3 B / element.
    s = ds_decode()
    n = 8 * 143 / 144
    remote = 17 * (1 - (17 / 18) ** n)
    assert remote == pytest.approx(6.2045, abs=1e-4)
    nic = 88 * 7168 * 3 * remote / 50e9
    up = 88 * 7168 * 3 * n / 200e9
    per_layer = max(nic, up) + 2 * (2 * US + 3 * US)
    assert f(c.moe_comm_s(s, 88.0 * 144)) == pytest.approx(58 * per_layer, rel=1e-9)
    # imbalance scales the bytes; without DP attention there is no all-to-all
    assert f(c.moe_comm_s(ds_decode(moe_imbalance=2.0), 88.0 * 144)) > 1.9 * 58 * nic
    assert f(c.moe_comm_s(ds_decode(dp_attention=1.0, ep=8.0, tp=8.0), 88.0)) == 0.0
    # [megatron] 2 all-reduces a layer, the MoE layers' second replaced by the combine
    assert f(c.allreduces_per_pass(ds_decode(tp=2.0, dp_attention=72.0))) == 2 * 61 - 58


def test_deepseek_decode_peak_is_above_the_published_throughput():
    # [day6]: 14.8k output tokens/s per node = 1850 per GPU at ~21 tokens/s per user.
    s = ds_decode()
    assert f(c.devices_per_replica(s)) == 144
    per_gpu = f(c.decode_tokens_per_s_per_device(s))
    assert per_gpu >= 1850
    assert f(c.decode_step_s(s)) <= 1 / 20  # the slowest published user speed
    # at DeepSeek's batch the HBM (15.7 ms) just outweighs the NIC (14.2 ms); at twice the
    # batch the all-to-all over the NIC binds
    assert int(METRICS["decode_regime"].fn(s)) == 1
    assert int(METRICS["decode_regime"].fn(ds_decode(batch=25000.0))) == 5


# ----------------------------------------------------------------------------- pipeline


def test_pipeline_splits_capacity_not_decode_weight_reads():
    # 2 stages of TP 8, 2 microbatches: each GPU holds 1/16 of the weights but reads its
    # stage's 1/16 once per tick, 2 ticks a step: the same weight bytes as TP 8 alone.
    llama = Model(n_layers=126, d_model=16384, n_heads=128, n_kv_heads=8, head_dim=128,
                  params_total=405.85e9)  # fmt: skip
    h = H100_NODE
    tp8 = Scenario(llama, h, Workload(context_tokens=4000.0, tp=8.0, batch=8.0,
                                      weight_bytes_per_param=1.0))  # fmt: skip
    pp2 = tp8.replace(workload=tp8.workload.replace(pp=2.0))
    assert f(c.weight_bytes_per_device(pp2)) == pytest.approx(405.85e9 / 16, rel=1e-12)
    kv = 2 * 126 * 8 * 128 * 2 * (4000 + 249 / 2)  # per user, all devices
    assert f(c.decode_step_bytes(tp8)) == pytest.approx(405.85e9 / 8 + 8 * kv / 8, rel=1e-12)
    assert f(c.decode_step_bytes(pp2)) == pytest.approx(405.85e9 / 8 + 8 * kv / 16, rel=1e-12)
    # [gpipe] prefill in u = 4 chunks over 4 stages: 7 ticks of 1/16 of the work each
    pp4 = tp8.replace(workload=tp8.workload.replace(pp=4.0))
    assert f(c.prefill_compute_s(pp4)) == pytest.approx(7 / 16 * f(c.prefill_compute_s(tp8)),
                                                        rel=1e-12)  # fmt: skip
    assert f(c.prefill_ticks(pp4)) == 7 and f(c.decode_ticks(pp4)) == 4


# ----------------------------------------------------------------------------- context parallel


def test_context_parallel_kv_ring_is_hidden_under_attention():
    # [cp]: Llama 3 405B, 1M tokens, CP 16 x TP 8 over 16 nodes. Each rank forwards 15/16 of
    # the KV, 1e6 x 2 x 126 x 8 x 128 x 2 B / 8 heads-shards = 60.5e9 B, over its 50 GB/s NIC,
    # in 15 x 126 steps of 3 us.
    llama = Model(n_layers=126, d_model=16384, n_heads=128, n_kv_heads=8, head_dim=128,
                  params_total=405.85e9)  # fmt: skip
    s = Scenario(llama, H100_NODE, Workload(context_tokens=1e6, tp=8.0, cp=16.0,
                                            weight_bytes_per_param=1.0))  # fmt: skip
    kv = 15 / 16 * 1e6 * 2 * 126 * 8 * 128 * 2 / 8
    assert f(c.cp_ring_s(s, 1e6)) == pytest.approx(kv / 50e9 + 15 * 126 * 3 * US, rel=1e-12)
    assert f(c.kv_bytes_per_user_per_device(s)) == pytest.approx(1e6 * 516096 / 128, rel=1e-12)
    # the ring (1.2 s) hides under 16 s of attention: the comm is the TP all-reduces alone
    tp_only = 252 * f(c.allreduce_s(s, 1e6 / 16 * 16384 * 2, 8.0))
    assert f(c.prefill_comm_s(s)) == pytest.approx(tp_only, rel=1e-9)
    assert f(c.prefill_s(s)) <= 77.0  # [cp] measured 77 s


# ----------------------------------------------------------------------------- bad degrees


@pytest.mark.parametrize(
    "values, path, text",
    [
        ({"workload.ep": 16.0, "model.n_experts": 8.0}, "workload.ep", "exceeds the 8 routed"),
        ({"workload.ep": 3.0, "model.n_experts": 8.0, "workload.tp": 8.0}, "workload.ep",
         "does not divide tp x dp_attention = 8"),
        ({"workload.ep": 2.5, "model.n_experts": 8.0}, "workload.ep", "not a whole number"),
        ({"workload.tp": 96.0, "model.n_heads": 64.0}, "workload.tp", "64 attention heads"),
        ({"workload.pp": 80.0, "model.n_layers": 61.0}, "workload.pp", "exceeds the 61 layers"),
        ({"workload.cp": 16.0, "workload.context_tokens": 20.0}, "workload.cp", "2 x cp"),
        ({"workload.dp_attention": 16.0, "hardware.scaleup_domain_devices": 8.0},
         "hardware.scaleout_bytes_per_s", "no scale-out bandwidth"),
        ({"model.n_dense_layers": 61.0, "model.n_layers": 61.0}, "model.n_dense_layers",
         "below n_layers"),
    ],
)
def test_bad_deployments_break_a_rule_naming_the_leaf(values, path, text):
    problem = first_problem(values)
    assert problem and problem[0] == path and text in problem[2], problem


def test_deployment_rules_over_a_grid_and_nodes():
    # arrays broadcast: the first offending value is reported
    p = first_problem({"workload.ep": np.array([1.0, 2.0, 64.0]), "model.n_experts":
                       np.array([[8.0], [256.0]]), "workload.dp_attention": 64.0})  # fmt: skip
    assert p[:2] == ("workload.ep", 64.0)
    ok = {"workload.tp": 8.0, "workload.ep": 8.0, "model.n_experts": 8.0, "model.n_heads": 32.0}
    assert first_problem(ok) is None
    # [day6] 18 nodes of 8: dp_attention = ep = 144; a wrong dp_attention is refused
    known = {"hardware.scaleup_domain_devices": 8.0, "model.n_experts": 256.0}
    assert nodes_deployment(18.0, known)[0] == {"workload.dp_attention": 144.0,
                                                 "workload.ep": 144.0}  # fmt: skip
    bad = nodes_deployment(18.0, {**known, "given:workload.dp_attention": 32.0})[1]
    assert bad and "144" in bad[0][2]
    assert nodes_deployment(2.0, {})[1][0][0] == "hardware.scaleup_domain_devices"


# ----------------------------------------------------------------------------- gradients, vmap


NEW_LEAVES = ("workload.ep", "workload.dp_attention", "workload.pp", "workload.cp",
              "workload.microbatches_per_stage", "workload.comm_overlap",
              "workload.moe_imbalance", "hardware.scaleout_bytes_per_s",
              "hardware.allreduce_latency_s", "hardware.alltoall_latency_s",
              "model.n_dense_layers", "model.allreduces_per_layer")  # fmt: skip
GRAD_METRICS = ("decode_step_s", "prefill_s", "session_gpu_s", "decode_comm_s")


def _points():
    """Feasible points away from kinks that use every new leaf: DeepSeek under EP / DP
    attention with some overlap, and Mixtral pipelined and context-parallel over 2 nodes."""
    ds = ds_decode(batch=4000.0, tp=2.0, dp_attention=72.0, comm_overlap=0.3,
                   moe_imbalance=1.2, output_tokens=100.0)
    mix = Scenario(MIXTRAL_8X7B.replace(allreduces_per_layer=1.5), H100_NODE, Workload(
        context_tokens=30000.0, batch=6.0, tp=4.0, pp=2.0, cp=3.0, microbatches_per_stage=1.5,
        comm_overlap=0.5, output_tokens=100.0))  # fmt: skip
    return {"deepseek-ep": ds, "mixtral-pp-cp": mix}


# A kink, where the one-sided slopes differ: at cp = 1 a context-parallel group strided
# beyond the domain (tp x dp_attention = 144 > 8) turns from no link to the NIC.
KINKS = {"deepseek-ep": ("workload.cp",)}


def test_gradients_of_new_leaves_match_finite_differences():
    """Forward-mode elasticities d ln(metric) / d ln(leaf) of every metric in every new leaf,
    at both points in one compile, against central differences in ln(leaf) (one more
    compile), away from kinks; no NaN anywhere."""
    names = sorted(_points())
    pts = [jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), _points()[n]) for n in names]
    metrics = metric_vector_fn(GRAD_METRICS)

    def log_metrics(s, u):  # u: steps in ln(leaf) of each new leaf
        for k, path in enumerate(NEW_LEAVES):
            s = replace_leaf(s, path, get_leaf(s, path) * jnp.exp(u[k]))
        return jnp.log(metrics(s))

    stacked = jax.tree.map(lambda *x: jnp.stack(x), *pts)
    u0 = jnp.zeros(len(NEW_LEAVES))
    jac = np.asarray(jax.jit(jax.vmap(jax.jacfwd(log_metrics, argnums=1),
                                      in_axes=(0, None)))(stacked, u0))  # fmt: skip
    h = 1e-6
    steps = jnp.concatenate([h * jnp.eye(len(u0)), -h * jnp.eye(len(u0))])
    moved = np.asarray(jax.jit(jax.vmap(jax.vmap(log_metrics, in_axes=(None, 0)),
                                        in_axes=(0, None)))(stacked, steps))  # fmt: skip
    n = len(NEW_LEAVES)
    fd = (moved[:, :n, :] - moved[:, n:, :]) / (2 * h)  # (point, leaf, metric)
    assert np.isfinite(jac).all()
    for i, point in enumerate(names):
        for k, path in enumerate(NEW_LEAVES):
            if path in KINKS.get(point, ()):
                continue
            for j, name in enumerate(GRAD_METRICS):
                assert jac[i, j, k] == pytest.approx(fd[i, k, j], rel=1e-4, abs=1e-7), (
                    point, name, path)


def test_vmap_over_the_new_leaves_equals_a_python_loop():
    base = _points()["deepseek-ep"]
    values = {"workload.ep": [72.0, 144.0, 36.0], "workload.dp_attention": [72.0, 36.0, 144.0],
              "workload.comm_overlap": [0.0, 0.5, 1.0], "workload.moe_imbalance": [1.0, 1.3, 2.0],
              "workload.pp": [1.0, 2.0, 1.0], "workload.cp": [1.0, 1.0, 2.0]}  # fmt: skip
    names = ("decode_step_s", "concurrency", "prefill_s", "session_gpu_s")

    def at(v):
        s = base
        for k, p in enumerate(values):
            s = replace_leaf(s, p, v[k])
        return jnp.stack([METRICS[n].fn(s) for n in names])

    grid = jnp.asarray(np.array(list(values.values())).T)
    batch = np.asarray(jax.jit(jax.vmap(at))(grid))
    loop = np.stack([np.asarray(jax.jit(at)(g)) for g in grid])
    np.testing.assert_allclose(batch, loop, rtol=1e-12)


def test_float32_and_float64_agree_on_new_terms():
    s64 = _points()["mixtral-pp-cp"]
    names = ("decode_step_s", "decode_comm_s", "prefill_s", "prefill_comm_s", "concurrency",
             "session_gpu_s", "weight_bytes_per_device")  # fmt: skip
    fn = jax.jit(lambda s: evaluate(s, names))
    r64 = fn(jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), s64))
    with jax.enable_x64(False):
        r32 = {k: np.asarray(v, dtype=np.float64) for k, v in fn(s64).items()}
    for k in r32:
        np.testing.assert_allclose(r32[k], np.asarray(r64[k], dtype=np.float64), rtol=1e-5,
                                   err_msg=k)  # fmt: skip
