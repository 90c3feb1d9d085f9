"""Parsing of human durations (``90s``, ``5m``, ``1h30m``) into seconds.

Policies state every window as a duration; the engine works in float seconds only.
A bare number is read as seconds, so ``300`` and ``"5m"`` mean the same.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise ``ValueError`` with a readable message otherwise.

    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration(15)
    15.0
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s' or '5m', got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _WHOLE.match(text):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(
                f"{value!r} is not a duration; use a number of seconds or units "
                "ms, s, m, h, d (e.g. '30s', '5m', '1h30m')"
            )
    else:
        raise ValueError(f"expected a duration such as '30s' or '5m', got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(
            f"a duration must be a finite, non-negative number of seconds, got {value!r}"
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
