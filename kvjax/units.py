"""SI units and the conversions used at the edges.

Inside kvjax every quantity is SI: bytes, seconds, FLOP, FLOP/s, bytes/s, US dollars.
Decimal (GB = 1e9 bytes) and binary (GiB = 2**30 bytes) prefixes appear only where data
enters (catalog files) or leaves (printed tables).  The paper's "GB" for KV-cache sizes are
GiB: 245,760 B/token x 4,000 tokens = 983,040,000 B = 0.9155 GiB, printed "0.91 GB".
"""

KB = 1e3
MB = 1e6
GB = 1e9
TB = 1e12
KiB = 2.0**10
MiB = 2.0**20
GiB = 2.0**30
TiB = 2.0**40

TERA = 1e12
PETA = 1e15
US = 1e-6  # microsecond, in seconds
HOUR_S = 3600.0
MILLION = 1e6


def to_gib(n_bytes):
    """Bytes -> GiB (2**30 bytes)."""
    return n_bytes / GiB


def to_gb(n_bytes):
    """Bytes -> GB (1e9 bytes)."""
    return n_bytes / GB
