"""The engine's memory: trimming windows, and rebasing stamps after the clock steps back."""

from __future__ import annotations

import pytest

from autoscaler.engine import EngineState, ReasonCode
from autoscaler.engine.state import (
    append_window,
    no_group_served_last,
    rebased,
    unobserved_gap,
    within,
)
from tests.engine.factories import T0, Driver, codes, make_policy, ready_groups

STEP_BACK = 3600.0


def test_append_window_drops_entries_after_now_and_older_than_the_window() -> None:
    history = ((T0 - 120, 1), (T0 - 30, 2), (T0 + 60, 9))
    assert append_window(history, T0, 3, 60.0) == ((T0 - 30, 2), (T0, 3))


@pytest.mark.parametrize(
    ("stamps", "kept"),
    [
        ((), ()),
        # An entry exactly ``keep_seconds`` old is not older than the window: it stays.
        ((T0 - 60, T0 - 30), (T0 - 60, T0 - 30)),
        ((T0 - 61, T0 - 30), (T0 - 30,)),
        ((T0 - 61,), ()),
        ((T0 - 90, T0 - 60, T0 - 30), (T0 - 60, T0 - 30)),
        ((T0 - 90, T0 - 75, T0 - 30), (T0 - 30,)),
        ((T0 - 90, T0 - 75, T0 - 61, T0), (T0,)),
    ],
)
def test_append_window_keeps_the_entries_at_most_keep_seconds_old(
    stamps: tuple[float, ...], kept: tuple[float, ...]
) -> None:
    history = tuple((stamp, i) for i, stamp in enumerate(stamps))
    after = append_window(history, T0, -1, 60.0)
    assert after == (*((stamp, i) for i, stamp in enumerate(stamps) if stamp in kept), (T0, -1))


def test_within_counts_the_window_inclusively_and_never_the_future() -> None:
    history = ((T0 - 61, 1), (T0 - 60, 2), (T0 - 30, 3), (T0, 4), (T0 + 10, 5))
    assert within(history, T0, 60.0) == [2, 3, 4]
    assert within(history[:4], T0, 60.0) == [2, 3, 4]


@pytest.mark.parametrize(
    ("decided_at", "interval", "now", "gap"),
    [
        (None, None, T0, True),  # no decision yet
        # ``staleAfter`` 60 s, no interval known yet: over 60 s is a gap.
        (T0, None, T0 + 60, False),
        (T0, None, T0 + 61, True),
        # A loop on a 75 s cycle: one cycle that overran to 2 x 75 s is no gap.
        (T0, 75.0, T0 + 150, False),
        (T0, 75.0, T0 + 151, True),
        # A short usual interval: ``staleAfter`` still applies.
        (T0, 15.0, T0 + 60, False),
        (T0, 15.0, T0 + 61, True),
    ],
)
def test_unobserved_gap_is_longer_than_stale_after_and_twice_the_interval(
    decided_at: float | None, interval: float | None, now: float, gap: bool
) -> None:
    state = EngineState(decided_at=decided_at, interval=interval)
    assert unobserved_gap(state, now, 60.0) is gap


def test_a_state_in_the_past_is_returned_as_it_is() -> None:
    state = EngineState(first_seen=T0 - 60, last_good=(T0 - 15, 4), draining=(("m-3", T0),))
    assert rebased(state, T0) is state


def test_stamps_in_the_future_restart_at_now() -> None:
    state = EngineState(
        first_seen=T0 - 60,
        observed_since=T0 + 100,
        idle_since=T0 + 200,
        rates_from=T0 + 50,
        unserved_since=T0 + 40,
        last_good=(T0 + 300, 4),
        queue_calm=(T0 + 10, T0 + 20),
        draining=(("m-2", T0 - 10), ("m-3", T0 + 400)),
    )
    after = rebased(state, T0)
    assert after.first_seen == T0 - 60  # already in the past: kept
    assert (after.idle_since, after.rates_from) == (T0, T0)
    # The observation stretch ends: the next decision on data starts one.
    assert after.observed_since is None
    # The stretch without a serving group keeps its 10 s: the wake's hold is as long.
    assert after.unserved_since == T0 - 10
    assert after.last_good == (T0, 4)  # the value is kept, its time restarts
    assert after.queue_calm is None  # a calm stretch that cannot be measured is no calm
    assert after.draining == (("m-2", T0 - 10), ("m-3", T0))


