"""One validation for every entry point: leaf domains and the rules between leaves.

Every way a scenario enters kvjax -- a catalog entry, a Hugging Face ``config.json``, a CLI
flag or ``--set``, a sweep spec's fixed values and axes -- is checked by the same two things:

1. each leaf against its domain (its field metadata, ``kvjax.model.leaf_info``);
2. the :data:`RULES` between leaves below: an architecture that cannot exist, and degrees of
   parallelism that do not divide what they split (or a deployment that leaves its scale-up
   domain over a network the hardware does not have).

The cost model itself treats every leaf as a real number (so that it differentiates): TP
splits the KV heads as ``min(TP, K)`` whatever the divisibility.  Entry points refuse what no
engine can run instead: vLLM, SGLang and TensorRT-LLM require the attention heads to divide
evenly over TP ranks and the KV heads to divide over them or be replicated evenly
(``K % TP == 0`` or ``TP % K == 0``).  The same holds for the deployment degrees
(``kvjax/model/_parallel.py``): whole numbers; ``ep`` at most the routed experts and a divisor
of the ``tp x dp_attention`` devices that hold them (it need not divide the experts:
DeepSeek serves 256 + 32 redundant experts over 144 GPUs, and the redundant copies are not
charged -- an optimistic, peak-side relaxation); ``pp`` at most the layers (uneven stages
run in practice; the model charges the mean stage, optimistic by at most one layer); ``cp``
at least two context tokens per rank; and a replica larger than one scale-up domain needs a
scale-out bandwidth.  Inside the cost model every degree stays a smooth real number.

Rules are vectorised (NumPy), so a sweep spec checks
every combination of its axes that a rule involves in one pass (:func:`first_problem`).

>>> field, value, message = first_problem(
...     {"model.n_heads": 71.0, "model.n_kv_heads": 1.0, "workload.tp": 2.0})  # Falcon-7B
>>> field, value, message.split(" (")[0]
('workload.tp', 2.0, 'tp = 2 does not divide the 71 attention heads')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._paths import leaf_defaults


@dataclass(frozen=True)
class Rule:
    """A condition on some leaves: ``ok(v)`` (vectorised over broadcast arrays) and the
    one-line ``message(v)`` at a violating point (scalars), blaming the leaf ``field``."""

    field: str
    leaves: tuple[str, ...]
    ok: object
    message: object


def _mla(v):
    return v["model.kv_latent_dim"] > 0


def _divides(a, b):
    """``a`` divides ``b`` (both whole numbers)."""
    return np.isclose(np.mod(b, np.where(a > 0, a, 1.0)), 0.0)


def _whole(x):
    return np.isclose(x, np.round(x))


_DEGREES = ("workload.tp", "workload.dp_attention", "workload.pp", "workload.cp")


def _replica(v):
    """Devices of one replica: ``tp x dp_attention x pp x cp`` (as ``devices_per_replica``)."""
    return v["workload.tp"] * v["workload.dp_attention"] * v["workload.pp"] * v["workload.cp"]


RULES = (
    Rule("model.n_kv_heads", ("model.n_kv_heads", "model.n_heads"),
         lambda v: v["model.n_kv_heads"] <= v["model.n_heads"],
         lambda v: f"exceeds n_heads = {v['model.n_heads']:g}"),
    Rule("model.n_kv_heads", ("model.n_kv_heads", "model.n_heads", "model.kv_latent_dim"),
         lambda v: _mla(v) | _divides(v["model.n_kv_heads"], v["model.n_heads"]),
         lambda v: f"does not divide n_heads = {v['model.n_heads']:g} (GQA groups query "
                   "heads evenly over KV heads)"),
    Rule("model.experts_per_token", ("model.experts_per_token", "model.n_experts"),
         lambda v: v["model.experts_per_token"] <= v["model.n_experts"],
         lambda v: f"exceeds n_experts = {v['model.n_experts']:g}"),
    Rule("model.expert_params", ("model.expert_params", "model.n_experts", "model.params_total"),
         lambda v: v["model.n_experts"] * v["model.expert_params"] <= v["model.params_total"],
         lambda v: "n_experts x expert_params exceeds params_total"),
    Rule("model.window_tokens", ("model.window_tokens", "model.windowed_layer_fraction"),
         lambda v: (v["model.windowed_layer_fraction"] <= 0) | (v["model.window_tokens"] > 0),
         lambda v: "windowed layers need window_tokens > 0"),
    Rule("model.kv_latent_dim", ("model.kv_latent_dim", "model.kv_rope_dim"),
         lambda v: (v["model.kv_rope_dim"] <= 0) | (v["model.kv_latent_dim"] > 0),
         lambda v: "kv_rope_dim given without kv_latent_dim (MLA)"),
    Rule("workload.tp", ("workload.tp",),
         lambda v: _whole(v["workload.tp"]),
         lambda v: f"tp = {v['workload.tp']:g} is not a whole number of devices"),
    Rule("workload.tp", ("workload.tp", "model.n_heads"),
         lambda v: _divides(v["workload.tp"], v["model.n_heads"]),
         lambda v: f"tp = {v['workload.tp']:g} does not divide the {v['model.n_heads']:g} "
                   "attention heads (an engine splits them evenly over TP ranks)"),
    Rule("workload.tp", ("workload.tp", "model.n_kv_heads", "model.kv_latent_dim"),
         lambda v: _mla(v) | _divides(v["workload.tp"], v["model.n_kv_heads"])
         | _divides(v["model.n_kv_heads"], v["workload.tp"]),
         lambda v: f"tp = {v['workload.tp']:g} neither divides the "
                   f"{v['model.n_kv_heads']:g} KV heads nor is a multiple of them (an engine "
                   "splits KV heads evenly over TP ranks or replicates them evenly)"),
    Rule("model.n_dense_layers", ("model.n_dense_layers", "model.n_layers"),
         lambda v: v["model.n_dense_layers"] < v["model.n_layers"],
         lambda v: f"must be below n_layers = {v['model.n_layers']:g}"),
    # sessions (issue 12): the shared prefix is part of the first prompt
    Rule("workload.prefix_tokens", ("workload.prefix_tokens", "workload.context_tokens"),
         lambda v: v["workload.prefix_tokens"] <= v["workload.context_tokens"],
         lambda v: f"exceeds context_tokens = {v['workload.context_tokens']:g} (the shared "
                   "prefix is the start of the first prompt)"),
    # deployments (kvjax/model/_parallel.py): degrees are whole numbers of devices ...
    *(Rule(f"workload.{d}", (f"workload.{d}",),
           lambda v, d=d: _whole(v[f"workload.{d}"]),
           lambda v, d=d: f"{d} = {v[f'workload.{d}']:g} is not a whole number of devices")
      for d in ("ep", "dp_attention", "pp", "cp")),
    # ... that split what they split
    Rule("workload.ep", ("workload.ep", "model.n_experts"),
         lambda v: v["workload.ep"] <= v["model.n_experts"],
         lambda v: f"ep = {v['workload.ep']:g} exceeds the {v['model.n_experts']:g} routed "
                   "experts (each expert-parallel rank holds whole experts)"),
    Rule("workload.ep", ("workload.ep", "workload.tp", "workload.dp_attention"),
         lambda v: _divides(v["workload.ep"], v["workload.tp"] * v["workload.dp_attention"]),
         lambda v: f"ep = {v['workload.ep']:g} does not divide tp x dp_attention = "
                   f"{v['workload.tp'] * v['workload.dp_attention']:g}, the devices that hold "
                   "the experts"),
    Rule("workload.pp", ("workload.pp", "model.n_layers"),
         lambda v: v["workload.pp"] <= v["model.n_layers"],
         lambda v: f"pp = {v['workload.pp']:g} exceeds the {v['model.n_layers']:g} layers (a "
                   "pipeline stage needs at least one)"),
    Rule("workload.cp", ("workload.cp", "workload.context_tokens"),
         lambda v: v["workload.context_tokens"] >= 2.0 * v["workload.cp"],
         lambda v: f"cp = {v['workload.cp']:g} needs context_tokens >= 2 x cp (ring "
                   f"attention gives each rank two chunks), not {v['workload.context_tokens']:g}"),
    Rule("hardware.scaleout_bytes_per_s",
         ("hardware.scaleout_bytes_per_s", "hardware.scaleup_domain_devices", *_DEGREES),
         lambda v: (v["hardware.scaleout_bytes_per_s"] > 0)
         | (_replica(v) <= v["hardware.scaleup_domain_devices"]),
         lambda v: f"the deployment (tp x dp_attention x pp x cp = {_replica(v):g} devices) "
                   "spans more than one scale-up domain (scaleup_domain_devices = "
                   f"{v['hardware.scaleup_domain_devices']:g}) and this hardware has no "
                   "scale-out bandwidth"),
)  # fmt: skip
"""The rules between leaves, checked at every entry point (catalog, config.json, CLI, specs)."""


class Problem(tuple):
    """``(leaf path, value, message)`` of a broken rule; ``.index`` is the violating element
    of the broadcast arrays (``()`` for scalars)."""

    index: tuple = ()
    shape: tuple = ()


def first_problem(values: dict) -> Problem | None:
    """The first rule that ``values`` break, as a :class:`Problem`, or None.

    ``values`` maps leaf paths to scalars or arrays that broadcast together; leaves it does
    not give take their neutral value (rules whose leaves have neither are skipped).  For
    arrays the first violating element (in C order of the broadcast shape) is reported.
    """
    full = {**leaf_defaults(), **values}
    for rule in RULES:
        if not all(p in full for p in rule.leaves):
            continue
        arrays = np.broadcast_arrays(*(np.asarray(full[p], np.float64) for p in rule.leaves))
        v = dict(zip(rule.leaves, arrays, strict=True))
        ok = np.asarray(rule.ok(v))
        if ok.all():
            continue
        at = np.unravel_index(int(np.argmin(ok)), ok.shape) if ok.ndim else ()
        point = {p: float(a[at]) for p, a in v.items()}
        out = Problem((rule.field, point[rule.field], rule.message(point)))
        out.index = tuple(int(i) for i in at)
        out.shape = ok.shape
        return out
    return None
