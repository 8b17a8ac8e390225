"""The paper's concurrent framework: sessions sharing one replica (a device, a TP group,
or a whole deployment of ``tp x dp_attention x pp x cp`` devices).

``batch`` users each run a session of ``n_t`` turns (one by default): a first prefill of
``T`` context tokens (less a cached shared prefix), follow-ups that prefill only their
``u`` new tokens, and ``n_out`` decoded tokens a turn.  At most ``C = concurrency`` users'
KV caches are resident; the decode batch that actually runs is ``b = min(batch, C)`` and
users beyond it queue (a single-turn user waits, it does not swap).  A follow-up whose
history waited off HBM reloads it or recomputes it (``kvjax/model/_turns.py``):

    wall seconds per session = prefill_s + (n_t - 1)(followup + reload)
                               + n_t n_out x step_s(b) / b

Prefill occupies the group alone; a decode step serves ``b`` sessions at once; reloads are
not overlapped with other work (an upper bound).  GPU-seconds multiply by the replica's
devices.  This makes "1M vs 4K" a cost ratio: GPU-seconds, sessions per hour and US$ per
session.  Yi-34B on one A100 at 4K, alone (prefill 0.916 s + decode 8.46 s) and with the 18
users that fit decoding together:

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)             # the paper's Yi-34B (its round 34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)  # datasheet
>>> paper = dict(hbm_utilization=1.0, hbm_reserve_bytes=0.0)  # all of HBM, as the paper
>>> s = Scenario(yi, a100, Workload(context_tokens=4000.0, **paper))
>>> round(float(session_wall_s(s)), 2)
9.38
>>> round(float(session_wall_s(s.replace(workload=Workload(context_tokens=4000.0,
...                                                        batch=18.0, **paper)))), 3)
1.503
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _memory as mem
from . import _operators as op
from . import _parallel as par
from . import _phases as ph
from . import _turns as tu
from ._numerics import kink_max, kink_min
from ._types import Scenario

REGIMES = {
    0: "compute (FLOP/s)",
    1: "HBM bandwidth",
    2: "scale-up link",
    3: "host link (PCIe)",
    4: "HBM capacity (does not fit)",
    5: "scale-out network (NIC)",
}
"""Codes of the ``*_regime`` metrics: which resource binds a phase."""


def resident_batch(s: Scenario):
    """Decode batch actually resident: ``min(batch, concurrency)`` (real-valued; the session
    metrics use ``_turns.resident_users``: at least 1, whole users with ``integer_users``)."""
    return kink_min(s.workload.batch, mem.concurrency(s))


def _session_parts(s: Scenario, terms=None):
    """(prefill, decode share, reload share) of one session's wall time, s, unmasked: the
    first prefill and the ``n_t - 1`` follow-ups' (``prefill_work_s``: ``a = dp_attention``
    ranks prefill their own users in parallel, other users' chunks fill a pipeline's
    bubble), ``n_t n`` decode steps shared by ``b``, and the follow-ups' reloads."""
    w = s.workload
    t = tu.turn_terms(s) if terms is None else terms
    prefill = t.first + (w.turns - 1.0) * t.followup
    decode = tu.session_output_tokens(s) * t.step / t.b
    # where, not a product alone: a sweep whose turns are fixed at 1 folds the reloads away
    reload = jnp.where(w.turns > 1.0, (w.turns - 1.0) * tu.reload_s(s, t), 0.0)
    return prefill, decode, reload


def mixed_busy_s(s: Scenario, terms=None):
    """Replica-seconds of a session's prefills and decode steps run in mixed batches, s:
    each operator class's FLOP and bytes summed over both (``sum c_i``, ``sum m_i``), one
    roofline over the sums (``op.roof_s``) and the communication added
    (``combine_s``) -- chunked prefill piggybacking on decode steps (SARATHI, vLLM's
    scheduler).  Never more than the serial ``prefill + decode``; counts the prefill's own
    weight reads, which a mixed step shares with the decode tokens (an upper bound by those:
    0.033 s of a 4K session's 0.621 s of bytes on Yi-34B, here not binding).

    Example (paper, Yi-34B on one A100, 4K, 18 users): serial 0.916 s of prefill + 0.587 s
    of decode share = 1.503 s; mixed, the session's 3.05e14 FLOP (0.976 s) outlast its
    bytes (0.621 s): 1.54x less."""
    t = tu.turn_terms(s) if terms is None else terms
    per = tu.session_output_tokens(s) / t.b
    classes = tuple((pc + per * dc, pm + per * dm) for (pc, pm), (dc, dm)
                    in zip(t.prefill_classes, t.step_classes, strict=True))  # fmt: skip
    roof, _, _ = op.roof_s(s, classes)
    return ph.combine_s(roof, t.prefill_comm + per * t.step_parts[2], s.workload.comm_overlap)


