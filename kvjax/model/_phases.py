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
>>> paper = dict(hbm_utilization=1.0, hbm_reserve_bytes=0.0)  # all of HBM, as the paper
>>> s = Scenario(yi, a100, Workload(context_tokens=4000.0, **paper))
>>> round(float(prefill_s(s)), 3), round(float(decode_s(s)), 2)
(0.916, 8.46)
>>> round(float(decode_s(s.replace(workload=Workload(context_tokens=50_000.0, **paper)))), 2)
9.85
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _attention as att
from . import _collectives as col
from . import _memory as mem
from . import _operators as op
from . import _parallel as par
from ._attention import prefill_attention_flop as prefill_attention_flop
from ._collectives import ACTIVATION_BYTES as ACTIVATION_BYTES
from ._collectives import tp_comm_s as tp_comm_s
from ._numerics import clamp_min, kink_max, kink_min, nan_unless, safe_div
from ._types import Scenario


def combine_s(roof, comm, overlap):
    """A phase's time from its roofline and its communication, s:
    ``roof + comm - o min(comm, roof)``.

    ``o = comm_overlap``: 0 adds the communication (the paper's convention, an upper bound
    on its cost), 1 hides it under the roofline (``max(roof, comm)``, the lower bound), in
    between linearly.  Example: roof 30 ms, comm 20 ms: 50 ms at o = 0, 30 ms at 1.
    """
    return roof + comm - overlap * kink_min(comm, roof)


def phase_time_s(compute, memory, comm, overlap):
    """A phase's time from one roofline, s: ``combine_s(max(compute, memory), comm, o)``.
    Example: parts 10, 30, 20 ms: 50 ms at o = 0, 30 ms at 1."""
    return combine_s(kink_max(compute, memory), comm, overlap)


def _elementwise_bytes(s: Scenario, tokens):
    """Elementwise HBM bytes per device of ``tokens`` tokens of one TP group through a stage:
    ``v_e (L / pp) x D q_a / 8 / tp`` (norms and residuals sequence-parallel over TP)."""
    m, w = s.model, s.workload
    per_token = w.elementwise_vectors_per_layer * m.n_layers / w.pp * m.d_model
    return tokens * per_token * w.activation_bits / 8.0 / w.tp


# ----------------------------------------------------------------------------- prefill


def prefill_new_tokens(s: Scenario):
    """Prompt tokens a prefill computes: ``T - c`` with ``c`` the cached ones
    (``kvjax.costs.cached_prompt_tokens``: the shared prefix on a hit; 0 by default)."""
    return s.workload.context_tokens - mem.cached_prompt_tokens(s)


def prefill_gemm_flop(s: Scenario):
    """GEMM FLOP of one user's prefill (all devices): ``2 (P_a - P_h) T' + 2 P_h (1 + l (T' -
    1))`` over the ``T' = T - c`` computed tokens: every token through the layers, the head
    on the last token only (``l`` = logits_token_share).  Example (Yi-34B, 34e9, T = 4000):
    2.72e14 FLOP; with a 3,000-token system prompt cached: 6.80e13."""
    t = prefill_new_tokens(s)
    head = mem.head_params(s)
    logits = 1.0 + s.workload.logits_token_share * (t - 1.0)
    return 2.0 * (mem.active_params(s) - head) * t + 2.0 * head * logits


def prefill_flop(s: Scenario):
    """FLOP of prefilling one user's ``T``-token prompt: GEMMs + attention.

    Example (paper: Yi-34B, 34e9 params, T = 4000): linear term 2 x 34e9 x 4000 = 2.72e14,
    causal attention 1.38e13, total 2.86e14 FLOP.
    """
    return prefill_gemm_flop(s) + prefill_attention_flop(s, mem.cached_prompt_tokens(s))


def _prefill_split(s: Scenario):
    """(chunk tokens, share of one user's FLOP per device and tick): ``T' / u`` and
    ``1 / (u cp pp)``, with ``u = microbatches_per_stage x pp`` chunks of the ``T'``
    computed tokens."""
    w = s.workload
    u = par.microbatches(s)
    return prefill_new_tokens(s) / u, u * w.cp * w.pp


