"""Turns of a session and where its KV waits between them: resident, offloaded to a tier
below HBM (host DRAM, local SSD, a remote pool: ``_tiers.py``), or dropped and recomputed
(issue 12).

A session is ``n_t`` turns: the first prompt of ``T`` tokens, then follow-ups of ``u`` new
tokens, every turn generating ``n``; the context grows by ``u + n`` a turn.  A follow-up
whose history is kept prefills only its ``u`` new tokens, attending to everything before
(:func:`followup_prefill_s`).  Between turns a session is *idle*: during the think time
``theta``, or queued while more sessions are active than fit.  By Little's law a replica
that does ``w`` seconds of work per turn has ``theta / w`` sessions thinking at any time; the
HBM left beside the resident batch holds some of the idle sessions' caches, the rest are
off HBM.  A follow-up whose history is off HBM pays the cheaper of loading it from the tier
that holds it and recomputing it:

    reload = q rebuild - sum_k x_k max(0, rebuild - load_k)

with ``q`` the share of turns whose history is off HBM (:func:`offloaded_share`), ``x_k``
the share tier ``k`` holds -- filled by the tiers that save the most first, within their
capacities (``_tiers.fill_fastest_first``) -- and ``rebuild`` the recompute beyond a kept
follow-up's prefill.  With one tier, the host, that holds a share ``g`` of the off-HBM
histories it is ``q (g min(load, rebuild) + (1 - g) rebuild)``; the minimum is exact, its
derivative at a tie that of the load.  The paper's context switch is the host-load leg
(``kvjax.costs.context_switch_s``).

Yi-34B on one A100 (the paper's settings, all of HBM): reloading a 50K-token history from
host memory takes 12.29e9 B / 32e9 B/s = 0.38 s over a full-duplex PCIe 4.0 x16 link;
recomputing it, 17.8 s of prefill:

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)
>>> w = Workload(context_tokens=50_000.0, turns=2.0, turn_input_tokens=0.0,
...              output_tokens=1.0, hbm_utilization=1.0, hbm_reserve_bytes=0.0)
>>> s = Scenario(yi, a100, w)
>>> round(float(history_load_s(s)), 3), round(float(recompute_prefill_s(s)), 1)
(0.384, 17.8)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _memory as mem
from . import _parallel as par
from . import _phases as ph
from . import _tiers as tiers
from ._numerics import clamp_min, kink_min, nan_unless, safe_div, smooth_floor
from ._types import Scenario

# ----------------------------------------------------------------------------- host link


def host_transfer_s(s: Scenario, nbytes):
    """Seconds to move ``nbytes`` per device one way to or from host memory:
    ``bytes / beta_H`` (``_tiers.host_bytes_per_s``: ``beta_h eta_h`` on the device's own
    link; less where the node's devices share uplinks or DRAM bandwidth)."""
    return nbytes / tiers.host_bytes_per_s(s)


def swap_s(s: Scenario, nbytes, rate=None):
    """A swap of ``nbytes`` per device, out and in, over a link of ``rate`` B/s (the host
    link by default): ``(2 - d_h) bytes / rate`` (on a full-duplex link, ``d_h =
    swap_duplex = 1``, the out leg runs under the in leg); inf over a link of rate 0."""
    rate = tiers.host_bytes_per_s(s) if rate is None else rate
    legs = 2.0 - s.workload.swap_duplex
    return safe_div(legs * nbytes, rate, jnp.inf)  # inf, not 0 x inf, in a gradient


def swap_time_s(s: Scenario):
    """Swap one user's KV out to host memory and another's in, s, whether or not it fits.

    ``(2 - d_h) x kv_bytes_per_user_per_device / (beta_h eta_h)``: on a full-duplex link
    (``d_h = swap_duplex = 1``, PCIe) the swap-out runs under the swap-in, so a swap costs
    one transfer; the paper adds both (``d_h = 0``).
    """
    return swap_s(s, mem.kv_bytes_per_user_per_device(s))


def context_switch_s(s: Scenario):
    """``swap_time_s``; NaN when one user's KV cannot fit.

    Example (paper, Yi-34B at 50K, PCIe 4.0 x16 at 32e9 B/s each way): serial (the paper's)
    2 x 12.29e9 / 32e9 = 0.77 s; full duplex 0.38 s.
    """
    return nan_unless(mem.fits_one(s), swap_time_s(s))


# ----------------------------------------------------------------------------- turns


def session_output_tokens(s: Scenario):
    """Tokens a session generates: ``n_t n``."""
    return s.workload.turns * s.workload.output_tokens


def followup_context_tokens(s: Scenario):
    """Mean prompt context of a follow-up turn: ``T + n_t (u + n) / 2`` (turn ``j = 1 ..
    n_t - 1`` ends its prompt at ``T + j (u + n)``).  Example: T = 50K, 5 turns of 1,000 in
    and 250 out: 53,125 tokens."""
    w = s.workload
    return w.context_tokens + 0.5 * w.turns * (w.turn_input_tokens + w.output_tokens)


def _prefill_of(s: Scenario, context, cached) -> Scenario:
    """The prefill of a ``context``-token prompt whose first ``cached`` tokens are in the
    cache: a prompt with a ``cached``-token prefix that always hits."""
    w = s.workload.replace(context_tokens=context, prefix_tokens=cached, prefix_hit_rate=1.0)
    return s.replace(workload=w)


def _followup(s: Scenario) -> Scenario:
    """The mean follow-up with its history kept: ``u`` new tokens after ``X - u`` cached."""
    x = followup_context_tokens(s)
    return _prefill_of(s, x, clamp_min(x - s.workload.turn_input_tokens, 0.0))


def _recompute(s: Scenario) -> Scenario:
    """The mean follow-up with its history dropped: only the shared prefix cached, on a hit."""
    w = s.workload
    return _prefill_of(s, followup_context_tokens(s), w.prefix_hit_rate * w.prefix_tokens)


def followup_prefill_s(s: Scenario):
    """Time to first token of a follow-up whose history is kept, s: the prefill of its
    ``u`` new tokens attending to the ``T + n_t (u + n) / 2 - u`` before them (NaN when one
    user does not fit)."""
    return nan_unless(mem.fits_one(s), ph.prefill_time_s(_followup(s)))


def recompute_prefill_s(s: Scenario):
    """Time to first token of a follow-up whose history was dropped, s: the prefill of the
    whole mean follow-up prompt (less the shared prefix on a hit).  Evaluated at the mean
    context: exact for the linear terms, low by the variance of the quadratic attention
    term over the turns."""
    return nan_unless(mem.fits_one(s), ph.prefill_time_s(_recompute(s)))


def history_bytes_per_device(s: Scenario):
    """KV of one session's history before a mean follow-up, per device holding it, bytes:
    the cache at ``T + n_t (u + n) / 2 - u`` less the shared prefix (which stays in HBM)."""
    split = mem.kv_shards(s) * par.kv_splits(s)
    x = followup_context_tokens(s) - s.workload.turn_input_tokens
    own = mem.kv_bytes_per_user_at(s, x) - s.workload.prefix_hit_rate * mem.shared_prefix_bytes(s)
    return own / split


def history_load_s(s: Scenario):
    """Time to bring one session's history back from host memory, s:
    ``(2 - d_h) history_bytes_per_device / (beta_h eta_h)`` (its swap-out runs under another
    session's load on a full-duplex link).  NaN when one user does not fit."""
    t = swap_s(s, history_bytes_per_device(s))
    return nan_unless(mem.fits_one(s), t)


# ----------------------------------------------------------------------------- idle sessions


class TurnTerms(NamedTuple):
    """What a session's turns cost the replica, s of replica time (unmasked), computed once
    (:func:`turn_terms`) and shared by every session metric."""

    first: object  # the first prompt's prefill (prefill_work_s)
    followup: object  # a kept follow-up's prefill
    recompute: object  # a dropped follow-up's prefill (its whole history)
    loads: tuple  # a history load from each tier (_tiers.TIERS), every DP rank at once (/ a)
    slots: tuple  # histories each tier holds per replica: a M_k / history
    step: object  # a decode step at the resident batch b
    b: object  # the resident batch, min(batch, C), at least 1
    concurrency: object  # C
    history: object  # history_bytes_per_device
    first_parts: tuple  # (compute, memory, comm, roof) of the first prefill
    step_parts: tuple  # (compute, memory, comm, roof) of the decode step at b
    prefill_classes: tuple  # ((c, m) per operator class) of a session's prefills, replica-s
    prefill_comm: object  # their communication, replica-s
    step_classes: tuple  # ((c, m) per operator class) of the decode step at b


def turn_terms(s: Scenario) -> TurnTerms:
    """The :class:`TurnTerms` of ``s``.  Prefills are ``prefill_work_s`` (a pipeline's bubble
    filled, ``a`` DP ranks at once), each of the three its own evaluation: XLA fused one
    evaluation over a stacked axis of 3 into every full-grid consumer and recomputed it per
    point (``benchmarks/bench_metric_kernel.py session_gpu_s``, docs/performance.md).

    The terms that do not depend on the batch sit behind an optimisation barrier, so that
    they are computed at the size of the axes they depend on, not fused into the full-grid
    session arithmetic.  The barrier is the identity in value and derivative, one per term
    so that the leaves each depends on stay exact."""
    w = s.workload
    scale = par.microbatches(s) / par.prefill_ticks(s) / w.dp_attention
    prompts = (s, _followup(s), _recompute(s))
    classes = tuple(ph.prefill_classes(x) for x in prompts)
    parts = tuple(ph.prefill_terms(x, k) for x, k in zip(prompts, classes, strict=True))
    first_parts = parts[0]
    times = (ph.combine_s(p[3], p[2], w.comm_overlap) * scale for p in parts)
    n_f = w.turns - 1.0
    session_classes = _barrier(tuple(
        (scale * (c0 + n_f * c1), scale * (m0 + n_f * m1))
        for (c0, m0), (c1, m1) in zip(classes[0], classes[1], strict=True)))  # fmt: skip
    session_comm = _barrier(scale * (parts[0][2] + n_f * parts[1][2]))
    history = history_bytes_per_device(s)
    loads = (swap_s(s, history, r * w.dp_attention) for r in tiers.tier_rates(s))
    slots = (w.dp_attention * safe_div(m, history, jnp.inf) for m in tiers.tier_capacities(s))
    first, follow, again, c, history, *rest = (_barrier(x) for x in (
        *times, mem.concurrency(s), history, *loads, *slots))
    b = resident_users(s, c)
    step_parts = ph.decode_step_terms_at(s, b)
    step = ph.combine_s(step_parts[3], step_parts[2], w.comm_overlap)
    n = len(tiers.TIERS)
    return TurnTerms(first, follow, again, tuple(rest[:n]), tuple(rest[n:]), step, b, c,
                     history, first_parts, step_parts, session_classes, session_comm,
                     ph.decode_step_classes_at(s, b))  # fmt: skip


def resident_users(s: Scenario, concurrency=None):
    """The decode batch that runs, users: ``b = max(1, min(B, C))``, or with
    ``integer_users = i`` the blend ``(1 - i) b + i max(1, smooth_floor(b))`` (a whole
    number of users at ``i = 1``: 1.46 users at 50K on one A100 -> 1, 17.45 at 4K -> 17).
    Folded away where ``i = 0``."""
    c = mem.concurrency(s) if concurrency is None else concurrency
    i = s.workload.integer_users
    b = clamp_min(kink_min(s.workload.batch, c), 1.0)
    whole = clamp_min(smooth_floor(b), 1.0)
    return jnp.where(i > 0, (1.0 - i) * b + i * whole, b)


def _barrier(x):
    return jax.lax.optimization_barrier(x)


def _idle(s: Scenario, t: TurnTerms):
    w = s.workload
    work = (t.first + (w.turns - 1.0) * t.followup) / w.turns + w.output_tokens * t.step / t.b
    return w.think_s / work + clamp_min(w.batch - t.concurrency, 0.0)


def _rebuild(t: TurnTerms):
    return clamp_min(t.recompute - t.followup, 0.0)


def tier_shares(s: Scenario, terms: TurnTerms | None = None):
    """``(q, (x_host, x_ssd, x_remote), savings)``: the share of follow-ups whose history
    is off HBM, the shares each tier holds (fastest saving first) and the seconds a held
    history saves in each, ``max(0, rebuild - load_k)``."""
    t = turn_terms(s) if terms is None else terms
    inv = safe_div(1.0, _idle(s, t), 0.0)
    q = jnp.where(inv > 0, clamp_min(1.0 - clamp_min(t.concurrency - t.b, 0.0) * inv, 0.0), 0.0)
    rebuild = _rebuild(t)
    savings = tuple(clamp_min(rebuild - load, 0.0) for load in t.loads)
    return q, tiers.fill_fastest_first(q, inv, t.slots, savings), savings


def idle_sessions(s: Scenario):
    """Sessions idle at once per replica: ``theta / w + max(0, B - C)`` -- thinking (Little's
    law, ``w`` the replica's work per turn before reloads: a first-order estimate that
    counts a few more idle sessions than the reloads leave) and queued beyond the
    ``C`` = concurrency that fit.  Example: 2 s of work a turn and 60 s of think time: 30."""
    return _idle(s, turn_terms(s))


def offloaded_share(s: Scenario):
    """Share of follow-up turns whose history is off HBM: ``q = max(0, I - (C - b)) / I``
    with ``I`` idle sessions, of which the ``C - b`` slots left beside the resident batch
    hold some (0 when no session is idle)."""
    return tier_shares(s)[0]


def host_held_share(s: Scenario):
    """Share of the off-HBM histories the host tier holds: ``x_host / q``; with the host the
    only tier, ``g = min(1, a M_H / hist / (q I))`` (``M_H`` = host DRAM per device,
    ``_tiers.host_kv_capacity_bytes``; ``hist`` = history_bytes_per_device)."""
    q, held, _ = tier_shares(s)
    return safe_div(held[0], q, 1.0)


def loaded_share(s: Scenario, terms: TurnTerms | None = None):
    """Share of follow-up turns that load their history from a tier: ``sum_k x_k`` over the
    tiers whose load beats the rebuild."""
    _, held, savings = tier_shares(s, terms)
    return sum(jnp.where(save > 0, x, 0.0) for x, save in zip(held, savings, strict=True))


def recompute_share(s: Scenario):
    """Share of follow-up turns that rebuild their history: ``q - loaded_share`` (no tier
    has room for the rest, or loading is slower)."""
    t = turn_terms(s)
    return clamp_min(tier_shares(s, t)[0] - loaded_share(s, t), 0.0)


def reload_s(s: Scenario, terms: TurnTerms | None = None):
    """Replica-seconds a follow-up spends getting its history back, s:
    ``q rebuild - sum_k x_k max(0, rebuild - load_k)`` with ``rebuild = recompute -
    followup`` (module docstring); 0 when every idle session stays resident."""
    t = turn_terms(s) if terms is None else terms
    q, held, savings = tier_shares(s, t)
    saved = sum(x * save for x, save in zip(held, savings, strict=True))
    return q * _rebuild(t) - saved
