"""Disaggregated serving (issue 12): a prefill pool and a decode pool, each its own hardware
and parallelism, the prompt's KV sent from one to the other (DistServe, Splitwise, Mooncake).

A pure function of two scenarios and the link between them: ``prefill`` (the model, the
prefill pool's hardware and deployment, the prompt) and ``decode`` (the same model and
prompt; the decode pool's hardware, deployment and batch).  Per session, in replica-seconds
of each pool, every resource a roofline term:

    t_P = max(prefill_work_s(P), x_P)         x_P = KV_dev(P) / beta_L  (its NICs send)
    t_D = max(n step_D(b) / b, x_D)           x_D = KV_dev(D) / beta_L  (its NICs receive)

``KV_dev`` the prompt's KV per device of the replica holding it, ``beta_L`` the link's rate
per device, one way (by default the slower NIC of the two, ``scaleout_bytes_per_s``, at the
prefill's ``host_link_efficiency``).  The pools are balanced with ``r* = t_P / t_D`` prefill
replicas per decode replica (a continuous knob: pass ``pool_ratio``), and a session costs
the sum over the pools at balance, in general

    device-s = (r G_P + G_D) / min(r / t_P, 1 / t_D)

(``G`` devices per replica; ``r`` above ``r*`` leaves prefill replicas idle, below it decode
ones).  The first token waits for the prefill and the part of the transfer that does not
stream under it: ``TTFT = prefill_s(P) + max(0, x - l prefill_s(P))`` with ``x = max(x_P,
x_D)`` and ``l = layer_overlap`` (1: sent layer by layer as the prefill goes, Mooncake's and
DistServe's; 0: after it).  A decode step is not slowed by prefills (the point of
disaggregating): ``TPOT = step_D(b)``.  One turn per session; a cached shared prefix counts
on the prefill side as it does colocated.

Yi-34B at 4K (the paper's), prefill on one H100 SXM, decode on one A100 with the 18 users
that fit, 25e9 B/s NICs (200 Gb/s): 0.289 s of prefill and 0.587 s of decode a session,
0.876 device-s against 1.503 colocated on the A100:

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)
>>> h100 = Hardware(flop_per_s=989e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=3.35e12,
...                 host_link_bytes_per_s=64e9, scaleup_bytes_per_s=450e9)
>>> w = Workload(context_tokens=4000.0, hbm_utilization=1.0, hbm_reserve_bytes=0.0)
>>> d = disaggregated(Scenario(yi, h100, w), Scenario(yi, a100, w.replace(batch=18.0)), 25e9)
>>> [round(float(x), 3) for x in (d.prefill_replica_s, d.decode_replica_s, d.session_gpu_s)]
[0.289, 0.587, 0.876]
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from . import _memory as mem
from . import _parallel as par
from . import _phases as ph
from . import _turns as tu
from ._numerics import clamp_min, kink_max, kink_min, nan_unless, safe_div
from ._types import Scenario


class Disaggregated(NamedTuple):
    """A disaggregated session's figures (NaN where either pool cannot hold one user)."""

    ttft_s: object  # prefill_s on the prefill pool + the transfer not streamed under it
    tpot_s: object  # one decode step on the decode pool at its resident batch
    transfer_s: object  # the prompt's KV over the link, max of the two ends, s
    prefill_replica_s: object  # t_P, prefill-replica seconds per session
    decode_replica_s: object  # t_D, decode-replica seconds per session
    balanced_pool_ratio: object  # r* = t_P / t_D prefill replicas per decode replica
    session_gpu_s: object  # device-seconds per session, both pools, at pool_ratio
    usd_per_session: object  # at each pool's usd_per_hour
    sessions_per_hour: object  # of one decode replica and its r prefill replicas


def kv_link_bytes_per_s(prefill: Scenario, decode: Scenario):
    """Default link between the pools, per device, one way: the slower NIC,
    ``eta min(beta_o(P), beta_o(D))`` (``eta`` the prefill's ``host_link_efficiency``)."""
    nic = kink_min(prefill.hardware.scaleout_bytes_per_s, decode.hardware.scaleout_bytes_per_s)
    return prefill.workload.host_link_efficiency * nic


def disaggregated(prefill: Scenario, decode: Scenario, link_bytes_per_s=None,
                  layer_overlap=1.0, pool_ratio=None) -> Disaggregated:  # fmt: skip
    """The :class:`Disaggregated` figures of one session (module docstring for the
    formulas); ``pool_ratio`` None = balanced (``r*``)."""
    link = kv_link_bytes_per_s(prefill, decode) if link_bytes_per_s is None else link_bytes_per_s
    x_p = safe_div(mem.kv_bytes_per_user_per_device(prefill), link, jnp.inf)
    x_d = safe_div(mem.kv_bytes_per_user_per_device(decode), link, jnp.inf)
    t_p = kink_max(ph.prefill_work_s(prefill), x_p)
    b = tu.resident_users(decode)
    step = ph.decode_step_s_at(decode, b)
    t_d = kink_max(decode.workload.output_tokens * step / b, x_d)
    r_star = t_p / t_d
    r = r_star if pool_ratio is None else pool_ratio
    rate = kink_min(r / t_p, 1.0 / t_d)  # sessions per second of the pair of pools
    g_p = par.devices_per_replica(prefill)
    g_d = par.devices_per_replica(decode)
    gpu_s = (r * g_p + g_d) / rate
    usd = (r * g_p * prefill.hardware.usd_per_hour + g_d * decode.hardware.usd_per_hour) / (
        3600.0 * rate)
    first = ph.prefill_time_s(prefill)
    transfer = kink_max(x_p, x_d)
    ttft = first + clamp_min(transfer - layer_overlap * first, 0.0)
    ok = mem.fits_one(prefill) & mem.fits_one(decode)
    return Disaggregated(*(nan_unless(ok, v) for v in (
        ttft, step, transfer, t_p, t_d, r_star, gpu_s, usd, 3600.0 * rate)))  # fmt: skip
