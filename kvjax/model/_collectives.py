"""Collectives of the right shape, each over the link it really crosses.

A collective among ``p`` devices moves bytes over one of two links:

- **scale-up** (NVLink / NVSwitch, xGMI, TPU ICI along one torus axis): ``beta_s`` bytes/s
  each way per device, ``alpha`` per ring step, inside a domain of ``G_u`` devices;
- **scale-out** (the NIC: InfiniBand, RoCE, TPU DCN): ``beta_o`` per device, ``alpha_o`` per
  step, between domains.

**All-reduce.**  Three algorithms, of which a library picks the fastest for the message:

    ring      t = 2 (p-1)/p m / beta_s + 2 (p-1) alpha       (NCCL ring; bandwidth-optimal)
    one-shot  t = (p-1) m / beta_s + alpha_1                  (each rank reads every peer)
    two-shot  t = 2 (p-1)/p m / beta_s + 2 alpha_1            (reduce-scatter + all-gather,
                                                               each one direct exchange)

``alpha_1`` is the base latency of a one-shot kernel (NCCL LL/NVLS, vLLM/SGLang/TensorRT-LLM
custom all-reduce): nearly flat in ``p``, where the ring pays ``2 (p - 1)`` steps.  They are
combined by the smooth minimum :func:`soft_min` (gradients stay useful across the switch
points).  The default ``alpha_1 = 1e9 s`` means no such kernel: the ring alone, to the last
bit, as kvjax modelled it before.  A group larger than one domain runs hierarchically: the minimum
above inside each domain, then a ring over the ``n = p / G_u`` domains of each device's
``m / G_u`` shard over its own NIC.

**All-to-all** (MoE dispatch and combine): each device sends ``b`` bytes spread uniformly
over the other ``p - 1`` devices; the share inside its domain goes over scale-up, the rest
over scale-out, at the same time: ``t = max(b_in / beta_s, b_out / beta_o) + alpha_a``.

**Point-to-point** (pipeline stages, the context-parallel ring): ``t = b / beta + alpha``
of the link crossed.

Worked example (Llama-3.1-405B decode, one token: ``m = 16384 x 2 B = 32 KiB``, TP = 8 on
H100 NVLink, 450 GB/s each way, ring step 2 us, one-shot 3.6 us -- just below the 3.7 us of
sglang PR #2904's fastest H100 custom all-reduce): ring 0.13 + 28 = 28.13 us, one-shot
0.51 + 3.6 = 4.11 us, two-shot 0.13 + 7.2 = 7.33 us; the soft minimum is 4.11 us (sglang
measures 7.8 us at TP = 8, 32 KB).

>>> round(float(soft_min(28.13e-6, 4.11e-6, 7.33e-6)) * 1e6, 3)
4.11
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _memory as mem
from . import _parallel as par
from ._numerics import clamp_min, kink_max, kink_min, safe_div
from ._types import Scenario

ACTIVATION_BYTES = 2.0
"""Bytes per activation element at the default ``activation_bits = 16`` (bf16)."""


def activation_bytes(s: Scenario):
    """Bytes per activation element a collective moves: ``activation_bits / 8``."""
    return s.workload.activation_bits / 8.0

SOFT_MIN_POWER = 16
"""The power ``k`` of :func:`soft_min`: two tied algorithms give 2^(-1/16) = 0.958 of either."""


def soft_min(a, b, c):
    """Smooth minimum of three times, s: ``t = (a^-k + b^-k + c^-k)^(-1/k)``, ``k = 16``.

    It is a *lower* bound of ``min(a, b, c)`` (never slower than the best algorithm, as a peak
    must be) and within 2^(-1/16) = 4.2 % of it at a two-way tie, 6.6 % at a three-way tie,
    exact far from ties.  Infinite or huge times (no such algorithm) drop out; where the
    minimum is <= 0 (no communication, ``p <= 1``) it is returned as is, slope included.

    Gradient: ``dt/da = (t/a)^(k+1)``, so the elasticities ``d ln t / d ln a = (t/a)^k``
    are the algorithms' shares, summing to 1 (to 0 for an absent algorithm).  Computed as
    ``m (sum (m/t_i)^k)^(-1/k)`` with ``m`` the exact minimum, so no power overflows; the
    16th powers and roots are repeated squarings and square roots (cheap under XLA).

    >>> float(soft_min(2.0, 1e9, 1e9)), round(float(soft_min(1.0, 1.0, jnp.inf)), 4)
    (2.0, 0.9576)
    """
    m = kink_min(kink_min(a, b), c)

    def share(t):
        x = m / jnp.where(t > 0, t, 1.0)  # m / t <= 1 (t = 0 only where m = 0: masked below)
        x = x * x
        x = x * x
        x = x * x
        return x * x

    inv = 1.0 / kink_max(share(a) + share(b) + share(c), 1.0)  # in [1/3, 1]
    return jnp.where(m > 0, m * jnp.sqrt(jnp.sqrt(jnp.sqrt(jnp.sqrt(inv)))), m)


def _over(n_bytes, bytes_per_s):
    """``n_bytes / bytes_per_s``; +inf over a missing link (0 B/s), 0 when nothing moves."""
    ok = bytes_per_s > 0
    return jnp.where(ok, n_bytes / jnp.where(ok, bytes_per_s, 1.0),
                     jnp.where(n_bytes > 0, jnp.inf, 0.0))  # fmt: skip


def _steps(devices):
    """Latency steps of a one-shot kernel as the degree ramps from 1 to 2:
    ``1 - (1 - u)^2``, ``u = clip(p - 1, 0, 1)``: 0 at ``p = 1``, 1 from ``p = 2`` on, flat at
    2 (a smooth relaxation of the integer degree, so ``p = 2`` is not a kink)."""
    v = 1.0 - kink_max(kink_min(devices - 1.0, 1.0), 0.0)
    return 1.0 - v * v


def oneshot_allreduce_s(message_bytes, devices, link_bytes_per_s, base_latency_s):
    """One-shot all-reduce, s: ``(p - 1) m / beta + alpha_1`` (0 at ``p = 1``; the latency
    ramps in over ``1 < p < 2``, see ``_steps``).

    Example (32 KiB over 8 H100, 450 GB/s, alpha_1 = 3.6 us): 0.51 + 3.6 = 4.11 us.
    """
    p = devices
    return (p - 1.0) * message_bytes / link_bytes_per_s + base_latency_s * _steps(p)


def twoshot_allreduce_s(message_bytes, devices, link_bytes_per_s, base_latency_s):
    """Two-shot all-reduce (reduce-scatter then all-gather, each one direct exchange), s:
    ``2 (p - 1)/p m / beta + 2 alpha_1``.

    Example (1 MiB over 8 H100, alpha_1 = 3.6 us): 4.08 + 7.2 = 11.28 us.
    """
    p = devices
    steps = 2.0 * _steps(p)
    return 2.0 * (p - 1.0) / p * message_bytes / link_bytes_per_s + base_latency_s * steps


def ring_allgather_s(message_bytes, devices, link_bytes_per_s, step_latency_s):
    """Ring all-gather (or reduce-scatter) of a ``message_bytes`` result, s:
    ``(p - 1)/p m / beta + (p - 1) alpha``; a ring all-reduce is one of each.

    Example (57.3 MB over 8 NVLink-3 links, 300 GB/s, 5 us): 167 + 35 = 202 us.
    """
    p = devices
    return (p - 1.0) / p * message_bytes / link_bytes_per_s + (p - 1.0) * step_latency_s


def allreduce_s(s: Scenario, message_bytes, devices, stride=1.0):
    """All-reduce of ``message_bytes`` over a group of ``devices``, s, over the links it
    crosses (module docstring).

    ``stride`` is the mesh distance between group members (1 for a tensor-parallel group,
    ``tp x dp_attention`` for a context-parallel group): ``G_u / stride`` members share a
    domain.  With the defaults (no one-shot kernel, one domain) this is exactly
    :func:`ring_allreduce_s`.
    """
    h = s.hardware
    p = kink_min(devices, kink_max(h.scaleup_domain_devices / stride, 1.0))  # per domain
    beta = h.scaleup_bytes_per_s
    half = 2.0 * (p - 1.0) / p * message_bytes / beta  # ring and two-shot bandwidth term
    latency = h.allreduce_latency_s * _steps(p)
    intra = soft_min(half + 2.0 * (p - 1.0) * h.scaleup_latency_s,
                     (p - 1.0) * message_bytes / beta + latency, half + 2.0 * latency)
    n = devices / p  # domains spanned (1 inside one)
    beta_o = h.scaleout_bytes_per_s
    inter = 2.0 * (n - 1.0) / n * safe_div(message_bytes / p, beta_o, 0.0)
    inter = inter + 2.0 * (n - 1.0) * h.scaleout_latency_s
    return intra + jnp.where((beta_o > 0) | (n <= 1.0), inter, jnp.inf)


def alltoall_s(s: Scenario, up_bytes, out_bytes, engaged=1.0):
    """One all-to-all in which each device moves ``up_bytes`` over the scale-up link and
    ``out_bytes`` over its NIC, concurrently, s:
    ``max(up / beta_s, out / beta_o) + engaged x (alpha_a (+ alpha_o if anything leaves))``.

    ``engaged`` scales the base latencies (1: the all-to-all runs; see ``moe_comm_s``).
    Example (DeepSeek-V3 decode dispatch + combine of one MoE layer on 18 nodes of 8 H800:
    88 tokens x 7168 x 3 B x 7.9 copies over NVLink, 200 GB/s, and x 6.2 remote nodes over
    the 50 GB/s NIC): max(15.0 MB / 200 GB/s, 11.7 MB / 50 GB/s) = 235 us.
    """
    h = s.hardware
    t_out = jnp.where(out_bytes != 0, _over(out_bytes, h.scaleout_bytes_per_s),
                      -jnp.inf)  # nothing leaves the domain: no NIC term (no kink at 0 bytes)
    t = kink_max(up_bytes / h.scaleup_bytes_per_s, t_out)
    crossing = jnp.where(out_bytes > 0, h.scaleout_latency_s, 0.0)
    return t + engaged * (h.alltoall_latency_s + crossing)


def p2p_s(s: Scenario, n_bytes, crosses):
    """One point-to-point send of ``n_bytes``, s: ``b / beta + alpha`` over scale-out where
    ``crosses``, else over scale-up.

    Example (a pipeline boundary, 64 tokens x 16384 x 2 B = 2.1 MB over a 50 GB/s NIC with
    alpha_o = 2 us): 42 + 2 = 44 us.
    """
    h = s.hardware
    up = n_bytes / h.scaleup_bytes_per_s + h.scaleup_latency_s
    out = _over(n_bytes, h.scaleout_bytes_per_s) + h.scaleout_latency_s
    return jnp.where(crosses, out, up)


# ----------------------------------------------------------------------------- what a pass sends


def allreduces_per_pass(s: Scenario):
    """Tensor-parallel all-reduces of one forward pass through every layer.

    ``r L`` (``r`` = allreduces_per_layer: 2 for Megatron-style blocks, Shoeybi et al.
    2019; 1 for parallel blocks), less one per MoE layer under DP attention, whose expert
    output comes back through the combine all-to-all instead (``switch_on(dp_attention)``:
    exact at integer degrees).  Yi-34B: 2 x 60 = 120; DeepSeek-V3 at dp_attention >= 2:
    122 - 58 = 64.
    """
    m, w = s.model, s.workload
    swapped = par.moe_layers(s) * par.switch_on(w.dp_attention)
    return clamp_min(m.allreduces_per_layer * m.n_layers - swapped, 0.0)


def tp_comm_s(s: Scenario, tokens):
    """All-reduce time of one forward pass over ``tokens`` tokens of one TP group, s.

    ``allreduces_per_pass`` all-reduces of ``tokens x D x 2 B`` over the ``tp`` devices
    (:func:`allreduce_s`); 0 at TP = 1.
    Example (Yi-34B, TP 8 on A100 NVLink 300 GB/s, ring step 5 us, one token):
    120 x (2 x 7/8 x 14336 / 300e9 + 14 x 5e-6) = 120 x 70.08 us = 8.41 ms.
    """
    m, w = s.model, s.workload
    message = tokens * m.d_model * activation_bytes(s)
    one = allreduce_s(s, message, w.tp)
    return allreduces_per_pass(s) * one


def moe_comm_s(s: Scenario, tokens):
    """Expert dispatch + combine time of one forward pass over ``tokens`` tokens entering
    the ``G = tp x a`` expert group (all DP ranks together), s; 0 without DP attention.

    Under DP attention each rank holds its own tokens and sends each to the devices holding
    a piece of its ``k`` experts: ``n = min(k G / ep, G) x (1 - 1/a)`` copies off the rank
    (``k`` devices when experts are placed whole, ``ep = G``; all ``G`` when they are
    sliced, ``ep = 1``; uniform routing).  Each device sends ``tokens / G`` tokens of
    ``D`` activations: dispatched at the weights' precision up to bf16 (``min(b_w, 2)`` B:
    fp8 for fp8 weights, as DeepSeek does) and combined in bf16 (2 B), times the imbalance
    ``lambda``.  Over scale-up every copy; over the NIC, once per *remote domain* holding a
    destination (hierarchical dispatch, DeepEP's normal kernels): with ``R = G / G_u``
    domains, ``(R - 1)(1 - (1 - 1/R)^n)`` of them per token.  Without DP attention the
    tokens are already on every rank and the layer's all-reduce returns the expert output
    (:func:`allreduces_per_pass`).  The base latency counts from ``a = 2`` (``switch_on``).
    Example (DeepSeek-V3 decode on 18 nodes of 8 H800, EP = DP = 144): n = 8 x 143/144 =
    7.94 copies, R = 18: 17 (1 - (17/18)^7.94) = 6.2 remote nodes per token (not 7.5).
    """
    m, w, h = s.model, s.workload, s.hardware
    g = par.expert_group_devices(s)
    copies = kink_min(m.experts_per_token * g / w.ep, g) * (1.0 - 1.0 / w.dp_attention)
    domains = g / kink_min(g, h.scaleup_domain_devices)
    miss = 1.0 - 1.0 / domains  # a given remote domain holds none of one copy (0: one domain)
    remote = (domains - 1.0) * (1.0 - jnp.exp(copies * jnp.log(jnp.where(miss > 0, miss, 1.0))))
    act = activation_bytes(s)
    element = kink_min(w.weight_bytes_per_param, act) + act
    per_token = m.d_model * element * w.moe_imbalance * tokens / g
    engaged = 2.0 * par.switch_on(w.dp_attention)  # dispatch and combine: two latencies
    return par.moe_layers(s) * alltoall_s(s, per_token * copies, per_token * remote, engaged)


def pipeline_comm_s(s: Scenario, tokens):
    """One stage-boundary send of a microbatch of ``tokens`` tokens per TP group, s:
    ``tokens / tp x D x 2 B`` per device (each TP rank sends its slice), over the NIC when
    the replica spans more than one domain; 0 without pipelining (``switch_on(pp)``)."""
    m, w = s.model, s.workload
    n_bytes = tokens / w.tp * m.d_model * activation_bytes(s)
    crosses = par.spans_domains(s, par.devices_per_replica(s))
    return par.switch_on(w.pp) * p2p_s(s, n_bytes, crosses)


def cp_ring_s(s: Scenario, tokens):
    """The KV ring of context parallelism over a prefill chunk of ``tokens`` tokens, s.

    Each rank holds ``tokens / cp`` tokens' KV and forwards ``cp - 1`` blocks to its ring
    neighbour per layer of its stage (Liu et al. 2023, ring attention; Yang et al. 2024,
    arXiv 2411.01783, "pass-KV"): ``(cp - 1)/cp x KV(tokens) / (kv_shards pp)`` bytes and
    ``(cp - 1) L / pp`` steps, over the NIC when ``tp x a x cp`` leaves the domain.  The
    prefill overlaps it with attention compute (``kvjax.costs.prefill_comm_s``).
    Example (Llama-3.1-405B, 1M tokens, CP 16 x TP 8 on H100 nodes, 50 GB/s NIC, bf16 KV):
    15/16 x 1e6 x 516,096 B / 8 = 60.5 GB, 1.21 s + 1890 steps x alpha_o.
    """
    m, w, h = s.model, s.workload, s.hardware
    kv = mem.kv_bytes_per_token(s) * mem.kv_tokens_kept(s, tokens) / mem.kv_shards(s) / w.pp
    n_bytes = (w.cp - 1.0) / w.cp * kv
    crosses = par.spans_domains(s, w.tp * w.dp_attention * w.cp)
    beta = jnp.where(crosses, h.scaleout_bytes_per_s, h.scaleup_bytes_per_s)
    alpha = jnp.where(crosses, h.scaleout_latency_s, h.scaleup_latency_s)
    return _over(n_bytes, beta) + (w.cp - 1.0) * m.n_layers / w.pp * alpha


def cp_merge_s(s: Scenario, tokens):
    """Decode under context parallelism: per layer the ``cp`` ranks' partial attention
    outputs (``N H / tp`` values per token and device, 2 B each) are summed by a ring
    all-reduce over the strided cp group, over the NIC when ``tp x a x cp`` leaves the
    domain, s; 0 without context parallelism."""
    m, w, h = s.model, s.workload, s.hardware
    message = tokens * m.n_heads * m.head_dim / w.tp * activation_bytes(s)
    crosses = par.spans_domains(s, w.tp * w.dp_attention * w.cp)
    beta = jnp.where(crosses, h.scaleout_bytes_per_s, h.scaleup_bytes_per_s)
    alpha = jnp.where(crosses, h.scaleout_latency_s, h.scaleup_latency_s)
    p = w.cp
    one = 2.0 * (p - 1.0) / p * _over(message, beta) + 2.0 * (p - 1.0) * alpha
    return m.n_layers * one