def _prefill_tick_bytes(s: Scenario):
    """(weights, KV, elementwise) HBM bytes per device and tick of a prefill.

    Weights: the share the group's tokens touch, read once per chunk of ``c =
    prefill_chunk_tokens`` (``max(1, T / (u c))`` times; once unchunked).  KV: the tick's
    share of the user's cache, written, and re-read by the later chunks (``(n_c - 1) / 2``
    times on average), and the cached prefix's KV, read once per chunk.  Elementwise:
    ``v_e`` activation vectors per token and layer.
    """
    w = s.workload
    chunk, _ = _prefill_split(s)
    c = w.prefill_chunk_tokens
    chunked = c > 0
    per_read = jnp.where(chunked, kink_min(chunk, c), chunk)  # tokens of one pass
    reads = jnp.where(chunked, safe_div(chunk, per_read, 1.0), 1.0)  # a prompt all cached: 0/0
    weights = mem.weight_bytes_touched_per_device(s, w.dp_attention * per_read) * reads
    cached = mem.kv_bytes_per_token(s) * mem.kv_tokens_kept(s, mem.cached_prompt_tokens(s))
    cached = cached / mem.kv_shards(s) / par.kv_splits(s)
    new = mem.kv_bytes_per_user_per_device(s) - cached
    kv = (new * (0.5 + 0.5 * reads) + cached * reads) / par.microbatches(s)
    return weights, kv, _elementwise_bytes(s, chunk / w.cp)


def prefill_bytes(s: Scenario):
    """HBM bytes a prefill moves per device: its share of the weights, read once per tick
    (the experts the group's tokens touch) and per chunk, plus its share of the user's KV,
    written, plus elementwise traffic.

    ``ticks x (weight_bytes_touched_per_device(a T / u) + kv_bytes_per_user_per_device / u)``
    with ``u`` chunks and ``u + pp - 1`` ticks (1 and 1 without pipelining).
    """
    weights, kv, elementwise = _prefill_tick_bytes(s)
    return par.prefill_ticks(s) * (weights + kv + elementwise)


def prefill_classes(s: Scenario):
    """``((c, m) gemm, (c, m) attention, (c, m) elementwise)`` of the prefill, s per device:
    each class's FLOP share ``1 / (u cp pp)`` over its own FLOP/s, its bytes over HBM
    bandwidth, times the ``u + pp - 1`` ticks."""
    _, split = _prefill_split(s)
    ticks = par.prefill_ticks(s)
    weights, kv, elementwise = _prefill_tick_bytes(s)
    beta = op.device_bytes_per_s(s)
    f_gemm, f_attention = op.class_flop_per_s(s)
    gemm = (ticks * (prefill_gemm_flop(s) / split / f_gemm), ticks * weights / beta)
    attention_flop = prefill_attention_flop(s, mem.cached_prompt_tokens(s))
    attention = (ticks * (attention_flop / split / f_attention),
                 ticks * kv / op.kv_bytes_per_s(s))  # fmt: skip
    return gemm, attention, (0.0, ticks * elementwise / beta)


def prefill_compute_s(s: Scenario):
    """Compute time of the prefill, s: every class's FLOP over its FLOP/s (``prefill_flop /
    (TP x peak FLOP/s x efficiency) / (cp pp)`` with one precision), times the pipeline's
    ``(u + pp - 1)/u`` ticks: each device computes its share of one user's prefill."""
    return op.roof_s(s, prefill_classes(s))[1]


def prefill_memory_s(s: Scenario):
    """``prefill_bytes / (HBM bandwidth x efficiency)``, s (per device, in parallel)."""
    return op.roof_s(s, prefill_classes(s))[2]


def prefill_comm_s(s: Scenario, classes=None):
    """Communication time of the prefill, s: per tick the TP all-reduces and MoE
    all-to-alls of the tick's layers, one pipeline send, and the part of the context-
    parallel KV ring that attention compute does not hide, ``max(0, ring - attention)``
    (0 at TP = CP = PP = 1 without DP attention).  ``classes``: ``prefill_classes(s)`` if
    already computed."""
    w = s.workload
    chunk, _ = _prefill_split(s)
    classes = prefill_classes(s) if classes is None else classes
    attention = classes[1][0] / par.prefill_ticks(s)  # attention compute of one tick
    tp_tokens = chunk / w.cp  # tokens of one TP group
    tick = (col.tp_comm_s(s, tp_tokens) / w.pp
            + col.moe_comm_s(s, w.dp_attention * tp_tokens) / w.pp
            + col.pipeline_comm_s(s, tp_tokens)
            + clamp_min(col.cp_ring_s(s, chunk) - attention, 0.0))  # fmt: skip
    return par.prefill_ticks(s) * tick


