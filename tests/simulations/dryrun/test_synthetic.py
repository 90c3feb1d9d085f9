"""The synthetic load the dry run's tests and the week-long benchmark replay: a day/night
curve with 5% noise, and the source results of leaders splitting it evenly."""

from __future__ import annotations

import math

import numpy as np

from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey
from simulations.dryrun.synthetic import daily_curve, history_from_curve

KEY = LwsKey("inference", "llama")


def test_the_daily_curve_is_low_at_midnight_and_high_at_noon_with_five_percent_noise() -> None:
    # Steps of 6 h: cos(0) = 1 gives low, cos(pi/2) = 0 the middle, cos(pi) = -1 high.
    curve = daily_curve(5, 21_600.0, low=1.0, high=3.0)
    noise = np.random.default_rng(0).normal(1.0, 0.05, 5)
    np.testing.assert_allclose(curve, np.array([1.0, 2.0, 3.0, 2.0, 1.0]) * noise)
    np.testing.assert_array_equal(curve, daily_curve(5, 21_600.0, 1.0, 3.0, seed=0))
    assert not np.array_equal(curve, daily_curve(5, 21_600.0, 1.0, 3.0, seed=1))
    # Noise never takes the load below zero.
    assert daily_curve(1000, 60.0, low=0.0, high=0.01).min() >= 0.0


def test_four_leaders_split_the_totals_and_a_nan_is_a_gap() -> None:
    queue = np.array([8.0, math.nan])
    (first_at, first), (gap_at, gap) = history_from_curve(KEY, 1000.0, 15.0, queue)
    snapshot = first.snapshots[KEY]
    assert first_at == 1000.0
    assert gap_at == 1015.0
    assert (snapshot.spec_replicas, snapshot.ready_replicas) == (4, 4)
    assert sorted(snapshot.leaders) == ["0", "1", "2", "3"]
    assert {s[Signal.QUEUE_DEPTH].value for s in snapshot.leaders.values()} == {2.0}
    assert {s[Signal.RUNNING].value for s in snapshot.leaders.values()} == {4.0}
    assert gap.snapshots == {}
    assert gap.errors == {KEY: "no data in the recording"}


def test_the_kv_cache_and_tokens_are_split_too_and_a_leaders_cache_is_full_at_most() -> None:
    queue, kv, tokens = np.array([8.0, 8.0]), np.array([1.0, 6.0]), np.array([400.0, 400.0])
    history = history_from_curve(KEY, 1000.0, 15.0, queue, kv, tokens, ready=2)
    (_, half), (now, full) = history
    leader = half.snapshots[KEY].leaders["0"]
    assert leader[Signal.KV_CACHE].value == 0.5  # one cache's worth over 2 leaders
    assert full.snapshots[KEY].leaders["1"][Signal.KV_CACHE].value == 1.0  # 3 each: capped
    assert leader[Signal.GENERATION_TOKENS].value == 200.0
    assert leader[Signal.PROMPT_TOKENS].value == 0.0
    # Samples a scrape old (5 s) and groups up for a day: fresh data of settled groups.
    leaders = full.snapshots[KEY].leaders.values()
    assert {sample.timestamp for samples in leaders for sample in samples.values()} == {now - 5}
    assert {g.created_at for g in full.snapshots[KEY].groups} == {1000.0 - 86_400}
