"""Golden tests of sessions as services run them (issue 12): turns, prefix reuse, host offload.

Every expected number is worked by hand from the paper's running example and datasheets, not
from kvjax: [paper] Yi-34B (34e9 params, 60 layers, 8 KV heads of 128) on one A100-80GB at
312e12 FLOP/s, 2.039e12 B/s HBM, PCIe 4.0 x16 at 32e9 B/s each way ([a100] datasheet), bf16
(245,760 KV bytes per token), the paper's conventions (all of HBM, serial swap legs) unless a
test says otherwise.  [cai] Character.AI, "Optimizing AI Inference at Character.AI" (June
2024, https://research.character.ai/optimizing-inference/): inter-turn KV cached in host
memory with a 95% cache rate.

Per token and layer-averaged attention FLOP of Yi-34B: 60 x 4 x 56 x 128 = 1,720,320 per
query-key pair (``4 L N H``); causal: half of the ``T^2`` pairs.
"""

from __future__ import annotations

import pytest
from conftest import SMOOTH_POINTS, approx, assert_elasticities_match_fd, f, scenario

from kvjax import costs as c

PAIR = 60 * 4 * 56 * 128  # 1,720,320 FLOP per query-key pair over the layers
KV_TOKEN = 245_760  # bytes per token
F, BETA, PCIE = 312e12, 2.039e12, 32e9
FREE = 80 * 2**30 - 68e9  # HBM beside the weights under the paper's convention


pytestmark = pytest.mark.usefixtures("x64")


def prefill_flop(new, cached):
    """[paper] 2 P per computed token + the causal pairs of the new queries."""
    return 2 * 34e9 * new + PAIR * 0.5 * ((cached + new) ** 2 - cached**2)


def test_one_turn_without_reuse_is_the_paper():
    # Neutral values: one turn, no prefix, no idle session: the paper's 9.38 s session.
    s = scenario()
    assert f(c.session_wall_s(s)) == approx(9.3776, 1e-4)
    assert f(c.followup_context_tokens(s)) == 4000 + 0.5 * 250
    assert f(c.offloaded_share(s)) == 0.0
    assert f(c.reload_s(s)) == 0.0


def test_shared_prefix_is_not_prefilled_and_stored_once():
    # A 3,000-token system prompt shared by every user, always cached: 1,000 tokens to
    # prefill attending to 4,000; its KV (0.737e9 B) stored once, not per user.
    s = scenario(prefix_tokens=3000.0)
    assert f(c.prefill_flop(s)) == approx(prefill_flop(1000, 3000))
    assert f(c.prefill_s(s)) == approx(prefill_flop(1000, 3000) / F)  # 0.2372 s
    per_user = KV_TOKEN * 4000 - KV_TOKEN * 3000
    assert f(c.concurrency(s)) == approx((FREE - KV_TOKEN * 3000) / per_user)  # 69.83
    # Half the first prompts miss the cache: 2,500 tokens computed on average; a miss holds
    # its own copy, so a user keeps 0.983e9 - 0.5 x 0.737e9 B.
    s = scenario(prefix_tokens=3000.0, prefix_hit_rate=0.5)
    assert f(c.prefill_s(s)) == approx(prefill_flop(2500, 1500) / F)  # 0.5829 s
    per_user = KV_TOKEN * 4000 - 0.5 * KV_TOKEN * 3000
    assert f(c.concurrency(s)) == approx((FREE - KV_TOKEN * 3000) / per_user)  # 27.93
    # No prefix caching (h = 0): the paper's numbers, nothing shared.
    s = scenario(prefix_tokens=3000.0, prefix_hit_rate=0.0)
    assert f(c.prefill_s(s)) == approx(f(c.prefill_s(scenario())), 1e-12)
    assert f(c.concurrency(s)) == approx(FREE / (KV_TOKEN * 4000))


