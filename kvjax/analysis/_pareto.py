"""Pareto sets of point arrays, many groups at once (the algorithms behind ``_frontier``).

Points are the columns of ``cols`` (k, n), all minimised, no NaN (the caller has dropped the
infeasible points), with ``row`` (n,): each point's group, non-decreasing and dense (0 .. R-1,
every group present), so the groups are contiguous runs; ``row = None`` is one group.  Every
function handles all the groups in one pass: no Python loop over groups.

``fronts(cols, row)``: a cheap prefilter by candidates (``_prefilter``), then on the
survivors, by ``k``: ``k = 2``, one lexicographic sort plus a prefix minimum per group, the
groups as the rows of a padded array (``O(n log n)``); ``k = 3``, the points in (group,
lexicographic) order (no later point can dominate an earlier one) against a staircase of
their group's earlier non-dominated ``(f1, f2)``, queried by bisection; ``k >= 4``, a block
skyline (each block compared with its groups' frontier so far and with itself).
"""

from __future__ import annotations

import bisect

import numpy as np

_BLOCK = 2048


def _starts(row: np.ndarray) -> np.ndarray:
    """First position of each run of equal values in the non-decreasing ``row``."""
    return np.flatnonzero(np.r_[True, row[1:] != row[:-1]])


def _at(row, idx) -> np.ndarray:
    """The groups of the points ``idx`` (zeros for one group)."""
    return np.zeros(len(idx), dtype=np.int64) if row is None else row[idx]


def _pareto_2d_rows(f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """Non-dominated mask of each row of the (G, m) objective pairs, minimising, no NaN.

    One sort per row by ``f0``.  A point is dominated iff some point with a strictly smaller
    ``f0`` has ``f1 <=`` its own (the minimum over earlier runs of equal ``f0``), or a point
    with the same ``f0`` has a strictly smaller ``f1`` (its run's minimum).
    """
    g, m = f0.shape
    order = np.argsort(f0, axis=1)
    a = np.take_along_axis(f0, order, axis=1)
    b = np.take_along_axis(f1, order, axis=1)
    new = np.ones((g, m), dtype=bool)
    new[:, 1:] = a[:, 1:] != a[:, :-1]
    pos = np.broadcast_to(np.arange(m), (g, m))
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)  # run start per position
    flat_starts = (np.arange(g)[:, None] * m + pos)[new]
    run_min = np.minimum.reduceat(b.reshape(-1), flat_starts)
    rm = np.repeat(run_min, np.diff(np.append(flat_starts, g * m))).reshape(g, m)
    cm = np.minimum.accumulate(rm, axis=1)
    before = np.where(start > 0, np.take_along_axis(cm, np.maximum(start - 1, 0), axis=1), np.inf)
    keep_sorted = ((start == 0) | (b < before)) & (b <= rm)
    out = np.empty((g, m), dtype=bool)
    np.put_along_axis(out, order, keep_sorted, axis=1)
    return out


def _pareto_2d(f0: np.ndarray, f1: np.ndarray, row) -> np.ndarray:
    """Non-dominated mask of the points ``(f0, f1)`` of each group of ``row`` (any ids,
    non-decreasing, or None): the groups as the rows of a (groups, largest group) array,
    padded with ``(inf, inf)`` (which dominates nothing) where they differ in size, for one
    ``_pareto_2d_rows`` pass."""
    starts = np.zeros(1, dtype=np.int64) if row is None else _starts(row)
    counts = np.diff(np.append(starts, len(f0)))
    if counts.min() == counts.max():  # already rectangular
        return _pareto_2d_rows(f0.reshape(len(starts), -1), f1.reshape(len(starts), -1)).reshape(-1)
    r = np.repeat(np.arange(len(starts)), counts)
    c = np.arange(len(f0)) - starts[r]
    p0 = np.full((len(starts), counts.max()), np.inf)
    p1 = p0.copy()
    p0[r, c], p1[r, c] = f0, f1
    return _pareto_2d_rows(p0, p1)[r, c]


def _remove_dominated(cols, row, alive, slots, stop: bool) -> np.ndarray:
    """``alive`` (indices of columns of ``cols``) less those a candidate of their own group
    dominates: ``slots`` is a sequence of (R,) arrays, each naming one candidate per group
    (-1: none); with ``stop``, give up once 16 slots in a row remove under 1%."""
    k = cols.shape[0]
    for i, slot in enumerate(slots):
        if i % 16 == 0:
            before = len(alive)
        sub = cols if len(alive) == cols.shape[1] else cols[:, alive]
        if len(slot) == 1:  # one group: compare with scalars
            p, valid = cols[:, slot[0], None], slot[0] >= 0
        else:
            c = slot[row[alive]]
            p, valid = cols[:, c], c >= 0
        le = np.ones(len(alive), dtype=bool)
        lt = np.zeros(len(alive), dtype=bool)
        for j in range(k):
            le &= p[j] <= sub[j]
            lt |= p[j] < sub[j]
        alive = alive[~(le & lt & valid)]
        if stop and i % 16 == 15 and len(alive) > 0.99 * before:
            break
    return alive


