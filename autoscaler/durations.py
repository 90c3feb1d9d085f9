"""Parsing of human durations (``90s``, ``5m``, ``1h30m``) into seconds.

Policies state every window as a duration; the engine works in float seconds only.
A bare number is read as seconds, so ``300`` and ``"5m"`` mean the same.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# ASCII digits only, no surrounding spaces: exactly what the policy JSON Schema's pattern
# accepts, so a file the loader takes is one the schema takes (``\d`` would also match
# "٣٠s", Arabic-Indic digits, and read it as 30 s).
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d)")
_WHOLE = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d))+")


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise ``ValueError`` with a readable message otherwise.

    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration(15)
    15.0
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s' or '5m', got a boolean")
    if isinstance(value, int):
        # float() of an int beyond ~1e308 raises OverflowError, which pydantic would not
        # report as a field error: say it here, as for any other out-of-range duration.
        seconds = float(value) if abs(value) < 2**1023 else math.inf
    elif isinstance(value, float):
        seconds = value
    elif isinstance(value, str):
        if re.fullmatch(_NUMBER, value):
            seconds = float(value)
        elif _WHOLE.fullmatch(value):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(value))
        else:
            raise ValueError(
                f"{value!r} is not a duration; use a number of seconds or units "
                "ms, s, m, h, d (e.g. '30s', '5m', '1h30m')"
            )
    else:
        raise ValueError(f"expected a duration such as '30s' or '5m', got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise ValueError(
            f"a duration must be a finite, non-negative number of seconds, got {shown}"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly for messages: ``format_duration(330) == '5m30s'``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)


def format_duration_ms(seconds: float) -> str:
    """:func:`format_duration` keeping milliseconds, for steps that have them (``1.5`` ->
    ``1.5s``, ``5398.5`` -> ``1h29m58.5s``), where rounding would show another step; whole
    seconds read as in :func:`format_duration` (``900`` -> ``15m``)."""
    millis = round(seconds * 1000)
    whole, rest = divmod(millis, 1000)
    if rest == 0:
        return format_duration(whole)
    minutes = whole - whole % 60
    head = format_duration(minutes) if minutes else ""
    return f"{head}{whole % 60}.{rest:03d}".rstrip("0") + "s"