def test_followup_prefills_only_its_new_tokens():
    # 3 turns of 500 new tokens and 250 out after a 4,000-token prompt: the mean follow-up
    # ends its prompt at 4000 + 1.5 x 750 = 5,125 tokens, 4,625 of them cached.
    s = scenario(turns=3.0, turn_input_tokens=500.0)
    assert f(c.followup_context_tokens(s)) == 5125.0
    assert f(c.followup_prefill_s(s)) == approx(prefill_flop(500, 4625) / F)  # 0.1224 s
    # Decode steps at the session's mean context, 4000 + (3 - 1) x 750 / 2 + 249 / 2.
    assert f(c.decode_context_tokens(s)) == 4000 + 750 + 124.5
    # Capacity is sized at the mean turn's prompt, 4000 + 750.
    assert f(c.concurrency(s)) == approx(FREE / (KV_TOKEN * 4750))


def test_history_load_replaces_recompute_at_50k():
    # [paper] multi-turn users are the case context switching is for: bringing back a 50K
    # history takes 12.29e9 B over PCIe, 0.38 s full duplex (0.77 s serial, the paper's
    # swap), against 17.8 s to prefill it again.
    s = scenario(context_tokens=5e4, turns=2.0, output_tokens=1.0, swap_duplex=1.0)
    history = KV_TOKEN * 50_000  # the cache before the follow-up (u = 0, one token out)
    assert f(c.history_bytes_per_device(s)) == approx(KV_TOKEN * (50_001 - 0))
    assert f(c.history_load_s(s)) == approx(KV_TOKEN * 50_001 / PCIE)
    assert history / PCIE == approx(0.384)
    assert f(c.recompute_prefill_s(s)) == approx(prefill_flop(50_001, 0) / F)  # 17.8 s
    assert f(c.recompute_prefill_s(s)) / f(c.history_load_s(s)) == approx(46.3, 1e-3)
    serial = scenario(context_tokens=5e4, turns=2.0, output_tokens=1.0)
    assert f(c.history_load_s(serial)) == approx(2 * KV_TOKEN * 50_001 / PCIE)


def test_full_duplex_swap_and_link_efficiency():
    # [paper] 2 x 12.29e9 / 32e9 = 0.768 s at 50K, its formula (out + in); PCIe is full
    # duplex, so the engine default overlaps the legs: 0.384 s; at 80% of the nominal rate,
    # 0.48 s.
    assert f(c.context_switch_s(scenario(context_tokens=5e4))) == approx(0.768)
    duplex = scenario(context_tokens=5e4, swap_duplex=1.0)
    assert f(c.context_switch_s(duplex)) == approx(0.384)
    slow = scenario(context_tokens=5e4, swap_duplex=1.0, host_link_efficiency=0.8)
    assert f(c.context_switch_s(slow)) == approx(0.48)


def _queued(**workload):
    """40 users of 2-turn sessions at 4K (100 new tokens and 250 out a turn), no think
    time: only C fit; the rest wait between turns with their history off HBM."""
    return scenario(batch=40.0, turns=2.0, turn_input_tokens=100.0, swap_duplex=1.0, **workload)


# The follow-up's prompt ends at 4000 + 350 = 4,350 tokens; its history is 4,250 tokens.
HISTORY = KV_TOKEN * 4250  # 1.0445e9 B
LOAD = HISTORY / PCIE  # 32.6 ms, full duplex
RECOMPUTE = prefill_flop(4350, 0) / F  # 1.000 s, compute-bound
# The kept follow-up is memory-bound: the weights, its new KV written, the history read.
FOLLOWUP = (68e9 + KV_TOKEN * 100 + HISTORY) / BETA  # 33.87 ms
C_4175 = FREE / (KV_TOKEN * 4175)  # capacity at the mean turn's prompt: 17.45 users


