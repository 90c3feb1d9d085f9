"""A leader's reading history: kept in time order over ``keep`` seconds, restarted when
either clock steps back or stands still, and rated per data-parallel engine."""

from __future__ import annotations

import pytest

from autoscaler.signals import Signal
from autoscaler.sources.exposition import PartKey, RawReading
from autoscaler.sources.pod_history import PodHistory, leader_samples
from tests.sources import factories

READING = RawReading({Signal.QUEUE_DEPTH: 1.0})


def _filled(ticks: list[float], read_offset: float = 0.0) -> PodHistory:
    history = PodHistory()
    for at in ticks:
        history.add(at, READING, keep=60.0, read_at=at + read_offset)
    return history


@pytest.mark.parametrize(
    ("at", "read_at", "kept"),
    [
        (40.0, 40.5, [0.0, 15.0, 30.0, 40.0]),  # both clocks went on
        (30.0, 31.0, [30.0]),  # the tick stood still: start again
        (20.0, 31.0, [20.0]),  # the tick stepped back
        (40.0, 30.0, [40.0]),  # the page came at the same monotonic instant
        (40.0, 29.0, [40.0]),  # ... or before the previous one
    ],
)
def test_a_clock_that_steps_back_or_stands_still_restarts_the_history(
    at: float, read_at: float, kept: list[float]
) -> None:
    history = _filled([0.0, 15.0, 30.0])  # read at the ticks themselves
    history.add(at, READING, keep=60.0, read_at=read_at)
    assert list(history.times) == kept
    assert len(history.readings) == len(history.read_times) == len(kept)


def test_readings_older_than_keep_are_dropped_and_the_edge_is_kept() -> None:
    history = _filled([0.0, 15.0, 30.0, 45.0, 60.0, 75.0])
    # At 75 with keep 60 the oldest kept is at 15 (75 - 60): the one at 0 is gone.
    assert list(history.times) == [15.0, 30.0, 45.0, 60.0, 75.0]
    assert list(history.read_times) == [15.0, 30.0, 45.0, 60.0, 75.0]


def test_a_token_rate_is_taken_per_engine_across_one_engines_restart() -> None:
    """Two data-parallel engines at 100 tokens/s each; engine b restarts between 30 s and
    45 s. Per engine, its reset counts from zero: 200 tokens/s in all (the sum's rate
    would read b's lost count as a reset of the whole leader)."""
    target = factories.target("ns", "m", window=60.0)
    history = PodHistory()
    b_counts = [1000.0, 2500.0, 4000.0, 500.0, 2000.0]  # restarted: 4000 -> 0 -> 500
    for i, b in enumerate(b_counts):
        at = 15.0 * i
        a = 100.0 * at
        parts: dict[PartKey, float] = {(("engine", "a"),): a, (("engine", "b"),): b}
        reading = RawReading(
            {Signal.GENERATION_TOKENS: a + b}, counter_parts={Signal.GENERATION_TOKENS: parts}
        )
        history.add(at, reading, keep=120.0)
    samples = leader_samples(history, [Signal.GENERATION_TOKENS], target, now=60.0)
    # a: 6000 in 60 s; b: 1500 + 1500 + 500 (from zero) + 1500 = 5000 in 60 s.
    assert samples[Signal.GENERATION_TOKENS].value == pytest.approx(6000 / 60 + 5000 / 60)
    assert samples[Signal.GENERATION_TOKENS].timestamp == 60.0


def test_a_gauge_is_the_newest_reading_that_has_it() -> None:
    target = factories.target("ns", "m")
    history = PodHistory()
    history.add(0.0, RawReading({Signal.QUEUE_DEPTH: 4.0}), keep=60.0)
    history.add(15.0, RawReading({Signal.QUEUE_DEPTH: 7.0}), keep=60.0)
    history.add(30.0, RawReading({Signal.RUNNING: 2.0}), keep=60.0)  # no queue in this page
    samples = leader_samples(history, [Signal.QUEUE_DEPTH, Signal.KV_CACHE], target, now=30.0)
    assert samples[Signal.QUEUE_DEPTH].value == 7.0
    assert samples[Signal.QUEUE_DEPTH].timestamp == 15.0
    assert Signal.KV_CACHE not in samples  # never exported: no data, not zero