def _busy_s(s: Scenario, t, prefill, decode):
    """``(1 - omega)(prefill + decode) + omega mixed_busy_s``; folded away where omega = 0."""
    o = s.workload.mixed_batch_share
    serial = prefill + decode
    return jnp.where(o > 0, (1.0 - o) * serial + o * mixed_busy_s(s, t), serial)


def session_wall_s(s: Scenario):
    """Wall-clock seconds the replica spends per session (see module docstring); NaN if
    one user's KV does not fit.

    Example (paper: Yi-34B, one A100, T = 4000, 250 out, batch 1): 0.916 + 8.46 = 9.38 s.
    """
    t = tu.turn_terms(s)
    prefill, decode, reload = _session_parts(s, t)
    return jnp.where(mem.fits_one(s), _busy_s(s, t, prefill, decode) + reload, jnp.nan)


def session_gpu_s(s: Scenario):
    """Device-seconds per session: ``devices_per_replica x session_wall_s`` (every device of
    the replica: ``tp x dp_attention x pp x cp``)."""
    return par.devices_per_replica(s) * session_wall_s(s)


def sessions_per_hour(s: Scenario):
    """Sessions a replica completes per hour: ``3600 / session_wall_s``."""
    return 3600.0 / session_wall_s(s)


def output_tokens_per_s_per_device(s: Scenario):
    """Generated tokens per second per device: ``n_t n_out / session_gpu_s``."""
    return tu.session_output_tokens(s) / session_gpu_s(s)


def usd_per_session(s: Scenario):
    """US$ per session: ``session_gpu_s / 3600 x usd_per_hour`` (NaN without a price)."""
    return session_gpu_s(s) / 3600.0 * s.hardware.usd_per_hour


def usd_per_million_output_tokens(s: Scenario):
    """US$ per 1M generated tokens: ``usd_per_session / (n_t n_out) x 1e6``."""
    return usd_per_session(s) / tu.session_output_tokens(s) * 1e6


# ----------------------------------------------------------------------------- regimes


def _phase_regime(s: Scenario, compute, memory, comm, roof):
    """0 compute, 1 HBM, or -- when communication outweighs both -- 2 the scale-up link, or 5
    the NIC when the replica spans more than one scale-up domain (its collectives that leave
    the domain -- the MoE all-to-all, pipeline sends, the KV ring, a hierarchical all-reduce
    -- are the ones that cross the slower network; a label, cheap to trace, not a split of
    the time)."""
    code = jnp.where(compute >= memory, 0.0, 1.0)
    link = jnp.where(par.spans_domains(s, par.devices_per_replica(s)), 5.0, 2.0)
    return jnp.where(comm > roof, link, code)


def prefill_regime(s: Scenario):
    """Binding resource of the prefill (codes in ``REGIMES``): FLOP/s, HBM bandwidth, the
    scale-up link, the NIC (5), or 4 when one user's KV does not fit."""
    code = _phase_regime(s, *ph.prefill_terms(s))
    return jnp.where(mem.fits_one(s), code, 4.0)


def decode_regime(s: Scenario):
    """Binding resource of a decode step at ``batch`` (4 when the batch does not fit)."""
    code = _phase_regime(s, *ph.decode_step_terms_at(s, s.workload.batch))
    return jnp.where(mem.fits(s), code, 4.0)


def session_regime(s: Scenario):
    """Binding resource of a whole session: the regime of its largest part (prefill, decode
    share, or when reloading histories dominates the link they come over: 3 = PCIe from
    host DRAM or NVMe, 5 = the NIC from a remote pool); 4 when nothing fits."""
    t = tu.turn_terms(s)
    prefill, decode, reload = _session_parts(s, t)
    pre_code = _phase_regime(s, *t.first_parts)
    dec_code = _phase_regime(s, *t.step_parts)
    code = jnp.where(prefill >= decode, pre_code, dec_code)
    host, ssd, remote = tu.tier_shares(s, t)[1]
    loads = tu.loaded_share(s, t) > 0
    tier = jnp.where(remote > host + ssd, 5.0, 3.0)  # the NIC to a remote pool, or PCIe
    code = jnp.where((reload > kink_max(prefill, decode)) & loads, tier, code)
    return jnp.where(mem.fits_one(s), code, 4.0)
