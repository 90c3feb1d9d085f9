"""Quantities in an HPA manifest parse as apimachinery's ``ParseQuantity`` reads them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from simulations.hpa.quantity import parse_quantity, quantity_float, quantity_milli


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("1", 1000),
        ("500m", 500),
        ("1.5k", 1_500_000),
        ("0.0001", 1),  # MilliValue rounds up
        (2, 2000),
        ("1Ki", 1_024_000),
        ("500u", 1),  # 0.0005 rounds up to 1m
        ("250000000n", 250),
        ("1e3", 1_000_000),
        ("1.5E-3", 2),  # 1.5m rounds up
        ("+2", 2000),
        ("-2", -2000),
        ("1.", 1000),
        (".5", 500),
        ("2.5", 2500),
        # The largest a target can be: MaxInt64 milli-units, 2**63 - 1.
        ("9223372036854775.807", 9_223_372_036_854_775_807),
        ("-9223372036854775.807", -9_223_372_036_854_775_807),
        ("1e000003", 1_000_000),  # six exponent digits are read
    ],
)
def test_quantities_round_up_to_milli_units(text: object, milli: int) -> None:
    assert quantity_milli(text) == milli


def test_binary_suffixes_are_powers_of_two() -> None:
    assert parse_quantity("1Mi") == Decimal(2) ** 20
    assert quantity_float("50m") == pytest.approx(0.05)


@pytest.mark.parametrize(
    "text",
    [
        "1e999999",
        "1e16",
        "10000P",
        "9Ei",
        "1e9999999999",
        10**20,
        1e300,
        "9223372036854775.808",  # one milli-unit past MaxInt64
        "1e0000003",  # seven exponent digits, whatever their value
    ],
)
def test_quantities_out_of_range_are_value_errors(text: object) -> None:
    # A ValueError is what pydantic turns into a located validation error; the
    # decimal module's Overflow ("1e999999") used to escape as a traceback.
    with pytest.raises(ValueError, match="out of range"):
        quantity_milli(text)


@pytest.mark.parametrize(
    "text",
    [
        "lots",
        "Infinity",
        "NaN",
        "",
        " 1",  # apimachinery does not trim
        "1 ",
        "1_000",  # Python's Decimal takes underscores; ParseQuantity does not
        "1e3k",  # an exponent or a suffix, not both
        "1.5e2.5",
        "1KI",
        "1ki",
        "1Kib",
        "--1",
        "0x10",
    ],
)
def test_text_outside_the_quantity_grammar_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity_milli(text)


@pytest.mark.parametrize("value", [True, None, [1], float("inf"), float("nan")])
def test_values_of_other_types_or_not_finite_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"boolean|expected a quantity|finite"):
        parse_quantity(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1n", "1e-9"),
        ("1u", "1e-6"),
        ("1m", "1e-3"),
        ("1k", "1e3"),
        ("1M", "1e6"),
        ("1G", "1e9"),
        ("1T", "1e12"),
        ("1P", "1e15"),
        ("0.001E", "1e15"),  # 1E itself is past the int64 milli-units
    ],
)
def test_decimal_suffixes_are_powers_of_ten(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)
