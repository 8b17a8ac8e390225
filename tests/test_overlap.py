"""Golden tests of mixed prefill/decode batches and whole users (issue 12, item 4).

Expected numbers are worked by hand from [paper] Yi-34B (34e9 params, 60 layers, 8 KV heads
of 128, 245,760 KV bytes per token) on one A100-80GB (312e12 FLOP/s, 2.039e12 B/s), all of
HBM for weights and KV; [sarathi] Agrawal et al., "SARATHI: Efficient LLM Inference by
Piggybacking Decodes with Chunked Prefills" (arXiv 2308.16369): prefill chunks run inside
decode steps, so a step's weight reads serve both and the prefill's FLOP hide under the
decode's memory time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from conftest import SMOOTH_POINTS, approx, assert_elasticities_match_fd, f, scenario

from kvjax import costs as c
from kvjax.model._numerics import smooth_floor

pytestmark = pytest.mark.usefixtures("x64")

F, BETA = 312e12, 2.039e12
PAIR = 60 * 4 * 56 * 128  # attention FLOP per query-key pair over the layers
KV_TOKEN = 245_760
W = 68e9  # weight bytes


def test_mixed_batches_hide_the_prefill_under_decode_reads():
    # [paper] 4K, the 18 users that fit: serial, 0.916 s of prefill and 250 steps of
    # 18 users at the mean decode context 4,124.5 (42.3 ms a step): 1.503 s a session.
    s = scenario(batch=18.0)
    ctx = 4000 + 249 / 2
    step = (W + 18 * KV_TOKEN * ctx) / BETA
    prefill = (2 * 34e9 * 4000 + PAIR * 0.5 * 4000**2) / F
    assert f(c.session_wall_s(s)) == approx(prefill + 250 * step / 18, 1e-5)
    # [sarathi] mixed: one roofline over the session's sums. FLOP: the prefill's and 250
    # steps' 18 tokens' (2 P + PAIR x ctx each), shared by 18 users; bytes: the prefill's
    # weights and KV writes and each step's weights and KV reads.
    flop = 2 * 34e9 * 4000 + PAIR * 0.5 * 4000**2 + 250 * (2 * 34e9 + PAIR * ctx)
    nbytes = W + KV_TOKEN * 4000 + 250 / 18 * (W + 18 * KV_TOKEN * ctx)
    assert flop / F > nbytes / BETA  # compute-bound: 0.976 s against 0.621 s of bytes
    mixed = scenario(batch=18.0, mixed_batch_share=1.0)
    assert f(c.mixed_busy_s(s)) == approx(flop / F, 1e-5)
    assert f(c.session_wall_s(mixed)) == approx(flop / F, 1e-5)  # 0.976 s: 1.54x less
    assert f(c.session_wall_s(s)) / f(c.session_wall_s(mixed)) == approx(1.540, 1e-3)
    # Half the prefill work in mixed steps: the blend.
    half = scenario(batch=18.0, mixed_batch_share=0.5)
    assert f(c.session_wall_s(half)) == approx(0.5 * (prefill + 250 * step / 18) + 0.5 * flop / F,
                                               1e-5)  # fmt: skip


def test_mixed_batches_barely_change_a_long_prompt():
    # One 50K user: the prefill (17.8 s of FLOP) dwarfs the decode's 250 x 39.4 ms of reads,
    # so the mixed session is the sum of FLOP: 17.8 + 250 x (2 P + PAIR x 50,124.5) / F.
    s = scenario(context_tokens=5e4, mixed_batch_share=1.0)
    ctx = 5e4 + 249 / 2
    flop = 2 * 34e9 * 5e4 + PAIR * 0.5 * 5e4**2 + 250 * (2 * 34e9 + PAIR * ctx)
    nbytes = W + KV_TOKEN * 5e4 + 250 * (W + KV_TOKEN * ctx)
    assert flop / F > nbytes / BETA
    assert f(c.session_wall_s(s)) == approx(flop / F, 1e-5)  # 17.91 s
    prefill = (2 * 34e9 * 5e4 + PAIR * 0.5 * 5e4**2) / F
    serial = prefill + 250 * (W + KV_TOKEN * ctx) / BETA  # 27.64 s
    assert f(c.session_wall_s(scenario(context_tokens=5e4))) == approx(serial, 1e-5)
    # 1.54x: here the decode's reads hide under the prefill's FLOP.


def test_mixed_is_never_slower_than_serial():
    for point in SMOOTH_POINTS.values():
        for batch in (1.0, 3.0, 50.0):
            w = point.workload.replace(batch=batch, turns=2.0, turn_input_tokens=200.0)
            s = point.replace(workload=w)
            t = c.turn_terms(s)
            prefill = t.first + t.followup
            decode = 2 * w.output_tokens * t.step / t.b
            assert f(c.mixed_busy_s(s)) <= f(prefill + decode) * (1 + 1e-12)


def test_whole_users_at_50k():
    # [paper] at 50K 1.46 users fit on one A100: the real-valued batch shares each decode
    # step among 1.46 users; a whole one decodes alone: prefill 17.79 s + 250 steps of
    # (68e9 + 245,760 x 50,124.5) / 2.039e12 = 39.39 ms.
    s = scenario(context_tokens=5e4, batch=4.0, integer_users=1.0)
    assert f(c.resident_users(s)) == 1.0
    prefill = (2 * 34e9 * 5e4 + PAIR * 0.5 * 5e4**2) / F
    step = (W + KV_TOKEN * (5e4 + 249 / 2)) / BETA
    assert f(c.session_wall_s(s)) == approx(prefill + 250 * step, 1e-5)  # 27.64 s
    real = scenario(context_tokens=5e4, batch=4.0)
    assert f(c.resident_users(real)) == approx((80 * 2**30 - W) / (KV_TOKEN * 5e4), 1e-6)
    # At 4K, 40 users where 18.2 fit: 18 decode together.
    assert f(c.resident_users(scenario(batch=40.0, integer_users=1.0))) == 18.0


def test_smooth_floor_is_exact_off_its_ramps_and_differentiable():
    xs = jnp.array([1.0, 1.46, 1.899, 17.45, 2.95, 3.0])
    assert [float(v) for v in smooth_floor(xs)] == pytest.approx([1, 1, 1, 17, 2.5, 3])
    # The derivative: 0 on the flats, smoothstep's 6 r (1 - r) / ramp on the ramp.
    g = jax.vmap(jax.grad(smooth_floor))(xs)
    assert [float(v) for v in g] == pytest.approx([0, 0, 0, 0, 15.0, 0])
    for x in (1.93, 2.97):
        h = 1e-6
        fd = (float(smooth_floor(x + h)) - float(smooth_floor(x - h))) / (2 * h)
        assert float(jax.grad(smooth_floor)(x)) == pytest.approx(fd, rel=1e-5)


LEAVES = ("workload.mixed_batch_share", "workload.integer_users", "workload.batch",
          "workload.context_tokens", "hardware.hbm_bytes_per_s", "hardware.flop_per_s")  # fmt: skip


def test_elasticities_agree_with_finite_differences():
    # Half-way blends, 3.5 resident users (off the floor's ramps), two turns.
    s = SMOOTH_POINTS["yi-34b-tp2-b4"]
    w = s.workload.replace(batch=3.5, mixed_batch_share=0.5, integer_users=0.5, turns=2.0,
                           turn_input_tokens=200.0)  # fmt: skip
    s = s.replace(workload=w)
    assert_elasticities_match_fd(s, "session_gpu_s", LEAVES, eps=1e-6)
