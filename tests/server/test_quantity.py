"""Quantity strings match apimachinery's canonical DecimalSI form.

The expected strings are the ones kubernetes/apimachinery's own tests assert
(pkg/api/resource/quantity_test.go: TestQuantityString, TestMilliNewSet, TestNewSet,
TestQuantityNeg, and the "1.5 -> 1500m" example of the Quantity doc comment).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.server.quantity import format_quantity

UPSTREAM_PAIRS = [
    (Decimal("1e9"), 3, "1G"),
    (Decimal("1000e6"), 3, "1G"),
    (Decimal("1e-3"), 3, "1m"),
    (Decimal("80e-3"), 3, "80m"),
    (Decimal("1080e-3"), 3, "1080m"),
    (Decimal("108e-2"), 3, "1080m"),
    (Decimal("10800e-4"), 3, "1080m"),
    (Decimal("300e6"), 3, "300M"),
    (Decimal("1e12"), 3, "1T"),
    (Decimal("1e18"), 3, "1E"),
    (Decimal("1e21"), 3, "1e21"),
    (Decimal("5e21"), 3, "5e21"),
    (Decimal("1e24"), 3, "1e24"),
    (Decimal("1234567e6"), 3, "1234567M"),
    (Decimal("3e3"), 3, "3k"),
    (Decimal(0), 3, "0"),
    (Decimal("1e-9"), 9, "1n"),
    (Decimal("80e-9"), 9, "80n"),
    (Decimal("1080e-9"), 9, "1080n"),
    (Decimal("108e-8"), 9, "1080n"),
    (Decimal("1e-6"), 9, "1u"),
    (Decimal("80e-6"), 9, "80u"),
    (Decimal("1080e-6"), 9, "1080u"),
    # NewMilliQuantity(v, DecimalSI): 1 -> 1m, 1000 -> 1, 1234000 -> 1234
    (Decimal("0.001"), 3, "1m"),
    (Decimal(1), 3, "1"),
    (Decimal(1234), 3, "1234"),
    # NewQuantity(v, DecimalSI)
    (1000, 3, "1k"),
    (1234000, 3, "1234k"),
    # TestQuantityNeg
    (Decimal("-9.01"), 3, "-9010m"),
    # the doc comment, and the values this server sends most
    (1.5, 3, "1500m"),
    (3, 3, "3"),
    (0.5, 3, "500m"),
]


@pytest.mark.parametrize(("value", "places", "expected"), UPSTREAM_PAIRS)
def test_canonical_form_matches_apimachinery(
    value: Decimal | float, places: int, expected: str
) -> None:
    assert format_quantity(value, places) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1, "100m"), (0.7346, "735m"), (0.0004, "0"), (0.0005, "1m"), (12.0, "12"), (2.25, "2250m")],
)
def test_rounds_to_milli_half_away_from_zero(value: float, expected: str) -> None:
    assert format_quantity(value) == expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_quantity(bad)


@pytest.mark.parametrize("places", [-1, 10])
def test_places_beyond_nano_are_refused(places: int) -> None:
    # apimachinery keeps nothing finer than nano (10^-9): places 0..9.
    with pytest.raises(ValueError, match=r"0\.\.9"):
        format_quantity(1.5, places)


def test_nano_is_the_finest_place_and_units_the_coarsest() -> None:
    assert format_quantity(Decimal("1.000000001"), 9) == "1000000001n"
    assert format_quantity(2.5, 0) == "3"  # whole units, half away from zero


_SUFFIX_EXPONENT = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_FORM = re.compile(r"^(-?)(\d+)(?:e(\d+)|([numkMGTPE]?))$")


def _parse(text: str) -> Decimal:
    """An independent reader of the strings: mantissa x 10^(suffix exponent)."""
    m = _FORM.match(text)
    assert m, text
    sign, digits, exponent, suffix = m.groups()
    power = int(exponent) if exponent else _SUFFIX_EXPONENT[suffix or ""]
    return Decimal(f"{sign}{digits}").scaleb(power)


@given(st.decimals(min_value=-(10**15), max_value=10**15, places=3, allow_nan=False))
def test_round_trip_and_canonical_suffix(value: Decimal) -> None:
    text = format_quantity(value)
    assert _parse(text) == value
    digits = _FORM.match(text).group(2)  # type: ignore[union-attr]
    # Canonical: the suffix is as large as possible, so the mantissa never ends in 000
    # (it would then fit the next suffix), except for zero.
    assert text == "0" or not digits.endswith("000")


# resource.Quantity's grammar (apimachinery quantity.go), with the n and u suffixes its
# parser accepts besides the documented m, "", k, M, G, T, P, E.
_NUMBER = r"(?:\d+|\d+\.\d+|\d+\.|\.\d+)"
_SIGNED = rf"[+-]?{_NUMBER}"
_GRAMMAR = re.compile(rf"^{_SIGNED}(?:Ki|Mi|Gi|Ti|Pi|Ei|[eE]{_SIGNED}|[numkMGTPE]?)$")


def _milli(value: float) -> Decimal:
    """``value`` rounded to milli, half away from zero, without precision limits."""
    roomy = Context(prec=400)  # a float has at most 309 integer digits
    return Decimal(repr(value)).quantize(Decimal("0.001"), ROUND_HALF_UP, roomy)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e25, "10e24"),
        (1e30, "1e30"),
        (-1.5e27, "-1500e24"),
        (1.7976931348623157e308, "179769313486231570e291"),
        (123456789012345678901234567.5, "123456789012345680G"),
        (Decimal("1e400"), "10e399"),
        (Decimal("123456789012345678901234567890.0005"), "123456789012345678901234567890001m"),
    ],
)
def test_huge_values_take_the_exponent_form(value: float | Decimal, expected: str) -> None:
    # Python's default 28-digit decimal context raised InvalidOperation from about 1e25.
    assert format_quantity(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_is_a_valid_quantity(value: float) -> None:
    text = format_quantity(value)
    assert _GRAMMAR.match(text), text
    assert _parse(text) == _milli(value)
