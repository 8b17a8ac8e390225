"""The one generic law, and the collective that tensor parallelism adds.

Roofline (Williams et al., 2009; scaling-book ``roofline.md``): a kernel that performs
``flop`` operations and moves ``bytes`` through memory takes at least

    t = max(flop / flop_per_s, bytes / bytes_per_s)

and at most their sum.  kvjax uses the max (the lower bound), as the paper does.
"""

from __future__ import annotations

from ._numerics import kink_max


def roofline_s(flop, n_bytes, flop_per_s, bytes_per_s):
    """Lower-bound time of a kernel, s: ``max(flop / flop_per_s, n_bytes / bytes_per_s)``.

    Example: 2.72e14 FLOP and 68e9 B on an A100 (312e12 FLOP/s, 2.039e12 B/s):
    max(0.872 s, 0.0334 s) = 0.872 s, compute-bound.
    """
    return kink_max(flop / flop_per_s, n_bytes / bytes_per_s)


def ring_allreduce_s(message_bytes, devices, link_bytes_per_s, step_latency_s):
    """Time of one ring all-reduce of ``message_bytes`` over ``devices``, s.

    Formula (Patarasuk & Yuan 2009; NCCL's ring): each device sends and receives
    ``2 (p - 1) / p`` of the message, in ``2 (p - 1)`` steps of latency ``alpha``:

        t = 2 (p - 1) / p * m / link_bytes_per_s + 2 (p - 1) * alpha

    ``p = 1`` gives 0: no communication without tensor parallelism.
    Example: m = 4000 tokens x 7168 x 2 B = 57.3 MB over p = 8 NVLink-3 (300 GB/s each way,
    alpha = 5 us): 2 * 7/8 * 57.3e6 / 300e9 + 14 * 5e-6 = 334 us + 70 us = 404 us.
    """
    p = devices
    return 2.0 * (p - 1.0) / p * message_bytes / link_bytes_per_s + 2.0 * (p - 1.0) * step_latency_s
