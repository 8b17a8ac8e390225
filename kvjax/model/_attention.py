"""What attention costs: FLOP per query-key pair, the keys a query reads, and the designs that
change them at long context (sliding windows, sparse top-k selection, linear / state-space
layers, MLA's absorbed decode).

Per layer, a query that reads ``S`` keys costs ``S x a`` FLOP with ``a`` the FLOP per
query-key pair over all heads (:func:`flop_per_key`).  Averaged over the ``L`` layers, a
query reads

    R(x) = (1 - f - f_s) x_full + f x_window        (linear layers: no keys; state instead)

keys, ``x_full`` capped at the sparse top-k ``k_s`` (DSA, NSA, Quest) and ``x_window`` at the
window ``W``.  In a causal prefill of ``T`` tokens query ``i`` sees ``min(i, W)`` keys, whose
exact mean is :func:`causal_mean_keys` ``T/2 - relu(T - W)^2 / (2T)``; a decode step at
context ``x`` reads ``min(x, W)``.

>>> round(float(causal_mean_keys(8192.0, 4096.0)) / 4096, 4)  # T = 2W: 3/4 of min(T/2, W)
0.75
"""

from __future__ import annotations

import jax.numpy as jnp

from ._numerics import clamp_min, kink_min
from ._types import Scenario


def v_head_dim(s: Scenario):
    """Value head width ``d_v``: ``v_head_dim``, or ``head_dim`` where it is 0."""
    m = s.model
    return jnp.where(m.v_head_dim > 0, m.v_head_dim, m.head_dim)


def head_keep(s: Scenario):
    """Share of the heads that attend the whole context: ``kv_head_keep`` (retrieval heads,
    DuoAttention), 1 for MLA, whose latent belongs to no head."""
    return jnp.where(s.model.kv_latent_dim > 0, 1.0, s.workload.kv_head_keep)


def flop_per_key(s: Scenario, absorbed):
    """Attention FLOP per query-key pair per layer, all query heads, FLOP.

    - MHA / GQA / MQA, and MLA without absorption: ``2 N (d_qk + d_v) kappa_K`` (``Q K^T``
      and ``A V``; ``d_qk = head_dim``): ``4 N H`` when ``d_v = H``;
    - MLA with absorbed weights (``absorbed`` true, MLA decode as FlashMLA, vLLM and SGLang
      run it): the query is projected into the latent, so ``2 N (d_c + d_R)`` for the
      scores and ``2 N d_c`` for the values: ``2 N (2 d_c + d_R)``.
    DeepSeek-V3 (N = 128, d_qk = 192, d_v = 128, d_c = 512, d_R = 64): 81,920 FLOP per pair
    in prefill (4 N H = 98,304 counts V at 192), 278,528 absorbed in decode (2.83x 4 N H).
    """
    m = s.model
    plain = 2.0 * m.n_heads * (m.head_dim + v_head_dim(s))
    latent = 2.0 * m.n_heads * (2.0 * m.kv_latent_dim + m.kv_rope_dim)
    plain = plain * head_keep(s)
    return jnp.where(m.kv_latent_dim > 0, latent, plain) if absorbed else plain


def causal_mean_keys(tokens, cap):
    """Mean keys per query of a causal pass over ``tokens`` queries that each read at most
    ``cap`` keys, ``T/2 - relu(T - cap)^2 / (2T)`` (query ``i`` reads ``min(i, cap)``; the
    continuum mean, exact as ``T`` grows).  ``T/2`` for ``T <= cap``; ``cap - cap^2 / 2T``
    beyond.  Example: ``T = 2W``: ``3W/4``, where ``min(T/2, W) = W`` is 33% high."""
    over = clamp_min(tokens - cap, 0.0)
    return 0.5 * tokens - over * over / (2.0 * tokens)


def _full_share(s: Scenario):
    m = s.model
    return 1.0 - m.windowed_layer_fraction - m.linear_layer_fraction


