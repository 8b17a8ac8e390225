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


# ----------------------------------------------------------------------------- pint

PINT_DEFINITIONS = (
    "FLOP = [flop] = flop",
    "USD = [currency] = usd = dollar_us",
    "token = [token] = tokens",
)
"""Units kvjax's ``units`` attrs use that pint does not define: FLOP (a floating-point
operation, its own dimension), USD (US dollar) and tokens.  Every other units string of a
store (``s``, ``bytes``, ``bytes/s``, ``1/h``, ``bits``, ``1``) is pint's own."""


def unit_registry(registry=None):
    """A pint ``UnitRegistry`` that parses every ``units`` string kvjax writes.

    Extends ``registry`` (default: pint-xarray's / pint's application registry) with
    :data:`PINT_DEFINITIONS`, once; returns it.  Needs ``pint`` (``pip install pint-xarray``)::

        import pint_xarray, kvjax.units
        ureg = kvjax.units.unit_registry()
        q = ds.pint.quantify(unit_registry=ureg)     # or ds.pint.quantify() after this call
        q.pint.to(decode_step_s="ms")

    >>> ureg = unit_registry()
    >>> str((ureg.Quantity(2.0, "FLOP/s") * ureg.Quantity(3.0, "s")).to("FLOP"))
    '6.0 FLOP'
    """
    import pint

    ureg = registry if registry is not None else pint.get_application_registry()
    for line in PINT_DEFINITIONS:
        try:
            ureg.parse_units(line.split("=")[0].strip())
        except pint.UndefinedUnitError:
            ureg.define(line)
    return ureg
