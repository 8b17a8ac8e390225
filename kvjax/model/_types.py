"""The inputs of the cost model: ``Model``, ``Hardware``, ``Workload`` and ``Scenario``.

Each is a frozen dataclass registered as a JAX PyTree whose every field is a float leaf
holding *one point* (a Python float or a 0-d array).  Use ``jax.vmap`` or the sweep engine
for many points; nothing here takes a batch axis.

Every leaf carries its metadata as dataclass field metadata (:class:`LeafInfo`: symbol,
units, valid domain, meaning).  It is the one table that the spec parser, the catalog
checks, the dataset labels and the CLI read (:func:`leaf_info`).

Every leaf is converted to a float on construction, whatever its Python or NumPy type:
an integer leaf would be traced as int32 under ``jax.jit`` and overflow at 80 GiB.

>>> import numpy as np
>>> Hardware(flop_per_s=312e12, hbm_bytes=np.int64(80 * 2**30), hbm_bytes_per_s=2.039e12,
...          host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9).hbm_bytes
85899345920.0

Architecture variants are numbers with neutral values, never classes or string flags:

============================  =========================================  ==============
variant                        leaf                                       neutral value
============================  =========================================  ==============
GQA / MQA / MHA                ``n_kv_heads`` (K) vs ``n_heads`` (N)      K = N (MHA)
MLA (DeepSeek-V2/V3)           ``kv_latent_dim`` + ``kv_rope_dim``         0 (not MLA)
sliding-window layers          ``windowed_layer_fraction``, ``window_tokens``  0
cross-layer KV sharing         ``layers_per_kv``                          1
mixture of experts             ``n_experts``, ``experts_per_token``,      1, 1, 0
                               ``expert_params``
parallel-block layers          ``allreduces_per_layer``                    2
dense layers of an MoE model   ``n_dense_layers``                          0
deployment (``_parallel.py``)  ``tp``, ``ep``, ``dp_attention``, ``pp``,   1 each, 0, 1
                               ``microbatches_per_stage``, ``cp``;
                               ``comm_overlap``; ``moe_imbalance``
embedding table / LM head      ``embedding_params``, ``output_head_params``, 0, 0, 0
                               ``tied_embeddings``
MLA value width                ``v_head_dim``                             0 (head_dim)
sparse attention (DSA, Quest)  ``sparse_topk_tokens``, ``indexer_*``       0 (dense)
linear-attention / SSM layers  ``linear_layer_fraction``,                 0
                               ``state_bytes_per_layer``
operator classes               ``gemm_*``/``attention_*`` efficiency and   1, 0 bits, 1
                               compute bits; ``operator_overlap``
============================  =========================================  ==============

Names, sources and other labels live outside the trees (see ``kvjax.catalog``).
"""

from __future__ import annotations

from ._leaves import AT_LEAST_1, FRACTION, NONNEGATIVE, SHARE, Domain, _leaf, _Leaves, _pytree

GROUPS = ("model", "hardware", "workload")

# The HBM a serving engine keeps for itself, by default (issue 11; 0 and 1 are the paper's).
# vLLM's `gpu_memory_utilization` defaults to 0.9 of the device
# (https://docs.vllm.ai/en/latest/configuration/engine_args.html), and inside that budget its
# profiler charges the non-torch memory (CUDA context, cuBLAS and NCCL workspaces) before KV:
# 1.79 GiB for Llama-3-8B at TP 1 on an H100 (3.58 GiB at TP 2), in the log of
# https://github.com/vllm-project/vllm/pull/10511 (79.22 GiB x 0.90 = 71.29 GiB = weights
# 14.96 + non-torch 1.79 + activation peak 1.26 + KV 53.29).
ENGINE_HBM_UTILIZATION = 0.9
ENGINE_HBM_RESERVE_BYTES = 1.79 * 2**30


