"""What occupies HBM: the weights, the KV cache, and how many users fit beside them.

Every function takes one ``Scenario`` and returns a scalar; ``jax.vmap`` or the sweep engine
make grids.  Symbols follow ``docs/notation.md``.  The paper's running example (Yao Fu, arXiv
2405.08944: 245,760 B per token, "0.91 GB" per 4K user, ~13-20 users at 4K, 1 at 50K):

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)             # the paper's Yi-34B (its round 34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)  # datasheet
>>> paper = dict(hbm_utilization=1.0, hbm_reserve_bytes=0.0)  # all of HBM, as the paper
>>> s = Scenario(yi, a100, Workload(context_tokens=4000.0, **paper))
>>> int(kv_bytes_per_token(s)), round(float(kv_bytes_per_user(s)) / 2**30, 4)
(245760, 0.9155)
>>> round(float(concurrency(s)), 2), round(float(concurrency(s.replace(
...     workload=Workload(context_tokens=50_000.0, **paper)))), 2)
(18.21, 1.46)

An engine holds HBM back (the defaults: vLLM's 0.9 of it, less 1.79 GiB of CUDA context and
workspaces), and a model whose weights nearly fill the device loses most of its users:

>>> round(float(concurrency(s.replace(workload=Workload(context_tokens=4000.0)))), 2)
7.51
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _attention as att
from . import _parallel as par
from ._numerics import clamp_min, kink_min, safe_div
from ._types import Scenario

# ----------------------------------------------------------------------------- weights


def head_params(s: Scenario):
    """Parameters the output head multiplies by: ``P_out + t_e P_in`` (an untied head, or
    the input table when tied); 0 where neither is given (the head is then inside the GEMM
    weights)."""
    m = s.model
    return m.output_head_params + m.tied_embeddings * m.embedding_params


def gemm_params(s: Scenario):
    """Parameters of the layers' matmuls, every expert included: ``P - P_in - P_out`` (the
    embedding table and an untied head are stored at their own width and are not GEMMs of
    the layers)."""
    m = s.model
    return m.params_total - m.embedding_params - m.output_head_params


def active_params(s: Scenario):
    """Parameters one token multiplies by: ``P - (E - k) P_e - (1 - t_e) P_in`` (= P for a
    dense model without a separate embedding table): the routed experts it skips and the
    input table, which it gathers a row of, are not matmul work.

    Example (Mixtral-8x7B, 46.7e9 total, one expert 5.637e9 over 32 layers, E = 8, k = 2):
    46.7e9 - 8 * 5.637e9 + 2 * 5.637e9 = 12.9e9 active parameters (Mistral AI: "12.9B").
    DeepSeek-V3 with its 129,280 x 7168 = 0.927e9 input table: 37.53e9 - 0.93e9 = 36.6e9
    (DeepSeek-V3 report: 36.6B active, of which 0.9B output head, 37B with the table).
    """
    m = s.model
    routed = (m.n_experts - m.experts_per_token) * m.expert_params
    return m.params_total - routed - (1.0 - m.tied_embeddings) * m.embedding_params


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


def gemm_bytes_per_param(s: Scenario):
    """Bytes per GEMM weight: ``b_w + b_g`` (the weight and its share of a group scale:
    int4 with fp16 scales per 128 weights: 0.5 + 2/128 = 0.5156)."""
    w = s.workload
    return w.weight_bytes_per_param + w.weight_scale_bytes_per_param


def weight_bytes(s: Scenario):
    """Bytes of all weights (every expert resident):
    ``(P - P_in - P_out)(b_w + b_g) + (P_in + P_out) b_e``.

    Example: Yi-34B at the paper's 34e9 parameters in bf16: 34e9 x 2 = 68e9 B ("68 GB").
    Llama-3.1-8B in fp8 with its bf16 tables (2 x 128,256 x 4096 = 1.05e9): 6.98e9 + 2.10e9.
    """
    m = s.model
    tables = (m.embedding_params + m.output_head_params) * s.workload.embedding_bytes_per_param
    return gemm_params(s) * gemm_bytes_per_param(s) + tables


def weight_bytes_per_device(s: Scenario):
    """Weights resident on each device, bytes.

    ``(W - (1 - 1/a) E P_e b) / (tp pp)``: every device of a stage holds ``1/tp`` of the
    non-expert weights (replicated over the ``a = dp_attention`` ranks) and ``1/(tp a)`` of
    the routed experts, and a stage holds ``1/pp`` of the layers (``W / tp`` without DP
    attention or pipelining).  Expert parallelism re-cuts the experts without changing this.
    Example (DeepSeek-V3 fp8, 671e9 params of which 256 x 2.554e9 routed, EP 144 / DP 144):
    17.1e9 + 653.9e9 / 144 = 21.6e9 B per GPU.
    """
    m, w = s.model, s.workload
    replicated = (1.0 - 1.0 / w.dp_attention) * m.n_experts * m.expert_params
    return (weight_bytes(s) - replicated * gemm_bytes_per_param(s)) / w.tp / w.pp


def _tables_read(s: Scenario, tokens):
    """Bytes of the tables one pass over ``tokens`` tokens reads: the whole head, and one
    input row per token (at most the table): ``(P_h + min(x D, P_in)) b_e``."""
    m = s.model
    rows = kink_min(tokens * m.d_model, m.embedding_params)
    return (head_params(s) + rows) * s.workload.embedding_bytes_per_param


def weight_bytes_touched(s: Scenario, tokens):
    """Weight bytes read by one forward pass over ``tokens`` tokens (all devices).

    Dense: all GEMM weights.  MoE: shared part plus the expected distinct experts touched,
    ``(P - P_in - P_out - E P_e + E_touched(tokens) P_e)(b_w + b_g)``; plus the head and the
    gathered rows of the input table (:func:`_tables_read`).
    """
    m = s.model
    shared = gemm_params(s) - m.n_experts * m.expert_params
    touched = shared + expected_experts_touched(s, tokens) * m.expert_params
    return touched * gemm_bytes_per_param(s) + _tables_read(s, tokens)


def weight_bytes_touched_per_device(s: Scenario, tokens):
    """Weight bytes each device reads in one pass of ``tokens`` tokens through its stage.

    ``((P' - E P_e + E_touched(tokens) P_e / a)(b_w + b_g) + tables) / (tp pp)`` with
    ``tokens`` counted over the whole ``tp x a`` group (the experts see every DP rank's
    tokens): in expectation each device holds ``1/(tp a)`` of every touched expert whether
    the experts are cut whole (EP) or sliced (TP).  ``weight_bytes_touched / tp`` without DP
    attention or pipelining.
    """
    m, w = s.model, s.workload
    shared = gemm_params(s) - m.n_experts * m.expert_params
    touched = shared + expected_experts_touched(s, tokens) * m.expert_params / w.dp_attention
    return (touched * gemm_bytes_per_param(s) + _tables_read(s, tokens)) / w.tp / w.pp


# ----------------------------------------------------------------------------- KV cache


def kv_layers(s: Scenario):
    """Layers that hold a KV cache: ``L / layers_per_kv * kv_layer_keep`` (layer axis)."""
    return s.model.n_layers / s.model.layers_per_kv * s.workload.kv_layer_keep


def kv_elements_per_token_per_layer(s: Scenario):
    """Stored KV elements per token per KV layer.

    - MHA / GQA / MQA: ``2 K H kappa_K`` (a key and a value vector per kept KV head);
    - MLA (``kv_latent_dim > 0``): ``d_c + d_h^R`` (one latent plus the decoupled RoPE key,
      DeepSeek-V2 paper eq. 9-10: 512 + 64 = 576), which belongs to no head: the head axis
      leaves it whole.
    """
    m = s.model
    standard = 2.0 * m.n_kv_heads * m.head_dim * s.workload.kv_head_keep
    return jnp.where(m.kv_latent_dim > 0, m.kv_latent_dim + m.kv_rope_dim, standard)


def _kv_element_bytes(s: Scenario):
    return kv_elements_per_token_per_layer(s) * s.workload.kv_bits / 8.0


def kv_bytes_per_token(s: Scenario):
    """Stored KV-cache bytes per context token over all layers and devices.

    Formula: ``kv_layers * (kv_elements_per_token_per_layer * kv_bits / 8 + b_I)``, with
    ``b_I`` a sparse selector's keys (DSA's indexer: 132 B); for plain attention this is the
    paper's ``2 L K H bytes``.
    Example (Yi-34B, L = 60, K = 8, H = 128, bf16): 2 x 60 x 8 x 128 x 2 = 245,760 B.
    """
    return kv_layers(s) * (_kv_element_bytes(s) + s.model.indexer_bytes_per_token)


def windowed_tokens(s: Scenario, tokens):
    """Tokens per layer, averaged over layers, that a window leaves of ``tokens``.

    ``(1 - f - f_s) * T + f * min(T, W)``: a share ``f`` of the layers sees (and keeps) only
    the last ``W`` tokens, a share ``f_s`` (linear / state-space layers) keeps a state
    instead.  It is both the keys one query attends to on average over layers (before the
    causal mask) and the tokens whose KV a user keeps per layer (before the token axis).
    Character.AI-style (f = 5/6, W = 1024) at T = 100K: 100000/6 + 5/6 x 1024 = 17,520
    tokens, 5.7x fewer than full attention.
    """
    m = s.model
    f = m.windowed_layer_fraction
    return (1.0 - f - m.linear_layer_fraction) * tokens + f * kink_min(tokens, m.window_tokens)


def kv_tokens_kept(s: Scenario, tokens):
    """Tokens whose KV a user keeps at a context of ``tokens`` (token axis + windows):
    ``kv_token_keep * windowed_tokens(tokens)``."""
    return s.workload.kv_token_keep * windowed_tokens(s, tokens)


def state_bytes_per_user(s: Scenario):
    """One user's recurrent state over the linear layers, bytes: ``L f_s b_s`` (constant in
    the context).  Example (Jamba-style, 72 layers, 7/8 Mamba, 2.1 MB each): 132 MB."""
    m = s.model
    return m.n_layers * m.linear_layer_fraction * m.state_bytes_per_layer


def kv_read_bytes_per_user(s: Scenario, tokens):
    """HBM bytes one decode step reads of one user's cache at context ``tokens`` (all
    devices): every attending layer reads its (shared) cache, the sparse part only the
    top-k tokens, the selector its keys for every kept token, and each linear layer reads
    and writes its state:

        L kappa_L (e q/8 R_k(x) + b_I R(x)) + 2 L f_s b_s

    Cross-layer sharing (``layers_per_kv = s``) cuts what is stored, not this: a shared
    cache of tens of GB cannot stay in a 50 MB L2 between the layers that read it.
    Example (Yi-34B, 4124.5 tokens): 60 x 2048 x 2 x 4124.5 = 1.014e9 B.
    """
    m, w = s.model, s.workload
    layers = m.n_layers * w.kv_layer_keep
    dense, sparse = att.decode_keys(s, tokens)
    kv = _kv_element_bytes(s) * sparse
    index = m.indexer_bytes_per_token * dense
    return layers * (kv + index) + 2.0 * state_bytes_per_user(s)


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


def kv_bytes_per_user_at(s: Scenario, tokens):
    """One user's stored cache at context ``tokens``, bytes (all devices): KV of the kept
    tokens plus the linear layers' state, ``kv_bytes_per_token x kept + L f_s b_s``."""
    return kv_bytes_per_token(s) * kv_tokens_kept(s, tokens) + state_bytes_per_user(s)


