"""Elasticities: how much a metric moves, in percent, per percent change of one input.

The elasticity of metric ``m`` with respect to scenario leaf ``x`` is the log-log slope

.. math::

    \\varepsilon_{m,x} = \\frac{\\partial \\ln m}{\\partial \\ln x} = \\frac{x}{m}
    \\frac{\\partial m}{\\partial x},

computed exactly by forward-mode autodiff: one ``jax.jvp`` per leaf, with the tangent
``x`` on that leaf alone (a unit step in ``ln x``), divided by ``m``.  ``-1`` means "halve the
metric by doubling the input" (bandwidth-bound decode time vs HBM bandwidth), ``0`` that the
input does not bind (decode time vs FLOP/s while memory-bound), ``+1`` proportionality (KV
bytes per user vs context).

Conventions, where the log-log slope is not a plain number:

- **kinks** (``max``/``min`` of roofline terms, ``min(T, W)`` windows, clamps): the slope is
  one-sided, as ``kvjax.model.TIE_CONVENTION`` states: that of the first argument of
  ``kink_max``/``kink_min`` at an exact tie, that of the binding term elsewhere.  Away from
  exact ties, which is almost every point of a real grid, it is the slope of the binding term.
- **integer quantities** (layers, heads, TP, batch, concurrency) are differentiated as the
  smooth real-valued functions kvjax keeps; ``concurrency_floor`` is piecewise constant and
  has elasticity 0 almost everywhere (use ``concurrency``).
- **zero, infinite and masked values**: a leaf equal to 0 has elasticity 0 (the tangent
  ``x`` is 0); a metric that is NaN (an infeasible point: the KV does not fit) or infinite
  gives NaN; a metric that is exactly 0 gives 0 where its derivative is 0 too (e.g. TP
  communication at TP = 1) and ``+-inf`` where it is not (``kvjax.model.log_ratio``).  The
  masks in kvjax's cost code use ``where``, whose forward-mode derivative selects the kept
  branch, so a feasible point never receives a NaN gradient from a masked neighbour.

Example (Yi-34B on an A100-80GB at 4K context, batch 1: decode reads 68 GB of weights per
step, so it is bandwidth-bound and its time falls 1:1 with HBM bandwidth):

>>> from kvjax.model import Hardware, Model, Scenario, Workload
>>> yi = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128,
...            params_total=34e9)
>>> a100 = Hardware(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
...                 host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)
>>> s = Scenario(yi, a100, Workload(context_tokens=4000.0))
>>> e = elasticity(s, ["decode_step_s", "kv_bytes_per_user"],
...                ["hardware.hbm_bytes_per_s", "context_tokens"])
>>> round(float(e["decode_step_s"]["hardware.hbm_bytes_per_s"]), 6)
-1.0
>>> round(float(e["kv_bytes_per_user"]["workload.context_tokens"]), 6)
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from ._deps import metric_leaves
from ._metrics import METRICS, resolve_metrics
from ._numerics import log_ratio
from ._paths import get_leaf, leaf_paths, replace_leaf, resolve_leaves
from ._types import Scenario

KNOBS = (
    "hardware.hbm_bytes_per_s",
    "hardware.flop_per_s",
    "hardware.hbm_bytes",
    "hardware.host_link_bytes_per_s",
    "hardware.scaleup_bytes_per_s",
    "hardware.usd_per_hour",
    "workload.kv_bits",
    "workload.kv_layer_keep",
    "workload.kv_head_keep",
    "workload.kv_token_keep",
    "model.n_kv_heads",
    "model.window_tokens",
    "model.params_total",
    "workload.weight_bytes_per_param",
    "workload.tp",
    "workload.context_tokens",
    "workload.output_tokens",
    "workload.batch",
    "workload.gemm_flop_efficiency",
    "workload.attention_flop_efficiency",
    "workload.attention_bandwidth_efficiency",
    "workload.embedding_bytes_per_param",
    "workload.activation_bits",
    "workload.hbm_utilization",
)
"""The leaves ``kvjax grad`` ranks by default: hardware, KV compression, model, workload and
the operator classes' efficiencies and precisions (issue 11).  Any other leaf (the
attention designs: ``sparse_topk_tokens``, ``linear_layer_fraction``, ...) can be named:
a leaf at 0 has elasticity 0 (its log step is 0), so rank those from a non-zero value."""

FLOAT = ("float",)


def _as_float(s: Scenario) -> Scenario:
    dtype = jnp.result_type(float)
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=dtype), s)


def metric_vector_fn(metrics: Sequence[str]) -> Callable[[Scenario], jax.Array]:
    """A function of one scenario giving the named float metrics stacked, shape ``(M,)``."""
    names = resolve_metrics(metrics, field="metrics", kinds=FLOAT)

    def f(s: Scenario):
        dtype = jnp.result_type(float)  # at trace time: float64 under jax.enable_x64
        return jnp.stack([jnp.asarray(METRICS[n].fn(s), dtype=dtype) for n in names])

    return f


def _columns(names: tuple[str, ...], paths: tuple[str, ...]):
    """``s -> {(metric, leaf): elasticity}`` for one scenario, one ``jvp`` per leaf.

    Each ``jvp`` differentiates with respect to that leaf *alone* (the others are
    constants), so JAX's symbolic zeros prune every term the leaf does not reach (FLOP/s
    never enters the memory terms); XLA shares the primal across the ``K`` jvps.  The
    tangent is the mantissa of the leaf, rescaled exactly afterwards (see the code): the
    elasticity is finite wherever the metric is, in float32 too.
    """

    def cols(s: Scenario) -> dict:
        s = _as_float(s)
        dtype = jnp.result_type(float)
        out, m0 = {}, {}
        for p in paths:
            reached = [n for n in names if p in metric_leaves(n)]
            for n in names:  # exactly 0 (NaN where the metric is NaN or inf) without a
                if n not in reached:  # data dependence on the leaf; each primal traced once
                    if n not in m0:
                        m0[n] = jnp.asarray(METRICS[n].fn(s), dtype=dtype)
                    out[(n, p)] = log_ratio(jnp.zeros_like(m0[n]), m0[n])
            if not reached:
                continue

            def metrics_at(v, p=p, reached=tuple(reached)):
                t = replace_leaf(s, p, v)
                return {n: jnp.asarray(METRICS[n].fn(t), dtype=dtype) for n in reached}

            x = jnp.asarray(get_leaf(s, p), dtype)
            # The tangent of a unit step in ln x is x itself; it is passed as the mantissa of
            # x (|t| in [0.5, 1)) and the result scaled by 2^exponent afterwards (exact), so
            # products such as FLOP x tangent never overflow float32 (9e7 tokens on
            # Llama-3.1-405B: 2e39 > 3.4e38 with the tangent x).
            mant, expo = jnp.frexp(x)
            m, dm = jax.jvp(metrics_at, (x,), (mant,))
            for n in reached:
                out[(n, p)] = jnp.ldexp(log_ratio(dm[n], m[n]), expo)
        return {(n, p): out[(n, p)] for n in names for p in paths}  # metric-major order

    return cols


def _matrix(names: tuple[str, ...], paths: tuple[str, ...]):
    """``s -> (M, K)`` elasticities of one scenario: ONE ``jvp``, vmapped over the ``K``
    basis tangents (the mantissas of the leaves, rescaled exactly as in ``_columns``).

    The metrics are traced once instead of once per leaf, so the program is ~K times smaller
    than ``_columns``' (DeepSeek-V3, 32 float metrics x the 24 KNOBS, float64, 2-core CPU:
    trace + compile 27 s instead of 215 s; one evaluation 8 ms instead of 13 ms).  Pairs the
    leaf cannot reach (``metric_leaves``) are set to ``_columns``' exact 0 (NaN where the
    metric is NaN or inf) by a static mask, so the two agree (``tests/test_sweep_elasticity.py``
    compares a store's elasticities with these).  Over a grid it is the slower layout
    (``benchmarks/bench_gradients.py``: 18-34x the forward evaluation against 3.2-3.5x for the
    per-leaf jvps, 1e6 Yi-34B points, 8 metrics x 4 knobs), so ``elasticity_fn`` and the sweep
    kernel keep ``_columns``; ``elasticity`` and ``elasticity_tree`` (one point) use this.
    """
    reach = [[p in metric_leaves(n) for p in paths] for n in names]

    def mat(s: Scenario) -> jax.Array:
        s = _as_float(s)
        dtype = jnp.result_type(float)
        x = jnp.stack([jnp.asarray(get_leaf(s, p), dtype) for p in paths])
        mant, expo = jnp.frexp(x)

        def metrics_at(v):
            t = s
            for k, p in enumerate(paths):
                t = replace_leaf(t, p, v[k])
            return jnp.stack([jnp.asarray(METRICS[n].fn(t), dtype=dtype) for n in names])

        def one(tangent):
            return jax.jvp(metrics_at, (x,), (tangent,))

        m, dm = jax.vmap(one, out_axes=(None, 1))(jnp.diag(mant))  # (M,), (M, K)
        e = jnp.ldexp(log_ratio(dm, m[:, None]), expo[None, :])
        unreached = log_ratio(jnp.zeros_like(m), m)[:, None]
        return jnp.where(jnp.asarray(reach, dtype=bool), e, unreached)

    return mat


def elasticity_fn(metrics: Sequence[str], wrt: Sequence[str]) -> Callable[[Scenario], jax.Array]:
    """A function of one ``Scenario`` giving elasticities, shape ``(len(metrics), len(wrt))``.

    Entry ``[i, k]`` is ``d ln metrics[i] / d ln wrt[k]`` (module docstring).  Names are
    checked now, outside any trace; the returned function is pure and takes *one* point:
    use ``jax.vmap`` for a grid, ``jax.jit`` to compile.  For speed over a grid, vmap with
    ``out_axes=-1`` (each ``[i, k]`` slice is then contiguous, as a store wants it) or use
    ``elasticity_columns_fn`` (one array per pair): stacking point-major costs 3-4x.  For
    one point, ``elasticity`` compiles several times faster (one vmapped ``jvp``).

    Args:
      metrics: float metric names (``kvjax.model.METRICS``).
      wrt: scenario leaf paths (``"hardware.hbm_bytes_per_s"``) or unambiguous bare names.
    """
    names = resolve_metrics(metrics, field="metrics", kinds=FLOAT)
    paths = resolve_leaves(wrt, field="wrt")
    cols = _columns(names, paths)

    def f(s: Scenario) -> jax.Array:
        c = cols(s)
        return jnp.stack([jnp.stack([c[(n, p)] for p in paths]) for n in names])

    return f


def elasticity_columns_fn(metrics: Sequence[str], wrt: Sequence[str]) -> Callable:
    """Like ``elasticity_fn`` but ``s -> {(metric, leaf path): scalar}``: separate outputs,
    the fastest layout under ``jax.vmap`` (one contiguous array per pair)."""
    names = resolve_metrics(metrics, field="metrics", kinds=FLOAT)
    return _columns(names, resolve_leaves(wrt, field="wrt"))


def elasticity(scenario: Scenario, metrics: Sequence[str], wrt: Sequence[str]) -> dict:
    """Elasticities of one point as ``{metric: {leaf path: scalar}}``.

    Pure and jit-able for fixed ``metrics`` and ``wrt`` (the module docstring has a worked
    example).  One vmapped ``jvp`` (``_matrix``): the program to compile is several times
    smaller than ``elasticity_fn``'s per-leaf jvps, which are faster over a grid.
    """
    names = resolve_metrics(metrics, field="metrics", kinds=FLOAT)
    paths = resolve_leaves(wrt, field="wrt")
    e = _matrix(names, paths)(scenario)
    return {n: {p: e[i, k] for k, p in enumerate(paths)} for i, n in enumerate(names)}


def elasticity_tree(scenario: Scenario, metric: str) -> Scenario:
    """Elasticities of one metric with respect to every leaf, as a ``Scenario``-shaped tree
    (``tree.hardware.hbm_bytes_per_s`` is ``d ln metric / d ln HBM bandwidth``)."""
    (name,) = resolve_metrics((metric,), field="metric", kinds=FLOAT)
    paths = leaf_paths()
    e = _matrix((name,), paths)(scenario)[0]
    out = _as_float(scenario)
    for k, p in enumerate(paths):
        out = replace_leaf(out, p, e[k])
    return out


def ranked(elasticities: dict, drop_zero: bool = False) -> dict:
    """Per metric, ``[(leaf path, elasticity)]`` sorted by decreasing ``|elasticity|``
    (host-side, for reports; NaN sorts last)."""
    out = {}
    for name, row in elasticities.items():
        items = [(p, float(v)) for p, v in row.items()]
        if drop_zero:
            items = [(p, v) for p, v in items if v != 0.0]
        items.sort(key=lambda pv: (pv[1] != pv[1], -abs(pv[1]) if pv[1] == pv[1] else 0.0))
        out[name] = items
    return out
