"""Golden tests of disaggregated serving (issue 12, item 3): a prefill pool and a decode pool.

Expected numbers are worked by hand from [paper] Yi-34B (34e9 params, 245,760 KV bytes per
token) at 4K, all of HBM for weights and KV; the datasheets of the A100-80GB SXM (312e12
FLOP/s, 2.039e12 B/s) and H100 SXM (989e12, 3.35e12; tests/conftest.py); [cx6] a 200 Gb/s
ConnectX-6 NIC per GPU, 25e9 B/s each way (DGX A100 datasheet,
https://images.nvidia.com/aem-dam/Solutions/Data-Center/nvidia-dgx-a100-datasheet.pdf).
[splitwise] Patel et al., "Splitwise: Efficient Generative LLM Inference Using Phase
Splitting" (arXiv 2311.18677): prompt on compute-rich GPUs, tokens on cheaper ones, the KV
sent layer by layer.  [distserve] Zhong et al., "DistServe" (arXiv 2401.09670): each phase
its own parallelism and pool size.
"""

from __future__ import annotations

import jax
import pytest
from conftest import H100_SXM, SMOOTH_POINTS, approx, f, scenario

from kvjax import costs as c

pytestmark = pytest.mark.usefixtures("x64")

PAIR = 60 * 4 * 56 * 128
KV_4K = 245_760 * 4000  # 0.983e9 B
PREFILL_FLOP = 2 * 34e9 * 4000 + PAIR * 0.5 * 4000**2  # 2.858e14
NIC = 25e9
STEP_18 = (68e9 + 18 * 245_760 * (4000 + 249 / 2)) / 2.039e12  # 42.32 ms, 18 users


def _pools(batch=18.0, **kw):
    return scenario(hardware=H100_SXM, **kw), scenario(batch=batch, **kw)


def test_prefill_on_h100_decode_on_a100_like_splitwise():
    p, d = _pools()
    r = c.disaggregated(p, d, NIC)
    t_p = PREFILL_FLOP / 989e12  # 0.2890 s, compute-bound on the H100
    t_d = 250 * STEP_18 / 18  # 0.5875 s of the A100's decode steps per session
    assert f(r.prefill_replica_s) == approx(t_p)
    assert f(r.decode_replica_s) == approx(t_d)
    assert f(r.balanced_pool_ratio) == approx(t_p / t_d)  # 0.49 H100s per A100
    assert f(r.session_gpu_s) == approx(t_p + t_d)  # 0.876 device-s, 1.503 colocated
    assert f(c.session_gpu_s(d)) == approx(PREFILL_FLOP / 312e12 + t_d, 1e-5)
    # $3/h and $2/h (the test prices): each pool's share.
    assert f(r.usd_per_session) == approx((t_p * 3.0 + t_d * 2.0) / 3600)
    assert f(r.sessions_per_hour) == approx(3600 / t_d)
    # [cx6] the prompt's 0.983e9 B of KV: 39.3 ms each end, streamed under the 0.289 s
    # prefill layer by layer; sent after it, it adds to the first token's wait.
    assert f(r.transfer_s) == approx(KV_4K / NIC)
    assert f(r.ttft_s) == approx(t_p)
    assert f(c.disaggregated(p, d, NIC, layer_overlap=0.0).ttft_s) == approx(t_p + KV_4K / NIC)
    # A decode step is not interrupted by prefills.
    assert f(r.tpot_s) == approx(STEP_18)


def test_pool_ratio_off_balance_pays_for_idle_replicas():
    # [distserve] pool sizes are a knob: one prefill replica per decode replica serves a
    # session every max(t_p, t_d) = t_d s and pays for both: (1 + 1) x t_d.
    p, d = _pools()
    t_p, t_d = PREFILL_FLOP / 989e12, 250 * STEP_18 / 18
    r = c.disaggregated(p, d, NIC, pool_ratio=1.0)
    assert f(r.session_gpu_s) == approx(2 * t_d)
    # A tenth of a prefill replica per decode replica: prefill-bound, 10 t_p per session.
    r = c.disaggregated(p, d, NIC, pool_ratio=0.1)
    assert f(r.session_gpu_s) == approx((0.1 + 1) * t_p / 0.1)