def kv_bytes_per_user(s: Scenario):
    """One user's KV cache at ``context_tokens``, bytes (all devices).

    Example (Yi-34B, bf16, T = 4000): 245,760 x 4000 = 983,040,000 B = 0.9155 GiB, which the
    paper prints as "0.91 GB"; at 100,000 tokens 24.58e9 B = 22.89 GiB (paper: "22.8 GB").
    """
    return kv_bytes_per_user_at(s, s.workload.context_tokens)


def kv_bytes_per_user_per_device(s: Scenario):
    """One user's KV held by each of the devices that hold it, bytes:
    ``kv_bytes_per_user / (kv_shards x pp x cp)`` (heads over TP, layers over pipeline
    stages, tokens over context ranks; a DP-attention rank holds its own users whole)."""
    return kv_bytes_per_user(s) / kv_shards(s) / par.kv_splits(s)


# ----------------------------------------------------------------------------- capacity


def prefill_activation_bytes_per_device(s: Scenario):
    """The largest activation a prefill holds live on each device, bytes: the tokens of one
    chunk times ``activation_width`` elements at ``activation_bits``, split over TP:
    ``min(T / (u cp), c) a_w q_a / 8 / tp`` (``c = prefill_chunk_tokens``, 0: unchunked).
    Example (Llama-3.1-8B, gated MLP 2 x 14336, T = 1M unchunked, bf16): 57.3e9 B;
    chunks of 8192 tokens: 0.47e9 B."""
    m, w = s.model, s.workload
    tokens = (w.context_tokens - cached_prompt_tokens(s)) / (par.microbatches(s) * w.cp)
    chunk = w.prefill_chunk_tokens
    tokens = jnp.where(chunk > 0, kink_min(tokens, chunk), tokens)
    return tokens * m.activation_width * w.activation_bits / 8.0 / w.tp


