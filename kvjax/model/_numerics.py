"""Branch-free numerics shared by every cost function: kinks, safe division and logs.

**The tie convention** (stated here once; docs, store attrs and code all refer to it):
every ``max``/``min`` in kvjax's cost code is :func:`kink_max`, :func:`kink_min` or
:func:`clamp_min`, whose derivative at an exact tie is the derivative of the *first* argument
-- one-sided, never the mean of the two sides that ``jnp.maximum`` takes.  The cost code puts
first the side a derivative should report at the tie: the compute side of a roofline (so at
the ridge a derivative says "compute-bound", as the regime codes do), and the clamped
quantity of a clamp such as ``clamp_min(tp_shards, 1)`` (so at ``TP = 1``, the edge of the
domain, the derivative is the one-sided slope into the domain).  Away from a tie the values
and derivatives are exactly those of ``jnp.maximum``/``jnp.minimum``.

The safe operations use the double-``where`` pattern: the masked branch never sees the bad
input, so its NaN or infinity cannot leak into the gradient of the kept branch.

>>> import jax
>>> float(jax.grad(lambda a: kink_max(a, 1.0))(1.0))  # tie: the first argument's slope
1.0
>>> float(jax.grad(lambda a: safe_div(1.0, a, 0.0))(0.0))  # masked: 0, not NaN
0.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

TIE_CONVENTION = (
    "At a kink (a max or min of cost terms) the derivative is one-sided: that of the first "
    "argument at an exact tie (the compute side of a roofline, the clamped quantity of a "
    "clamp), that of the binding term elsewhere (kvjax.model.kink_max, clamp_min)."
)
"""The tie convention in one sentence: written into store attrs and quoted by the docs."""


def kink_max(a, b):
    """``max(a, b)`` whose derivative at a tie is ``a``'s (the tie convention above).

    >>> float(kink_max(2.0, 3.0))
    3.0
    """
    return jnp.where(a >= b, a, b)


def kink_min(a, b):
    """``min(a, b)`` whose derivative at a tie is ``a``'s (the tie convention above).

    >>> float(kink_min(2.0, 3.0))
    2.0
    """
    return jnp.where(a <= b, a, b)


@jax.custom_jvp
def clamp_min(x, lo):
    """``max(x, lo)``, a clamp from below, whose derivative at a tie is ``x``'s (the tie
    convention above).  Its value is computed by ``jnp.maximum``, so compiled kernels are
    those of a plain clamp.

    >>> float(jax.grad(lambda x: clamp_min(x, 1.0))(1.0))  # jnp.maximum would give 0.5
    1.0
    """
    return jnp.maximum(x, lo)


@clamp_min.defjvp
def _clamp_min_jvp(primals, tangents):
    x, lo = primals
    dx, dlo = tangents
    return jnp.maximum(x, lo), jnp.where(x >= lo, dx, dlo)


def safe_div(num, den, fallback):
    """``num / den`` where ``den > 0``, else ``fallback``; finite gradients everywhere.

    >>> float(safe_div(6.0, 3.0, -1.0)), float(safe_div(6.0, 0.0, -1.0))
    (2.0, -1.0)
    """
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), fallback)


def safe_log(x):
    """``ln x`` for ``x > 0``, ``-inf`` for ``x <= 0`` (and NaN for NaN), finite gradients.

    >>> float(safe_log(1.0)), float(safe_log(0.0))
    (0.0, -inf)
    """
    ok = x > 0
    out = jnp.where(ok, jnp.log(jnp.where(ok, x, 1.0)), -jnp.inf)
    return jnp.where(jnp.isnan(x), x, out)


def log_ratio(dm, m):
    """``dm / m`` for elasticities, with the conventions for ``m`` in {0, inf, NaN}.

    IEEE division already gives ``+-inf`` for ``dm != 0, m = 0`` and NaN for a NaN ``m``;
    two selects fix ``0 / 0 -> 0`` and ``dm / inf -> NaN``.

    >>> float(log_ratio(jnp.asarray(0.0), 0.0)), float(log_ratio(1.0, jnp.asarray(jnp.inf)))
    (0.0, nan)
    """
    r = dm / m
    r = jnp.where((m == 0) & (dm == 0), jnp.zeros_like(r), r)
    return jnp.where(jnp.isinf(m), jnp.full_like(r, jnp.nan), r)


FLOOR_RAMP = 0.1
"""Width of :func:`smooth_floor`'s ramp: the last tenth before each integer."""


def smooth_floor(x, ramp=FLOOR_RAMP):
    """``floor(x)``, except in the last ``ramp`` before each integer, where it rises to the
    integer along a smoothstep: ``n + r^2 (3 - 2 r)``, ``n = floor(x)``, ``r = clip((x - n -
    1 + ramp) / ramp, 0, 1)``.  Exact at integers and below ``n + 1 - ramp``; continuous with
    a continuous derivative, 0 on the flats and up to ``1.5 / ramp`` on a ramp, so a gradient
    says how far the next whole user is.  Example: 1.46 -> 1, 17.45 -> 17, 2.95 -> 2.5.

    >>> [round(float(smooth_floor(x)), 4) for x in (1.46, 17.45, 2.95, 3.0)]
    [1.0, 17.0, 2.5, 3.0]
    """
    n = jnp.floor(x)
    r = jnp.clip((x - n - 1.0 + ramp) / ramp, 0.0, 1.0)
    return n + r * r * (3.0 - 2.0 * r)


def nan_unless(ok, x):
    """``x`` where ``ok``, NaN elsewhere (an infeasible point's latency)."""
    return jnp.where(ok, x, jnp.nan)
