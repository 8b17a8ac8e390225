"""The KV hierarchy below HBM (issue 12): host DRAM, local SSD and a remote pool, each a
capacity and a bandwidth *per device*, from the node the device sits in.

A node of ``G_n`` devices shares its host DRAM (``M_D`` bytes at ``beta_D`` B/s) and its
NVMe drives (``M_S`` bytes at ``beta_S`` B/s); every ``k_u`` devices share one PCIe uplink
to host memory as wide as a device's own link (``beta_h``); each device has its own NIC
(``beta_o``, the scale-out leaf) to a remote pool (Mooncake's DRAM/SSD store over RDMA) of
``M_r`` bytes per device.  When ``n_c`` devices of the node move KV at once they split what
they share:

    n_c = max(min(G, G_n), phi G_n)              busy devices (G: the replica's devices,
                                                  phi = node_fill: the node's other devices
                                                  running replicas like this one)
    k_c = 1 + (k_u - 1) (n_c - 1) / (G_n - 1)    busy devices on a busy device's uplink
    host:   beta_H = eta min(beta_h / k_c, beta_D / n_c),  M_H = min(M_h, M_D / n_c)
    SSD:    beta_S' = eta min(beta_S / n_c, beta_h),        M_S' = min(M_s, M_S / n_c)
    remote: beta_R = eta beta_o,                            M_R = M_r

(``eta = host_link_efficiency``; ``M_h``, ``M_s``, ``M_r`` are the workload's allotments.)
The neutral node (``G_n = k_u = 1``, DRAM unbounded, no SSD) and ``phi = 0`` give the
paper's device alone on its own PCIe link.  Minima are ``kink_min``: exact, their derivative
at a tie the first argument's.

DGX A100 (its user guide: 8 GPUs, two per PCIe 4.0 switch with an x16 uplink; 2 TB DRAM,
2 x 8 channels of DDR4-3200 = 409.6 GB/s) full of replicas (``phi = 1``): each GPU gets
32e9 / 2 = 16e9 B/s to host memory, not its link's 32e9, and an eighth of the DRAM:

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)
>>> dgx = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9, node_devices=8.0,
...                host_uplink_devices=2.0, host_dram_bytes=2 * 2**40,
...                host_dram_bytes_per_s=409.6e9)
>>> s = Scenario(yi, dgx, Workload(context_tokens=50_000.0))
>>> float(host_bytes_per_s(s)) / 1e9, float(host_kv_capacity_bytes(s)) / 2**30
(16.0, 256.0)
>>> alone = s.replace(workload=s.workload.replace(node_fill=0.0))
>>> float(host_bytes_per_s(alone)) / 1e9
32.0
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _parallel as par
from ._numerics import clamp_min, kink_max, kink_min, safe_div
from ._types import Scenario

TIERS = ("host", "ssd", "remote")
"""The tiers below HBM, in the order their rates and capacities are returned."""


def busy_node_devices(s: Scenario):
    """Devices of the node moving KV at once: ``n_c = max(min(G, G_n), phi G_n)``."""
    g_n = s.hardware.node_devices
    own = kink_min(par.devices_per_replica(s), g_n)
    return kink_max(own, s.workload.node_fill * g_n)


def uplink_sharers(s: Scenario):
    """Busy devices on a busy device's PCIe uplink: ``k_c = 1 + (k_u - 1) (n_c - 1) / (G_n -
    1)``, the expectation when the ``n_c`` busy devices sit anywhere on the node (1 on a
    node of one device).  Example: a DGX A100 (2 per uplink) with 4 of its 8 GPUs busy:
    ``1 + 3/7 = 1.43``; all 8: 2."""
    h = s.hardware
    others = safe_div(busy_node_devices(s) - 1.0, h.node_devices - 1.0, 0.0)
    return 1.0 + (h.host_uplink_devices - 1.0) * others


def host_bytes_per_s(s: Scenario):
    """Per-device rate to host DRAM, one direction, B/s:
    ``eta min(beta_h / k_c, beta_D / n_c)`` (module docstring)."""
    h = s.hardware
    link = h.host_link_bytes_per_s / uplink_sharers(s)
    dram = h.host_dram_bytes_per_s / busy_node_devices(s)
    return s.workload.host_link_efficiency * kink_min(link, dram)


def ssd_bytes_per_s(s: Scenario):
    """Per-device rate to the node's NVMe, B/s: ``eta min(beta_S / n_c, beta_h)`` (the
    drives' share, through the device's own PCIe link; 0 without drives)."""
    h = s.hardware
    share = h.ssd_bytes_per_s / busy_node_devices(s)
    return s.workload.host_link_efficiency * kink_min(share, h.host_link_bytes_per_s)


def remote_bytes_per_s(s: Scenario):
    """Per-device rate to a remote KV pool over RDMA, B/s: ``eta beta_o`` (the NIC)."""
    return s.workload.host_link_efficiency * s.hardware.scaleout_bytes_per_s


def host_kv_capacity_bytes(s: Scenario):
    """Host DRAM per device for offloaded KV: ``min(M_h, M_D / n_c)`` bytes."""
    share = s.hardware.host_dram_bytes / busy_node_devices(s)
    return kink_min(s.workload.host_kv_bytes, share)


def ssd_kv_capacity_bytes(s: Scenario):
    """NVMe per device for offloaded KV: ``min(M_s, M_S / n_c)`` bytes (0 by default)."""
    share = s.hardware.ssd_bytes / busy_node_devices(s)
    return kink_min(s.workload.ssd_kv_bytes, share)


def tier_rates(s: Scenario):
    """``(host, ssd, remote)`` per-device one-way rates, B/s."""
    return host_bytes_per_s(s), ssd_bytes_per_s(s), remote_bytes_per_s(s)


def tier_capacities(s: Scenario):
    """``(host, ssd, remote)`` per-device capacities for offloaded KV, bytes."""
    return host_kv_capacity_bytes(s), ssd_kv_capacity_bytes(s), s.workload.remote_kv_bytes


def fill_fastest_first(q, inv, slots, savings):
    """Shares of follow-ups each tier serves when the off-HBM histories (a share ``q`` of
    follow-ups) go first to the tiers that save the most:
    ``x_k = min(cap_k, max(0, q - A_k))``, ``cap_k = slots_k / I`` (``inv = 1 / I``, ``I``
    idle sessions) and ``A_k`` the capacity of the tiers that save more than tier ``k``
    (ties to the earlier tier).  It is the optimum of ``max sum x_k s_k`` subject to
    ``sum x_k <= q`` and ``0 <= x_k <= cap_k`` (a fractional knapsack of equal-sized
    items), branch-free: the order is a comparison, of derivative 0, and the total is
    continuous where two tiers tie.  ``A_k`` is formed from the slots before ``inv``
    scales it, so the order costs nothing at the size of the batch axis.

    Example: half the follow-ups off HBM, 10 idle sessions, a slow tier with 4 slots saving
    1 s and a fast one with 3 slots saving 2 s: the fast one serves 0.3, the slow one 0.2.

    >>> [round(float(x), 6) for x in fill_fastest_first(0.5, 0.1, (4.0, 3.0), (1.0, 2.0))]
    [0.2, 0.3]
    """
    out = []
    for k, (slot, save) in enumerate(zip(slots, savings, strict=True)):
        ahead = 0.0
        for j, (slot_j, save_j) in enumerate(zip(slots, savings, strict=True)):
            if j != k:
                first = (save_j > save) | ((save_j == save) & (j < k))
                ahead = ahead + jnp.where(first, slot_j, 0.0)
        out.append(kink_min(clamp_min(q - inv * ahead, 0.0), slot * inv))
    return tuple(out)
