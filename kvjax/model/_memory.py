"""What occupies HBM: the weights, the KV cache, and how many users fit beside them.

Every function takes one ``Scenario`` and returns a scalar; ``jax.vmap`` or the sweep engine
make grids.  Symbols follow ``docs/notation.md``.  The paper's running example (Yao Fu, arXiv
2405.08944: 245,760 B per token, "0.91 GB" per 4K user, ~13-20 users at 4K, 1 at 50K):

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)             # the paper's Yi-34B (its round 34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)  # datasheet
>>> s = Scenario(yi, a100, Workload(context_tokens=4000.0))
>>> int(kv_bytes_per_token(s)), round(float(kv_bytes_per_user(s)) / 2**30, 4)
(245760, 0.9155)
>>> round(float(concurrency(s)), 2), round(float(concurrency(s.replace(
...     workload=Workload(context_tokens=50_000.0)))), 2)
(18.21, 1.46)
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _parallel as par
from ._numerics import clamp_min, kink_min, safe_div
from ._types import Scenario

# ----------------------------------------------------------------------------- weights


def active_params(s: Scenario):
    """Parameters one token touches: ``P - E * P_e + k * P_e`` (= P for a dense model).

    Example (Mixtral-8x7B, 46.7e9 total, one expert 5.637e9 over 32 layers, E = 8, k = 2):
    46.7e9 - 8 * 5.637e9 + 2 * 5.637e9 = 12.9e9 active parameters (Mistral AI: "12.9B").
    """
    m = s.model
    return m.params_total - (m.n_experts - m.experts_per_token) * m.expert_params


def expected_experts_touched(s: Scenario, tokens):
    """Expected distinct routed experts a batch of ``tokens`` activates per MoE layer.

    With uniform independent top-k routing each expert is missed by one token with
    probability ``1 - k / E``, so ``E * (1 - (1 - k / E) ** tokens)`` experts are touched.
    Dense (E = k = 1): 1.  Mixtral (E = 8, k = 2): 2 at one token, 5.47 at 4, 7.99 at 32.
    """
    m = s.model
    miss = 1.0 - m.experts_per_token / m.n_experts
    ok = miss > 0
    safe_miss = jnp.where(ok, miss, 0.5)
    # exp(t log q), not q**t: XLA on CPU lowers a float32 pow to a scalar call ~13x slower
    # than exp, and this was 70% of a sweep kernel's time (benchmarks/bench_sweep.py).
    return m.n_experts * jnp.where(ok, 1.0 - jnp.exp(tokens * jnp.log(safe_miss)), 1.0)


def weight_bytes(s: Scenario):
    """Bytes of all weights (every expert resident): ``P * bytes_per_param``.

    Example: Yi-34B at the paper's 34e9 parameters in bf16: 34e9 x 2 = 68e9 B ("68 GB").
    """
    return s.model.params_total * s.workload.weight_bytes_per_param


def weight_bytes_per_device(s: Scenario):
    """Weights resident on each device, bytes.

    ``(P b - (1 - 1/a) E P_e b) / (tp pp)``: every device of a stage holds ``1/tp`` of the
    non-expert weights (replicated over the ``a = dp_attention`` ranks) and ``1/(tp a)`` of
    the routed experts, and a stage holds ``1/pp`` of the layers (``P b / tp`` without DP
    attention or pipelining).  Expert parallelism re-cuts the experts without changing this.
    Example (DeepSeek-V3 fp8, 671e9 params of which 256 x 2.554e9 routed, EP 144 / DP 144):
    17.1e9 + 653.9e9 / 144 = 21.6e9 B per GPU.
    """
    m, w = s.model, s.workload
    replicated = (1.0 - 1.0 / w.dp_attention) * m.n_experts * m.expert_params
    return (weight_bytes(s) - replicated * w.weight_bytes_per_param) / w.tp / w.pp


def weight_bytes_touched(s: Scenario, tokens):
    """Weight bytes read by one forward pass over ``tokens`` tokens (all devices).

    Dense: all weights.  MoE: shared part plus the expected distinct experts touched,
    ``(P - E P_e + E_touched(tokens) P_e) * bytes_per_param``.
    """
    m = s.model
    shared = m.params_total - m.n_experts * m.expert_params
    touched = shared + expected_experts_touched(s, tokens) * m.expert_params
    return touched * s.workload.weight_bytes_per_param


def weight_bytes_touched_per_device(s: Scenario, tokens):
    """Weight bytes each device reads in one pass of ``tokens`` tokens through its stage.

    ``(P - E P_e + E_touched(tokens) P_e / a) b / (tp pp)`` with ``tokens`` counted over the
    whole ``tp x a`` group (the experts see every DP rank's tokens): in expectation each
    device holds ``1/(tp a)`` of every touched expert whether the experts are cut whole (EP)
    or sliced (TP).  ``weight_bytes_touched / tp`` without DP attention or pipelining.
    """
    m, w = s.model, s.workload
    shared = m.params_total - m.n_experts * m.expert_params
    touched = shared + expected_experts_touched(s, tokens) * m.expert_params / w.dp_attention
    return touched * w.weight_bytes_per_param / w.tp / w.pp


# ----------------------------------------------------------------------------- KV cache


def kv_layers(s: Scenario):
    """Layers that hold a KV cache: ``L / layers_per_kv * kv_layer_keep`` (layer axis)."""
    return s.model.n_layers / s.model.layers_per_kv * s.workload.kv_layer_keep


def kv_elements_per_token_per_layer(s: Scenario):
    """Stored KV elements per token per KV layer, times the head-axis keep fraction.

    - MHA / GQA / MQA: ``2 K H`` (a key and a value vector per KV head);
    - MLA (``kv_latent_dim > 0``): ``d_c + d_h^R`` (one latent plus the decoupled RoPE key,
      DeepSeek-V2 paper eq. 9-10: 512 + 64 = 576).
    """
    m = s.model
    standard = 2.0 * m.n_kv_heads * m.head_dim
    mla = m.kv_latent_dim + m.kv_rope_dim
    return jnp.where(m.kv_latent_dim > 0, mla, standard) * s.workload.kv_head_keep


def kv_bytes_per_token(s: Scenario):
    """KV-cache bytes per context token over all layers and devices.

    Formula: ``kv_layers * kv_elements_per_token_per_layer * kv_bits / 8``; for plain
    attention this is the paper's ``2 L K H bytes``.
    Example (Yi-34B, L = 60, K = 8, H = 128, bf16): 2 x 60 x 8 x 128 x 2 = 245,760 B.
    """
    return kv_layers(s) * kv_elements_per_token_per_layer(s) * s.workload.kv_bits / 8.0


def windowed_tokens(s: Scenario, tokens):
    """Tokens per layer, averaged over layers, that a window leaves of ``tokens``.

    ``(1 - f) * T + f * min(T, W)``: a share ``f`` of the layers sees (and keeps) only the
    last ``W`` tokens.  It is both the keys one query attends to on average over layers
    (before the causal mask) and the tokens whose KV a user keeps per layer (before the
    token axis).  Character.AI-style (f = 5/6, W = 1024) at T = 100K:
    100000/6 + 5/6 x 1024 = 17,520 tokens, 5.7x fewer than full attention.
    """
    m = s.model
    f = m.windowed_layer_fraction
    return (1.0 - f) * tokens + f * kink_min(tokens, m.window_tokens)


def kv_tokens_kept(s: Scenario, tokens):
    """Tokens whose KV a user keeps at a context of ``tokens`` (token axis + windows):
    ``kv_token_keep * windowed_tokens(tokens)``."""
    return s.workload.kv_token_keep * windowed_tokens(s, tokens)


def kv_shards(s: Scenario):
    """Devices over which one user's KV cache is split, not replicated: ``min(TP, K)``.

    Tensor parallelism shards attention by KV head, so with more devices than KV heads each
    device holds a whole head and the cache is replicated ``TP / K`` times.  An MLA latent
    belongs to no head and is replicated on every rank (``kv_shards = 1``).
    Examples: Yi-34B (K = 8) at TP = 8: 8 shards; Falcon-7B (MQA, K = 1) at TP = 4: 1 shard,
    each device holds the whole cache; DeepSeek-V3 (MLA) at TP = 8: 1.
    """
    m = s.model
    heads = kink_min(s.workload.tp, m.n_kv_heads * s.workload.kv_head_keep)
    return jnp.where(m.kv_latent_dim > 0, 1.0, clamp_min(heads, 1.0))


def kv_bytes_per_user(s: Scenario):
    """One user's KV cache at ``context_tokens``, bytes (all devices).

    Example (Yi-34B, bf16, T = 4000): 245,760 x 4000 = 983,040,000 B = 0.9155 GiB, which the
    paper prints as "0.91 GB"; at 100,000 tokens 24.58e9 B = 22.89 GiB (paper: "22.8 GB").
    """
    return kv_bytes_per_token(s) * kv_tokens_kept(s, s.workload.context_tokens)


def kv_bytes_per_user_per_device(s: Scenario):
    """One user's KV held by each of the devices that hold it, bytes:
    ``kv_bytes_per_user / (kv_shards x pp x cp)`` (heads over TP, layers over pipeline
    stages, tokens over context ranks; a DP-attention rank holds its own users whole)."""
    return kv_bytes_per_user(s) / kv_shards(s) / par.kv_splits(s)


# ----------------------------------------------------------------------------- capacity


def free_hbm_bytes_per_device(s: Scenario):
    """HBM left for KV on each device: ``HBM - reserve - weight_bytes_per_device`` (may be
    negative)."""
    return s.hardware.hbm_bytes - s.workload.hbm_reserve_bytes - weight_bytes_per_device(s)


def concurrency(s: Scenario):
    """Users whose KV fits beside the weights, real-valued (floor it for reports).

    Formula: ``a x max(0, (HBM - reserve - P b / TP) / (kv_bytes_per_user / kv_shards))``:
    the KV of each user is split over ``kv_shards = min(TP, K)`` devices (replicated beyond
    K; see ``kv_shards``), and over pipeline stages and context ranks; each of the
    ``a = dp_attention`` ranks holds its own users (DeepSeek-V3's MLA latent, replicated on
    every TP rank, is held once under DP attention).  Users per replica.  Sized at the
    context ``T``, as the paper does: a session's cache
    grows by ``n_out`` more tokens while it decodes (6% at T = 4K, 250 out).  Zero KV per
    user gives +inf.
    Example (paper: Yi-34B 68 GB on one A100-80GB, 85.9e9 B): (85.9e9 - 68e9) / 0.983e9
    = 18.2 users at 4K, 1.46 at 50K, 0.73 at 100K.
    """
    free = clamp_min(free_hbm_bytes_per_device(s), 0.0)
    return s.workload.dp_attention * safe_div(free, kv_bytes_per_user_per_device(s), jnp.inf)


def concurrency_floor(s: Scenario):
    """Whole users that fit: ``floor(concurrency)``."""
    return jnp.floor(concurrency(s))


def fits_one(s: Scenario):
    """True where the weights and one user's KV fit in HBM (``concurrency >= 1``)."""
    return concurrency(s) >= 1.0


def fits(s: Scenario):
    """True where the weights and the KV of all ``batch`` users fit in HBM."""
    return concurrency(s) >= s.workload.batch
