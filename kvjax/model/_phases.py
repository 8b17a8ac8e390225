"""The three phases a session goes through: prefill, decode, and context switching.

Each is a roofline of FLOP against peak FLOP/s and bytes against HBM bandwidth, plus the
tensor-parallel all-reduces over the scale-up link (added, not overlapped: an upper bound on
their cost).  Latencies of infeasible points are NaN.  The paper's running example (Yao Fu,
arXiv 2405.08944: prefill 0.89 s, decode of 250 tokens 8.5 s at 4K and 9.8 s at 50K; the
prefill attention convention is discussed in ``docs/cost-model.md``):

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)             # the paper's Yi-34B (its round 34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)  # datasheet
>>> s = Scenario(yi, a100, Workload(context_tokens=4000.0))
>>> round(float(prefill_s(s)), 3), round(float(decode_s(s)), 2)
(0.916, 8.46)
>>> round(float(decode_s(s.replace(workload=Workload(context_tokens=50_000.0)))), 2)
9.85
"""

from __future__ import annotations

from . import _memory as mem
from ._numerics import kink_max, nan_unless
from ._roofline import ring_allreduce_s
from ._types import Scenario

ACTIVATION_BYTES = 2.0
"""Bytes per activation element sent in TP all-reduces (bf16)."""

ALLREDUCES_PER_LAYER = 2.0
"""Megatron-style TP: one all-reduce after attention, one after the MLP (Shoeybi et al. 2019)."""


def _peak_flop_per_s(s: Scenario):
    w = s.workload
    return w.tp * s.hardware.flop_per_s * w.flop_efficiency


def _device_bytes_per_s(s: Scenario):
    return s.hardware.hbm_bytes_per_s * s.workload.bandwidth_efficiency


def tp_comm_s(s: Scenario, tokens):
    """All-reduce time of one forward pass over ``tokens`` tokens, s.

    ``2 L`` ring all-reduces of ``tokens x D x 2 B`` over the TP group
    (``kvjax.costs.ring_allreduce_s``); 0 at TP = 1.
    """
    h, m, w = s.hardware, s.model, s.workload
    message = tokens * m.d_model * ACTIVATION_BYTES
    one = ring_allreduce_s(message, w.tp, h.scaleup_bytes_per_s, h.scaleup_latency_s)
    return ALLREDUCES_PER_LAYER * m.n_layers * one


# ----------------------------------------------------------------------------- prefill


def prefill_attention_flop(s: Scenario):
    """Attention-score FLOP of a prefill of ``T`` tokens (all devices).

    Per layer and head, ``Q K^T`` and ``A V`` each cost ``2 T S H`` FLOP with ``S`` keys per
    query, so ``4 L N H T S``; ``S = m T`` on full layers (``m`` = attention_mask_fraction:
    0.5 causal, 1 non-causal) and ``min(m T, W)`` on windowed layers (an upper bound on the
    exact causal average ``W - W^2 / 2T``: a third too high at ``T = 2W``, exact as
    ``T / W`` grows).
    Example (Yi-34B, T = 50,000, causal): 4 x 60 x 56 x 128 x 50000 x 25000 = 2.15e15 FLOP.
    """
    m, w = s.model, s.workload
    t = w.context_tokens
    seen = mem.windowed_tokens(s, w.attention_mask_fraction * t)
    return 4.0 * m.n_layers * m.n_heads * m.head_dim * t * seen


def prefill_flop(s: Scenario):
    """FLOP of prefilling one user's ``T``-token prompt: ``2 P_active T + attention``.

    Example (paper: Yi-34B, 34e9 params, T = 4000): linear term 2 x 34e9 x 4000 = 2.72e14,
    causal attention 1.38e13, total 2.86e14 FLOP.
    """
    return 2.0 * mem.active_params(s) * s.workload.context_tokens + prefill_attention_flop(s)


def prefill_bytes(s: Scenario):
    """HBM bytes a prefill moves per device: its share of the weights, read once (the
    experts ``T`` tokens touch), plus its share of the user's KV, written
    (``kv_bytes_per_user / kv_shards``)."""
    t = s.workload.context_tokens
    weights = mem.weight_bytes_touched(s, t) / s.workload.tp
    return weights + mem.kv_bytes_per_user_per_device(s)


def prefill_compute_s(s: Scenario):
    """``prefill_flop / (TP x peak FLOP/s x efficiency)``, s."""
    return prefill_flop(s) / _peak_flop_per_s(s)


def prefill_memory_s(s: Scenario):
    """``prefill_bytes / (HBM bandwidth x efficiency)``, s (per device, in parallel)."""
    return prefill_bytes(s) / _device_bytes_per_s(s)


def prefill_comm_s(s: Scenario):
    """TP all-reduce time of the prefill, s (0 at TP = 1)."""
    return tp_comm_s(s, s.workload.context_tokens)


def prefill_time_s(s: Scenario):
    """``max(compute, memory) + comm`` of the prefill, s, whether or not the KV fits."""
    return kink_max(prefill_compute_s(s), prefill_memory_s(s)) + prefill_comm_s(s)