def causal_pairs(tokens, cap):
    """Query-key pairs of a causal pass over ``tokens`` queries that each read at most ``cap``
    keys: ``tokens x causal_mean_keys(tokens, cap) = T^2/2 - relu(T - cap)^2 / 2`` (no
    division: 0 at ``T = 0``)."""
    over = clamp_min(tokens - cap, 0.0)
    return 0.5 * tokens * tokens - 0.5 * over * over


def prefill_pairs(s: Scenario, tokens):
    """Query-key pairs of a prefill of a ``tokens``-token prompt, averaged over the ``L``
    layers: ``(dense, sparse)``.  Dense: ``m T^2`` on full layers (``m`` =
    attention_mask_fraction), ``2 m`` times the causal pairs under the window on windowed
    layers; sparse: the same with the full layers' pairs under the top-k ``k_s`` (where
    ``k_s > 0``).  Linear layers read none.  A prompt whose first ``c`` tokens are cached
    computes the pairs of its last ``T - c`` queries, ``pairs(T) - pairs(c)`` (exact under
    the causal mask)."""
    m, w = s.model, s.workload
    mask, share = w.attention_mask_fraction, _full_share(s)
    full = mask * tokens * tokens
    topk = jnp.where(m.sparse_topk_tokens > 0,
                     2.0 * mask * causal_pairs(tokens, m.sparse_topk_tokens), full)  # fmt: skip
    windowed = m.windowed_layer_fraction * (2.0 * mask * causal_pairs(tokens, m.window_tokens))
    return share * full + windowed, share * topk + windowed


def decode_keys(s: Scenario, tokens):
    """Keys a decode query at context ``tokens`` reads, averaged over the ``L`` layers and
    after the token axis ``kappa_T``: ``(dense, sparse)`` with dense ``kappa_T ((1 - f - f_s)
    x + f min(x, W))`` and sparse the same with the full layers' part capped at ``k_s``."""
    m, w = s.model, s.workload
    keep, share = w.kv_token_keep, _full_share(s)
    windowed = m.windowed_layer_fraction * kink_min(tokens, m.window_tokens)
    dense = keep * (share * tokens + windowed)
    topk = keep * windowed + share * kink_min(keep * tokens, m.sparse_topk_tokens)
    return dense, jnp.where(m.sparse_topk_tokens > 0, topk, dense)


def prefill_attention_flop(s: Scenario, cached=0.0):
    """Attention FLOP of a prefill of ``T`` tokens whose first ``cached`` are in the cache
    (all devices): ``L (a dR_k + f_I dR + f_s f_r (T - c))`` with ``dR = pairs(T) -
    pairs(c)`` (:func:`prefill_pairs`) -- score and value products over the (sparse) keys,
    the sparse selector over every causal key, and the linear layers' recurrence.

    Example (Yi-34B, T = 50,000, causal): 60 x 4 x 56 x 128 x 0.5 x 50000^2 = 2.15e15 FLOP.
    """
    m, w = s.model, s.workload
    t = w.context_tokens
    dense_t, sparse_t = prefill_pairs(s, t)
    dense_c, sparse_c = prefill_pairs(s, cached)
    keys = flop_per_key(s, False) * (sparse_t - sparse_c)
    index = m.indexer_flop_per_key * (dense_t - dense_c)
    linear = m.linear_layer_fraction * m.linear_flop_per_token * (t - cached)
    return m.n_layers * (keys + index + linear)


def decode_attention_flop(s: Scenario, tokens):
    """Attention FLOP of one decode token at context ``tokens`` (all devices): ``L (a' R_k +
    f_I R + f_s f_r)`` with the absorbed MLA count ``a'``.

    Example (Yi-34B, 4124.5 keys): 60 x 4 x 56 x 128 x 4124.5 = 7.1e9 FLOP.
    """
    m = s.model
    dense, sparse = decode_keys(s, tokens)
    keys = flop_per_key(s, True) * sparse
    index = m.indexer_flop_per_key * dense
    return m.n_layers * (keys + index + m.linear_layer_fraction * m.linear_flop_per_token)
