"""The LWS model: groups created -> starting -> ready after a cold start, highest index
removed first, the counts the HPA and the engine read, and seeded randomness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.lws_model import ColdStartModel, LwsModel


def model(replicas: int = 0, median: float = 300.0, spread: float = 0.0, seed: int = 0) -> LwsModel:
    return LwsModel(ColdStartModel(median, spread), np.random.default_rng(seed), replicas, 0.0)


def test_initial_groups_are_ready_and_teach_no_cold_start() -> None:
    lws = model(3)
    assert (lws.spec_replicas, lws.status_replicas, lws.ready_replicas(0.0)) == (3, 3, 3)
    groups = lws.groups(0.0)
    assert [g.index for g in groups] == [0, 1, 2]
    assert all(g.ready_at is not None and g.ready_at == g.created_at for g in groups)


def test_new_groups_start_then_become_ready_after_the_cold_start() -> None:
    lws = model(2, median=300.0)
    lws.scale(5, 100.0)
    assert (lws.spec_replicas, lws.status_replicas) == (5, 5)
    assert lws.ready_replicas(100.0) == 2
    assert lws.starting_replicas(100.0) == 3
    starting = lws.groups(399.0)[2:]
    assert [(g.index, g.created_at, g.ready_at) for g in starting] == [
        (2, 100.0, None),
        (3, 100.0, None),
        (4, 100.0, None),
    ]
    assert lws.ready_replicas(399.9) == 2
    assert lws.ready_replicas(400.0) == 5
    assert [g.ready_at for g in lws.groups(400.0)[2:]] == [400.0, 400.0, 400.0]


def test_scale_down_removes_the_highest_indices_first_even_if_ready() -> None:
    lws = model(2, median=60.0)
    lws.scale(4, 0.0)  # groups 2 and 3 start
    lws.scale(3, 10.0)  # group 3 goes, still starting
    assert [g.index for g in lws.groups(10.0)] == [0, 1, 2]
    lws.scale(1, 100.0)  # group 2 was ready: removed anyway, then 1
    assert [g.index for g in lws.groups(100.0)] == [0]
    lws.scale(2, 200.0)  # a new group reuses index 1 with a new creation time
    assert [(g.index, g.created_at) for g in lws.groups(200.0)] == [(0, -86400.0), (1, 200.0)]
    assert (lws.scale_ups, lws.scale_downs) == (2, 2)


def test_scale_to_zero_and_back() -> None:
    lws = model(1, median=30.0)
    lws.scale(0, 0.0)
    assert (lws.status_replicas, lws.ready_replicas(0.0), lws.groups(0.0)) == (0, 0, ())
    lws.scale(1, 10.0)
    assert lws.ready_replicas(39.0) == 0
    assert lws.ready_replicas(40.0) == 1


def test_spread_is_seeded_and_centred_on_the_median() -> None:
    cold = ColdStartModel(300.0, spread=0.25)
    a = cold.sample(np.random.default_rng(7), 4000)
    b = cold.sample(np.random.default_rng(7), 4000)
    assert np.array_equal(a, b)
    assert abs(float(np.median(a)) - 300.0) < 15.0
    assert a.min() > 100.0
    assert a.max() < 900.0
    assert not np.array_equal(a, cold.sample(np.random.default_rng(8), 4000))


def test_schedule_delay_and_minimum_apply() -> None:
    cold = ColdStartModel(0.0, schedule_delay=20.0, minimum=5.0)
    assert cold.sample(np.random.default_rng(0), 2).tolist() == [25.0, 25.0]


@pytest.mark.parametrize(
    "kwargs", [{"median": -1.0}, {"median": 10.0, "spread": -0.1}, {"median": float("nan")}]
)
def test_invalid_cold_starts_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="cold-start"):
        ColdStartModel(**kwargs)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.floats(0, 600)), min_size=1, max_size=25))
def test_counts_stay_consistent(moves: list[tuple[int, float]]) -> None:
    lws = model(2, median=120.0, spread=0.3, seed=3)
    now = 0.0
    for replicas, wait in moves:
        lws.scale(replicas, now)
        now += wait
        groups = lws.groups(now)
        assert lws.spec_replicas == lws.status_replicas == len(groups) == replicas
        assert [g.index for g in groups] == list(range(replicas))
        ready = lws.ready_replicas(now)
        assert ready == sum(g.ready_at is not None for g in groups)
        assert all(g.ready_at is None or g.ready_at <= now for g in groups)


def test_by_default_a_cold_start_is_the_median_at_least_one_second() -> None:
    rng = np.random.default_rng(0)
    assert ColdStartModel(300.0).sample(rng, 3).tolist() == [300.0, 300.0, 300.0]
    assert ColdStartModel(0.5).sample(rng, 2).tolist() == [1.0, 1.0]  # the 1 s floor


def test_by_default_an_lws_starts_with_no_group() -> None:
    lws = LwsModel(ColdStartModel(300.0), np.random.default_rng(0))
    assert (lws.spec_replicas, lws.status_replicas, lws.ready_replicas(0.0)) == (0, 0, 0)


def test_initial_groups_are_a_day_old_at_the_start() -> None:
    """Ready long before the run (t = 0 unless said), so none is young for minGroupAge."""
    (group,) = LwsModel(ColdStartModel(300.0), np.random.default_rng(0), 1).groups(0.0)
    assert (group.created_at, group.ready_at) == (-86_400.0, -86_400.0)


def test_scaling_to_the_current_size_is_no_scale_event() -> None:
    lws = LwsModel(ColdStartModel(300.0), np.random.default_rng(0), 2)
    lws.scale(2, 10.0)
    assert (lws.scale_ups, lws.scale_downs) == (0, 0)
    lws.scale(3, 20.0)
    lws.scale(1, 30.0)
    assert (lws.scale_ups, lws.scale_downs, lws.spec_replicas) == (1, 1, 1)


def test_any_spread_draws_cold_starts_around_the_median() -> None:
    starts = ColdStartModel(300.0, spread=1.0).sample(np.random.default_rng(0), 50)
    assert len(set(starts.tolist())) == 50  # drawn, not the fixed median
    assert 100 < float(np.median(starts)) < 900