def prefill_s(s: Scenario):
    """Time to first token: ``prefill_time_s``, s; NaN when one user does not fit.

    Example (paper: Yi-34B 34e9, one A100 at 312e12 FLOP/s, T = 4000, causal):
    2.86e14 / 312e12 = 0.916 s (the paper quotes 0.89 s; the linear term alone is 0.872 s).
    """
    return nan_unless(mem.fits_one(s), prefill_time_s(s))


# ----------------------------------------------------------------------------- decode


def decode_context_tokens(s: Scenario):
    """Mean context during decode: ``T + (n_out - 1) / 2`` (step ``i`` sees ``T + i`` tokens).

    Because step bytes are linear in context, ``n_out`` steps at this mean context move
    exactly the bytes of the ``n_out`` real steps (an upper bound instead when a window
    boundary falls inside the decode range).
    """
    w = s.workload
    return w.context_tokens + 0.5 * (w.output_tokens - 1.0)


def decode_step_bytes_at(s: Scenario, batch):
    """HBM bytes per device of one decode step at ``batch`` users.

    ``weights touched by batch tokens / TP + batch x KV per user at the mean decode context
    / kv_shards`` (KV is split by head: see ``kvjax.costs.kv_shards``).
    Example (paper: Yi-34B 68e9 B weights, batch 1, T = 4000, 250 out): 68e9 + 245,760 x
    4124.5 = 69.01e9 B.
    """
    kv_user = mem.kv_bytes_per_token(s) * mem.kv_tokens_kept(s, decode_context_tokens(s))
    weights = mem.weight_bytes_touched(s, batch) / s.workload.tp
    return weights + batch * kv_user / mem.kv_shards(s)


def decode_step_flop_at(s: Scenario, batch):
    """FLOP of one decode step at ``batch`` users (all devices).

    ``batch x (2 P_active + 4 L N H S)`` with ``S`` the kept, attended keys.
    """
    m = s.model
    keys = mem.kv_tokens_kept(s, decode_context_tokens(s))
    per_token = 2.0 * mem.active_params(s) + 4.0 * m.n_layers * m.n_heads * m.head_dim * keys
    return batch * per_token


def decode_step_parts_at(s: Scenario, batch):
    """(compute_s, memory_s, comm_s) of one decode step at ``batch`` users."""
    compute = decode_step_flop_at(s, batch) / _peak_flop_per_s(s)
    memory = decode_step_bytes_at(s, batch) / _device_bytes_per_s(s)
    return compute, memory, tp_comm_s(s, batch)


def decode_step_s_at(s: Scenario, batch):
    """One decode step at ``batch`` users, s: ``max(compute, memory) + comm`` (no NaN mask)."""
    compute, memory, comm = decode_step_parts_at(s, batch)
    return kink_max(compute, memory) + comm


def decode_step_bytes(s: Scenario):
    """``decode_step_bytes_at`` the workload's batch, bytes per device."""
    return decode_step_bytes_at(s, s.workload.batch)


def decode_step_flop(s: Scenario):
    """``decode_step_flop_at`` the workload's batch, FLOP."""
    return decode_step_flop_at(s, s.workload.batch)


def decode_step_s(s: Scenario):
    """Time per output token with ``batch`` users resident, s; NaN if they do not fit.

    Example (paper: Yi-34B 68e9 B, A100 2.039e12 B/s, batch 1, 4K): 69.01e9 / 2.039e12
    = 33.8 ms, bandwidth-bound (compute: 7.51e10 FLOP / 312e12 = 0.24 ms).
    """
    return nan_unless(mem.fits(s), decode_step_s_at(s, s.workload.batch))


def decode_s(s: Scenario):
    """Time to generate ``output_tokens`` tokens: ``n_out x decode_step_s``, s.

    Example (paper, 250 tokens): 250 x 33.8 ms = 8.46 s at 4K (paper 8.5 s) and
    250 x 39.4 ms = 9.85 s at 50K (paper 9.8 s).
    """
    return s.workload.output_tokens * decode_step_s(s)


def decode_tokens_per_s_per_user(s: Scenario):
    """Output tokens per second each user sees: ``1 / decode_step_s``."""
    return 1.0 / decode_step_s(s)


def decode_tokens_per_s(s: Scenario):
    """Aggregate output tokens per second of the TP group: ``batch / decode_step_s``."""
    return s.workload.batch / decode_step_s(s)


# ----------------------------------------------------------------------------- switching


def swap_time_s(s: Scenario):
    """Swap one user's KV out to host memory and another's in, s, whether or not it fits.

    ``(KV out + KV in) / kv_shards / host link bandwidth``: each device moves its share over
    its own PCIe link, in parallel.
    """
    return 2.0 * mem.kv_bytes_per_user_per_device(s) / s.hardware.host_link_bytes_per_s


def context_switch_s(s: Scenario):
    """``swap_time_s``; NaN when one user's KV cannot fit.

    Example (paper, Yi-34B at 50K, PCIe 4.0 x16 at 32e9 B/s each way):
    2 x 12.29e9 / 32e9 = 0.77 s.
    """
    return nan_unless(mem.fits_one(s), swap_time_s(s))
