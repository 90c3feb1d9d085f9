"""``spec.schedules``: floors on the group count by time of day and day of week.

Load on an LLM service often follows the clock (office hours, a nightly batch). A
schedule names a weekly window, ``start`` to ``end`` in a time zone on some ``days``,
and the fewest groups to run during it; with ``prewarm`` (the default) the floor begins
one cold start before ``start``, so the groups are ready when the window opens, where a
floor raised at ``start`` would serve its first minutes with the groups of the night.
The engine applies it in ``autoscaler/engine/schedule.py``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, field_validator

from autoscaler.policy.fields import MAX_GROUPS, DnsLabel
from autoscaler.policy.strict import StrictModel

Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DAYS: tuple[Day, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Day names in ``days``, in the order of ``datetime.weekday()``."""

# 24-hour clock: "8:00" or "08:00" to "23:59". "24:00" is not a time: a window to the
# end of the day ends at "00:00".
_TIME_PATTERN = r"([01]?[0-9]|2[0-3]):[0-5][0-9]"


def _quoted(value: object) -> object:
    """A number (``start: 8``) is no time of day: say what is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f'{value!r} is a number; a time of day is HH:MM, such as "08:00"')
    return value


def _time_of_day(value: str) -> str:
    if not re.fullmatch(_TIME_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a time of day: HH:MM on a 24-hour clock, 00:00 to 23:59"
        )
    return value


TimeOfDay = Annotated[
    str,
    BeforeValidator(_quoted),
    AfterValidator(_time_of_day),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{_TIME_PATTERN}$",
            "description": "A time of day, HH:MM on a 24-hour clock ('08:00', '23:30').",
        },
        mode="validation",
    ),
]


def minutes(time_of_day: str) -> int:
    """``"08:30"`` -> 510 (minutes after midnight)."""
    hours, mins = time_of_day.split(":")
    return int(hours) * 60 + int(mins)


@cache
def _known_zones() -> frozenset[str]:
    # Read once: it lists the zone database's files (tzdata's, and the system's, where
    # ``localtime`` is the host's own zone under another name).
    return frozenset(available_timezones()) - {"localtime"}


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError when there is none of that name.

    Only the database's zone names: ``localtime`` (the host's own zone, another on each
    node) or ``posixrules`` also open as files on some systems, and would validate in CI
    to mean something else, or nothing, in the image."""
    if name not in _known_zones():
        raise ValueError(f"{name!r} is not an IANA time zone (such as 'UTC' or 'Europe/Paris')")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but unreadable
        raise ValueError(f"{name!r}: the time zone database cannot read it ({exc})") from exc


class Schedule(StrictModel):
    """A floor on the groups during a weekly window, ready at its start."""

    name: DnsLabel
    """Names the schedule in reasons and Events; unique in the policy."""
    days: Annotated[
        list[Day], Field(min_length=1, max_length=7, json_schema_extra={"uniqueItems": True})
    ] = Field(default_factory=lambda: list(DAYS))
    """The days the window starts on (Mon, Tue, Wed, Thu, Fri, Sat, Sun); every day by
    default. A window past midnight belongs to the day it starts on."""
    start: TimeOfDay
    """Opening time, HH:MM on a 24-hour clock, in timeZone."""
    end: TimeOfDay
    """Closing time, HH:MM; at or before start, the window ends the next day (start and
    end equal: 24 hours)."""
    time_zone: str = "UTC"
    """IANA time zone of start and end (Europe/Paris, America/New_York); daylight saving
    is followed."""
    min_replicas: int = Field(ge=1, le=MAX_GROUPS)
    """Fewest groups during the window; at most replicas.max (below replicas.min it
    matters only with scale-to-zero, which it keeps from zero)."""
    prewarm: bool = True
    """Begin the floor one cold start (learned, or coldStart.expected) before start, so
    the groups are ready when the window opens."""

    @field_validator("days")
    @classmethod
    def _days_once(cls, days: list[str]) -> list[str]:
        repeated = sorted({day for day in days if days.count(day) > 1}, key=DAYS.index)
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        return days

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone(name)
        return name