def prefill_terms(s: Scenario, classes=None):
    """``(compute, memory, comm, roof)`` of the prefill, s (``roof``: ``op.roof_s``), from
    its ``prefill_classes`` (computed here unless given)."""
    classes = prefill_classes(s) if classes is None else classes
    roof, compute, memory = op.roof_s(s, classes)
    return compute, memory, prefill_comm_s(s, classes), roof


def prefill_time_s(s: Scenario):
    """``combine_s(roof, comm)`` of the prefill, s, whether or not the KV fits
    (``max(compute, memory) + comm`` at the default overlaps)."""
    _, _, comm, roof = prefill_terms(s)
    return combine_s(roof, comm, s.workload.comm_overlap)


def prefill_work_s(s: Scenario):
    """Replica-seconds one prefill occupies in steady state, s: ``prefill_time_s x u /
    (u + pp - 1) / a`` (other users' chunks fill the pipeline bubble; the ``a`` DP ranks
    prefill ``a`` users at once).  ``prefill_time_s`` without pipelining or DP attention."""
    w = s.workload
    return prefill_time_s(s) * par.microbatches(s) / par.prefill_ticks(s) / w.dp_attention


def prompt_tokens_per_s_per_device(s: Scenario):
    """Prompt tokens prefilled per second per device in steady state:
    ``T' / (prefill_work_s x devices_per_replica)`` (computed tokens, cached ones not
    counted); NaN when one user does not fit."""
    t = prefill_new_tokens(s) / (prefill_work_s(s) * par.devices_per_replica(s))
    return nan_unless(mem.fits_one(s), t)


def prefill_s(s: Scenario):
    """Time to first token: ``prefill_time_s``, s; NaN when one user does not fit.

    Example (paper: Yi-34B 34e9, one A100 at 312e12 FLOP/s, T = 4000, causal):
    2.86e14 / 312e12 = 0.916 s (the paper quotes 0.89 s; the linear term alone is 0.872 s).
    """
    return nan_unless(mem.fits_one(s), prefill_time_s(s))


# ----------------------------------------------------------------------------- decode


def decode_context_tokens(s: Scenario):
    """Mean context during decode: ``T + (n_t - 1)(u + n) / 2 + (n - 1) / 2`` (step ``i`` of
    turn ``j`` sees ``T + j (u + n) + i`` tokens; ``T + (n - 1) / 2`` with one turn).

    Because step bytes are linear in context, ``n_t n`` steps at this mean context move
    exactly the bytes of the real steps (an upper bound instead when a window boundary
    falls inside the decode range).
    """
    w = s.workload
    return w.context_tokens + mem.turn_growth_tokens(s) + 0.5 * (w.output_tokens - 1.0)


def _decode_tick_bytes(s: Scenario, batch):
    """(weights, KV, elementwise) HBM bytes per device of one tick of a decode step at
    ``batch`` users (``batch / u`` users a tick; see ``decode_step_bytes_at``)."""
    w = s.workload
    tick = batch / par.microbatches(s)
    kv_user = mem.kv_read_bytes_per_user(s, decode_context_tokens(s))
    weights = mem.weight_bytes_touched_per_device(s, tick)
    kv = tick / w.dp_attention * kv_user / mem.kv_shards(s) / par.kv_splits(s)
    return weights, kv, _elementwise_bytes(s, tick / w.dp_attention)