def _sum_minimisers(cols, row, part, scale) -> list:
    """Slots (``_remove_dominated``): each group's first minimiser (among the points
    ``part``) of ``k + 1`` positive weighted sums of its objectives times ``scale`` (the
    inverse of the group's range): the plain sum, then each objective weighted 4x."""
    k = cols.shape[0]
    sub = cols if len(part) == cols.shape[1] else cols[:, part]
    if row is None:
        weights = [scale[:, 0] * np.where(np.arange(k) == j, 4.0, 1.0) for j in range(-1, k)]
        return [part[[np.argmin(w @ sub)]] for w in weights]
    r = row[part]
    scaled = sub * scale[:, r]
    total = scaled.sum(axis=0)
    starts, slots = _starts(r), []
    for s in [total] + [total + 3.0 * x for x in scaled]:
        least = np.repeat(np.minimum.reduceat(s, starts), np.diff(np.append(starts, len(s))))
        hit = np.flatnonzero(s == least)
        hit = hit[_starts(r[hit])]  # the first minimiser of each group
        slot = np.full(scale.shape[1], -1)
        slot[r[hit]] = part[hit]
        slots.append(slot)
    return slots


def _pair_candidates(cols, row, alive, lo, scale) -> np.ndarray:
    """Up to 256 points per group of each pair's two-objective front (of the points
    ``alive``), evenly spaced along it, as slots (J, R) ordered most central first."""
    k = cols.shape[0]
    r = None if row is None else row[alive]
    cand = []
    for a in range(k):
        for b in range(a + 1, k):
            front = alive[_pareto_2d(cols[a, alive], cols[b, alive], r)]
            front = front[np.lexsort((cols[a, front], _at(row, front)))]
            cand.append(front[_spaced(_at(row, front), 256)])
    cand = np.unique(np.concatenate(cand))
    g = _at(row, cand)
    key = ((cols[:, cand] - lo[:, g]) * scale[:, g]).sum(axis=0)
    order = np.lexsort((key, g))
    cand, g = cand[order], g[order]
    starts = _starts(g)
    slot = np.arange(len(cand)) - np.repeat(starts, np.diff(np.append(starts, len(g))))
    out = np.full((slot.max() + 1, lo.shape[1]), -1)
    out[slot, g] = cand
    return out


def _spaced(row: np.ndarray, most: int) -> np.ndarray:
    """Positions of up to ``most`` evenly spaced entries of each run of ``row``."""
    starts = _starts(row)
    n = np.diff(np.append(starts, len(row)))
    p = np.minimum(n, most)
    g = np.repeat(np.arange(len(starts)), p)
    j = np.arange(p.sum()) - np.repeat(np.cumsum(p) - p, p)
    return starts[g] + (j * ((n[g] - 1) / np.maximum(p[g] - 1, 1))).astype(int)


def _in_large_groups(alive, row, least, fn) -> np.ndarray:
    """``alive`` (sorted indices) with ``fn`` applied to those of the groups that have at
    least ``least`` of them."""
    if row is None:
        return fn(alive) if len(alive) >= least else alive
    r = row[alive]
    starts = _starts(r)
    counts = np.diff(np.append(starts, len(r)))
    if counts.min() >= least:
        return fn(alive)
    if counts.max() < least:
        return alive
    big = np.repeat(counts >= least, counts)
    return np.sort(np.concatenate([alive[~big], fn(alive[big])]))


def _prefilter(cols: np.ndarray, row) -> np.ndarray:
    """Indices of the points (columns of ``cols``, groups ``row``) that no *candidate* of
    their own group dominates.

    Any candidate will do (dominance is transitive: a point a candidate dominates is off the
    front whatever the candidate's own status), so good ones are chosen cheaply: first each
    group's minimisers of a few positive weighted sums of its range-normalised objectives
    (one pass each; every group for ``k >= 3``, whose exact pass is a loop or a block
    skyline, only groups of >= 8192 points for ``k = 2``, whose exact pass is one sort);
    then, for ``k >= 3`` and on the survivors of groups still that large (any size for
    ``k >= 4``), up to 256 points of the two-objective front of every pair (one sort each),
    most central first, until they stop removing points.  Real stores' objectives are
    correlated, so the first step alone leaves most points (289 k of the 477 k feasible ones
    of a 1e7-point sweep); the pair fronts leave about 1 k.
    """
    k, n = cols.shape
    alive = np.arange(n)
    starts = np.zeros(1, dtype=np.int64) if row is None else _starts(row)
    if n < 4 * _BLOCK or (k == 2 and np.diff(np.append(starts, n)).max() < 4 * _BLOCK):
        return alive
    if row is None:
        lo, hi = cols.min(axis=1, keepdims=True), cols.max(axis=1, keepdims=True)
    else:
        lo, hi = np.minimum.reduceat(cols, starts, axis=1), np.maximum.reduceat(cols, starts, 1)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return alive
    scale = 1.0 / np.where(hi > lo, hi - lo, 1.0)  # (k, R)

    def by_sums(part):
        return _remove_dominated(cols, row, part, _sum_minimisers(cols, row, part, scale), False)

    def by_pairs(part):
        slots = _pair_candidates(cols, row, part, lo, scale)
        return _remove_dominated(cols, row, part, slots, True)

    alive = _in_large_groups(alive, row, 1 if k >= 3 else 4 * _BLOCK, by_sums)
    if k >= 3:
        alive = _in_large_groups(alive, row, 4 * _BLOCK if k == 3 else 1, by_pairs)
    return alive


