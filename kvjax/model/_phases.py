"""The three phases a session goes through: prefill, decode, and context switching.

Each is a roofline of FLOP against peak FLOP/s and bytes against HBM bandwidth, plus the
collectives the deployment adds (``kvjax/model/_collectives.py``: tensor-parallel
all-reduces, MoE all-to-alls, pipeline sends, the context-parallel KV ring), added unless
``comm_overlap`` hides them (:func:`phase_time_s`).  A pipeline runs its stages in ticks
(``kvjax/model/_parallel.py``).  Latencies of infeasible points are NaN.  The paper's
running example (Yao Fu, arXiv 2405.08944: prefill 0.89 s, decode of 250 tokens 8.5 s at
4K and 9.8 s at 50K; the prefill attention convention is discussed in
``docs/cost-model.md``):

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

from . import _collectives as col
from . import _memory as mem
from . import _parallel as par
from ._collectives import ACTIVATION_BYTES as ACTIVATION_BYTES
from ._collectives import tp_comm_s as tp_comm_s
from ._numerics import clamp_min, kink_max, kink_min, nan_unless
from ._types import Scenario


def _peak_flop_per_s(s: Scenario):
    w = s.workload
    return w.tp * s.hardware.flop_per_s * w.flop_efficiency


def _device_bytes_per_s(s: Scenario):
    return s.hardware.hbm_bytes_per_s * s.workload.bandwidth_efficiency


def phase_time_s(compute, memory, comm, overlap):
    """A phase's time from its parts, s: ``max(compute, memory) + comm - o min(comm, max)``.

    ``o = comm_overlap``: 0 adds the communication (the paper's convention, an upper bound
    on its cost), 1 hides it under the roofline (``max(compute, memory, comm)``, the lower
    bound), in between linearly.  Example: parts 10, 30, 20 ms: 50 ms at o = 0, 30 ms at 1.
    """
    roof = kink_max(compute, memory)
    return roof + comm - overlap * kink_min(comm, roof)


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


def _prefill_split(s: Scenario):
    """(chunk tokens, share of one user's FLOP per device and tick): ``T / u`` and
    ``1 / (u cp pp)``, with ``u = microbatches_per_stage x pp`` chunks."""
    w = s.workload
    u = par.microbatches(s)
    return w.context_tokens / u, u * w.cp * w.pp


def prefill_bytes(s: Scenario):
    """HBM bytes a prefill moves per device: its share of the weights, read once per tick
    (the experts the group's tokens touch), plus its share of the user's KV, written.

    ``ticks x (weight_bytes_touched_per_device(a T / u) + kv_bytes_per_user_per_device / u)``
    with ``u`` chunks and ``u + pp - 1`` ticks (1 and 1 without pipelining).
    """
    chunk, _ = _prefill_split(s)
    weights = mem.weight_bytes_touched_per_device(s, s.workload.dp_attention * chunk)
    tick = weights + mem.kv_bytes_per_user_per_device(s) / par.microbatches(s)
    return par.prefill_ticks(s) * tick


def prefill_compute_s(s: Scenario):
    """``prefill_flop / (TP x peak FLOP/s x efficiency) / (cp pp)``, times the pipeline's
    ``(u + pp - 1)/u`` ticks, s: each device computes its share of one user's prefill."""
    _, split = _prefill_split(s)
    return par.prefill_ticks(s) * (prefill_flop(s) / split / _peak_flop_per_s(s))


def prefill_memory_s(s: Scenario):
    """``prefill_bytes / (HBM bandwidth x efficiency)``, s (per device, in parallel)."""
    return prefill_bytes(s) / _device_bytes_per_s(s)


def prefill_comm_s(s: Scenario):
    """Communication time of the prefill, s: per tick the TP all-reduces and MoE
    all-to-alls of the tick's layers, one pipeline send, and the part of the context-
    parallel KV ring that attention compute does not hide, ``max(0, ring - attention)``
    (0 at TP = CP = PP = 1 without DP attention)."""
    w = s.workload
    chunk, split = _prefill_split(s)
    attention = prefill_attention_flop(s) / split / _peak_flop_per_s(s)
    tp_tokens = chunk / w.cp  # tokens of one TP group
    tick = (col.tp_comm_s(s, tp_tokens) / w.pp
            + col.moe_comm_s(s, w.dp_attention * tp_tokens) / w.pp
            + col.pipeline_comm_s(s, tp_tokens)
            + clamp_min(col.cp_ring_s(s, chunk) - attention, 0.0))  # fmt: skip
    return par.prefill_ticks(s) * tick


def prefill_time_s(s: Scenario):
    """``phase_time_s(compute, memory, comm)`` of the prefill, s, whether or not the KV fits
    (``max(compute, memory) + comm`` at the default ``comm_overlap = 0``)."""
    return phase_time_s(prefill_compute_s(s), prefill_memory_s(s), prefill_comm_s(s),
                        s.workload.comm_overlap)  # fmt: skip


def prefill_work_s(s: Scenario):
    """Replica-seconds one prefill occupies in steady state, s: ``prefill_time_s x u /
    (u + pp - 1) / a`` (other users' chunks fill the pipeline bubble; the ``a`` DP ranks
    prefill ``a`` users at once).  ``prefill_time_s`` without pipelining or DP attention."""
    w = s.workload
    return prefill_time_s(s) * par.microbatches(s) / par.prefill_ticks(s) / w.dp_attention


def prompt_tokens_per_s_per_device(s: Scenario):
    """Prompt tokens prefilled per second per device in steady state:
    ``T / (prefill_work_s x devices_per_replica)``; NaN when one user does not fit."""
    t = s.workload.context_tokens / (prefill_work_s(s) * par.devices_per_replica(s))
    return nan_unless(mem.fits_one(s), t)


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
    / kv_shards`` (KV is split by head: see ``kvjax.costs.kv_shards``), per pipeline tick
    with ``batch / u`` users, ``u = microbatches_per_stage x pp`` ticks; a DP rank reads its
    own ``batch / (u a)`` users' KV, a pipeline stage its layers, a context rank its tokens.
    Example (paper: Yi-34B 68e9 B weights, batch 1, T = 4000, 250 out): 68e9 + 245,760 x
    4124.5 = 69.01e9 B.
    """
    w = s.workload
    tick = batch / par.microbatches(s)
    kv_user = mem.kv_bytes_per_token(s) * mem.kv_tokens_kept(s, decode_context_tokens(s))
    weights = mem.weight_bytes_touched_per_device(s, tick)
    kv = tick / w.dp_attention * kv_user / mem.kv_shards(s) / par.kv_splits(s)
    return par.decode_ticks(s) * (weights + kv)


def _decode_keys_and_linear(s: Scenario):
    m = s.model
    keys = mem.kv_tokens_kept(s, decode_context_tokens(s))
    return 2.0 * mem.active_params(s), 4.0 * m.n_layers * m.n_heads * m.head_dim * keys


def decode_step_flop_at(s: Scenario, batch):
    """FLOP of one decode step at ``batch`` users (all devices).

    ``batch x (2 P_active + 4 L N H S)`` with ``S`` the kept, attended keys.
    """
    linear, attention = _decode_keys_and_linear(s)
    return batch * (linear + attention)


def decode_step_parts_at(s: Scenario, batch):
    """(compute_s, memory_s, comm_s) of one decode step at ``batch`` users.

    Per tick of ``batch / u`` users: each device computes ``1/(tp a pp)`` of the linear
    FLOP and ``1/(tp a pp cp)`` of the attention; the communication is the tick's share of
    the TP all-reduces (of each DP rank's tokens), the MoE all-to-alls (of all of them), one
    pipeline send and the context ranks' attention merge; ``u`` ticks a step.
    """
    w = s.workload
    ticks = par.decode_ticks(s)
    tick = batch / par.microbatches(s)
    rank = tick / w.dp_attention  # tokens of one TP group
    linear, attention = _decode_keys_and_linear(s)
    flop = tick * (linear + attention / w.cp) / (w.dp_attention * w.pp)
    compute = ticks * (flop / _peak_flop_per_s(s))
    memory = decode_step_bytes_at(s, batch) / _device_bytes_per_s(s)
    comm = (col.tp_comm_s(s, rank) / w.pp + col.moe_comm_s(s, tick) / w.pp
            + col.pipeline_comm_s(s, rank) + col.cp_merge_s(s, rank) / w.pp)  # fmt: skip
    return compute, memory, ticks * comm


def decode_step_s_at(s: Scenario, batch):
    """One decode step at ``batch`` users, s: ``phase_time_s`` of its parts (no NaN mask)."""
    compute, memory, comm = decode_step_parts_at(s, batch)
    return phase_time_s(compute, memory, comm, s.workload.comm_overlap)


def decode_comm_s(s: Scenario):
    """Communication part of a decode step at the workload's batch, s (NaN if it does not
    fit): what DP attention, EP and the links trade against HBM time."""
    return nan_unless(mem.fits(s), decode_step_parts_at(s, s.workload.batch)[2])


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
    """Aggregate output tokens per second of the replica: ``batch / decode_step_s``."""
    return s.workload.batch / decode_step_s(s)


def decode_tokens_per_s_per_device(s: Scenario):
    """Output tokens per second per device while decoding: ``decode_tokens_per_s /
    devices_per_replica`` (times 8 for an HGX node's throughput)."""
    return decode_tokens_per_s(s) / par.devices_per_replica(s)


# ----------------------------------------------------------------------------- switching


def swap_time_s(s: Scenario):
    """Swap one user's KV out to host memory and another's in, s, whether or not it fits.

    ``2 x kv_bytes_per_user_per_device / host link bandwidth``: each device moves its share
    over its own PCIe link, in parallel.
    """
    return 2.0 * mem.kv_bytes_per_user_per_device(s) / s.hardware.host_link_bytes_per_s


def context_switch_s(s: Scenario):
    """``swap_time_s``; NaN when one user's KV cannot fit.

    Example (paper, Yi-34B at 50K, PCIe 4.0 x16 at 32e9 B/s each way):
    2 x 12.29e9 / 32e9 = 0.77 s.
    """
    return nan_unless(mem.fits_one(s), swap_time_s(s))
