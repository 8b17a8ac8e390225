"""How a deployment splits the model over devices: the degrees, their products, and the one
derivation of a replica spread over whole nodes (``--nodes``).

A *replica* is one copy of the model serving ``batch`` users.  Its devices form a mesh

    devices per replica  G = tp x dp_attention x pp x cp

(innermost first: a tensor-parallel group of ``tp`` devices, ``dp_attention`` such groups
side by side, ``cp`` context-parallel copies of that, ``pp`` pipeline stages).  Each degree
splits exactly one thing:

==================  ==============================================  ======================
degree              splits                                          moves
==================  ==============================================  ======================
``tp``              heads of every layer, every weight matrix       weights, KV, FLOP / p
``dp_attention``    the users: each rank keeps its own users' KV    KV / a (no replication)
                    and a copy of the non-expert weights; the
                    routed experts are split over all ``tp x a``
``ep``              how the routed experts are split inside the     collectives only
                    ``tp x a`` group: whole experts over ``ep``
                    ranks, each sliced ``tp a / ep`` ways
``pp``              the layers into stages                          weights, KV / p_s
``cp``              the sequence: each rank holds T / p_c tokens'   KV, attention FLOP
                    KV and computes its share of attention
==================  ==============================================  ======================

``ep`` is therefore *not* a factor of ``G``: expert parallelism is another way of cutting the
same devices (DeepSeek's "EP144, DP144" decode unit is 144 GPUs, ``dp_attention = ep =
144``).  Every device-second and every dollar counts all ``G`` devices.

Non-integer degrees are smooth relaxations (the mean device of a fractional split), so
gradients exist; the entry points (a spec, the command line) refuse the degrees that no real
system can run with the deployment rules of ``kvjax.model.RULES`` (``_validate.py``).

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> m = Model(n_layers=61, d_model=7168, n_heads=128, n_kv_heads=128, head_dim=192,
...           params_total=671e9, n_experts=256, experts_per_token=8, n_dense_layers=3)
>>> h = Hardware(flop_per_s=1e15, hbm_bytes=8e10, hbm_bytes_per_s=3.35e12,
...              host_link_bytes_per_s=64e9, scaleup_bytes_per_s=200e9)
>>> s = Scenario(m, h, Workload(context_tokens=4989.0, ep=144.0, dp_attention=144.0))
>>> float(devices_per_replica(s)), float(moe_layers(s))
(144.0, 58.0)
"""

from __future__ import annotations

from ._numerics import clamp_min, kink_min
from ._types import Scenario


def devices_per_replica(s: Scenario):
    """Devices of one replica: ``G = tp x dp_attention x pp x cp`` (``ep`` re-cuts them).

    Example (DeepSeek's decode unit, day 6 of its open-source week): tp = 1,
    dp_attention = 144: 144 devices = 18 nodes of 8 H800.
    """
    w = s.workload
    return w.tp * w.dp_attention * w.pp * w.cp


def expert_group_devices(s: Scenario):
    """Devices that share one stage's routed experts: ``tp x dp_attention``."""
    return s.workload.tp * s.workload.dp_attention


def moe_layers(s: Scenario):
    """Layers with routed experts: ``L - L_d`` for an MoE model (``E > 1``), else 0.

    DeepSeek-V3 (config.json: 61 layers, ``first_k_dense_replace = 3``): 58.
    """
    m = s.model
    return (m.n_experts > 1.0) * (m.n_layers - m.n_dense_layers)


def kv_splits(s: Scenario):
    """Ways one user's KV is split beyond the tensor-parallel heads: ``pp x cp`` (layers
    over stages, tokens over context ranks)."""
    return s.workload.pp * s.workload.cp


def microbatches(s: Scenario):
    """Microbatches in flight in the pipeline: ``u = microbatches_per_stage x pp`` (1 without
    pipelining).  A full pipeline (``u >= pp``) is the peak; an underfilled one is not
    modelled."""
    return s.workload.microbatches_per_stage * s.workload.pp


def decode_ticks(s: Scenario):
    """Pipeline ticks of one decode step: ``u`` (each tick one stage runs one microbatch of
    ``batch / u`` users through its ``L / pp`` layers; every stage is busy every tick).

    Example: pp = 4, u = 4: a step is 4 ticks, and each device reads its stage's weights 4
    times -- so pipelining adds capacity, not decode speed (Narayanan et al. 2021).
    """
    return microbatches(s)


