"""Number formatting and text tables for everything kvjax prints: one place, at the edges.

Inside kvjax numbers are SI floats; these functions turn them into the strings the paper
table, the CLI and ``kvjax info`` show.

>>> sig(0.915527), sig(245760.0), sig(float("nan"))
('0.9155', '245,760', 'no fit')
>>> si(3.38e-2, "s"), si(69.01e9, "bytes")
('33.8 ms', '69.01 GB')
>>> human_bytes(808_700), duration(3725)
('808.7 kB', '1:02:05')
"""

from __future__ import annotations

import math

_PREFIX = [(1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"),
           (1e9, "G"), (1e12, "T"), (1e15, "P")]  # fmt: skip
_SI_UNITS = {"s": "s", "bytes": "B", "FLOP": "FLOP", "FLOP/s": "FLOP/s", "bytes/s": "B/s"}


def sig(x, digits: int = 4) -> str:
    """A table cell: ``digits`` significant digits, thousands separators from 1e5, ``-``
    for None, yes/no for a bool, ``no fit`` for NaN (an infeasible point)."""
    if isinstance(x, str):
        return x
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if not math.isfinite(x):
        return "no fit" if math.isnan(x) else "inf"
    if abs(x) >= 1e5:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def si(v: float, units: str = "") -> str:
    """A number with an SI prefix for s / bytes / FLOP / FLOP/s / bytes/s; plain otherwise."""
    if not math.isfinite(v):
        return str(v)
    if units in _SI_UNITS and v != 0:
        scale, p = max((x for x in _PREFIX if abs(v) >= x[0]), default=_PREFIX[0])
        return f"{v / scale:.4g} {p}{_SI_UNITS[units]}"
    u = "" if units in ("1", "") else f" {units}"
    return f"{v:.4g}{u}"


def human_bytes(n: float) -> str:
    """Decimal bytes: ``808.7 kB``, ``1.5 GB``."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1000
    return str(n)


def duration(s: float) -> str:
    """Seconds as ``h:mm:ss`` (``?`` when unknown)."""
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def columns(cols: list[list[str]], align: str = "right") -> list[str]:
    """Lines of a text table from columns of cells (header first), two spaces apart,
    right- (or left-) aligned."""
    widths = [max(len(x) for x in col) for col in cols]
    just = str.rjust if align == "right" else str.ljust
    return ["  ".join(just(col[i], w) for col, w in zip(cols, widths)) for i in range(len(cols[0]))]
