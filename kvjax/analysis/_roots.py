"""One root finder for every analysis: a bracketed, safeguarded Newton iteration.

Given ``fn(u) -> (r, dr/du)`` (the slope from ``jax.jvp``) and a bracket ``[a, b]`` on
which ``r`` changes sign, it starts at the regula-falsi point and repeats:

1. shrink the bracket with the current point (keep the end whose residual has the other sign);
2. take the Newton step ``u - r / (dr/du)``; if it leaves the bracket or the slope is zero or
   not finite, bisect instead;
3. stop when the step is below ``max(atol, rtol |u|)``, the bracket is narrower than
   ``atol``, or the residual is exactly 0.

The bracket only shrinks, so it always converges (at worst like bisection); near a simple
root it converges quadratically.  It is pure ``jnp`` in a ``lax.while_loop``: it jits and
vmaps (``kvjax.analysis._boundary`` runs one per point of a stored sweep, vmapped;
``kvjax.analysis._solve`` runs one per phase of an inverse-design problem).

>>> import jax, jax.numpy as jnp
>>> f = lambda u: jax.jvp(lambda x: x**2 - 2.0, (u,), (1.0,))   # sqrt(2)
>>> out = bracketed_newton(f, 0.0, 2.0, -2.0, 2.0, max_iter=40, atol=1e-7)
>>> round(float(out["root"]), 6), bool(out["converged"])
(1.414214, True)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def bracketed_newton(fn, a, b, fa, fb, *, max_iter: int, atol: float, rtol: float = 0.0):
    """Root of ``fn`` in ``[a, b]`` (``fa = r(a)``, ``fb = r(b)`` of opposite signs, or
    ``fa == 0``), by the safeguarded Newton iteration of the module docstring.

    Args:
      fn: ``u -> (r, dr/du)``, jnp scalars.
      a, b, fa, fb: the bracket and its residuals.
      max_iter: most steps after the start point.
      atol, rtol: step tolerance ``max(atol, rtol |u|)``; bracket-width tolerance ``atol``.

    Returns:
      ``{"root", "residual", "iterations", "converged", "history_u", "history_r"}``:
      ``iterations`` steps were taken after the start point; the histories hold the start
      point and each step (``max_iter + 1`` entries, NaN after the last).
    """
    dtype = jnp.result_type(float)
    a, b, fa, fb = (jnp.asarray(x, dtype) for x in (a, b, fa, fb))
    mid = 0.5 * (a + b)
    u0 = jnp.where(fb != fa, a - fa * (b - a) / jnp.where(fb != fa, fb - fa, 1.0), mid)
    u0 = jnp.where((u0 > a) & (u0 < b), u0, mid)
    u0 = jnp.where(fa == 0, a, u0)
    r0, d0 = fn(u0)
    hist = jnp.full((2, max_iter + 1), jnp.nan, dtype)
    hist = hist.at[:, 0].set(jnp.stack([u0, r0]).astype(dtype))

    def cond(st):
        *_, it, done, _ = st
        return (~done) & (it < max_iter)

    def body(st):
        a, b, fa, u, r, dr, it, done, hist = st
        same = jnp.sign(r) == jnp.sign(fa)
        a, fa, b = jnp.where(same, u, a), jnp.where(same, r, fa), jnp.where(same, b, u)
        un = u - r / jnp.where(dr != 0, dr, 1.0)
        ok = jnp.isfinite(un) & (dr != 0) & jnp.isfinite(dr) & (un >= a) & (un <= b)
        un = jnp.where(ok, un, 0.5 * (a + b))
        rn, drn = fn(un)
        tol = jnp.maximum(atol, rtol * jnp.abs(u))
        done = (jnp.abs(un - u) <= tol) | (rn == 0) | (jnp.abs(b - a) <= atol)
        hist = hist.at[:, it + 1].set(jnp.stack([un, rn]).astype(dtype))
        return a, b, fa, un, rn, drn, it + 1, done, hist

    init = (a, b, fa, u0, r0, d0, jnp.asarray(0, jnp.int32), (fa == 0) | (r0 == 0), hist)
    _, _, _, u, r, _, it, done, hist = jax.lax.while_loop(cond, body, init)
    return {"root": u, "residual": r, "iterations": it, "converged": done,
            "history_u": hist[0], "history_r": hist[1]}  # fmt: skip
