"""The metric registry and ``evaluate``: one scenario in, named scalars out.

``METRICS`` maps each metric name to a :class:`MetricInfo`: its function, units, long name,
kind (``float``, ``bool`` or ``code`` -- an integer code, see ``REGIMES``), sense (whether
lower or higher is better) and what must fit for it to be defined.  Units and long names
become the ``units`` / ``long_name`` attributes of stored sweeps, which hvplot uses to label
axes; every other layer reads its metric metadata here, never from the names.

**The elementwise contract.**  Every metric function takes one :class:`Scenario` and is
elementwise in its leaves: given leaves that are arrays broadcasting against each other, it
returns their broadcast shape, each element the metric of the scenario made of the
corresponding elements.  No function reduces over, indexes or reshapes a leaf.  That is what
lets the sweep engine build a grid by broadcasting 1-D axis slices inside one ``jit`` (each
metric comes out over exactly the axes it depends on) and lets ``jax.vmap`` batch anything.

>>> from kvjax.model import Hardware, Model, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)
>>> paper = dict(hbm_utilization=1.0, hbm_reserve_bytes=0.0)  # all of HBM, as the paper
>>> r = evaluate(Scenario(yi, a100, Workload(context_tokens=4000.0, **paper)))
>>> int(r["kv_bytes_per_token"]), round(float(r["concurrency"]), 2)
(245760, 18.21)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from ..errors import fail, suggest
from . import _breakdown as bd
from . import _memory as mem
from . import _parallel as par
from . import _phases as ph
from . import _session as se
from . import _turns as tu
from ._types import Scenario


@dataclass(frozen=True)
class MetricInfo:
    """A metric's function and metadata.

    Attributes:
      fn: ``Scenario -> scalar`` (elementwise: see the module docstring).
      units: SI units (``"1"`` if none).
      long_name: what it is, in words (plot labels).
      kind: ``"float"``, ``"bool"`` or ``"code"`` (a regime code, ``REGIMES``).
      sense: ``"min"`` (lower is better), ``"max"`` (higher is better) or ``None``.
      needs: what inverse design must make fit for the metric to mean what it says:
        ``"batch"`` (the whole batch resident: decode metrics, concurrency) or ``"one"``.
      nan_unless: when the metric is NaN (codes: 4, "does not fit"): ``None`` never (a
        capacity or work quantity, defined whether or not it fits), ``"one"`` unless one
        user's KV fits beside the weights (``concurrency >= 1``), ``"batch"`` unless the
        whole batch does (``concurrency >= batch``).  Prices are NaN for hardware without a
        public price, whatever fits.
    """

    fn: Callable
    units: str
    long_name: str
    kind: str = "float"  # "float" | "bool" | "code"
    sense: str | None = "min"
    needs: str = "one"
    nan_unless: str | None = None


def _max(fn, units, long_name, needs="one"):
    return MetricInfo(fn, units, long_name, sense="max", needs=needs)


_NAN_UNLESS_ONE = (
    "prefill_s", "context_switch_s", "session_gpu_s", "followup_prefill_s",
    "recompute_prefill_s", "history_load_s", "sessions_per_hour",
    "output_tokens_per_s_per_device", "usd_per_session", "usd_per_million_output_tokens",
    "prefill_regime", "session_regime", "prompt_tokens_per_s_per_device",
    "prefill_gemm_s", "prefill_attention_s", "prefill_elementwise_s",
)  # fmt: skip
"""Metrics that are NaN (codes: 4) unless one user's KV fits: a session runs one at least."""
_NAN_UNLESS_BATCH = (
    "decode_step_s", "decode_s", "decode_tokens_per_s_per_user", "decode_tokens_per_s",
    "decode_regime", "decode_comm_s", "decode_tokens_per_s_per_device",
    "decode_gemm_s", "decode_attention_s", "decode_kv_s", "decode_elementwise_s",
)  # fmt: skip
"""Metrics that are NaN (codes: 4) unless the whole batch's KV fits: one decode step of all."""

