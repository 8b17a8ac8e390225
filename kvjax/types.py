"""The inputs of the cost model: ``Model``, ``Hardware``, ``Workload`` and ``Scenario``.

Each is a frozen dataclass registered as a JAX PyTree whose every field is a float leaf
holding *one point* (a Python float or a 0-d array).  Use ``jax.vmap`` or the sweep engine
for many points; nothing here takes a batch axis.

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
============================  =========================================  ==============

Names, sources and other labels live outside the trees (see ``kvjax.catalog``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import jax


def _pytree(cls):
    """Freeze ``cls`` and register it as a PyTree whose fields are all data leaves."""
    cls = dataclass(frozen=True)(cls)
    names = [f.name for f in fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=names, meta_fields=[])


class _Leaves:
    """Helpers shared by the input trees."""

    def __post_init__(self):
        # Python ints become floats (an int leaf would be traced as int32 and overflow at
        # 80 GiB); arrays, tracers and sub-trees pass through untouched.
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, int) and not isinstance(v, bool):
                object.__setattr__(self, f.name, float(v))

    def replace(self, **changes):
        """A copy with some leaves changed (a what-if): ``model.replace(n_kv_heads=1.0)``."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def leaf_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@_pytree
class Model(_Leaves):
    """A transformer's architecture (symbols as in ``docs/notation.md``).

    Attributes:
      n_layers: L, transformer blocks.
      d_model: D, residual width.
      n_heads: N, query heads.
      n_kv_heads: K, key/value heads (K = N: MHA; 1 < K < N: GQA; K = 1: MQA).
      head_dim: H, per-head width, always stated (never derived as D / N).
      params_total: P, all parameters (every expert included), in parameters.
      expert_params: parameters of *one* routed expert summed over all layers (0 if dense).
      n_experts: E, routed experts per MoE layer (1 if dense).
      experts_per_token: k, routed experts each token activates (1 if dense).
      kv_latent_dim: MLA compressed KV width d_c (0 if not MLA).
      kv_rope_dim: MLA decoupled RoPE key width d_h^R (0 if not MLA).
      window_tokens: W, sliding-window span of the windowed layers (tokens).
      windowed_layer_fraction: share of layers that use the window (0..1).
      layers_per_kv: layers that share one KV cache (cross-layer sharing; 1 = none).
    """

    n_layers: float
    d_model: float
    n_heads: float
    n_kv_heads: float
    head_dim: float
    params_total: float
    expert_params: float = 0.0
    n_experts: float = 1.0
    experts_per_token: float = 1.0
    kv_latent_dim: float = 0.0
    kv_rope_dim: float = 0.0
    window_tokens: float = 0.0
    windowed_layer_fraction: float = 0.0
    layers_per_kv: float = 1.0


@_pytree
class Hardware(_Leaves):
    """One accelerator (per device; tensor parallelism multiplies it).

    Attributes:
      flop_per_s: dense peak FLOP/s at the compute precision (bf16 unless chosen otherwise).
      hbm_bytes: HBM capacity, bytes (an "80 GB" A100 holds 80 GiB = 85,899,345,920 B).
      hbm_bytes_per_s: HBM bandwidth, bytes/s.
      host_link_bytes_per_s: device <-> host (PCIe) bandwidth, one direction, bytes/s.
      scaleup_bytes_per_s: device <-> device (NVLink, xGMI, ICI) bandwidth, one direction, bytes/s.
      scaleup_latency_s: latency of one step of a collective over the scale-up link, s.
      usd_per_hour: rental price of one device-hour, US$ (NaN where no public price).
    """

    flop_per_s: float
    hbm_bytes: float
    hbm_bytes_per_s: float
    host_link_bytes_per_s: float
    scaleup_bytes_per_s: float
    scaleup_latency_s: float = 0.0
    usd_per_hour: float = float("nan")


@_pytree
class Workload(_Leaves):
    """The serving choices: what is asked of the model and how it is deployed.

    Attributes:
      context_tokens: T, tokens of context per user (the prompt that is prefilled).
      output_tokens: tokens generated per user (one session = prefill T, decode these).
      batch: B, users whose sessions are in flight together.
      tp: tensor-parallel degree (devices that split weights and KV).
      weight_bytes_per_param: 2 for bf16, 1 for fp8/int8, 0.5 for int4.
      kv_bits: bits per stored KV element (16 bf16, 8 int8/fp8, 4, 2: KIVI) -- the *hidden* axis.
      kv_layer_keep: fraction of layers that keep a KV cache (YOCO, CLA) -- the *layer* axis.
      kv_head_keep: fraction of KV heads kept (retrieval heads only) -- the *head* axis.
      kv_token_keep: fraction of context tokens kept (H2O, SnapKV) -- the *token* axis.
      hbm_reserve_bytes: HBM held back per device (activations, framework), bytes.
      attention_mask_fraction: share of the 4 T^2 N H attention products a prefill computes
        per layer: 0.5 causal (each query sees the keys before it), 1 non-causal.
      flop_efficiency: achieved / peak FLOP/s (1 = the paper's theoretical peak).
      bandwidth_efficiency: achieved / peak HBM bandwidth (1 = theoretical peak).
    """

    context_tokens: float
    output_tokens: float = 250.0
    batch: float = 1.0
    tp: float = 1.0
    weight_bytes_per_param: float = 2.0
    kv_bits: float = 16.0
    kv_layer_keep: float = 1.0
    kv_head_keep: float = 1.0
    kv_token_keep: float = 1.0
    hbm_reserve_bytes: float = 0.0
    attention_mask_fraction: float = 0.5
    flop_efficiency: float = 1.0
    bandwidth_efficiency: float = 1.0


@_pytree
class Scenario(_Leaves):
    """One point of the design space: a model served on some hardware under a workload."""

    model: Model
    hardware: Hardware
    workload: Workload


def leaf_paths() -> tuple[str, ...]:
    """Every scenario leaf as ``"group.leaf"`` (``"workload.context_tokens"``, ...)."""
    out = []
    for group, cls in (("model", Model), ("hardware", Hardware), ("workload", Workload)):
        out += [f"{group}.{name}" for name in cls.leaf_names()]
    return tuple(out)


def replace_leaf(scenario: Scenario, path: str, value) -> Scenario:
    """A copy of ``scenario`` with the leaf at ``"group.leaf"`` set to ``value``."""
    group, name = path.split(".")
    sub = getattr(scenario, group).replace(**{name: value})
    return scenario.replace(**{group: sub})


def get_leaf(scenario: Scenario, path: str):
    group, name = path.split(".")
    return getattr(getattr(scenario, group), name)
