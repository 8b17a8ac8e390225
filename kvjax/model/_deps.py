"""Which scenario leaves a metric reads: a walk of its jaxpr's data-dependence graph.

A metric is stored over exactly the axes whose leaves reach its output, so this walk must
never miss a dependence (sound); it may over-approximate.  It propagates, for every variable
of the jaxpr, the set of input leaves it depends on:

- an ordinary primitive's outputs depend on the union of its inputs;
- a *call-like* primitive (``jit``, ``custom_jvp_call``, ``custom_vjp_call``, ``remat``, ...)
  runs its sub-jaxpr once on its inputs in order, so the walk recurses into it (exact);
- anything else with sub-jaxprs (``while``, ``scan``, ``cond``: loops carry values across
  iterations and a branch index selects among bodies) gets the union of all its inputs for
  every output: sound, and exact enough for cost code, which has no loops in its metrics.

>>> import jax.numpy as jnp
>>> def loop(s):   # 3 steps of x <- x * B, started at T: reads batch and context_tokens
...     return jax.lax.fori_loop(0, 3, lambda i, x: x * s.workload.batch,
...                              s.workload.context_tokens)
>>> sorted(leaves_read(loop))
['workload.batch', 'workload.context_tokens']
"""

from __future__ import annotations

import functools

import jax

from ._metrics import METRICS
from ._paths import leaf_paths, scenario_from_leaves

CALL_PRIMITIVES = frozenset(
    {"jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
     "custom_vjp_call_jaxpr", "remat", "remat2", "checkpoint", "custom_lin"}
)  # fmt: skip
"""Primitives that apply one sub-jaxpr to their operands, in order, exactly once."""

_SUB_JAXPR_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def _sub_jaxpr(eqn):
    """The sub-jaxpr of a call-like equation whose inputs map 1:1 to its operands, or None."""
    if eqn.primitive.name not in CALL_PRIMITIVES:
        return None
    for key in _SUB_JAXPR_PARAMS:
        inner = getattr(eqn.params.get(key), "jaxpr", eqn.params.get(key))
        if hasattr(inner, "eqns") and len(inner.invars) == len(eqn.invars):
            return inner
    return None


def _walk(jaxpr, in_deps):
    """Propagate sets of input ids through a jaxpr's equations (sound; see the module doc)."""
    from jax.extend.core import Literal

    env = {v: frozenset() for v in jaxpr.constvars}
    env.update(zip(jaxpr.invars, in_deps, strict=True))

    def read(v):
        return frozenset() if isinstance(v, Literal) else env.get(v, frozenset())

    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        sub = _sub_jaxpr(eqn)
        if sub is not None:
            outs = _walk(sub, ins)
        else:
            outs = [frozenset().union(*ins)] * len(eqn.outvars)
        env.update(zip(eqn.outvars, outs, strict=True))
    return [read(v) for v in jaxpr.outvars]


def leaves_read(fn) -> frozenset:
    """Leaves (``"group.leaf"``) reaching any output of ``fn(scenario)`` through the
    data-dependence graph of its jaxpr."""
    paths = leaf_paths()

    def f(*xs):
        return fn(scenario_from_leaves(dict(zip(paths, xs, strict=True))))

    closed = jax.make_jaxpr(f)(*([1.0] * len(paths)))
    return frozenset().union(*_walk(closed.jaxpr, [frozenset([p]) for p in paths]))


@functools.cache
def metric_leaves(name: str) -> frozenset:
    """Scenario leaves the metric ``name`` reads (``kv_bytes_per_user`` reads no
    ``hardware.*`` leaf, so a sweep stores it without the hardware axis)."""
    return leaves_read(METRICS[name].fn)


@functools.cache
def elasticity_leaves(metrics: tuple, wrt: tuple) -> frozenset:
    """Scenario leaves that the elasticities of ``metrics`` w.r.t. ``wrt`` read (the union
    over the pairs), from the jaxpr of the forward-mode derivative, as for metrics."""
    from ._elasticity import elasticity_columns_fn

    cols = elasticity_columns_fn(metrics, wrt)
    return leaves_read(lambda s: tuple(cols(s).values()))