def test_any_step_back_ends_the_observation_stretch() -> None:
    """A stretch begun long before survives no step back, however small: what passed
    between the last observation and the next one cannot be measured any more."""
    state = EngineState(first_seen=T0 - 900, observed_since=T0 - 900, decided_at=T0 + 1)
    after = rebased(state, T0)
    assert after.observed_since is None
    assert after.first_seen == T0 - 900
    assert after.decided_at == T0


@pytest.mark.parametrize(("start", "kept"), [(T0 - 90, True), (T0, True), (T0 + 1, False)])
def test_a_calm_stretch_begun_before_the_step_back_keeps_its_start(
    start: float, kept: bool
) -> None:
    """Calm observed from T0 - 90 to T0 + 20, the clock stepped back to T0: the stretch
    keeps its start and now counts 90 s of calm, less than the 110 s observed (the
    cautious side for ``isolatedBurst``, which limits only after ``calmFor``). One begun
    at T0 began no later than now and is kept too; one begun after now is no calm."""
    state = EngineState(queue_calm=(start, T0 + 20), decided_at=T0 + 20)
    assert rebased(state, T0).queue_calm == ((start, T0 + 20) if kept else None)


def test_a_drain_begun_before_the_clock_stepped_back_still_times_out() -> None:
    driver = Driver(make_policy(scaleDown={"drain": {"enabled": True, "timeout": "2m"}}))
    groups = ready_groups(4, T0 - 3600)
    first = driver.at(0, groups=groups, queue=[0] * 4, running=[1] * 4)
    assert first.draining  # 4 -> 1 waits for groups 1-3, which still run a request each
    driver.now -= STEP_BACK
    for _ in range(9):  # 135 s on the stepped-back clock, the drained groups still busy
        decision = driver.at(15, groups=groups, queue=[0] * 4, running=[1] * 4)
    # Without the rebase the drain began "in an hour" and could never time out.
    assert decision.replicas == 1
    assert "still busy after 2m" in decision.explain()


def test_a_hold_lasts_hold_for_after_the_clock_stepped_back() -> None:
    driver = Driver(make_policy(missingMetrics={"holdFor": "5m", "then": "noRecommendation"}))
    assert driver.at(0, queue=[20, 20]).replicas == 4
    driver.now -= STEP_BACK
    assert driver.step(None).replicas == 4  # held
    past = driver.step(None, advance=301)
    # Without the rebase: "holding 4 from -3,299 s ago", for 65 minutes.
    assert (past.replicas, codes(past)) == (None, [ReasonCode.NO_RECOMMENDATION])


@pytest.mark.parametrize("window", [60.0, 300.0])
def test_the_down_window_is_observed_anew_after_the_clock_stepped_back(window: float) -> None:
    policy = make_policy(scaleDown={"stabilizationWindow": window})
    driver = Driver(policy)
    for step in range(int(window // 15) + 2):
        driver.at(0 if step == 0 else 15, queue=[20] * 4)
    driver.now -= STEP_BACK
    decisions = [driver.at(15, queue=[0] * 4) for _ in range(int(window // 15) + 2)]
    first_down = next(i for i, d in enumerate(decisions) if d.replicas == 1)
    # One window after the step (not an hour later, when the clock catches up).
    assert (first_down + 1) * 15 == pytest.approx(window + 15, abs=15)


def test_equal_states_compare_and_hash_equal() -> None:
    def state() -> EngineState:
        return EngineState(
            first_seen=T0, targets=((T0, 3),), seen_starts=frozenset({(0, T0)}), draining=()
        )

    assert state() == state()
    assert len({state(), state(), EngineState()}) == 2


@pytest.mark.parametrize(
    ("rates_from", "decided_at", "expected"),
    [
        (None, None, False),  # no decision yet
        (None, T0, False),  # a group has served at every decision
        (T0, T0, True),  # the last decision had no group serving
        # No group served at T0 - 15; the decision at T0 saw one serving.
        (T0 - 15, T0, False),
    ],
)
def test_no_group_served_last_only_when_the_last_decision_stamped_rates_from(
    rates_from: float | None, decided_at: float | None, expected: bool
) -> None:
    state = EngineState(rates_from=rates_from, decided_at=decided_at)
    assert no_group_served_last(state) is expected