def prefill_ticks(s: Scenario):
    """Pipeline ticks of one prefill cut into ``u`` chunks: ``u + pp - 1`` (the GPipe
    bubble: ``pp - 1`` ticks to fill and drain).  1 without pipelining."""
    return microbatches(s) + s.workload.pp - 1.0


def switch_on(degree):
    """0 at ``degree <= 1``, 1 for every ``degree >= 2``, smooth at both ends:
    ``1 - (1 - u^3)^2`` with ``u = clip(degree - 1, 0, 1)`` (zero slope and curvature at 1,
    zero slope at 2).  The relaxation of "this degree is in use" for costs that exist only
    above 1 (a pipeline send, an all-to-all's base latency, the all-reduce the combine
    replaces), exact at integer degrees, so that derivatives at integer points are
    two-sided and match finite differences."""
    u = clamp_min(kink_min(degree - 1.0, 1.0), 0.0)
    v = 1.0 - u * u * u
    return 1.0 - v * v


def spans_domains(s: Scenario, devices):
    """True where a group of ``devices`` (innermost-first in the mesh) leaves one scale-up
    domain, so its collectives cross the scale-out network."""
    return devices > s.hardware.scaleup_domain_devices


# ----------------------------------------------------------------------------- validation

NO_DOMAIN = 1e9
"""``scaleup_domain_devices`` at or above this: no domain size given (one domain holds any
deployment)."""


def nodes_deployment(nodes, given: dict) -> tuple[dict, list]:
    """The degrees of a replica spread over ``nodes`` scale-up domains (``--nodes``, or
    ``nodes`` in a spec's ``[deployment]``): ``(leaf updates, errors)``.

    ``given`` maps leaf paths to the values known so far (the hardware's
    ``scaleup_domain_devices``, the model's ``n_experts``, and the degrees the user set,
    under ``"given:" + path`` for those set explicitly).  The replica has ``nodes x
    scaleup_domain_devices`` devices; ``dp_attention`` fills what ``tp x pp x cp`` leave,
    unless given (then it must agree), and an MoE model's experts are placed whole over the
    ``tp x dp_attention`` group (``ep``) unless ``ep`` is given.  DeepSeek's decode unit,
    18 nodes of 8 H800 at tp = 1: ``dp_attention = ep = 144``.

    >>> nodes_deployment(18.0, {"hardware.scaleup_domain_devices": 8.0,
    ...                         "model.n_experts": 256.0})[0]
    {'workload.dp_attention': 144.0, 'workload.ep': 144.0}
    """
    domain = float(given.get("hardware.scaleup_domain_devices", NO_DOMAIN))
    if domain >= NO_DOMAIN:
        return {}, [("hardware.scaleup_domain_devices", domain,
                     "nodes needs the hardware's scale-up domain size")]  # fmt: skip
    if not (nodes >= 1 and float(nodes).is_integer()):
        return {}, [("nodes", float(nodes), "nodes must be a whole number >= 1")]
    degree = {k: float(given.get(f"given:workload.{k}", 1.0)) for k in ("tp", "pp", "cp")}
    devices = nodes * domain
    rest = devices / (degree["tp"] * degree["pp"] * degree["cp"])
    out, errors = {}, []
    dp = given.get("given:workload.dp_attention")
    if dp is None:
        if not (rest >= 1 and rest.is_integer()):
            msg = f"tp x pp x cp does not divide nodes x scaleup_domain_devices = {devices:g}"
            return {}, [("nodes", float(nodes), msg)]
        dp = out["workload.dp_attention"] = rest
    elif float(dp) != rest:
        errors.append(("nodes", float(nodes), f"tp x dp_attention x pp x cp = "
                       f"{devices / rest * float(dp):g} devices, not nodes x "
                       f"scaleup_domain_devices = {devices:g}"))  # fmt: skip
    if "given:workload.ep" not in given and float(given.get("model.n_experts", 1.0)) > 1:
        out["workload.ep"] = degree["tp"] * float(dp)
    return out, errors


NODES_LEAVES = (
    "hardware.scaleup_domain_devices", "model.n_experts", "workload.tp", "workload.ep",
    "workload.dp_attention", "workload.pp", "workload.cp",
)  # fmt: skip
"""The leaves :func:`nodes_deployment` reads."""