def test_a_slow_link_binds_a_pool():
    # A 1e9 B/s link: 0.983 s to send a prompt's KV, longer than either pool's work: the
    # link is each replica's bound, and the first token waits 0.983 - 0.289 s more.
    p, d = _pools()
    r = c.disaggregated(p, d, 1e9)
    x = KV_4K / 1e9
    assert f(r.prefill_replica_s) == approx(x)
    assert f(r.decode_replica_s) == approx(x)
    assert f(r.ttft_s) == approx(x)  # prefill + (x - prefill)
    # TP 2 on the decode side halves the bytes each of its devices receives.
    d2 = scenario(batch=18.0, tp=2.0)
    assert f(c.disaggregated(p, d2, 1e9).transfer_s) == approx(x)  # the prefill end binds
    p2 = scenario(hardware=H100_SXM, tp=2.0)
    assert f(c.disaggregated(p2, d2, 1e9).transfer_s) == approx(x / 2)


def test_default_link_is_the_slower_nic_and_infeasible_is_nan():
    p, d = _pools()
    p = p.replace(hardware=p.hardware.replace(scaleout_bytes_per_s=50e9))
    d = d.replace(hardware=d.hardware.replace(scaleout_bytes_per_s=25e9))
    assert f(c.kv_link_bytes_per_s(p, d)) == 25e9
    assert f(c.disaggregated(p, d).transfer_s) == approx(KV_4K / 25e9)
    # 100K tokens do not fit one A100 beside the weights: NaN, not an exception.
    p, d = _pools(context_tokens=1e5)
    assert all(f(v) != f(v) for v in c.disaggregated(p, d, NIC))


def test_jit_vmap_and_gradients():
    p, d = _pools()
    fn = jax.jit(lambda p, d: c.disaggregated(p, d, NIC).session_gpu_s)
    assert f(fn(p, d)) == approx(f(c.disaggregated(p, d, NIC).session_gpu_s))
    # The gradient with respect to the decode pool's batch and the prefill pool's FLOP/s,
    # against central finite differences, at a point away from every kink.
    d = SMOOTH_POINTS["yi-34b-tp2-b4"]
    p = d.replace(hardware=H100_SXM, workload=d.workload.replace(batch=1.0))
    g = jax.grad(lambda p, d: c.disaggregated(p, d, NIC).session_gpu_s, argnums=(0, 1))(p, d)
    for tree, path, grad in ((p, ("hardware", "flop_per_s"), g[0].hardware.flop_per_s),
                             (d, ("workload", "batch"), g[1].workload.batch)):  # fmt: skip
        group, name = path
        x, h = getattr(getattr(tree, group), name), 1e-6

        def at(v, tree=tree, group=group, name=name):
            t = tree.replace(**{group: getattr(tree, group).replace(**{name: v})})
            args = (t, d) if tree is p else (p, t)
            return f(c.disaggregated(*args, NIC).session_gpu_s)

        fd = (at(x * (1 + h)) - at(x * (1 - h))) / (2 * x * h)
        assert f(grad) == pytest.approx(fd, rel=1e-5), name


def test_eval_prints_the_disaggregated_session(capsys):
    # The catalog's H100 SXM prefills (989e12 FLOP/s: 0.289 s at 4K), the A100's 18 users
    # decode; the KV crosses the A100's 25e9 B/s NIC (the slower end).
    import json

    from kvjax.cli import main

    rc = main(["eval", "--model", "yi-34b", "--hardware", "a100-80gb-sxm", "--context", "4000",
               "--batch", "18", "--hbm-utilization", "1", "--hbm-reserve-bytes", "0",
               "--set", "model.params_total=34e9", "--prefill-hardware", "h100-sxm",
               "--json"])  # fmt: skip
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)["disaggregated"]
    assert doc["prefill_hardware"] == "h100-sxm"
    assert doc["prefill_replica_s"] == approx(PREFILL_FLOP / 989.4e12)
    assert doc["transfer_s"] == approx(KV_4K / 25e9)
    assert doc["session_gpu_s"] == approx(PREFILL_FLOP / 989.4e12 + 250 * STEP_18 / 18)