def decode_step_bytes_at(s: Scenario, batch):
    """HBM bytes per device of one decode step at ``batch`` users.

    ``weights touched by batch tokens / TP + batch x KV read per user at the mean decode
    context / kv_shards`` (KV is split by head: see ``kvjax.costs.kv_shards``; every
    attending layer reads its cache: ``kvjax.costs.kv_read_bytes_per_user``), per pipeline
    tick with ``batch / u`` users, ``u = microbatches_per_stage x pp`` ticks; a DP rank
    reads its own ``batch / (u a)`` users' KV, a pipeline stage its layers, a context rank
    its tokens.
    Example (paper: Yi-34B 68e9 B weights, batch 1, T = 4000, 250 out): 68e9 + 245,760 x
    4124.5 = 69.01e9 B.
    """
    weights, kv, elementwise = _decode_tick_bytes(s, batch)
    return par.decode_ticks(s) * (weights + kv + elementwise)


def _decode_keys_and_linear(s: Scenario):
    """(GEMM FLOP, attention FLOP) of one decode token: ``2 P_a`` and
    ``decode_attention_flop`` at the mean decode context."""
    return 2.0 * mem.active_params(s), att.decode_attention_flop(s, decode_context_tokens(s))


def decode_step_flop_at(s: Scenario, batch):
    """FLOP of one decode step at ``batch`` users (all devices).

    ``batch x (2 P_active + attention)``; plain attention ``4 L N H S`` with ``S`` the kept,
    attended keys (``kvjax.costs.decode_attention_flop``).
    """
    linear, attention = _decode_keys_and_linear(s)
    return batch * (linear + attention)


def decode_step_classes_at(s: Scenario, batch):
    """``((c, m) gemm, (c, m) attention, (c, m) elementwise)`` of one decode step, s.

    Per tick of ``batch / u`` users: each device computes ``1/(tp a pp)`` of the GEMM FLOP
    and ``1/(tp a pp cp)`` of the attention, reads its weights (GEMM), its users' KV
    (attention) and their activations (elementwise); ``u`` ticks a step.
    """
    w = s.workload
    ticks = par.decode_ticks(s)
    tick = batch / par.microbatches(s) / (w.dp_attention * w.pp)
    linear, attention = _decode_keys_and_linear(s)
    weights, kv, elementwise = _decode_tick_bytes(s, batch)
    beta = op.device_bytes_per_s(s)
    f_gemm, f_attention = op.class_flop_per_s(s)
    gemm = (ticks * (tick * linear / f_gemm), ticks * weights / beta)
    attention = (ticks * (tick * attention / w.cp / f_attention),
                 ticks * kv / op.kv_bytes_per_s(s))  # fmt: skip
    return gemm, attention, (0.0, ticks * elementwise / beta)


def decode_step_terms_at(s: Scenario, batch):
    """``(compute, memory, comm, roof)`` of one decode step at ``batch`` users, s.

    The communication is the tick's share of the TP all-reduces (of each DP rank's tokens),
    the MoE all-to-alls (of all of them), one pipeline send and the context ranks'
    attention merge; ``u`` ticks a step.
    """
    w = s.workload
    ticks = par.decode_ticks(s)
    tick = batch / par.microbatches(s)
    rank = tick / w.dp_attention  # tokens of one TP group
    roof, compute, memory = op.roof_s(s, decode_step_classes_at(s, batch))
    comm = (col.tp_comm_s(s, rank) / w.pp + col.moe_comm_s(s, tick) / w.pp
            + col.pipeline_comm_s(s, rank) + col.cp_merge_s(s, rank) / w.pp)  # fmt: skip
    return compute, memory, ticks * comm, roof


def decode_step_parts_at(s: Scenario, batch):
    """(compute_s, memory_s, comm_s) of one decode step at ``batch`` users (the class sums;
    ``decode_step_terms_at`` adds the roofline)."""
    return decode_step_terms_at(s, batch)[:3]


def decode_step_s_at(s: Scenario, batch):
    """One decode step at ``batch`` users, s: ``combine_s`` of its parts (no NaN mask)."""
    _, _, comm, roof = decode_step_terms_at(s, batch)
    return combine_s(roof, comm, s.workload.comm_overlap)


def decode_comm_s(s: Scenario):
    """Communication part of a decode step at the workload's batch, s (NaN if it does not
    fit): what DP attention, EP and the links trade against HBM time."""
    return nan_unless(mem.fits(s), decode_step_terms_at(s, s.workload.batch)[2])


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
