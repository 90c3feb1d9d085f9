"""Scheduled floors (``spec.schedules``): the fewest groups the clock asks for at ``now``.

A schedule is active from its ``start`` (less one cold start with ``prewarm``) to its
``end``, on the days it starts on, in its time zone. Worked example: office hours
08:00-20:00 Europe/Paris on weekdays, ``minReplicas: 4``, a learned cold start of 7
minutes: the floor of 4 holds from 07:53 Paris time (06:53 UTC in winter, 05:53 UTC in
summer) to 20:00, Monday to Friday; a window 22:00-06:00 that starts on Friday holds
until Saturday 06:00.

The floor raises the recommendation; it never lowers it, and it never applies to no
recommendation (``missingMetrics.then: noRecommendation`` past ``holdFor``, or a hold
with nothing to hold: the HPA keeps its size, which may be above the floor). On data it
comes after the stabilisation rules (a schedule is no spike to smooth: the groups are
ordered at once) and before the drain, so a drain whose groups the floor keeps is called
off; it also keeps an LWS from going to zero and wakes one at zero. The highest floor
wins when windows overlap. A local time that a daylight-saving change skips or repeats
reads as the longest window (a start at its earliest reading, an end at its latest).

After a window closes, the floor it held stays in the targets the down window
remembers: the LWS goes down at the pace of the down window, the step limit and the
drain, as after any load that has gone.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from autoscaler.durations import format_duration as fmt
from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import Decision, ReasonCode
from autoscaler.engine.state import EngineState
from autoscaler.policy.model import PolicySpec, ScalingPolicy, Schedule
from autoscaler.policy.schedule_specs import DAYS, minutes, zone
from autoscaler.snapshot import group_index

_DAY = 86_400.0
_OVERRULED = frozenset({ReasonCode.SCALE_TO_ZERO, ReasonCode.AT_ZERO})


@dataclasses.dataclass(frozen=True)
class Floor:
    """The floor in force: ``groups`` (0: none) and why."""

    groups: int = 0
    message: str = ""


NO_FLOOR = Floor()


def _at(day: date, minute: int, tz: ZoneInfo, latest: bool) -> float:
    """A local time of ``day`` in Unix seconds. A time the clocks skip (02:30 when they
    go forward at 02:00) or repeat (when they go back) has two readings: the earliest for
    a start, the latest for an end (``latest``), so the window is the longest the words
    allow and never inverted (02:30-03:15 on the spring day: 01:30 CET to 03:15 CEST)."""
    clock = time(minute // 60, minute % 60)
    readings = (
        datetime.combine(day, clock, tzinfo=tz).timestamp(),
        datetime.combine(day, clock.replace(fold=1), tzinfo=tz).timestamp(),
    )
    return max(readings) if latest else min(readings)


@lru_cache(maxsize=4096)
def _window_of(start: str, end: str, time_zone: str, day: date) -> tuple[float, float]:
    """(opens, closes) in Unix seconds of the window starting on ``day`` (cached: a
    decision asks for the same few days again and again)."""
    tz = zone(time_zone)
    first, last = minutes(start), minutes(end)
    opens = _at(day, first, tz, latest=False)
    closes = _at(day + timedelta(days=1) if last <= first else day, last, tz, latest=True)
    return opens, closes


def window_around(schedule: Schedule, now: float, lead: float) -> tuple[float, float] | None:
    """(start, end) in Unix seconds of the window of ``schedule`` that holds ``now`` once
    begun ``lead`` seconds early, or None."""
    today = datetime.fromtimestamp(now, zone(schedule.time_zone)).date()
    # Windows last at most a day, so one that holds ``now`` started yesterday at the
    # earliest; begun ``lead`` early, it may start as late as ``now + lead``.
    for offset in range(-1, 2 + math.ceil(lead / _DAY)):
        day = today + timedelta(days=offset)
        if DAYS[day.weekday()] not in schedule.days:
            continue
        opens, closes = _window_of(schedule.start, schedule.end, schedule.time_zone, day)
        if opens - lead <= now < closes:
            return opens, closes
    return None


def floor_at(spec: PolicySpec, now: float, cold: float) -> Floor:
    """The highest floor of the schedules active at ``now`` (``cold``: the cold start the
    engine plans with, the lead of a ``prewarm`` schedule)."""
    best = NO_FLOOR
    for schedule in spec.schedules:
        if schedule.min_replicas <= best.groups:
            continue
        window = window_around(schedule, now, cold if schedule.prewarm else 0.0)
        if window is None:
            continue
        opens, _ = window
        ahead = f", prewarmed {fmt(opens - now)} ahead of its start" if now < opens else ""
        best = Floor(
            schedule.min_replicas,
            f"schedule {schedule.name} ({', '.join(schedule.days)} {schedule.start}-"
            f"{schedule.end} {schedule.time_zone}{ahead}): at least {schedule.min_replicas}",
        )
    return best


def raise_to_floor(
    policy: ScalingPolicy, floor: Floor, decision: Decision, state: EngineState, now: float
) -> tuple[Decision, EngineState]:
    """A recommendation below ``floor`` raised to it, for the rules that decide without
    the data path (hold, fallback, at zero, waiting for leaders); the groups the floor
    keeps leave no drain."""
    rec = decision.replicas
    if rec is None or rec >= floor.groups:
        return decision, state
    ctx = DecisionContext(policy, now, decision.cold_start_seconds)
    groups = floor.groups
    if rec == 0 and groups < policy.spec.replicas.min:
        # Kept from zero, or woken from it, the LWS serves: with replicas.min at least,
        # as a wake by the activation signal does (a floor under min only keeps it from
        # zero while idle, where the engine's own floor is 1).
        groups = policy.spec.replicas.min
        ctx.note(ReasonCode.SCHEDULED, f"{floor.message} (was 0): replicas.min {groups}")
    else:
        ctx.note(ReasonCode.SCHEDULED, f"{floor.message} (was {rec})")
    name = ctx.key.name

    def leaves(pod: str) -> bool:
        index = group_index(pod, name)
        return index is None or index >= groups

    # "Stay at zero" or "give the start up" is what the floor overrules: said by it.
    kept = tuple(r for r in decision.reasons if r.code not in _OVERRULED)
    decision = dataclasses.replace(
        decision,
        replicas=groups,
        driver="schedule",
        reasons=(*kept, *ctx.reasons),
        draining=tuple(pod for pod in decision.draining if leaves(pod)),
    )
    draining = tuple(entry for entry in state.draining if leaves(entry[0]))
    last_good = state.last_good
    if last_good is not None and last_good[0] == ctx.now:
        last_good = (ctx.now, groups)
    return decision, state.evolve(draining=draining, last_good=last_good)