@_pytree
class Model(_Leaves):
    """A transformer's architecture (symbols as in ``docs/notation.md``)."""

    n_layers: float = _leaf(symbol="L", doc="transformer blocks", domain=AT_LEAST_1)
    d_model: float = _leaf(symbol="D", doc="residual width")
    n_heads: float = _leaf(symbol="N", doc="query heads", domain=AT_LEAST_1)
    n_kv_heads: float = _leaf(
        symbol="K", doc="key/value heads (K = N: MHA; 1 < K < N: GQA; K = 1: MQA)",
        domain=AT_LEAST_1,
    )  # fmt: skip
    head_dim: float = _leaf(symbol="H", doc="per-head width, always stated (never D / N)")
    params_total: float = _leaf(symbol="P", doc="all parameters, every expert included")
    expert_params: float = _leaf(
        0.0, symbol="P_e", doc="parameters of one routed expert over all layers (0 if dense)",
        domain=NONNEGATIVE,
    )  # fmt: skip
    n_experts: float = _leaf(
        1.0, symbol="E", doc="routed experts per MoE layer (1 if dense)", domain=AT_LEAST_1
    )
    experts_per_token: float = _leaf(
        1.0, symbol="k", doc="routed experts each token activates (1 if dense)",
        domain=AT_LEAST_1,
    )  # fmt: skip
    kv_latent_dim: float = _leaf(
        0.0, symbol="d_c", doc="MLA compressed KV width (0 if not MLA)", domain=NONNEGATIVE
    )
    kv_rope_dim: float = _leaf(
        0.0, symbol="d_R", doc="MLA decoupled RoPE key width (0 if not MLA)", domain=NONNEGATIVE
    )
    window_tokens: float = _leaf(
        0.0, symbol="W", doc="sliding-window span of the windowed layers", units="tokens",
        domain=NONNEGATIVE,
    )  # fmt: skip
    windowed_layer_fraction: float = _leaf(
        0.0, symbol="f", doc="share of layers that use the window (0..1)", domain=SHARE
    )
    layers_per_kv: float = _leaf(
        1.0, symbol="s", doc="layers that share one KV cache (cross-layer sharing; 1 = none)",
        domain=AT_LEAST_1,
    )  # fmt: skip
    allreduces_per_layer: float = _leaf(
        2.0, symbol="r", doc="tensor-parallel all-reduces per layer: 2 (after attention, after "
        "the MLP), 1 for parallel-block models (Falcon, GPT-J, Command R)", domain=NONNEGATIVE,
    )  # fmt: skip
    n_dense_layers: float = _leaf(
        0.0, symbol="L_d", doc="layers of an MoE model with a dense FFN, not experts "
        "(DeepSeek-V3: the first 3)", domain=NONNEGATIVE,
    )  # fmt: skip
    # -- issue 11: what each operator class really does (neutral values: no effect) ------
    embedding_params: float = _leaf(
        0.0, symbol="P_in", doc="parameters of the input embedding table, inside "
        "params_total: a gather of one row per token, not a matmul (0: counted as GEMM "
        "weights)", domain=NONNEGATIVE,
    )  # fmt: skip
    output_head_params: float = _leaf(
        0.0, symbol="P_out", doc="parameters of an untied output head (LM head), inside "
        "params_total: runs on decoded tokens and the last prompt token (0: tied, or counted "
        "as GEMM weights)", domain=NONNEGATIVE,
    )  # fmt: skip
    tied_embeddings: float = _leaf(
        0.0, symbol="t_e", doc="1: the output head is the input table (counted once in "
        "params_total, read whole by the head); 0: untied", domain=SHARE,
    )  # fmt: skip
    v_head_dim: float = _leaf(
        0.0, symbol="d_v", doc="value head width (0: head_dim); MLA: DeepSeek-V3's "
        "v_head_dim 128 against head_dim = d_qk = 192", domain=NONNEGATIVE,
    )  # fmt: skip
    sparse_topk_tokens: float = _leaf(
        0.0, symbol="k_s", doc="tokens a query of a full-attention layer reads when attention "
        "is sparse (DSA top-k 2048, NSA, Quest budget): all tokens stay stored (0: dense)",
        units="tokens", domain=NONNEGATIVE,
    )  # fmt: skip
    indexer_flop_per_key: float = _leaf(
        0.0, symbol="f_I", doc="FLOP per query-key pair per layer of the sparse selector "
        "(DSA's lightning indexer: 2 x 64 heads x 128 = 16384)", units="FLOP",
        domain=NONNEGATIVE,
    )  # fmt: skip
    indexer_bytes_per_token: float = _leaf(
        0.0, symbol="b_I", doc="bytes per token per layer of the selector's keys, stored and "
        "read whole each step (DSA: 128 fp8 + a 4 B scale = 132)", units="bytes",
        domain=NONNEGATIVE,
    )  # fmt: skip
    linear_layer_fraction: float = _leaf(
        0.0, symbol="f_s", doc="share of layers that are linear-attention / state-space "
        "layers with a constant-size state instead of a KV cache (Jamba 7/8, Nemotron-H, "
        "Qwen3-Next 3/4)", domain=SHARE,
    )  # fmt: skip
    state_bytes_per_layer: float = _leaf(
        0.0, symbol="b_s", doc="bytes of one user's recurrent state per linear layer, whatever "
        "the context (read and written each decode step)", units="bytes", domain=NONNEGATIVE,
    )  # fmt: skip
    linear_flop_per_token: float = _leaf(
        0.0, symbol="f_r", doc="FLOP per token per linear layer of its recurrence, beyond the "
        "projections counted in params_total (linear in the context)", units="FLOP",
        domain=NONNEGATIVE,
    )  # fmt: skip
    activation_width: float = _leaf(
        0.0, symbol="a_w", doc="elements per token of the largest activation a prefill holds "
        "live (a gated MLP's 2 d_ff; MoE: k x 2 d_ff_expert; 0: activation memory not "
        "counted)", domain=NONNEGATIVE,
    )  # fmt: skip