def test_queued_multi_turn_sessions_reload_the_cheaper_way():
    s = _queued()
    assert f(c.concurrency(s)) == approx(C_4175)
    assert f(c.idle_sessions(s)) == approx(40 - C_4175)
    assert f(c.offloaded_share(s)) == approx(1.0)
    assert f(c.followup_prefill_s(s)) == approx(FOLLOWUP)
    assert f(c.recompute_prefill_s(s)) == approx(RECOMPUTE)
    assert f(c.history_load_s(s)) == approx(LOAD)
    assert f(c.reload_s(s)) == approx(LOAD)  # loading beats recomputing, 31x
    # Without a host tier every follow-up recomputes its history.
    s = _queued(host_kv_bytes=0.0)
    assert f(c.reload_s(s)) == approx(RECOMPUTE - FOLLOWUP)


def test_host_cache_rate_like_character_ai():
    # [cai] 95% of inter-turn KV served from host memory: a host tier that holds 95% of the
    # off-HBM histories; the other 5% recompute.
    off = 40 - C_4175
    s = _queued(host_kv_bytes=0.95 * off * HISTORY)
    assert f(c.host_held_share(s)) == approx(0.95)
    assert f(c.reload_s(s)) == approx(0.95 * LOAD + 0.05 * (RECOMPUTE - FOLLOWUP))


def test_think_time_by_littles_law():
    # 4 users decoding together at 4K, 2 turns of 100 in and 250 out, 60 s between turns.
    # The replica works w s per turn: (first prefill + kept follow-up) / 2 + 250 steps / 4,
    # the steps memory-bound at 4 users and the mean decode context 4000 + 175 + 124.5.
    s = scenario(batch=4.0, turns=2.0, turn_input_tokens=100.0, think_s=60.0)
    first = prefill_flop(4000, 0) / F
    step = (68e9 + 4 * KV_TOKEN * 4299.5) / BETA  # 35.42 ms
    work = (first + FOLLOWUP) / 2 + 250 * step / 4  # 2.689 s
    idle = 60 / work  # 22.3 sessions thinking at once
    assert f(c.idle_sessions(s)) == approx(idle)
    # C - b = 13.45 of them stay in HBM, the rest are off it.
    assert f(c.offloaded_share(s)) == approx((idle - (C_4175 - 4)) / idle)
    # No think time, batch within capacity: nothing is idle, nothing reloads.
    assert f(c.reload_s(scenario(batch=4.0, turns=2.0, turn_input_tokens=100.0))) == 0.0


def test_session_sums_its_turns():
    # 2 turns, 4 users, nothing idle: first prefill + kept follow-up + 500 steps shared by 4.
    s = scenario(batch=4.0, turns=2.0, turn_input_tokens=100.0)
    first = prefill_flop(4000, 0) / F
    step = (68e9 + 4 * KV_TOKEN * 4299.5) / BETA
    assert f(c.session_wall_s(s)) == approx(first + FOLLOWUP + 500 * step / 4)
    assert f(c.usd_per_million_output_tokens(s.replace(hardware=s.hardware.replace(
        usd_per_hour=2.0)))) == approx((first + FOLLOWUP + 500 * step / 4) / 3600 * 2 / 500 * 1e6)


SESSION_LEAVES = (
    "workload.turns", "workload.turn_input_tokens", "workload.think_s",
    "workload.prefix_tokens", "workload.prefix_hit_rate", "workload.host_kv_bytes",
    "workload.swap_duplex", "workload.host_link_efficiency",
)  # fmt: skip


@pytest.mark.parametrize("metric", ["session_gpu_s", "prefill_s", "concurrency"])
def test_session_elasticities_agree_with_finite_differences(metric):
    # A point away from every kink: 3 turns, a shared prefix hit 80% of the time, think
    # time, more users than fit and a host tier that holds only some of them.
    s = SMOOTH_POINTS["yi-34b-tp2-b4"]
    w = s.workload.replace(turns=3.0, turn_input_tokens=300.0, think_s=20.0, batch=30.0,
                           prefix_tokens=2000.0, prefix_hit_rate=0.8, swap_duplex=0.5,
                           host_kv_bytes=4e9, host_link_efficiency=0.7)  # fmt: skip
    s = s.replace(workload=w)
    assert_elasticities_match_fd(s, metric, SESSION_LEAVES)
