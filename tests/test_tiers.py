"""Golden tests of the KV hierarchy below HBM (issue 12): host DRAM, local NVMe and a remote
pool, per device, on a node whose devices share them.

Expected numbers are worked by hand, not by kvjax: [paper] Yi-34B on one A100-80GB (the
conventions of tests/test_sessions.py, whose 40-user two-turn queue they reuse: a 4,250-token
history of 1.0445e9 B, a 1.000 s recompute, a 33.87 ms kept follow-up). [dgx-a100] NVIDIA DGX
A100 640GB datasheet (https://images.nvidia.com/aem-dam/Solutions/Data-Center/nvidia-dgx-a100-datasheet.pdf):
8 A100s, 2 TB of system memory, 8 x 3.84 TB U.2 NVMe, one 200 Gb/s ConnectX NIC (25e9 B/s)
per GPU; two GPUs share each PCIe 4.0 switch's x16 uplink to the CPUs (the system topology
NVIDIA shows, as read in https://vengineer.hatenablog.com/entry/2022/05/02/090000); 2 AMD
EPYC 7742 with 8 channels of DDR4-3200 each, 409.6e9 B/s.  The NVMe read rate, 7e9 B/s a
drive, is a convention for a PCIe 4.0 U.2 data-center drive (NVIDIA does not name the drive).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import A100_80GB, SMOOTH_POINTS, approx, assert_elasticities_match_fd, f, scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from kvjax import catalog
from kvjax import costs as c

KV_TOKEN = 245_760
HISTORY = KV_TOKEN * 4250  # the queued follow-up's history, bytes
RECOMPUTE = (2 * 34e9 * 4350 + 60 * 4 * 56 * 128 * 0.5 * 4350**2) / 312e12
FOLLOWUP = (68e9 + KV_TOKEN * 100 + HISTORY) / 2.039e12
REBUILD = RECOMPUTE - FOLLOWUP  # 0.966 s
FREE = 80 * 2**30 - 68e9
OFF = 40 - FREE / (KV_TOKEN * 4175)  # 22.55 sessions waiting off HBM

DGX_A100 = A100_80GB.replace(
    node_devices=8.0, host_uplink_devices=2.0, host_dram_bytes=2 * 2**40,
    host_dram_bytes_per_s=409.6e9, ssd_bytes=30.72e12, ssd_bytes_per_s=8 * 7e9,
    scaleout_bytes_per_s=25e9,
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("x64")


def _queued(hardware=DGX_A100, **workload):
    """[test_sessions] 40 users of two-turn sessions at 4K: 22.55 wait off HBM."""
    return scenario(hardware=hardware, batch=40.0, turns=2.0, turn_input_tokens=100.0,
                    swap_duplex=1.0, **workload)  # fmt: skip


def test_neutral_node_is_the_device_alone():
    # The conftest A100 has no node figures: its own 32e9 B/s link, unbounded DRAM.
    s = scenario(context_tokens=5e4)
    assert f(c.host_bytes_per_s(s)) == 32e9
    assert f(c.context_switch_s(s)) == approx(2 * KV_TOKEN * 5e4 / 32e9)  # [paper] 0.768 s


def test_a_full_dgx_a100_shares_its_pcie_uplinks():
    # [dgx-a100] all 8 GPUs copying at once: two per x16 uplink, 16e9 B/s each, and an
    # eighth of the 2 TB (256 GiB) of DRAM; the DRAM's 409.6e9 / 8 = 51.2e9 does not bind.
    s = scenario(hardware=DGX_A100, context_tokens=5e4)
    assert f(c.busy_node_devices(s)) == 8.0
    assert f(c.uplink_sharers(s)) == 2.0
    assert f(c.host_bytes_per_s(s)) == 16e9
    assert f(c.host_kv_capacity_bytes(s)) == 2**38
    assert f(c.context_switch_s(s)) == approx(2 * KV_TOKEN * 5e4 / 16e9)  # 1.536 s
    # The replica alone on its node (the paper's): its link is its own again ...
    alone = scenario(hardware=DGX_A100, context_tokens=5e4, node_fill=0.0)
    assert f(c.host_bytes_per_s(alone)) == 32e9
    assert f(c.host_kv_capacity_bytes(alone)) == 2 * 2**40
    # ... unless it spans the node itself: TP 8 puts two of its GPUs on every uplink.
    tp8 = scenario(hardware=DGX_A100, context_tokens=5e4, node_fill=0.0, tp=8.0)
    assert f(c.host_bytes_per_s(tp8)) == 16e9
    # Half the node busy, anywhere: a busy GPU's switch partner is busy 3 times in 7.
    half = scenario(hardware=DGX_A100, context_tokens=5e4, node_fill=0.5)
    assert f(c.uplink_sharers(half)) == approx(1 + 3 / 7)
    assert f(c.host_bytes_per_s(half)) == approx(32e9 / (1 + 3 / 7))
    # A host whose DRAM delivers 100e9 B/s binds before the links: 12.5e9 per GPU.
    slow = DGX_A100.replace(host_dram_bytes_per_s=100e9)
    assert f(c.host_bytes_per_s(scenario(hardware=slow, context_tokens=5e4))) == 12.5e9
    # The NVMe's read, 56e9 B/s for the node: 7e9 per busy GPU; the NIC 25e9 each.
    assert f(c.ssd_bytes_per_s(s)) == 7e9
    assert f(c.remote_bytes_per_s(s)) == 25e9
    assert f(c.ssd_kv_capacity_bytes(s.replace(workload=s.workload.replace(
        ssd_kv_bytes=1e18)))) == approx(30.72e12 / 8)  # fmt: skip


def test_histories_go_to_the_fastest_tier_first():
    # The NIC (25e9 B/s) outruns a shared PCIe uplink (16e9): a remote pool with room for
    # 5 histories per GPU serves 5 of the 22.55 waiting; host DRAM (256 GiB: 263 of them)
    # the rest.
    s = _queued(remote_kv_bytes=5 * HISTORY)
    remote, host = HISTORY / 25e9, HISTORY / 16e9
    assert f(c.history_load_s(s)) == approx(host)
    x_remote = 5 / OFF
    assert f(c.host_held_share(s)) == approx(1 - x_remote)
    assert f(c.reload_s(s)) == approx(x_remote * remote + (1 - x_remote) * host)
    assert f(c.recompute_share(s)) == 0.0
    # Without the pool, every waiting history loads from host memory.
    assert f(c.reload_s(_queued())) == approx(host)


def test_nvme_takes_what_host_dram_cannot_hold():
    # Host DRAM kept for KV: 10 histories per GPU; NVMe (7e9 B/s per GPU: 0.149 s a load,
    # still 6.5x faster than the 0.966 s rebuild) holds the other 12.55.
    s = _queued(host_kv_bytes=10 * HISTORY, ssd_kv_bytes=1e18)
    host, ssd = HISTORY / 16e9, HISTORY / 7e9
    x_host = 10 / OFF
    assert f(c.reload_s(s)) == approx(x_host * host + (1 - x_host) * ssd)
    assert f(c.recompute_share(s)) == 0.0
    # NVMe with room for 4 only: the last 8.55 recompute.
    s = _queued(host_kv_bytes=10 * HISTORY, ssd_kv_bytes=4 * HISTORY)
    rest = (OFF - 14) / OFF
    assert f(c.recompute_share(s)) == approx(rest)
    assert f(c.reload_s(s)) == approx(10 / OFF * host + 4 / OFF * ssd + rest * REBUILD)


def test_a_tier_slower_than_recomputing_is_not_used():
    # One slow drive for the node, 1e9 B/s: 8.4 s a history per GPU, beyond the rebuild.
    slow = DGX_A100.replace(ssd_bytes_per_s=1e9)
    s = _queued(hardware=slow, host_kv_bytes=0.0, ssd_kv_bytes=1e18)
    assert HISTORY / (1e9 / 8) > REBUILD
    assert f(c.reload_s(s)) == approx(REBUILD)
    assert f(c.recompute_share(s)) == approx(1.0)


def test_session_regime_names_the_link_reloads_cross():
    # 10-turn sessions at 50K, 8 users where 1.46 fit: nine reloads of a 12.3e9 B history
    # each; over a 4e9 B/s link a load takes 3.1 s (under the 17.8 s rebuild), 27.7 s in
    # all, more than the session's 18 s of prefill: the link binds.  Over PCIe (3) ...
    kw = dict(context_tokens=5e4, batch=8.0, turns=10.0, turn_input_tokens=100.0,
              output_tokens=1.0, node_fill=0.0, swap_duplex=1.0)  # fmt: skip
    pcie = scenario(hardware=DGX_A100.replace(host_link_bytes_per_s=4e9), **kw)
    assert f(c.session_regime(pcie)) == 3.0
    # ... or over the NIC (5) when a remote pool at 4e9 B/s beats a 0.5e9 B/s host link.
    slow = DGX_A100.replace(host_link_bytes_per_s=0.5e9, scaleout_bytes_per_s=4e9)
    assert f(c.session_regime(scenario(hardware=slow, remote_kv_bytes=1e18, **kw))) == 5.0
    # Without the pool that link loses to recomputing (a 24.8 s load against a 17.9 s
    # rebuild): the follow-ups recompute, and the prefill's regime binds (compute, 0).
    assert f(c.session_regime(scenario(hardware=slow, **kw))) == 0.0


def _pour(q, inv, slots, order):
    """Pour ``q`` into the tiers in ``order``, each up to its capacity ``slots_k inv``."""
    left, out = q, [0.0] * len(slots)
    for k in order:
        out[k] = min(slots[k] * inv, left)
        left -= out[k]
    return out


def _greedy(q, inv, slots, savings):
    """An independent fill: sort the tiers by saving (stable), pour ``q`` in that order."""
    return _pour(q, inv, slots, sorted(range(len(slots)), key=lambda k: -savings[k]))


@settings(max_examples=60, deadline=None)
@given(
    q=st.floats(0.0, 1.0),
    inv=st.floats(0.01, 1.0),
    slots=st.lists(st.floats(0.0, 50.0), min_size=3, max_size=3),
    savings=st.lists(st.sampled_from([0.0, 0.1, 0.5, 2.0]), min_size=3, max_size=3),
)
def test_fill_is_the_sorted_greedy_optimum(q, inv, slots, savings):
    got = [f(x) for x in c.fill_fastest_first(q, inv, tuple(slots), tuple(savings))]
    want = _greedy(q, inv, slots, savings)
    # Ties may split differently between tiers of equal saving; the total saved may not.
    total = sum(g * s for g, s in zip(got, savings, strict=True))
    assert total == pytest.approx(sum(w * s for w, s in zip(want, savings, strict=True)),
                                  rel=1e-9, abs=1e-12)  # fmt: skip
    assert sum(got) == pytest.approx(sum(want), rel=1e-9, abs=1e-12)
    # And it is the linear programme's optimum: the optimum lies at a vertex, a pour in
    # some order, and no order saves more.
    best = max(sum(x * s for x, s in zip(_pour(q, inv, slots, order), savings, strict=True))
               for order in itertools.permutations(range(3)))  # fmt: skip
    assert total >= best - 1e-9


TIER_LEAVES = (
    "hardware.node_devices", "hardware.host_uplink_devices", "hardware.host_dram_bytes_per_s",
    "hardware.ssd_bytes_per_s", "hardware.scaleout_bytes_per_s", "workload.node_fill",
    "workload.host_kv_bytes", "workload.ssd_kv_bytes", "workload.remote_kv_bytes",
)  # fmt: skip


def test_tier_elasticities_agree_with_finite_differences():
    # Away from every kink: 30 users of 3-turn sessions on a 6-GPU node with 3 per uplink,
    # half busy (a TP-2 replica among them: 3 busy, 1.8 on each uplink), DRAM bandwidth
    # binding (50e9 / 3 under 32e9 / 1.8), all three tiers partly full, the NIC faster
    # than PCIe, NVMe slower.
    s = SMOOTH_POINTS["yi-34b-tp2-b4"]
    h = s.hardware.replace(node_devices=6.0, host_uplink_devices=3.0,
                           host_dram_bytes_per_s=50e9, ssd_bytes=1e13, ssd_bytes_per_s=20e9,
                           scaleout_bytes_per_s=25e9)  # fmt: skip
    w = s.workload.replace(turns=3.0, turn_input_tokens=300.0, think_s=20.0, batch=30.0,
                           swap_duplex=1.0, node_fill=0.5, host_kv_bytes=1.2e9,
                           ssd_kv_bytes=1e9, remote_kv_bytes=0.6e9)  # fmt: skip
    s = s.replace(hardware=h, workload=w)
    assert 0 < f(c.recompute_share(s)) < f(c.offloaded_share(s))
    assert_elasticities_match_fd(s, "session_gpu_s", TIER_LEAVES)


def test_catalog_node_figures_are_the_datasheets():
    # [dgx-a100] and the DGX H100/H200 user guide
    # (https://docs.nvidia.com/dgx/dgxh100-user-guide/introduction-to-dgxh100.html):
    # 2 TB in 32 DIMMs, 8 x 3.84 TB NVMe, one ConnectX-7 (400 Gb/s) per GPU, each GPU's
    # host path its own PCIe 5.0 x16.
    a = catalog.load_hardware("a100-80gb-sxm")
    assert (f(a.node_devices), f(a.host_uplink_devices)) == (8.0, 2.0)
    assert f(a.host_dram_bytes) == 2 * 2**40
    assert f(a.host_dram_bytes_per_s) == approx(2 * 8 * 3200e6 * 8)
    assert f(a.ssd_bytes) == approx(8 * 3.84e12)
    h = catalog.load_hardware("h100-sxm")
    assert (f(h.node_devices), f(h.host_uplink_devices)) == (8.0, 1.0)
    assert f(h.host_dram_bytes) == 2 * 2**40
    assert f(h.scaleout_bytes_per_s) == 50e9
    # A DGX H100 full of replicas: 64e9 B/s of PCIe each; 2 TiB / 8 of DRAM.
    s = scenario(hardware=h, context_tokens=5e4)
    assert f(c.host_bytes_per_s(s)) == 64e9
    assert np.isclose(f(c.host_kv_capacity_bytes(s)), 2**38)