def usable_hbm_bytes_per_device(s: Scenario):
    """HBM the engine may fill with weights, activations and KV: ``u_M HBM - R`` (bytes).

    ``u_M = hbm_utilization``, ``R = hbm_reserve_bytes`` (defaults: vLLM's 0.9 and 1.79 GiB;
    the paper's: 1 and 0).  Example: an 80 GiB H100 under the defaults: 0.9 x 85.90e9 -
    1.92e9 = 75.39e9 B."""
    w = s.workload
    return w.hbm_utilization * s.hardware.hbm_bytes - w.hbm_reserve_bytes


def free_hbm_bytes_per_device(s: Scenario):
    """HBM left for KV on each device: ``usable_hbm_bytes_per_device - weight_bytes_per_device
    - prefill activations`` (may be negative)."""
    return (usable_hbm_bytes_per_device(s) - weight_bytes_per_device(s)
            - prefill_activation_bytes_per_device(s))  # fmt: skip


def turn_growth_tokens(s: Scenario):
    """Mean context a session's later turns add to its first prompt: ``(n_t - 1)(u + n) /
    2`` (turn ``j`` starts ``j (u + n)`` tokens later; 0 with one turn)."""
    w = s.workload
    return 0.5 * (w.turns - 1.0) * (w.turn_input_tokens + w.output_tokens)


