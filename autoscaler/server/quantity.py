"""Kubernetes ``resource.Quantity`` strings, in apimachinery's canonical decimal form.

The external metrics API carries every value as a Quantity. apimachinery serialises a
DecimalSI quantity as an integer mantissa and the largest SI suffix that keeps it an
integer: 1.5 -> ``"1500m"``, 3 -> ``"3"``, 1000 -> ``"1k"``, 1.08 -> ``"1080m"``,
0.000001 -> ``"1u"``; past ``E`` (10^18) it falls back to an exponent (10^21 ->
``"1e21"``), at any magnitude. The HPA reads ``MilliValue()``, so values are rounded to
``places`` decimal places first (milli by default; half away from zero), which keeps
strings short and exact. The rounding runs in a local decimal context sized to the value,
so no finite input raises (Python's default 28 digits overflowed from about 1e25).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

_SUFFIXES = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_LARGEST_SUFFIX = 18
_MAX_PLACES = 9  # nano is the finest unit apimachinery keeps


def format_quantity(value: float | int | Decimal, places: int = 3) -> str:
    """Render ``value`` as a canonical DecimalSI Quantity string.

    >>> format_quantity(0.5), format_quantity(3), format_quantity(1234000)
    ('500m', '3', '1234k')
    """
    if not 0 <= places <= _MAX_PLACES:
        raise ValueError(f"places must be within 0..{_MAX_PLACES}, got {places}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a Quantity must be finite, got {value!r}")
        # repr() is the shortest string that round-trips: 0.1 -> "0.1", not 0.1000000000000000055.
        number = Decimal(repr(value))
    else:
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError(f"a Quantity must be finite, got {value!r}")
    sign, digits, exponent = _rounded(number, places).as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)) or "0")
    if mantissa == 0:
        return "0"
    # Strip trailing zeros into the exponent: 1500 x 10^-3 -> 15 x 10^-1.
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # The suffix exponent is the multiple of 3 at or below the exponent: 15 x 10^-1 -> 1500m.
    suffix_exponent = exponent - exponent % 3
    mantissa *= 10 ** (exponent - suffix_exponent)
    text = (
        f"{mantissa}e{suffix_exponent}"
        if suffix_exponent > _LARGEST_SUFFIX
        else f"{mantissa}{_SUFFIXES[suffix_exponent]}"
    )
    return f"-{text}" if sign else text


def _rounded(number: Decimal, places: int) -> Decimal:
    """``number`` rounded to ``places`` decimal places, exactly, whatever its magnitude."""
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent >= -places:
        return number  # already a whole number of 10^-places: nothing to round
    # quantize() fails when the result needs more digits than the context's precision;
    # the result has at most adjusted() + 1 integer digits plus ``places`` decimals.
    context = Context(prec=max(number.adjusted(), 0) + places + 2, rounding=ROUND_HALF_UP)
    return number.quantize(Decimal(1).scaleb(-places, context), context=context)