@_pytree
class Hardware(_Leaves):
    """One accelerator (per device; a deployment multiplies it), its links and its fabric."""

    flop_per_s: float = _leaf(
        symbol="F", doc="dense peak FLOP/s at the compute precision", units="FLOP/s"
    )
    hbm_bytes: float = _leaf(
        symbol="M", doc='HBM capacity (an "80 GB" A100 holds 80 GiB)', units="bytes"
    )
    hbm_bytes_per_s: float = _leaf(symbol="beta", doc="HBM bandwidth", units="bytes/s")
    host_link_bytes_per_s: float = _leaf(
        symbol="beta_h", doc="device <-> host (PCIe) bandwidth, one direction", units="bytes/s"
    )
    scaleup_bytes_per_s: float = _leaf(
        symbol="beta_s", doc="device <-> device (NVLink, xGMI, ICI) bandwidth, one direction",
        units="bytes/s",
    )  # fmt: skip
    scaleup_latency_s: float = _leaf(
        0.0, symbol="alpha", doc="latency of one step of a collective over the scale-up link",
        units="s", domain=NONNEGATIVE,
    )  # fmt: skip
    usd_per_hour: float = _leaf(
        float("nan"), symbol="c", doc="rental price of one device-hour (NaN: no public price)",
        units="USD/h", domain=Domain(0.0, nan_ok=True),
    )  # fmt: skip
    scaleup_domain_devices: float = _leaf(
        1e9, symbol="G_u", doc="devices one scale-up fabric joins (8: HGX node, 72: NVL72, "
        "a TPU slice; 1e9: any deployment fits in one)", domain=AT_LEAST_1,
    )  # fmt: skip
    scaleout_bytes_per_s: float = _leaf(
        0.0, symbol="beta_o", doc="device <-> network (NIC) bandwidth, one direction, per device "
        "(0: none)", units="bytes/s", domain=NONNEGATIVE,
    )  # fmt: skip
    scaleout_latency_s: float = _leaf(
        0.0, symbol="alpha_o", doc="latency of one step over the scale-out network", units="s",
        domain=NONNEGATIVE,
    )  # fmt: skip
    allreduce_latency_s: float = _leaf(
        1e9, symbol="alpha_1", doc="base latency of a one-shot all-reduce inside the domain "
        "(two-shot: twice; 1e9 s: no such kernel, the ring alone)", units="s",
        domain=NONNEGATIVE,
    )  # fmt: skip
    alltoall_latency_s: float = _leaf(
        0.0, symbol="alpha_a", doc="base latency of one all-to-all (MoE dispatch or combine)",
        units="s", domain=NONNEGATIVE,
    )  # fmt: skip
    bf16_flop_per_s: float = _leaf(
        0.0, symbol="F_16", doc="dense bf16 peak (0: flop_per_s); used where a class computes "
        "at 16 bits", units="FLOP/s", domain=NONNEGATIVE,
    )  # fmt: skip
    fp8_flop_per_s: float = _leaf(
        0.0, symbol="F_8", doc="dense fp8 peak (0: none; 8-bit classes fall back to "
        "int8_flop_per_s, then flop_per_s)", units="FLOP/s", domain=NONNEGATIVE,
    )  # fmt: skip
    int8_flop_per_s: float = _leaf(
        0.0, symbol="F_i8", doc="dense int8 peak, OP/s (0: none); used at 8 bits without fp8 "
        "(A100: 624e12)", units="FLOP/s", domain=NONNEGATIVE,
    )  # fmt: skip
    fp4_flop_per_s: float = _leaf(
        0.0, symbol="F_4", doc="dense fp4 peak (0: none; 4-bit classes fall back to the 8-bit "
        "peak)", units="FLOP/s", domain=NONNEGATIVE,
    )  # fmt: skip


