"""The Knative-KPA-style baseline (``simulations.baselines.kpa``) through its ``decide``:
the concurrency sampled each tick, the window it keeps, a fresh autoscaler's start in
panic, panic on one ready group, and Knative's defaults. (``tests/simulations/
test_baselines.py`` works ``desired`` by hand on given samples.)"""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.snapshot import GroupStatus, LwsKey
from simulations.baselines.kpa import KnativeKpa
from simulations.closedloop import LoopView, lws_state
from simulations.metrics import ScrapeStore

KEY = LwsKey("inference", "llm")


def _view(now: float, ready: int, concurrency: float, spec: int | None = None) -> LoopView:
    groups = tuple(GroupStatus(i, -1000.0, -900.0) for i in range(ready))
    state = lws_state(KEY, spec if spec is not None else max(ready, 1), groups, now)
    return LoopView(now, state, ScrapeStore(KEY, "m", keep=300), 0, concurrency)


def test_the_defaults_are_knatives() -> None:
    """config-autoscaler: a 2 s tick, a 60 s stable window, a 6 s panic window (10%),
    panic at 200%, scale-up rate 1000 and scale-down rate 2, target 100 at 70%
    utilisation; a revision's 300 s timeout as the removed pods' grace."""
    kpa = KnativeKpa(max_replicas=10)
    assert (kpa.period, kpa.stable_window, kpa.panic_window) == (2.0, 60.0, 6.0)
    assert (kpa.panic_threshold, kpa.up_rate, kpa.down_rate) == (2.0, 1000.0, 2.0)
    assert (kpa.per_group, kpa.bounds) == (70.0, (1, 10))
    assert kpa.termination_grace_seconds == 300.0
    assert (kpa.panic_since, kpa.max_panic, len(kpa.samples)) == (None, 0, 0)


@pytest.mark.parametrize(("ready", "first_decision", "panics"), [(2, 2, True), (1, 1, False)])
def test_a_fresh_autoscaler_finding_more_than_one_ready_group_starts_in_panic(
    ready: int, first_decision: int, panics: bool
) -> None:
    """10 in flight is one group's worth: out of panic, 2 ready groups would halve to 1
    at the first tick; a fresh KPA that finds them starts in panic and keeps them."""
    kpa = KnativeKpa(max_replicas=10)
    assert kpa.decide(_view(0.0, ready, 10.0)) == first_decision
    assert (kpa.panic_since is not None) is panics
    if panics:
        assert (kpa.panic_since, kpa.max_panic) == (0.0, ready)
    # Later ticks do not enter it again on that ground (samples exist).
    kpa = KnativeKpa(max_replicas=10)
    kpa.decide(_view(0.0, 1, 10.0))
    assert kpa.decide(_view(2.0, 2, 10.0)) == 1
    assert kpa.panic_since is None


def test_each_tick_samples_the_concurrency_and_keeps_the_last_stable_window() -> None:
    """One ready group, a tick every 2 s: 150 in flight for a minute sizes for
    ceil(150 / 70) = 3 (panic: 3 / 1 >= 2). Only the samples of the last 60 s are kept:
    at 118 s, those after 58 s, 30 of them."""
    kpa = KnativeKpa(max_replicas=10)
    decisions = [kpa.decide(_view(t, 1, 150.0)) for t in np.arange(0.0, 120.0, 2.0)]
    assert set(decisions) == {3}
    assert len(kpa.samples) == 30
    assert kpa.samples[0] == (60.0, 150.0)


def test_one_ready_group_panics_at_twice_its_capacity() -> None:
    """54 s at 50 in flight, then 6 s at 200, on one ready group: the 60 s average is
    (27 x 50 + 3 x 200) / 30 = 65, one group; the 6 s average asks ceil(200 / 70) = 3,
    3 / 1 >= 2: panic, 3 groups. (A group starting counts as no capacity yet.)"""
    kpa = KnativeKpa(max_replicas=10)
    decisions = [kpa.decide(_view(float(t), 1, 50.0)) for t in range(0, 54, 2)]
    assert set(decisions) == {1}
    for t in (54.0, 56.0):
        kpa.decide(_view(t, 1, 200.0))
    assert kpa.decide(_view(58.0, 1, 200.0)) == 3
    assert kpa.panic_since == 58.0
    # With no group ready at all the rates apply to one: the same answer.
    kpa = KnativeKpa(max_replicas=10)
    for t in range(0, 54, 2):
        kpa.decide(_view(float(t), 0, 50.0, spec=1))
    for t in (54.0, 56.0):
        kpa.decide(_view(t, 0, 200.0, spec=1))
    assert kpa.decide(_view(58.0, 0, 200.0, spec=1)) == 3
