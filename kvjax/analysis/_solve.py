"""Inverse design: how much KV compression (or which hardware) makes a long context cost
what a short one does -- the paper's "1M as cheap as 4K" question, solved numerically.

Given a *target* scenario (e.g. Yi-34B on one A100-80GB at 1M tokens) and a *reference*
(the same at 4K), find the smallest change of one knob such that

.. math::  \\mathrm{metric}(\\text{target}, \\theta) = \\mathrm{metric}(\\text{reference})

where ``theta >= 0`` is the log of the improvement factor of the knob:

- a KV compression axis (``kv_layer_keep``, ``kv_head_keep``, ``kv_token_keep``: keep
  fraction ``x0 e^-theta`` down to 1/64; ``kv_bits``: ``x0 e^-theta`` down to 2 bits);
- ``kv`` (combined): total log-compression ``theta`` spread *equally* over the four axes,
  an axis that reaches its bound keeps it and the others share the rest (water-filling), so
  the geometric-mean compression is as small as the bounds allow;
- a hardware leaf (``hbm_bytes_per_s``, ``hbm_bytes``, ``host_link_bytes_per_s``,
  ``flop_per_s``; by name also ``fp8_flop_per_s``, ``bf16_flop_per_s``,
  ``scaleup_bytes_per_s``): ``x0 e^theta`` up to 64x (the price per hour is kept);
- by name, an attention design or precision leaf of ``DESIGN_KNOBS`` (``sparse_topk_tokens``,
  ``window_tokens``, ``state_bytes_per_layer``, ``weight_bytes_per_param``,
  ``embedding_bytes_per_param``): ``x0 e^-theta`` down to its bound.

Method.  The cost metrics are NaN where the KV does not fit, and at 1M tokens Yi-34B does not
fit on one A100-80GB at all.  So the solver works in two phases, each a bracketed,
safeguarded Newton iteration on a log residual (slope from ``jax.jvp``, bisection when a
Newton step leaves the bracket):

1. **fit**: ``theta_fit``, the least ``theta`` with concurrency >= 1 (>= batch for decode
   metrics), from ``ln(free HBM) - ln(need x KV per user)`` -- a smooth bytes surrogate that
   is defined where the metric is not;
2. **match**: ``ln metric(theta) - ln reference = 0`` on ``[theta_fit, theta_max]``
   (sign flipped for higher-is-better metrics such as concurrency).

The answer is **infeasible** when the target cannot fit even at ``theta_max``, or when the
metric at ``theta_max`` is still worse than the reference (e.g. cost per token at 1M: the
prefill FLOP do not shrink with KV compression -- the paper's point).  When the metric is
already better than the reference at ``theta_fit``, fitting binds and the answer is
``theta_fit`` (``binding = "fits"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .. import costs as c
from ..errors import InputError
from ..model import (
    Scenario,
    get_leaf,
    metric_info,
    replace_leaf,
    resolve_leaf,
    resolve_metrics,
    safe_log,
)
from ._roots import bracketed_newton

KV_AXES = {
    "workload.kv_layer_keep": 1.0 / 64.0,
    "workload.kv_head_keep": 1.0 / 64.0,
    "workload.kv_token_keep": 1.0 / 64.0,
    "workload.kv_bits": 2.0,
}
"""KV compression axes (layer, head, token, hidden) and their default lower bounds."""

HARDWARE_KNOBS = (
    "hardware.hbm_bytes_per_s",
    "hardware.hbm_bytes",
    "hardware.host_link_bytes_per_s",
    "hardware.flop_per_s",
)
"""Hardware leaves the solver may scale up (by at most ``MAX_HARDWARE_FACTOR``)."""

DESIGN_KNOBS = {
    "model.sparse_topk_tokens": 64.0,
    "model.window_tokens": 128.0,
    "model.state_bytes_per_layer": 1.0,
    "workload.weight_bytes_per_param": 0.5,
    "workload.embedding_bytes_per_param": 0.5,
}
"""Architecture and precision leaves (issue 11) the solver may shrink, ``x0 e^-theta`` down to
the bound (tokens, bytes): opt-in by name (``--knob sparse_topk_tokens``), from a non-zero
value (a dense model has no top-k to shrink: set one first)."""

GROW_KNOBS = ("hardware.fp8_flop_per_s", "hardware.bf16_flop_per_s",
              "hardware.scaleup_bytes_per_s")  # fmt: skip
"""Hardware leaves beyond ``HARDWARE_KNOBS`` the solver may scale up, by name."""

MAX_HARDWARE_FACTOR = 64.0
SOLVE_KNOBS = (*KV_AXES, "kv", *HARDWARE_KNOBS)
_SHRINK = {**KV_AXES, **DESIGN_KNOBS}
_GROW = (*HARDWARE_KNOBS, *GROW_KNOBS)
OBJECTIVES = (
    "usd_per_million_output_tokens",
    "session_gpu_s_per_output_token",
    "concurrency",
    "decode_step_s",
)
"""The objectives of the paper's question (any float metric is also accepted)."""


