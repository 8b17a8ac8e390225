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
============================  =========================================  ==============

Names, sources and other labels live outside the trees (see ``kvjax.catalog``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import fail, suggest

GROUPS = ("model", "hardware", "workload")


@dataclass(frozen=True)
class Domain:
    """The valid values of a leaf: an interval, open or closed at each end."""

    lo: float
    hi: float = math.inf
    lo_closed: bool = True
    hi_closed: bool = False
    nan_ok: bool = False  # NaN allowed (a price that is not public)

    def contains(self, v: float) -> bool:
        if math.isnan(v):
            return self.nan_ok
        lo_ok = v >= self.lo if self.lo_closed else v > self.lo
        hi_ok = v <= self.hi if self.hi_closed else v < self.hi
        return math.isfinite(v) and lo_ok and hi_ok

    def mask(self, values: np.ndarray) -> np.ndarray:
        """Elementwise :meth:`contains` of a float array."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            lo_ok = v >= self.lo if self.lo_closed else v > self.lo
            hi_ok = v <= self.hi if self.hi_closed else v < self.hi
        return (np.isfinite(v) & lo_ok & hi_ok) | (np.isnan(v) & self.nan_ok)

    def __str__(self) -> str:
        lo, hi = "[" if self.lo_closed else "(", "]" if self.hi_closed else ")"
        return f"{lo}{self.lo:g}, {self.hi:g}{hi}"


POSITIVE = Domain(0.0, lo_closed=False)
NONNEGATIVE = Domain(0.0)
AT_LEAST_1 = Domain(1.0)
FRACTION = Domain(0.0, 1.0, lo_closed=False, hi_closed=True)  # (0, 1]
SHARE = Domain(0.0, 1.0, hi_closed=True)  # [0, 1]


@dataclass(frozen=True)
class LeafInfo:
    """Metadata of one leaf: its symbol, SI units (``"1"`` if none), valid domain, meaning."""

    symbol: str
    units: str
    domain: Domain
    doc: str


def _leaf(default=dataclasses.MISSING, *, symbol, doc, units="1", domain=POSITIVE):
    info = LeafInfo(symbol, units, domain, doc)
    return dataclasses.field(default=default, metadata={"kvjax": info})


def _is_int(v) -> bool:
    if isinstance(v, bool | np.bool_):
        return False
    if isinstance(v, int | np.integer):
        return True
    dtype = getattr(v, "dtype", None)
    return dtype is not None and np.issubdtype(dtype, np.integer)


def _as_float(v):
    """A float leaf from any number; arrays, tracers and sub-trees of floats pass through."""
    if not _is_int(v):
        return v
    if isinstance(v, int | np.integer):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.astype(np.float64)
    return jnp.asarray(v, dtype=jnp.result_type(float))  # a jax integer array or tracer


def _pytree(cls):
    """Freeze ``cls``, register it as a PyTree of data leaves, document its leaves."""
    cls = dataclass(frozen=True)(cls)
    names = [f.name for f in fields(cls)]
    rows = [
        f"  {f.name}: {f.metadata['kvjax'].symbol + ', ' if f.metadata['kvjax'].symbol else ''}"
        f"{f.metadata['kvjax'].doc} [{f.metadata['kvjax'].units}]"
        for f in fields(cls)
        if "kvjax" in f.metadata
    ]
    if rows:
        doc = (cls.__doc__ or "").rstrip()
        cls.__doc__ = doc + "\n\n    Attributes:\n    " + "\n    ".join(rows)
    return jax.tree_util.register_dataclass(cls, data_fields=names, meta_fields=[])


class _Leaves:
    """Helpers shared by the input trees."""

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            c = _as_float(v)
            if c is not v:
                object.__setattr__(self, f.name, c)

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
        0.0, symbol="R", doc="HBM held back per device (activations, framework)",
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


@_pytree
class Scenario(_Leaves):
    """One point of the design space: a model served on some hardware under a workload."""

    model: Model
    hardware: Hardware
    workload: Workload


GROUP_CLASSES = {"model": Model, "hardware": Hardware, "workload": Workload}


# ----------------------------------------------------------------------------- leaf paths


def leaf_paths() -> tuple[str, ...]:
    """Every scenario leaf as ``"group.leaf"`` (``"workload.context_tokens"``, ...)."""
    return _PATHS


_PATHS = tuple(f"{g}.{n}" for g, cls in GROUP_CLASSES.items() for n in cls.leaf_names())
_SHORT = {p.split(".")[1]: p for p in _PATHS}  # leaf names are unique across groups
_INFO = {
    f"{g}.{f.name}": f.metadata["kvjax"] for g, cls in GROUP_CLASSES.items() for f in fields(cls)
}
_DEFAULTS = {
    f"{g}.{f.name}": float(f.default)
    for g, cls in GROUP_CLASSES.items()
    for f in fields(cls)
    if f.default is not dataclasses.MISSING
}


def leaf_info(path: str) -> LeafInfo:
    """The :class:`LeafInfo` of ``"group.leaf"``."""
    return _INFO[path]


def leaf_defaults() -> dict[str, float]:
    """``{"group.leaf": neutral value}`` of every leaf that has a default."""
    return dict(_DEFAULTS)


def resolve_leaf(name, file=None, entry=None, field=None) -> str:
    """The canonical ``"group.leaf"`` path of ``name`` (a path, or an unambiguous bare leaf
    name such as ``"kv_bits"``); anything else raises a one-line ``InputError`` located at
    ``file``/``entry``/``field`` with the closest names suggested.

    >>> resolve_leaf("kv_bits")
    'workload.kv_bits'
    """
    if isinstance(name, str):
        if name in _INFO:
            return name
        if name in _SHORT:
            return _SHORT[name]
        if name in GROUP_CLASSES:
            raise fail("is a group, not a leaf; name one of its leaves", file, entry, field, name)
    else:
        raise fail("must be a leaf name such as 'workload.batch'", file, entry, field, name)
    choices = _PATHS + tuple(_SHORT)
    raise fail(f"unknown scenario leaf{suggest(name, choices)}", file, entry, field, name)


def resolve_leaves(names, file=None, entry=None, field=None) -> tuple[str, ...]:
    """:func:`resolve_leaf` of each name (a string or a list); a leaf named twice is refused."""
    names = (names,) if isinstance(names, str) else tuple(names)
    out = tuple(resolve_leaf(n, file, entry, field) for n in names)
    for p in out:
        if out.count(p) > 1:
            raise fail("leaf named twice", file, entry, field, p)
    return out


def check_leaf_value(path: str, value, file=None, entry=None, field=None) -> float:
    """``value`` as a float inside the valid domain of leaf ``path``, else ``InputError``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise fail("must be a number", file, entry, field, value)
    v = float(value)
    domain = _INFO[path].domain
    if not math.isfinite(v) and not (math.isnan(v) and domain.nan_ok):
        raise fail(f"must be finite (the valid domain of {path} is {domain})", file, entry,
                   field, value)  # fmt: skip
    if not domain.contains(v):
        raise fail(f"outside the valid domain of {path}: {domain}", file, entry, field, value)
    return v


def get_leaf(scenario: Scenario, path: str):
    """The value of leaf ``"group.leaf"`` of ``scenario``."""
    group, name = path.split(".")
    return getattr(getattr(scenario, group), name)


def replace_leaf(scenario: Scenario, path: str, value) -> Scenario:
    """A copy of ``scenario`` with the leaf at ``"group.leaf"`` set to ``value``."""
    group, name = path.split(".")
    sub = getattr(scenario, group).replace(**{name: value})
    return scenario.replace(**{group: sub})


def scenario_from_leaves(values: dict) -> Scenario:
    """The ``Scenario`` of a flat ``{"group.leaf": value}`` dict naming every leaf."""
    groups = {
        g: cls(**{n: values[f"{g}.{n}"] for n in cls.leaf_names()})
        for g, cls in GROUP_CLASSES.items()
    }
    return Scenario(**groups)