def _pareto_3d(f: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Non-dominated mask of the rows of ``f`` (n, 3) within their groups ``row``,
    minimising, no NaN: ``O(n log n)`` comparisons plus list updates.

    Distinct (group, row) pairs in lexicographic order; a row is dominated iff an earlier one
    of its group has ``f1' <= f1`` and ``f2' <= f2`` (its ``f0'`` is <= and the rows differ),
    which one query of the group's staircase (``f1`` ascending, ``f2`` strictly descending)
    of its earlier non-dominated rows answers.  Duplicates share their row's fate.
    """
    order = np.lexsort((f[:, 2], f[:, 1], f[:, 0], row))
    key = np.column_stack([row[order], f[order]])
    new = np.r_[True, (key[1:] != key[:-1]).any(axis=1)]  # != : -0.0 = 0.0 and inf = inf
    rows, inv = key[new], np.empty(len(f), dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    keep = np.zeros(len(rows), dtype=bool)
    group = None
    for i, (g, a, b) in enumerate(zip(*(rows[:, c].tolist() for c in (0, 2, 3)))):
        if g != group:
            group, xs, ys = g, [], []  # staircase f1 ascending, f2 strictly descending
        j = bisect.bisect_right(xs, a)
        if j > 0 and ys[j - 1] <= b:
            continue
        keep[i] = True
        # drop staircase points the new one covers (f1' >= a and f2' >= b), then insert
        lo = bisect.bisect_left(xs, a)
        hi = lo
        while hi < len(xs) and ys[hi] >= b:
            hi += 1
        xs[lo:hi] = [a]
        ys[lo:hi] = [b]
    return keep[inv]


def _dominated_by(a, b, ra, rb) -> np.ndarray:
    """For each row of ``b`` (m, k) in group ``rb``: whether a row of ``a`` (p, k) of the
    same group (``ra``) dominates it."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(b), dtype=bool)
    le = np.all(a[:, None, :] <= b[None, :, :], axis=2)
    lt = np.any(a[:, None, :] < b[None, :, :], axis=2)
    return np.any(le & lt & (ra[:, None] == rb[None, :]), axis=0)


def _skyline(cols: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Non-dominated mask for ``k >= 4``: a block skyline over (group, lexicographic) order
    (no later point can dominate an earlier one), each block compared with its groups'
    frontier so far and with itself.  A block stops at the end of its group unless that
    would leave it under 256 points (tiny groups share blocks)."""
    k, n = cols.shape
    out = np.zeros(n, dtype=bool)
    order = np.lexsort(np.vstack([cols[::-1], row[None]]))
    ends = np.searchsorted(row[order], row[order], side="right")  # end of each one's group
    front, front_row = np.empty((0, k)), np.empty(0, dtype=row.dtype)
    start = 0
    while start < n:
        stop = min(start + _BLOCK, n, max(ends[start], start + 256))
        idx = order[start:stop]
        start = stop
        blk, br = cols[:, idx].T, row[idx]
        same = front_row >= br[0]  # earlier groups' fronts are done with
        front, front_row = front[same], front_row[same]
        keep = ~_dominated_by(front, blk, front_row, br)
        idx, blk, br = idx[keep], blk[keep], br[keep]
        keep = ~_dominated_by(blk, blk, br, br)
        out[idx[keep]] = True
        front, front_row = np.concatenate([front, blk[keep]]), np.concatenate([front_row, br[keep]])
    return out


def fronts(cols: np.ndarray, row) -> np.ndarray:
    """Non-dominated mask of the points (columns of ``cols`` (k, n), k >= 2, minimised, no
    NaN) within each group of ``row`` (dense, non-decreasing; None: one group).

    Groups of 8192 points or more on average are solved one at a time (a few Python calls
    per group, scalar comparisons), smaller ones all together."""
    out = np.zeros(cols.shape[1], dtype=bool)
    if row is not None and cols.shape[1] >= 4 * _BLOCK * (row[-1] + 1):
        bounds = np.append(_starts(row), cols.shape[1])
        for a, b in zip(bounds[:-1], bounds[1:]):
            out[a:b] = fronts(cols[:, a:b], None)
        return out
    alive = _prefilter(cols, row)
    every = len(alive) == cols.shape[1]
    sub = cols if every else cols[:, alive]
    r = row if every or row is None else row[alive]
    if len(cols) == 2:
        keep = _pareto_2d(sub[0], sub[1], r)
    else:
        r = np.zeros(len(alive), dtype=np.int64) if r is None else r
        keep = _pareto_3d(sub.T, r) if len(cols) == 3 else _skyline(sub, r)
    out[alive[keep]] = True
    return out
