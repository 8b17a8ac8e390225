"""The paper's concurrent framework: sessions sharing one replica (a device, a TP group,
or a whole deployment of ``tp x dp_attention x pp x cp`` devices).

``batch`` users each run a session: prefill ``T`` context tokens, then decode ``n_out``
tokens.  At most ``C = concurrency`` users' KV caches are resident; the decode batch that
actually runs is ``b = min(batch, C)`` and, when ``batch > C``, a share
``1 - C / batch`` of the session turns must first swap a KV cache in (and one out).

    wall seconds per session = prefill_s + n_out x step_s(b) / b + (1 - C/batch)+ x switch_s

Prefill occupies the group alone; a decode step serves ``b`` sessions at once; switches are
not overlapped (an upper bound).  GPU-seconds multiply by the replica's devices.  This
makes "1M vs 4K" a cost ratio: GPU-seconds, sessions per hour and US$ per session.
Yi-34B on one A100 at 4K, alone (prefill 0.916 s + decode 8.46 s) and with the 18 users
that fit decoding together:

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
from . import _parallel as par
from . import _phases as ph
from ._numerics import clamp_min, kink_max, kink_min
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
    """Decode batch actually resident: ``min(batch, concurrency)`` (real-valued)."""
    return kink_min(s.workload.batch, mem.concurrency(s))


def swap_fraction(s: Scenario):
    """Share of session turns that must swap a KV cache in: ``max(0, 1 - C / batch)``."""
    return clamp_min(1.0 - mem.concurrency(s) / s.workload.batch, 0.0)


def _session_terms(s: Scenario):
    """The parts of a session computed once: prefill (compute, memory, comm, roof), a decode
    step at the resident batch ``b`` (the same), and ``b``."""
    b = clamp_min(resident_batch(s), 1.0)
    return ph.prefill_terms(s), ph.decode_step_terms_at(s, b), b


def _session_parts(s: Scenario, terms=None):
    """(prefill, decode share, switch share) of one session's wall time, s, unmasked.

    The ``a = dp_attention`` ranks prefill and swap their own users in parallel (``/ a``);
    other users' chunks fill a pipeline's bubble (``ph.prefill_work_s``).
    """
    w = s.workload
    pre, dec, b = terms if terms is not None else _session_terms(s)
    prefill = ph.combine_s(pre[3], pre[2], w.comm_overlap) * par.microbatches(s)
    prefill = prefill / par.prefill_ticks(s) / w.dp_attention
    decode = w.output_tokens * ph.combine_s(dec[3], dec[2], w.comm_overlap) / b
    switch = swap_fraction(s) * ph.swap_time_s(s) / w.dp_attention
    return prefill, decode, switch


def session_wall_s(s: Scenario):
    """Wall-clock seconds the replica spends per session (see module docstring); NaN if
    one user's KV does not fit.

    Example (paper: Yi-34B, one A100, T = 4000, 250 out, batch 1): 0.916 + 8.46 = 9.38 s.
    """
    prefill, decode, switch = _session_parts(s)
    return jnp.where(mem.fits_one(s), prefill + decode + switch, jnp.nan)


def session_gpu_s(s: Scenario):
    """Device-seconds per session: ``devices_per_replica x session_wall_s`` (every device of
    the replica: ``tp x dp_attention x pp x cp``)."""
    return par.devices_per_replica(s) * session_wall_s(s)


def sessions_per_hour(s: Scenario):
    """Sessions a replica completes per hour: ``3600 / session_wall_s``."""
    return 3600.0 / session_wall_s(s)


def output_tokens_per_s_per_device(s: Scenario):
    """Generated tokens per second per device: ``n_out / session_gpu_s``."""
    return s.workload.output_tokens / session_gpu_s(s)


def usd_per_session(s: Scenario):
    """US$ per session: ``session_gpu_s / 3600 x usd_per_hour`` (NaN without a price)."""
    return session_gpu_s(s) / 3600.0 * s.hardware.usd_per_hour


def usd_per_million_output_tokens(s: Scenario):
    """US$ per 1M generated tokens: ``usd_per_session / n_out x 1e6``."""
    return usd_per_session(s) / s.workload.output_tokens * 1e6


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
    """Binding resource of a whole session: the regime of its largest part (prefill,
    decode share, or 3 = host link when swapping dominates); 4 when nothing fits."""
    terms = _session_terms(s)
    prefill, decode, switch = _session_parts(s, terms)
    pre_code = _phase_regime(s, *terms[0])
    dec_code = _phase_regime(s, *terms[1])
    code = jnp.where(prefill >= decode, pre_code, dec_code)
    code = jnp.where(switch > kink_max(prefill, decode), 3.0, code)
    return jnp.where(mem.fits_one(s), code, 4.0)
