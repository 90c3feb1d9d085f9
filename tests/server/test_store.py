"""The decision store's freshness rules on their own: the max age, the last cycle's
lateness added to it, and how the limit is stated. (tests/server/test_loop.py drives
the store through the control loop.)"""

from __future__ import annotations

import pytest

from autoscaler.server.store import DecisionStore

T = 10_000.0


@pytest.mark.parametrize("max_age", [0.0, -1.0])
def test_a_max_age_must_be_positive(max_age: float) -> None:
    with pytest.raises(ValueError, match="max_age must be positive"):
        DecisionStore(max_age)


def test_a_sub_second_max_age_is_a_max_age() -> None:
    store = DecisionStore(0.5)
    assert not store.is_stale(T, T + 0.5)
    assert store.is_stale(T, T + 0.6)


@pytest.mark.parametrize(
    ("finished_after", "lateness"),
    [
        (None, 0.0),  # no finish time: the cycle ran at its tick
        (0.0, 0.0),
        (12.5, 12.5),
        (-3.0, 0.0),  # a clock stepped back mid-cycle: never negative
        (3600.0, 67.5),  # a clock stepped forward an hour: capped at 1.5 max ages
    ],
)
def test_the_lateness_of_a_cycle(finished_after: float | None, lateness: float) -> None:
    store = DecisionStore(45.0)
    finished_at = None if finished_after is None else T + finished_after
    store.publish([], T, finished_at=finished_at)
    assert store.lateness == lateness
    # A decision is fresh for the max age plus the lateness, not a moment more.
    assert not store.is_stale(T, T + 45.0 + lateness)
    assert store.is_stale(T, T + 45.0 + lateness + 0.25)


def test_a_decision_dated_ahead_by_more_than_the_max_age_is_stale() -> None:
    store = DecisionStore(45.0)
    assert not store.is_stale(T + 45.0, T)
    assert store.is_stale(T + 45.5, T)


@pytest.mark.parametrize(
    ("lateness", "text"),
    [
        (0.0, "max age 45s"),
        (0.9, "max age 45s"),  # under a second is not worth saying
        (1.0, "max age 45s + 1s the last cycle ran past its tick"),
        (31.0, "max age 45s + 31s the last cycle ran past its tick"),
    ],
)
def test_the_limit_as_errors_state_it(lateness: float, text: str) -> None:
    store = DecisionStore(45.0)
    store.publish([], T, finished_at=T + lateness)
    assert store.describe_max_age() == text


def test_the_first_publish_and_the_last_good_fetch_are_remembered() -> None:
    store = DecisionStore(45.0)
    assert (store.published_at, store.first_published_at, store.source_ok_at) == (None,) * 3
    store.publish([], T)  # a cycle whose source answered (the default)
    store.publish([], T + 15, source_ok=False)
    assert store.published_at == T + 15
    assert store.first_published_at == T  # kept from the first cycle
    assert store.source_ok_at == T  # the failed fetch does not move it
    store.publish([], T + 30, source_ok=True)
    assert store.source_ok_at == T + 30