METRICS: dict[str, MetricInfo] = {
    "weight_bytes_per_device": MetricInfo(
        mem.weight_bytes_per_device, "bytes", "weights resident per device"
    ),
    "active_params": MetricInfo(mem.active_params, "1", "parameters active per token"),
    "kv_bytes_per_token": MetricInfo(mem.kv_bytes_per_token, "bytes", "KV cache per token"),
    "kv_bytes_per_user": MetricInfo(mem.kv_bytes_per_user, "bytes", "KV cache per user"),
    "concurrency": _max(mem.concurrency, "1", "users whose KV fits (real)", "batch"),
    "concurrency_floor": _max(mem.concurrency_floor, "1", "users whose KV fits"),
    "fits": MetricInfo(mem.fits, "1", "weights and the batch's KV fit in HBM", "bool", None),
    "prefill_flop": MetricInfo(ph.prefill_flop, "FLOP", "prefill FLOP per user"),
    "prefill_bytes": MetricInfo(ph.prefill_bytes, "bytes", "prefill HBM bytes per device"),
    "prefill_s": MetricInfo(ph.prefill_s, "s", "prefill time (time to first token)"),
    "prefill_comm_s": MetricInfo(ph.prefill_comm_s, "s", "prefill communication time"),
    "prefill_gemm_s": MetricInfo(bd.prefill_gemm_s, "s", "prefill GEMM roofline (alone)"),
    "prefill_attention_s": MetricInfo(
        bd.prefill_attention_s, "s", "prefill attention roofline (alone)"
    ),
    "prefill_elementwise_s": MetricInfo(
        bd.prefill_elementwise_s, "s", "prefill elementwise traffic time"
    ),
    "prompt_tokens_per_s_per_device": _max(
        ph.prompt_tokens_per_s_per_device, "1/s", "prompt tokens prefilled per second per device"
    ),
    "decode_step_bytes": MetricInfo(
        ph.decode_step_bytes, "bytes", "decode-step HBM bytes per device", needs="batch"
    ),
    "decode_step_flop": MetricInfo(
        ph.decode_step_flop, "FLOP", "decode-step FLOP", needs="batch"
    ),
    "decode_step_s": MetricInfo(ph.decode_step_s, "s", "time per output token", needs="batch"),
    "decode_comm_s": MetricInfo(
        ph.decode_comm_s, "s", "decode-step communication time", needs="batch"
    ),
    "decode_s": MetricInfo(ph.decode_s, "s", "time to generate the output tokens", needs="batch"),
    "decode_gemm_s": MetricInfo(
        bd.decode_gemm_s, "s", "decode-step GEMM roofline (alone)", needs="batch"
    ),
    "decode_attention_s": MetricInfo(
        bd.decode_attention_s, "s", "decode-step attention roofline (alone)", needs="batch"
    ),
    "decode_kv_s": MetricInfo(bd.decode_kv_s, "s", "decode-step KV read time", needs="batch"),
    "decode_elementwise_s": MetricInfo(
        bd.decode_elementwise_s, "s", "decode-step elementwise traffic time", needs="batch"
    ),
    "decode_tokens_per_s_per_user": _max(
        ph.decode_tokens_per_s_per_user, "1/s", "output tokens per second per user", "batch"
    ),
    "decode_tokens_per_s": _max(
        ph.decode_tokens_per_s, "1/s", "output tokens per second, whole batch", "batch"
    ),
    "decode_tokens_per_s_per_device": _max(
        ph.decode_tokens_per_s_per_device, "1/s", "output tokens per second per device", "batch"
    ),
    "context_switch_s": MetricInfo(tu.context_switch_s, "s", "KV swap-out + swap-in time"),
    "followup_prefill_s": MetricInfo(
        tu.followup_prefill_s, "s", "follow-up turn prefill, history kept (time to first token)"
    ),
    "recompute_prefill_s": MetricInfo(
        tu.recompute_prefill_s, "s", "follow-up turn prefill, history recomputed"
    ),
    "history_load_s": MetricInfo(tu.history_load_s, "s", "history KV load from host memory"),
    "idle_sessions": MetricInfo(
        tu.idle_sessions, "1", "sessions idle at once (thinking or queued)", sense=None
    ),
    "offloaded_share": MetricInfo(
        tu.offloaded_share, "1", "share of follow-ups whose history is off HBM"
    ),
    "recompute_share": MetricInfo(
        tu.recompute_share, "1", "share of follow-ups that recompute their history"
    ),
    "devices_per_replica": MetricInfo(
        par.devices_per_replica, "1", "devices per replica (tp x dp_attention x pp x cp)",
        sense=None,
    ),  # fmt: skip
    "session_gpu_s": MetricInfo(se.session_gpu_s, "s", "device-seconds per session"),
    "sessions_per_hour": _max(se.sessions_per_hour, "1/h", "sessions per hour per replica"),
    "output_tokens_per_s_per_device": _max(
        se.output_tokens_per_s_per_device, "1/s", "output tokens per second per device"
    ),
    "usd_per_session": MetricInfo(se.usd_per_session, "USD", "cost per session"),
    "usd_per_million_output_tokens": MetricInfo(
        se.usd_per_million_output_tokens, "USD", "cost per million output tokens"
    ),
    "prefill_regime": MetricInfo(se.prefill_regime, "1", "resource binding prefill", "code", None),
    "decode_regime": MetricInfo(
        se.decode_regime, "1", "resource binding decode", "code", None, "batch"
    ),
    "session_regime": MetricInfo(
        se.session_regime, "1", "resource binding a session", "code", None
    ),
}

