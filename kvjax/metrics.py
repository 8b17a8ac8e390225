"""The metric registry and ``evaluate``: one scenario in, named scalars out.

``METRICS`` maps each metric name to its function, units, long name and kind
(``float``, ``bool`` or ``code`` -- an integer code, see ``kvjax.session.REGIMES``).  Units
and long names become the ``units`` / ``long_name`` attributes of stored sweeps, which
hvplot uses to label axes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from . import memory as mem
from . import phases as ph
from . import session as se
from .errors import InputError, suggest
from .types import Scenario


@dataclass(frozen=True)
class MetricInfo:
    fn: Callable
    units: str
    long_name: str
    kind: str = "float"  # "float" | "bool" | "code"


METRICS: dict[str, MetricInfo] = {
    "weight_bytes_per_device": MetricInfo(
        mem.weight_bytes_per_device, "bytes", "weights resident per device"
    ),
    "active_params": MetricInfo(mem.active_params, "1", "parameters active per token"),
    "kv_bytes_per_token": MetricInfo(mem.kv_bytes_per_token, "bytes", "KV cache per token"),
    "kv_bytes_per_user": MetricInfo(mem.kv_bytes_per_user, "bytes", "KV cache per user"),
    "concurrency": MetricInfo(mem.concurrency, "1", "users whose KV fits (real)"),
    "concurrency_floor": MetricInfo(mem.concurrency_floor, "1", "users whose KV fits"),
    "fits": MetricInfo(mem.fits, "1", "weights and the batch's KV fit in HBM", "bool"),
    "prefill_flop": MetricInfo(ph.prefill_flop, "FLOP", "prefill FLOP per user"),
    "prefill_bytes": MetricInfo(ph.prefill_bytes, "bytes", "prefill HBM bytes per device"),
    "prefill_s": MetricInfo(ph.prefill_s, "s", "prefill time (time to first token)"),
    "prefill_comm_s": MetricInfo(ph.prefill_comm_s, "s", "prefill TP all-reduce time"),
    "decode_step_bytes": MetricInfo(
        ph.decode_step_bytes, "bytes", "decode-step HBM bytes per device"
    ),
    "decode_step_flop": MetricInfo(ph.decode_step_flop, "FLOP", "decode-step FLOP"),
    "decode_step_s": MetricInfo(ph.decode_step_s, "s", "time per output token"),
    "decode_s": MetricInfo(ph.decode_s, "s", "time to generate the output tokens"),
    "decode_tokens_per_s_per_user": MetricInfo(
        ph.decode_tokens_per_s_per_user, "1/s", "output tokens per second per user"
    ),
    "decode_tokens_per_s": MetricInfo(
        ph.decode_tokens_per_s, "1/s", "output tokens per second, whole batch"
    ),
    "context_switch_s": MetricInfo(ph.context_switch_s, "s", "KV swap-out + swap-in time"),
    "session_gpu_s": MetricInfo(se.session_gpu_s, "s", "device-seconds per session"),
    "sessions_per_hour": MetricInfo(se.sessions_per_hour, "1/h", "sessions per hour per TP group"),
    "output_tokens_per_s_per_device": MetricInfo(
        se.output_tokens_per_s_per_device, "1/s", "output tokens per second per device"
    ),
    "usd_per_session": MetricInfo(se.usd_per_session, "USD", "cost per session"),
    "usd_per_million_output_tokens": MetricInfo(
        se.usd_per_million_output_tokens, "USD", "cost per million output tokens"
    ),
    "prefill_regime": MetricInfo(se.prefill_regime, "1", "resource binding prefill", "code"),
    "decode_regime": MetricInfo(se.decode_regime, "1", "resource binding decode", "code"),
    "session_regime": MetricInfo(se.session_regime, "1", "resource binding a session", "code"),
}

DEFAULT_METRICS = (
    "kv_bytes_per_user",
    "concurrency",
    "fits",
    "prefill_s",
    "decode_step_s",
    "decode_tokens_per_s",
    "context_switch_s",
    "session_gpu_s",
    "usd_per_million_output_tokens",
    "decode_regime",
)
"""The metric set a sweep stores unless its spec names others."""


def check_metric_names(names, where: str = "metrics") -> tuple[str, ...]:
    """Validate metric names; unknown ones raise ``InputError`` suggesting the closest."""
    names = tuple(names)
    for n in names:
        if n not in METRICS:
            raise InputError(f"{where}: unknown metric {n!r}{suggest(n, METRICS)}")
    return names


def evaluate(s: Scenario, metrics=None) -> dict:
    """Every (or the named) metric of one scenario, as ``{name: scalar}``.

    Pure and jit-able; ``jax.vmap(evaluate)`` over stacked scenarios gives a grid.
    Bool metrics come back as ``bool``, regime codes as float codes.
    """
    names = tuple(METRICS) if metrics is None else check_metric_names(metrics)
    out = {}
    for n in names:
        v = METRICS[n].fn(s)
        out[n] = jnp.asarray(v)
    return out