def _knob(name: str) -> str:
    if name in ("kv", "combined"):
        return "kv"
    path = resolve_leaf(name, field="knob")
    if path not in _SHRINK and path not in _GROW:
        known = ", ".join((*SOLVE_KNOBS, *DESIGN_KNOBS, *GROW_KNOBS))
        raise InputError(f"knob {name!r} is not a solver knob; use one of {known}")
    return path


@dataclass
class Path:
    """A one-parameter family ``theta -> scenario`` (``theta`` = log improvement >= 0)."""

    knob: str
    base: Scenario
    theta_max: float
    caps: dict = field(default_factory=dict)  # kv combined: per-axis max log-compression

    def at(self, theta) -> Scenario:
        s = self.base
        if self.knob in _GROW:
            return replace_leaf(s, self.knob, get_leaf(s, self.knob) * jnp.exp(theta))
        if self.knob in _SHRINK:
            return replace_leaf(s, self.knob, get_leaf(s, self.knob) * jnp.exp(-theta))
        for path, z in self.allocation(theta).items():
            s = replace_leaf(s, path, get_leaf(self.base, path) * jnp.exp(-z))
        return s

    def allocation(self, theta) -> dict:
        """Water-filling: each axis gets ``min(cap, t)`` with ``sum = theta`` (combined)."""
        caps = sorted(self.caps.values())
        n = len(caps)
        # F(t) = sum_i min(cap_i, t) is piecewise linear; invert it at theta
        ts = [0.0] + caps
        fs = [0.0] + [sum(caps[:j]) + (n - j) * caps[j] for j in range(n)]
        t = jnp.interp(theta, jnp.asarray(fs), jnp.asarray(ts))
        return {p: jnp.minimum(c, t) for p, c in self.caps.items()}

    def value(self, theta) -> dict:
        """The knob value(s) at ``theta`` (host floats)."""
        s = self.at(theta)
        paths = list(self.caps) if self.knob == "kv" else [self.knob]
        return {p: float(get_leaf(s, p)) for p in paths}


def make_path(base: Scenario, knob: str, bounds: dict | None = None) -> Path:
    """The family of scenarios for ``knob`` with its ``theta_max`` from the bounds."""
    knob = _knob(knob)
    bounds = dict(bounds or {})
    bounds = {resolve_leaf(k, field="bounds"): float(v) for k, v in bounds.items()}

    def cap(path):
        x0 = float(get_leaf(base, path))
        if path in _SHRINK:
            lo = bounds.get(path, _SHRINK[path])
            if not (0 < lo <= x0):
                raise InputError(f"bound {path} = {lo}: must be in (0, {x0}] (current value)")
            return math.log(x0 / lo)
        hi = bounds.get(path, x0 * MAX_HARDWARE_FACTOR)
        if not (hi >= x0 > 0):
            raise InputError(f"bound {path} = {hi}: must be >= the current value {x0}")
        return math.log(hi / x0)

    if knob == "kv":
        caps = {p: cap(p) for p in KV_AXES}
        return Path(knob, base, sum(caps.values()), caps)
    return Path(knob, base, cap(knob))


@dataclass
class Solution:
    """What ``solve`` found, and how."""

    status: str  # "ok" | "infeasible"
    knob: str
    objective: str
    reference: float  # the metric at the reference scenario
    theta: float  # log improvement factor (NaN if infeasible)
    values: dict  # knob leaf -> value at the answer
    achieved: float  # the metric at the answer (or at theta_max when infeasible)
    relative_error: float  # achieved / reference - 1
    binding: str  # "objective" | "fits" | why infeasible
    iterations: dict  # phase -> steps
    history: list  # (phase, theta, residual)

    @property
    def factor(self) -> float:
        """Improvement factor ``e^theta`` (compression, or hardware scale-up)."""
        return math.exp(self.theta) if math.isfinite(self.theta) else math.nan


