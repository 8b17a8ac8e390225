"""The serving choices of a scenario: ``Workload`` (what is asked of the model, how it is
deployed, and -- issue 12 -- how its sessions run: turns, a shared prefix, KV offload).

A frozen PyTree of float leaves like the other input trees (``_types.py``); the session
leaves at the end have neutral values that reproduce the one-turn, no-reuse model.
"""

from __future__ import annotations

from ._leaves import AT_LEAST_1, FRACTION, NONNEGATIVE, SHARE, Domain, _leaf, _Leaves, _pytree

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
class Workload(_Leaves):
    """The serving choices: what is asked of the model and how it is deployed."""

    context_tokens: float = _leaf(
        symbol="T", doc="tokens of context per user (the prompt that is prefilled)",
        units="tokens",
    )  # fmt: skip
    output_tokens: float = _leaf(
        250.0, symbol="n", doc="tokens generated per user and turn", units="tokens",
        domain=AT_LEAST_1,
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
    # -- issue 12: sessions as services run them (neutral values: one turn, no reuse) -------
    turns: float = _leaf(
        1.0, symbol="n_t", doc="turns per session: the first prompt of T tokens, then n_t - 1 "
        "follow-ups of turn_input_tokens each, every turn generating n tokens",
        domain=AT_LEAST_1,
    )  # fmt: skip
    turn_input_tokens: float = _leaf(
        0.0, symbol="u", doc="new prompt tokens of each follow-up turn (the user's message); "
        "the context grows by u + n a turn", units="tokens", domain=NONNEGATIVE,
    )  # fmt: skip
    think_s: float = _leaf(
        0.0, symbol="theta", doc="time between a turn's last token and the next prompt; "
        "sessions idle meanwhile (Little's law: theta / turn work of them per replica)",
        units="s", domain=NONNEGATIVE,
    )  # fmt: skip
    prefix_tokens: float = _leaf(
        0.0, symbol="P_s", doc="tokens at the start of every first prompt shared by all users "
        "(system prompt, document), inside context_tokens: stored once and, on a hit, not "
        "prefilled (0: none)", units="tokens", domain=NONNEGATIVE,
    )  # fmt: skip
    prefix_hit_rate: float = _leaf(
        1.0, symbol="h", doc="share of first prompts whose shared prefix is found cached "
        "(the rest prefill it; 0: no prefix caching)", domain=SHARE,
    )  # fmt: skip
    host_kv_bytes: float = _leaf(
        1e18, symbol="M_h", doc="host DRAM per device kept for offloaded KV, at most the "
        "node's share (vLLM --swap-space: 4 GiB; LMCache max_local_cpu_size; 1e18: as much "
        "as the node has, the paper's)", units="bytes", domain=NONNEGATIVE,
    )  # fmt: skip
    swap_duplex: float = _leaf(
        1.0, symbol="d_h", doc="share of a swap-out hidden under the swap-in: 1 full duplex "
        "(PCIe moves both ways at once), 0 serial (the paper's out + in)", domain=SHARE,
    )  # fmt: skip
    host_link_efficiency: float = _leaf(
        1.0, symbol="eta_h", doc="achieved / nominal rate of the links to the KV tiers (PCIe, "
        "NVMe, NIC; 1: the nominal rate)", domain=FRACTION,
    )  # fmt: skip
    ssd_kv_bytes: float = _leaf(
        0.0, symbol="M_s", doc="local NVMe per device kept for offloaded KV, at most the "
        "node's share (LMCache local_disk, Mooncake's SSD tier; 0: none)", units="bytes",
        domain=NONNEGATIVE,
    )  # fmt: skip
    remote_kv_bytes: float = _leaf(
        0.0, symbol="M_r", doc="a remote KV pool's bytes per device, reached over the NIC "
        "(Mooncake Store over RDMA; 0: none)", units="bytes", domain=NONNEGATIVE,
    )  # fmt: skip
    mixed_batch_share: float = _leaf(
        0.0, symbol="omega", doc="share of the prefill work run inside decode steps (chunked "
        "prefill in mixed batches, SARATHI / vLLM): the session's FLOP and bytes meet one "
        "roofline, max(sum compute, sum memory) (0: prefill and decode serial, the paper's)",
        domain=SHARE,
    )  # fmt: skip
    integer_users: float = _leaf(
        0.0, symbol="iota", doc="1: the resident decode batch is a whole number of users "
        "(a smooth floor, kvjax.model._numerics.smooth_floor); 0: real-valued, the paper's",
        domain=SHARE,
    )  # fmt: skip
    node_fill: float = _leaf(
        1.0, symbol="phi", doc="share of the node's devices moving KV at once, like this "
        "replica's (1: a node full of such replicas; 0: the replica alone, the paper's)",
        domain=SHARE,
    )  # fmt: skip
