"""Operator classes: each phase as the sum of what its kernels really do.

A forward pass runs four classes of kernels, each with its own FLOP, bytes, precision, peak
and efficiency (the collectives, a fifth, are in ``_collectives.py``):

==============  ==========================================  ===============================
class           FLOP                                        HBM bytes
==============  ==========================================  ===============================
``gemm``        ``2 P_a`` per token (projections, MLP or    the weights touched, the head,
                experts, output head)                       gathered embedding rows
``attention``   score and value products, the sparse        KV read (decode) or written
                selector, linear layers' recurrence         (prefill), linear-layer state
``elementwise`` (not counted: a few per element)            ``v_e`` D-wide activation
                                                            vectors per token and layer
==============  ==========================================  ===============================

Each class is its own roofline ``t_i = max(c_i, m_i)`` with ``c_i = FLOP_i / (F_i eta_F
eta_i)`` at the class's compute precision (:func:`class_peak`) and ``m_i = bytes_i / (beta
eta_beta eta_i')``.  The phase is

    roof = o max(sum c_i, sum m_i) + (1 - o) sum max(c_i, m_i)

with ``o = operator_overlap``: 1 is the paper's one roofline (every FLOP against one peak,
every byte against one bandwidth, as if the classes overlapped perfectly), 0 runs each class
as a separate kernel.  Example (Llama-3.1-8B decode, batch 1, 4K on an H100): GEMMs read
15.0 GB (4.5 ms), attention 0.5 GB (0.16 ms); one roofline and their sum agree because both
are bandwidth-bound; they part where one class is compute-bound and another is not (a
batched MLA decode: GEMMs at the ridge, attention compute-bound).
"""

from __future__ import annotations

import jax.numpy as jnp

from ._numerics import kink_max
from ._types import Scenario


def class_flop_per_s(s: Scenario):
    """Achieved FLOP/s of the TP group for the GEMMs and for attention, ``(F_G, F_A)``:
    ``tp x peak(q) x eta_F x eta_class`` with ``peak(q)`` the dense peak of one device at
    the class's compute bits: ``flop_per_s`` at 0 (the catalog's precision), the bf16 peak
    above 8 bits, the fp8 peak (else int8, else ``flop_per_s``) from 5 to 8, the fp4 peak
    (else the 8-bit one) at 4 or fewer.

    Example (H100 SXM: 989e12 bf16, 1979e12 fp8): DeepSeek-V3's recipe, fp8 GEMMs (8) and
    bf16 attention (16): 1979e12 and 989e12 per device.
    """
    h, w = s.hardware, s.workload
    p16 = jnp.where(h.bf16_flop_per_s > 0, h.bf16_flop_per_s, h.flop_per_s)
    p8 = jnp.where(h.int8_flop_per_s > 0, h.int8_flop_per_s, h.flop_per_s)
    p8 = jnp.where(h.fp8_flop_per_s > 0, h.fp8_flop_per_s, p8)
    p4 = jnp.where(h.fp4_flop_per_s > 0, h.fp4_flop_per_s, p8)

    def peak(bits):
        return jnp.where(bits <= 0, h.flop_per_s,
                         jnp.where(bits > 8, p16, jnp.where(bits > 4, p8, p4)))  # fmt: skip

    base = w.tp * w.flop_efficiency
    return (base * peak(w.gemm_compute_bits) * w.gemm_flop_efficiency,
            base * peak(w.attention_compute_bits) * w.attention_flop_efficiency)  # fmt: skip


def device_bytes_per_s(s: Scenario):
    """Achieved HBM bandwidth of one device: ``beta x eta_beta``."""
    return s.hardware.hbm_bytes_per_s * s.workload.bandwidth_efficiency


def kv_bytes_per_s(s: Scenario):
    """Achieved HBM bandwidth of the KV-reading attention kernels: ``beta eta_beta eta_A'``
    (FlashMLA reaches 3000 of an H800's 3350 GB/s: 0.9)."""
    return device_bytes_per_s(s) * s.workload.attention_bandwidth_efficiency


def class_times(gemm, attention, elementwise):
    """``(compute, memory)`` of each class -> the per-class rooflines ``max(c_i, m_i)``."""
    return tuple(kink_max(c, m) for c, m in (gemm, attention, elementwise))


def roof_s(s: Scenario, classes):
    """The phase's compute-and-memory time from its classes ``((c_g, m_g), (c_a, m_a),
    (c_e, m_e))``, s: ``o max(sum c, sum m) + (1 - o) sum max(c_i, m_i)`` (module
    docstring); returns ``(roof, sum c, sum m)``.

    Example (parts in ms: GEMM (10, 4), attention (1, 6), elementwise (0, 1)): one roofline
    max(11, 11) = 11; separate kernels 10 + 6 + 1 = 17.
    """
    compute = classes[0][0] + classes[1][0] + classes[2][0]
    memory = classes[0][1] + classes[1][1] + classes[2][1]
    o = s.workload.operator_overlap
    one = kink_max(compute, memory)
    serial = sum(class_times(*classes))
    return o * one + (1.0 - o) * serial, compute, memory
