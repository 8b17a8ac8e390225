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
sessions (``_turns.py``)       ``turns``, ``turn_input_tokens``,          1, 0, 0,
                               ``think_s``, ``prefix_tokens``; host tier  0; 1e18 B, 1
                               ``host_kv_bytes``, ``swap_duplex``
KV tiers (``_tiers.py``)       ``node_devices``, ``host_uplink_devices``, 1, 1, 1e20,
                               ``host_dram_bytes[_per_s]``, ``ssd_*``;    1e18, 0, 0;
                               ``ssd_kv_bytes``, ``remote_kv_bytes``      0, 0
============================  =========================================  ==============

Names, sources and other labels live outside the trees (see ``kvjax.catalog``).
"""

from __future__ import annotations

from ._leaves import AT_LEAST_1, NONNEGATIVE, SHARE, Domain, _leaf, _Leaves, _pytree
from ._workload import ENGINE_HBM_RESERVE_BYTES as ENGINE_HBM_RESERVE_BYTES
from ._workload import ENGINE_HBM_UTILIZATION as ENGINE_HBM_UTILIZATION
from ._workload import Workload

GROUPS = ("model", "hardware", "workload")



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
    # -- issue 12: the node below HBM (neutral: the device alone on its own PCIe link) ----
    node_devices: float = _leaf(
        1.0, symbol="G_n", doc="devices per node sharing its host DRAM and NVMe (8: an HGX "
        "board)", domain=AT_LEAST_1,
    )  # fmt: skip
    host_uplink_devices: float = _leaf(
        1.0, symbol="k_u", doc="devices sharing one PCIe uplink to host memory, as wide as a "
        "device's own link (DGX A100: 2 per switch)", domain=AT_LEAST_1,
    )  # fmt: skip
    host_dram_bytes: float = _leaf(
        1e20, symbol="M_D", doc="host DRAM per node (1e20: unbounded)", units="bytes",
        domain=NONNEGATIVE,
    )  # fmt: skip
    host_dram_bytes_per_s: float = _leaf(
        1e18, symbol="beta_D", doc="host DRAM bandwidth per node (memory channels x DDR rate; "
        "1e18: never binds)", units="bytes/s", domain=NONNEGATIVE,
    )  # fmt: skip
    ssd_bytes: float = _leaf(
        0.0, symbol="M_S", doc="local NVMe per node for data and KV (0: none)", units="bytes",
        domain=NONNEGATIVE,
    )  # fmt: skip
    ssd_bytes_per_s: float = _leaf(
        0.0, symbol="beta_S", doc="local NVMe sequential read per node, summed over drives",
        units="bytes/s", domain=NONNEGATIVE,
    )  # fmt: skip


@_pytree
class Scenario(_Leaves):
    """One point of the design space: a model served on some hardware under a workload."""

    model: Model
    hardware: Hardware
    workload: Workload


GROUP_CLASSES = {"model": Model, "hardware": Hardware, "workload": Workload}
