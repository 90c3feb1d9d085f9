"""The loop's clocks: replaying a recording maps wall time onto recording time at any
speed, and converts the loop's waits back into wall time."""

from __future__ import annotations

import pytest

from autoscaler.server.clock import ReplayClock, SystemClock
from tests.server.helpers import ManualClock

START = 1_700_000_000.0  # the recording's first sample


@pytest.mark.parametrize(
    ("speed", "wall_elapsed", "recording_elapsed", "cycle_wall"),
    [
        (1.0, 30.0, 30.0, 15.0),
        # 60x: half a wall minute replays half an hour, a 15 s cycle sleeps 0.25 s.
        (60.0, 30.0, 1800.0, 0.25),
        (0.5, 30.0, 15.0, 30.0),
    ],
)
def test_replay_time_runs_speed_times_the_wall_clock(
    speed: float, wall_elapsed: float, recording_elapsed: float, cycle_wall: float
) -> None:
    wall = ManualClock(50.0)  # monotonic seconds: any origin
    clock = ReplayClock(START, speed, wall=wall.now)
    assert clock.now() == START  # the replay starts at the recording's start
    wall.advance(wall_elapsed)
    assert clock.now() == pytest.approx(START + recording_elapsed)
    assert clock.wall_seconds(15.0) == pytest.approx(cycle_wall)


def test_replay_speed_is_one_unless_given() -> None:
    wall = ManualClock(50.0)  # monotonic seconds: any origin
    clock = ReplayClock(START, wall=wall.now)
    wall.advance(7.0)
    assert clock.now() == START + 7.0


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_a_replay_speed_not_above_zero_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="replay speed must be positive"):
        ReplayClock(START, speed)


def test_the_system_clock_is_wall_time_and_sleeps_as_long_as_it_waits() -> None:
    clock = SystemClock(wall=lambda: START)
    assert clock.now() == START
    assert clock.wall_seconds(15.0) == 15.0