def capacity_context_tokens(s: Scenario):
    """Context at which capacity is sized: ``T + (n_t - 1)(u + n) / 2 + c_n n / 2`` -- the
    mean turn's prompt (``T`` with one turn, the paper's) plus ``c_n`` =
    capacity_decode_share of its decode (1: the mean context of a decoding turn; 2: its
    end).  Example: 50K first prompt, 5 turns of 1,000 in and 250 out: 52,500 tokens."""
    w = s.workload
    growth = turn_growth_tokens(s)
    return w.context_tokens + growth + w.capacity_decode_share * 0.5 * w.output_tokens


def cached_prompt_tokens(s: Scenario):
    """Tokens of the first prompt whose KV is found cached, not prefilled: ``min(h P_s, T -
    1)`` (the shared prefix on a hit, ``h`` = prefix_hit_rate as an expectation; the last
    prompt token is always computed, it makes the first output token).  0 by default."""
    w = s.workload
    return clamp_min(kink_min(w.prefix_hit_rate * w.prefix_tokens, w.context_tokens - 1.0), 0.0)


def shared_prefix_bytes(s: Scenario):
    """KV of the shared prefix, bytes (all devices): ``kv_bytes_per_token kappa_T (1 - f -
    f_s) P_s`` -- its full-attention layers' part (a windowed layer's window moves past the
    prefix of a long prompt, a linear layer keeps none; counting neither is the conservative
    side).  Example: a 100K-token document on Yi-34B: 24.58e9 B, stored once for all users."""
    m = s.model
    full = 1.0 - m.windowed_layer_fraction - m.linear_layer_fraction
    return kv_bytes_per_token(s) * s.workload.kv_token_keep * full * s.workload.prefix_tokens


def concurrency(s: Scenario):
    """Users whose KV fits beside the weights, real-valued (floor it for reports).

    Formula: ``a x max(0, (u_M HBM - reserve - P b / TP - activations) / (KV_user /
    kv_shards))``: the KV of each user (sized at ``capacity_context_tokens``) is split over
    ``kv_shards = min(TP, K)`` devices (replicated beyond K; see ``kv_shards``), and over
    pipeline stages and context ranks; each of the ``a = dp_attention`` ranks holds its own
    users (DeepSeek-V3's MLA latent, replicated on every TP rank, is held once under DP
    attention).  Users per replica.  Sized at the context ``T`` by default, as the paper
    does: a session's cache grows by ``n_out`` more tokens while it decodes (6% at T = 4K,
    250 out).  Zero KV per user gives +inf.
    Example (paper: Yi-34B 68 GB on one A100-80GB, 85.9e9 B): (85.9e9 - 68e9) / 0.983e9
    = 18.2 users at 4K, 1.46 at 50K, 0.73 at 100K.

    A shared prefix (``P_s``, stored once while ``h > 0``) is charged once and taken out of
    each user's cache in proportion to the hit rate: ``(free - KV(P_s)) / (KV_user - h
    KV(P_s))``.  The step at ``h = 0`` (no prefix caching: no shared copy) has no gradient.
    """
    w = s.workload
    split = kv_shards(s) * par.kv_splits(s)
    prefix = shared_prefix_bytes(s) / split
    free = free_hbm_bytes_per_device(s) - jnp.where(w.prefix_hit_rate > 0, prefix, 0.0)
    user = kv_bytes_per_user_at(s, capacity_context_tokens(s)) / split
    user = user - w.prefix_hit_rate * prefix
    return w.dp_attention * safe_div(clamp_min(free, 0.0), user, jnp.inf)


def concurrency_floor(s: Scenario):
    """Whole users that fit: ``floor(concurrency)``."""
    return jnp.floor(concurrency(s))


def fits_one(s: Scenario):
    """True where the weights and one user's KV fit in HBM (``concurrency >= 1``)."""
    return concurrency(s) >= 1.0


def fits(s: Scenario):
    """True where the weights and the KV of all ``batch`` users fit in HBM."""
    return concurrency(s) >= s.workload.batch
