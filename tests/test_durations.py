"""Durations: every window in a policy is seconds, written as a number or '5m'."""

from __future__ import annotations

import pytest

from autoscaler.durations import format_duration, format_duration_ms, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (15, 15.0),
        (2.5, 2.5),
        ("300", 300.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("1m30s", 90.0),
        ("0s", 0.0),
    ],
)
def test_parse(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "got a boolean"),
        (None, "got NoneType"),
        ([5], "got list"),
        ("10 minutes", "is not a duration"),
        ("5M", "is not a duration"),
        ("", "is not a duration"),
        ("-5s", "is not a duration"),
        (-1, "non-negative"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        # What the policy JSON Schema's pattern rejects, the loader rejects too.
        (" 10m ", "is not a duration"),
        ("\u0663\u0660s", "is not a duration"),  # Arabic-Indic "30": \\d would take it
        ("\u0663\u0660", "is not a duration"),
        # Beyond a float: a field error, not an OverflowError that escapes validation.
        (10**400, "finite"),
    ],
)
def test_parse_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-(10**38), str(-(10**38))),  # 40 characters: shown whole
        (-(10**39), str(-(10**39))[:37] + "..."),  # 41: cut to 37 and an ellipsis
    ],
    ids=["40-characters", "41-characters"],
)
def test_a_rejected_value_is_shown_up_to_40_characters(value: int, shown: str) -> None:
    """A long number in a policy must not flood the error line it is reported on."""
    with pytest.raises(ValueError, match="non-negative number of seconds") as caught:
        parse_duration(value)
    assert str(caught.value) == (
        f"a duration must be a finite, non-negative number of seconds, got {shown}"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (0, "0ms"),
        (0.999, "999ms"),
        (1, "1s"),  # one second is shown in seconds, not as 1000ms
        (45, "45s"),
        (60, "1m"),
        (330, "5m30s"),
        (5400, "1h30m"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (900, "15m"),  # whole seconds read as format_duration's
        (1.5, "1.5s"),
        (0.5, "0.5s"),
        (60.25, "1m0.25s"),
        (5398.5, "1h29m58.5s"),
        (2.0004, "2s"),  # under half a millisecond is no step of its own
        (2.0006, "2.001s"),
    ],
)
def test_format_keeping_milliseconds(seconds: float, text: str) -> None:
    """A recording's span and step: a step of 1.5 s must not read as 2s."""
    assert format_duration_ms(seconds) == text
