"""The control loop's clock: the one place lws-autoscaler reads the time of day.

``SystemClock`` is wall time. ``ReplayClock`` maps wall time onto a recording's
timeline, ``recording_start + elapsed_wall * speed``, so a recording replays at any
speed while every timestamp the engine and the API see stays in recording time (and
staleness keeps working). ``wall_seconds`` converts a wait in clock time into the wall
time to sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time in Unix seconds on this clock's timeline."""
        ...

    def wall_seconds(self, clock_seconds: float) -> float:
        """Wall seconds that pass while ``clock_seconds`` pass on this clock."""
        ...


class SystemClock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall

    def now(self) -> float:
        return self._wall()

    def wall_seconds(self, clock_seconds: float) -> float:
        return clock_seconds


class ReplayClock:
    """Recording time advancing ``speed`` times faster than the wall clock."""

    def __init__(
        self,
        recording_start: float,
        speed: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be positive, got {speed}")
        self._start = recording_start
        self._speed = speed
        self._wall = wall
        self._wall_start = wall()

    def now(self) -> float:
        return self._start + (self._wall() - self._wall_start) * self._speed

    def wall_seconds(self, clock_seconds: float) -> float:
        return clock_seconds / self._speed
