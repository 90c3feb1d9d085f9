"""Kubernetes quantities as the HPA reads them: parsing ``"500m"``, ``"1.5k"``, ``"1Gi"``.

The grammar is apimachinery's ``ParseQuantity``: an optionally signed decimal, then one
binary suffix (Ki..Ei), one decimal suffix (n, u, m, k, M, G, T, P, E) or an integer
exponent (``1e3``). Nothing else: no spaces, no ``1_000``, no ``Infinity``, which
Python's ``Decimal`` would take. The controller reads targets as int64 milli-units, so a
quantity above 9.2e15 is out of range rather than a silent overflow.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, DecimalException

# The controller reads targets as int64 milli-units (``MilliValue``): 9.2e15 at most.
_MAX_QUANTITY = Decimal(2**63 - 1) / 1000

# Decimal suffixes are powers of ten (n = 1e-9 ... E = 1e18); binary ones of 1024.
_SUFFIX = {
    "": Decimal(1),
    **{
        s: Decimal(10) ** e
        for s, e in zip("numkMGTPE", (-9, -6, -3, 3, 6, 9, 12, 15, 18), strict=True)
    },
    **{f"{s}i": Decimal(1024) ** power for power, s in enumerate("KMGTPE", start=1)},
}
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?"
)


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity (``"500m"``, ``"2"``, ``"1.5k"``, ``"1Gi"``, or a number)."""
    if isinstance(value, bool):
        raise ValueError("a quantity cannot be a boolean")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a quantity must be finite, got {value}")
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        amount = _parse_text(value)
    else:
        raise ValueError(f"expected a quantity, got {type(value).__name__}")
    if abs(amount) > _MAX_QUANTITY:
        raise ValueError(f"{value!r} is out of range for a quantity (at most 9.2e15)")
    return amount


def _parse_text(text: str) -> Decimal:
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. '1', '500m', '1Gi')")
    try:
        exponent = match["exponent"]
        if exponent is not None:
            # int() of thousands of digits raises its own ValueError; any exponent past
            # six digits is out of range (or zero) anyway.
            if len(exponent.lstrip("+-")) > 6:
                raise ValueError(f"{text!r} is out of range for a quantity")
            return Decimal(match["number"]).scaleb(int(exponent))
        return Decimal(match["number"]) * _SUFFIX[match["suffix"] or ""]
    except DecimalException:  # Overflow: "1e999999" is past any Decimal
        raise ValueError(f"{text!r} is out of range for a quantity") from None


def quantity_milli(value: object) -> int:
    """A quantity in milli-units, rounded up as ``Quantity.MilliValue()`` does:
    ``"0.0001"`` -> 1, ``"2"`` -> 2000, ``"250m"`` -> 250, ``"500u"`` -> 1."""
    return math.ceil(parse_quantity(value) * 1000)


def quantity_float(value: object) -> float:
    """A quantity as a float (``AsApproximateFloat64``): ``"50m"`` -> 0.05."""
    return float(parse_quantity(value))
