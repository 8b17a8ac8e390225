"""Where a phase's time goes: each operator class's own roofline as a metric.

``prefill_gemm_s`` is ``max(c_gemm, m_gemm)`` of the prefill (``_operators.py``): what the
GEMMs alone would take; likewise attention (score and value products against the KV
traffic), elementwise traffic, and for decode the KV read alone (``decode_kv_s``).  With
one roofline (``operator_overlap = 1``, the default) the phase is ``max(sum c, sum m)``,
at most their sum; with ``operator_overlap = 0`` it is exactly their sum.  NaN where the
phase's own metric is (one user, or the batch, does not fit).

Example (Yi-34B, one A100, 4K, batch 1): decode GEMMs 33.35 ms (68 GB of weights), attention
0.50 ms (1.01 GB of KV), so the step is 33.85 ms either way; prefill GEMMs 0.872 s and
attention 0.044 s, both compute-bound: 0.916 s.
"""

from __future__ import annotations

from . import _memory as mem
from . import _phases as ph
from ._numerics import kink_max, nan_unless
from ._types import Scenario


def _prefill(s: Scenario, i):
    c, m = ph.prefill_classes(s)[i]
    return nan_unless(mem.fits_one(s), kink_max(c, m))


def _decode(s: Scenario, i):
    c, m = ph.decode_step_classes_at(s, s.workload.batch)[i]
    return nan_unless(mem.fits(s), kink_max(c, m))


def prefill_gemm_s(s: Scenario):
    """GEMM roofline of the prefill, s: projections, MLP or experts and the head."""
    return _prefill(s, 0)


def prefill_attention_s(s: Scenario):
    """Attention roofline of the prefill, s: score and value products, the sparse selector,
    linear layers, against the KV written."""
    return _prefill(s, 1)


def prefill_elementwise_s(s: Scenario):
    """Elementwise traffic of the prefill, s (0 unless ``elementwise_vectors_per_layer``)."""
    return _prefill(s, 2)


def decode_gemm_s(s: Scenario):
    """GEMM roofline of one decode step, s: weights read against ``2 P_a`` FLOP a token."""
    return _decode(s, 0)


def decode_attention_s(s: Scenario):
    """Attention roofline of one decode step, s: KV (and state) read against its FLOP."""
    return _decode(s, 1)


def decode_kv_s(s: Scenario):
    """KV (and state) read time of one decode step alone, s: the memory side of
    ``decode_attention_s``."""
    _, m = ph.decode_step_classes_at(s, s.workload.batch)[1]
    return nan_unless(mem.fits(s), m)


def decode_elementwise_s(s: Scenario):
    """Elementwise traffic of one decode step, s (0 unless ``elementwise_vectors_per_layer``)."""
    return _decode(s, 2)