for _name, _cond in [*((n, "one") for n in _NAN_UNLESS_ONE),
                     *((n, "batch") for n in _NAN_UNLESS_BATCH)]:
    METRICS[_name] = dataclasses.replace(METRICS[_name], nan_unless=_cond)

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


GRAD_METRICS = (
    "concurrency",
    "prefill_s",
    "decode_step_s",
    "context_switch_s",
    "session_gpu_s",
    "usd_per_million_output_tokens",
)
"""The metrics ``kvjax grad`` ranks knobs for unless told others."""


def _session_gpu_s_per_output_token(s: Scenario):
    return se.session_gpu_s(s) / tu.session_output_tokens(s)


DERIVED_METRICS: dict[str, MetricInfo] = {
    "session_gpu_s_per_output_token": MetricInfo(
        _session_gpu_s_per_output_token, "s", "device-seconds per output token"
    ),
}
"""Metrics that analyses accept by name (solve objectives, boundary conditions) but sweeps do
not store and ``evaluate`` does not return: exact functions of stored metrics."""

REGIMES = se.REGIMES


def metric_info(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of a stored or derived metric."""
    return METRICS[name] if name in METRICS else DERIVED_METRICS[name]


def resolve_metrics(names, file=None, entry=None, field=None, *, kinds=None,
                    derived=False) -> tuple[str, ...]:  # fmt: skip
    """Validate metric names (a string or a list) and return them as a tuple.

    Unknown names, a name given twice, or (with ``kinds``, e.g. ``("float",)``) a metric of
    another kind raise a one-line ``InputError`` located at ``file``/``entry``/``field``,
    suggesting the closest valid names.  ``derived`` also accepts ``DERIVED_METRICS``.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    known = {**METRICS, **DERIVED_METRICS} if derived else METRICS
    valid = [n for n, i in known.items() if kinds is None or i.kind in kinds]
    if not names:
        raise fail("no metric named", file, entry, field, [])
    for n in names:
        if not isinstance(n, str) or n not in known:
            raise fail(f"unknown metric{suggest(str(n), valid)}", file, entry, field, n)
        kind = known[n].kind
        if kinds is not None and kind not in kinds:
            raise fail(f"is a {kind}, not a float metric: piecewise constant, it has no "
                       f"derivative{suggest(n, valid)}", file, entry, field, n)  # fmt: skip
        if names.count(n) > 1:
            raise fail("metric named twice", file, entry, field, n)
    return names


def evaluate(s: Scenario, metrics=None) -> dict:
    """Every (or the named) metric of one scenario, as ``{name: scalar}``.

    Pure and jit-able; ``jax.vmap(evaluate)`` over stacked scenarios gives a grid.
    Bool metrics come back as ``bool``, regime codes as float codes.
    """
    names = tuple(METRICS) if metrics is None else resolve_metrics(tuple(dict.fromkeys(metrics)))
    return {n: jnp.asarray(METRICS[n].fn(s)) for n in names}