def _root(res, a, b, fa, fb, phase, history, max_iter=60, xtol=1e-12):
    """Root of ``res(theta)`` in ``[a, b]`` by ``bracketed_newton``; appends its steps to
    ``history`` as ``(phase, theta, residual)``; returns ``(theta, steps)``."""

    def fn(u):
        return jax.jvp(res, (u,), (jnp.ones_like(u),))

    run = jax.jit(lambda *x: bracketed_newton(fn, *x, max_iter=max_iter, atol=xtol, rtol=xtol))
    out = run(a, b, fa, fb)
    n = int(out["iterations"])
    us, rs = np.asarray(out["history_u"]), np.asarray(out["history_r"])
    history += [(phase, float(u), float(r)) for u, r in zip(us[: n + 1], rs[: n + 1])]
    return float(out["root"]), n


def _scalar(fn):
    f = jax.jit(lambda t: jax.jvp(fn, (t,), (jnp.ones_like(t),)))
    dtype = jnp.result_type(float)

    def call(theta):
        r, dr = f(jnp.asarray(theta, dtype=dtype))
        return float(r), float(dr)

    return call


def solve(
    target: Scenario,
    reference: Scenario,
    knob: str,
    objective: str = "usd_per_million_output_tokens",
    bounds: dict | None = None,
) -> Solution:
    """The least improvement of ``knob`` that gives ``target`` the ``objective`` value of
    ``reference`` (module docstring).  Runs on the host, one point; float64 recommended
    (``jax.enable_x64``)."""
    (objective,) = resolve_metrics(objective, field="objective", kinds=("float",), derived=True)
    info = metric_info(objective)
    metric = info.fn
    path = make_path(target, knob, bounds)
    sign = -1.0 if info.sense == "max" else 1.0
    ref = float(metric(reference))
    if not (math.isfinite(ref) and ref > 0):
        raise InputError(f"objective {objective!r} at the reference is {ref}: not finite and > 0")
    need_batch = info.needs == "batch"
    history: list = []
    iterations = {"fit": 0, "match": 0}

    def need(s):
        return s.workload.batch if need_batch else 1.0

    def fit_res(theta):
        # the same concurrency that masks the metrics, as a log ratio (-inf where none fit)
        s = path.at(theta)
        return safe_log(c.concurrency(s)) - safe_log(need(s))

    def match_res(theta):
        m = metric(path.at(theta))  # NaN where it does not fit: the residual is NaN too
        return sign * (safe_log(m) - math.log(ref))

    fit, match = _scalar(fit_res), _scalar(match_res)

    def result(status, theta, binding, at=None):
        t_eval = theta if math.isfinite(theta) else at
        achieved = float(metric(path.at(t_eval))) if t_eval is not None else math.nan
        vals = path.value(theta) if math.isfinite(theta) else {}
        return Solution(status, path.knob, objective, ref, theta, vals, achieved,
                        achieved / ref - 1.0, binding, iterations, history)  # fmt: skip

    tmax = path.theta_max
    f0, fmax = fit(0.0)[0], fit(tmax)[0]
    theta_fit = 0.0
    if f0 < 0:
        if not fmax >= 0:
            need = "the batch's" if need_batch else "one user's"
            return result("infeasible", math.nan, f"{need} KV does not fit even at the bound")
        theta_fit, iterations["fit"] = _root(fit_res, 0.0, tmax, f0, fmax, "fit", history)
        # land on the feasible side of the fit boundary (where the metric is defined)
        step = 1e-13 * max(1.0, theta_fit)
        for _ in range(40):
            if math.isfinite(match(theta_fit)[0]) or theta_fit >= tmax:
                break
            theta_fit, step = min(tmax, theta_fit + step), 2.0 * step
    g0, gmax = match(theta_fit)[0], match(tmax)[0]
    if math.isnan(g0) or math.isnan(gmax):
        raise InputError(f"objective {objective!r} is undefined (NaN) at a point that fits")
    if g0 <= 0:
        return result("ok", theta_fit, "fits" if theta_fit > 0 else "already")
    if not gmax <= 0:
        return result(
            "infeasible",
            math.nan,
            f"{objective} is still worse than the reference at the bound",
            tmax,
        )
    theta, iterations["match"] = _root(match_res, theta_fit, tmax, g0, gmax, "match", history)
    return result("ok", theta, "objective")


def solve_all(target, reference, objective, knobs=SOLVE_KNOBS, bounds=None) -> list[Solution]:
    """``solve`` for each knob (the paper's table: which lever closes the gap, by how much)."""
    return [solve(target, reference, k, objective, bounds) for k in knobs]