@_pytree
class Workload(_Leaves):
    """The serving choices: what is asked of the model and how it is deployed."""

    context_tokens: float = _leaf(
        symbol="T", doc="tokens of context per user (the prompt that is prefilled)",
        units="tokens",
    )  # fmt: skip
    output_tokens: float = _leaf(
        250.0, symbol="n", doc="tokens generated per user", units="tokens", domain=AT_LEAST_1
    )
    batch: float = _leaf(
        1.0, symbol="B", doc="users whose sessions are in flight together", domain=AT_LEAST_1
    )
    tp: float = _leaf(
        1.0, symbol="p", doc="tensor-parallel degree (devices that split weights and KV)",
        domain=AT_LEAST_1,
    )  # fmt: skip
    weight_bytes_per_param: float = _leaf(
        2.0, symbol="b_w", doc="2 for bf16, 1 for fp8/int8, 0.5 for int4", units="bytes"
    )
    kv_bits: float = _leaf(
        16.0, symbol="q", doc="bits per stored KV element: the hidden axis", units="bits",
        domain=Domain(0.0, 64.0, lo_closed=False, hi_closed=True),
    )  # fmt: skip
    kv_layer_keep: float = _leaf(
        1.0, symbol="kappa_L", doc="share of layers that keep a KV cache: the layer axis",
        domain=FRACTION,
    )  # fmt: skip
    kv_head_keep: float = _leaf(
        1.0, symbol="kappa_K", doc="share of KV heads kept: the head axis", domain=FRACTION
    )
    kv_token_keep: float = _leaf(
        1.0, symbol="kappa_T", doc="share of context tokens kept: the token axis",
        domain=FRACTION,
    )  # fmt: skip
    hbm_reserve_bytes: float = _leaf(
        ENGINE_HBM_RESERVE_BYTES, symbol="R", doc="HBM held back per device inside the "
        "engine's budget (CUDA context, library workspaces); default: vLLM's measured "
        "non-torch memory, 1.79 GiB (vllm PR 10511, H100, TP 1); 0: the paper's",
        units="bytes", domain=NONNEGATIVE,
    )  # fmt: skip
    attention_mask_fraction: float = _leaf(
        0.5, symbol="m", doc="share of the 4 T^2 N H attention products a prefill computes "
        "per layer: 0.5 causal, 1 non-causal", domain=FRACTION,
    )  # fmt: skip
    flop_efficiency: float = _leaf(
        1.0, symbol="eta_F", doc="achieved / peak FLOP/s (1: theoretical peak)", domain=FRACTION
    )
    bandwidth_efficiency: float = _leaf(
        1.0, symbol="eta_beta", doc="achieved / peak HBM bandwidth (1: theoretical peak)",
        domain=FRACTION,
    )  # fmt: skip
    ep: float = _leaf(
        1.0, symbol="p_e", doc="expert-parallel degree: ranks of the tp x dp_attention group over "
        "which the routed experts are split whole", domain=AT_LEAST_1,
    )  # fmt: skip
    dp_attention: float = _leaf(
        1.0, symbol="p_a", doc="data-parallel attention ranks: each keeps only its own users' KV "
        "and a copy of the non-expert weights", domain=AT_LEAST_1,
    )  # fmt: skip
    pp: float = _leaf(
        1.0, symbol="p_s", doc="pipeline stages the layers are split into", domain=AT_LEAST_1
    )
    microbatches_per_stage: float = _leaf(
        1.0, symbol="m_u", doc="pipeline microbatches per stage: u = m_u x pp in flight "
        "(decode: u ticks a step; prefill: u chunks, u + pp - 1 ticks)", domain=AT_LEAST_1,
    )  # fmt: skip
    cp: float = _leaf(
        1.0, symbol="p_c", doc="context-parallel degree: ranks the sequence and its KV are split "
        "over (ring attention)", domain=AT_LEAST_1,
    )  # fmt: skip
    comm_overlap: float = _leaf(
        0.0, symbol="o", doc="share of communication hidden under compute (0: added, the "
        "paper's convention; 1: hidden)", domain=SHARE,
    )  # fmt: skip
    moe_imbalance: float = _leaf(
        1.0, symbol="lambda", doc="all-to-all bytes of the busiest rank / the mean (1: balanced)",
        domain=AT_LEAST_1,
    )  # fmt: skip
    # -- issue 11: operator classes, precisions, memory (neutral values: no effect) -------
    gemm_compute_bits: float = _leaf(
        0.0, symbol="q_G", doc="compute precision of the GEMMs: 16 bf16, 8 fp8 (else int8), "
        "4 fp4 (0: at flop_per_s, the catalog's --precision)", units="bits",
        domain=Domain(0.0, 64.0, hi_closed=True),
    )  # fmt: skip
    attention_compute_bits: float = _leaf(
        0.0, symbol="q_A", doc="compute precision of attention (scores, values, indexer), as "
        "gemm_compute_bits (0: at flop_per_s)", units="bits",
        domain=Domain(0.0, 64.0, hi_closed=True),
    )  # fmt: skip
    gemm_flop_efficiency: float = _leaf(
        1.0, symbol="eta_G", doc="achieved / peak FLOP/s of the GEMMs, times flop_efficiency",
        domain=FRACTION,
    )  # fmt: skip
    attention_flop_efficiency: float = _leaf(
        1.0, symbol="eta_A", doc="achieved / peak FLOP/s of attention, times flop_efficiency "
        "(FlashAttention-3 bf16 on H100: ~0.75)", domain=FRACTION,
    )  # fmt: skip
    attention_bandwidth_efficiency: float = _leaf(
        1.0, symbol="eta_Abeta", doc="achieved / peak HBM bandwidth of the KV-reading "
        "attention kernels, times bandwidth_efficiency", domain=FRACTION,
    )  # fmt: skip
    operator_overlap: float = _leaf(
        1.0, symbol="o_c", doc="1: one roofline over all operator classes (the paper's); 0: "
        "each class (GEMM, attention, elementwise) its own roofline, summed; linear between",
        domain=SHARE,
    )  # fmt: skip
    embedding_bytes_per_param: float = _leaf(
        2.0, symbol="b_e", doc="bytes per parameter of the embedding table and output head "
        "(bf16 even when the GEMM weights are fp8 or int4)", units="bytes",
    )  # fmt: skip
    weight_scale_bytes_per_param: float = _leaf(
        0.0, symbol="b_g", doc="group-scale bytes per GEMM weight (int4, group 128, fp16 "
        "scales: 2/128 = 0.0156; MXFP4: 1/32; NVFP4: 1/16)", units="bytes",
        domain=NONNEGATIVE,
    )  # fmt: skip
    activation_bits: float = _leaf(
        16.0, symbol="q_a", doc="bits per activation element (collectives, elementwise "
        "traffic, activation memory)", units="bits",
        domain=Domain(0.0, 64.0, lo_closed=False, hi_closed=True),
    )  # fmt: skip
    elementwise_vectors_per_layer: float = _leaf(
        0.0, symbol="v_e", doc="D-wide activation vectors each token moves to or from HBM per "
        "layer in unfused norms, activations and residual adds (0: fused away)",
        domain=NONNEGATIVE,
    )  # fmt: skip
    prefill_chunk_tokens: float = _leaf(
        0.0, symbol="c", doc="prompt tokens per prefill chunk: bounds activation memory, "
        "re-reads the weights T / c times (0: the whole prompt at once)", units="tokens",
        domain=NONNEGATIVE,
    )  # fmt: skip
    logits_token_share: float = _leaf(
        0.0, symbol="l", doc="share of the prompt's tokens, beyond the last, whose logits a "
        "prefill computes (0: the last token only; 1: all, e.g. prompt log-probs); only "
        "with output_head_params or tied_embeddings", domain=SHARE,
    )  # fmt: skip
    hbm_utilization: float = _leaf(
        ENGINE_HBM_UTILIZATION, symbol="u_M", doc="share of HBM the engine may use; default: "
        "vLLM's gpu_memory_utilization, 0.9 (1: all, the paper's)", domain=FRACTION,
    )  # fmt: skip
    capacity_decode_share: float = _leaf(
        0.0, symbol="c_n", doc="capacity is sized at context T + c_n n / 2 (0: T, the "
        "paper's; 1: the mean context of a decoding session; 2: its end)",
        domain=Domain(0.0, 2.0, hi_closed=True),
    )  # fmt: skip


@_pytree
class Scenario(_Leaves):
    """One point of the design space: a model served on some hardware under a workload."""

    model: Model
    hardware: Hardware
    workload: Workload


GROUP_CLASSES = {"model": Model, "hardware": Hardware, "workload": Workload}
