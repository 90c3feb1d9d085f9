"""Integers read from text as Go's ``strconv.ParseInt(s, 10, 64)`` reads them."""

from __future__ import annotations

import pytest

from autoscaler.server.go_ints import parse_int64


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("+5", 5),
        ("-1", -1),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("9223372036854775808", None),
        ("-9223372036854775809", None),
        ("", None),
        ("1_000", None),  # Python's int() takes it
        (" 7", None),
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: a digit to int(), not to Go
        ("1.5", None),
        ("0x10", None),
    ],
)
def test_parse_int64(text: str, value: int | None) -> None:
    assert parse_int64(text) == value
