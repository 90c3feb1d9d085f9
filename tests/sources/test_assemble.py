"""Snapshots from leader samples and replica counts without the cluster (a recording)."""

from __future__ import annotations

import pytest

from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Pause, Sample
from autoscaler.sources.assemble import assemble, wake_threshold
from autoscaler.sources.base import Target
from autoscaler.sources.cluster import LeaderPod, LwsState
from tests.sources import factories

KEY = LwsKey("inference", "llama")


def test_recorded_ready_groups_beyond_the_created_ones_are_capped() -> None:
    # kube-state-metrics records the LWS status, lag included: 6 ready of 2 created
    # after a scale-down (see ready_among_created) reads as 2 ready, not 4 silent ones.
    leaders = {"llama-0": {Signal.QUEUE_DEPTH: Sample(3.0, 100.0)}}
    snapshot = assemble(KEY, 100.0, leaders, {}, None, replicas=(2, 2, 6))
    assert isinstance(snapshot, LwsSnapshot)
    assert (snapshot.spec_replicas, snapshot.status_replicas, snapshot.ready_replicas) == (2, 2, 2)
    assert snapshot.starting_replicas == 0


def test_recorded_counts_within_bounds_are_kept() -> None:
    snapshot = assemble(KEY, 100.0, {}, {}, None, replicas=(4, 3, 1))
    assert isinstance(snapshot, LwsSnapshot)
    assert (snapshot.status_replicas, snapshot.ready_replicas, snapshot.starting_replicas) == (
        3,
        1,
        2,
    )


def test_a_pause_comes_with_the_cluster_state_only() -> None:
    leaders = {"llama-0": {Signal.QUEUE_DEPTH: Sample(3.0, 100.0)}}
    leader = LeaderPod("llama-0", 0, ready=True)
    state = LwsState(KEY, 1, 1, 1, leaders=(leader,), pause=Pause("2", 2))
    with_state = assemble(KEY, 100.0, leaders, {}, state)
    assert isinstance(with_state, LwsSnapshot)
    assert with_state.pause == Pause("2", 2)
    # Counts from a recording: no annotations, so no pause.
    recorded = assemble(KEY, 100.0, leaders, {}, None, replicas=(1, 1, 1))
    assert isinstance(recorded, LwsSnapshot)
    assert recorded.pause is None


def test_wake_threshold_needs_scale_to_zero_with_an_activation_query() -> None:
    woken = factories.target("inference", "llama", activation="sum(rate(gateway_requests[1m]))")
    assert wake_threshold(woken) == 0.0  # the schema's default threshold
    assert wake_threshold(factories.target("inference", "llama")) is None
    # An activation query kept in a policy with scale-to-zero switched off: no wake.
    spec = woken.policy.spec
    off = spec.scale_to_zero.model_copy(update={"enabled": False})
    disabled = woken.policy.model_copy(
        update={"spec": spec.model_copy(update={"scale_to_zero": off})}
    )
    assert wake_threshold(Target(disabled)) is None


@pytest.mark.parametrize(
    ("activation", "wake_above", "woken"),
    [
        (3.0, 0.0, True),  # traffic is waiting: the LWS is at zero, so wake it
        (0.0, 0.0, False),  # at the threshold: never "at zero" from absent series
        (0.5, 1.0, False),
        (None, 0.0, False),  # no activation reading
        (3.0, None, False),  # no scale-to-zero policy
    ],
)
def test_no_leader_and_no_cluster_wakes_only_above_the_activation_threshold(
    activation: float | None, wake_above: float | None, woken: bool
) -> None:
    aggregates = {} if activation is None else {Signal.ACTIVATION: Sample(activation, 100.0)}
    snapshot = assemble(KEY, 100.0, {}, aggregates, None, wake_above=wake_above)
    if woken:
        assert isinstance(snapshot, LwsSnapshot)
        counts = (snapshot.spec_replicas, snapshot.status_replicas, snapshot.ready_replicas)
        assert counts == (0, 0, 0)
        assert snapshot.aggregates == aggregates
    else:
        assert isinstance(snapshot, str)
        assert "no leader of LWS inference/llama reported any series" in snapshot


def test_the_cluster_state_keeps_only_live_leaders_that_report() -> None:
    sample = {Signal.QUEUE_DEPTH: Sample(3.0, 100.0)}
    leaders = {"llama-0": sample, "llama-1": {}, "llama-old": sample}
    live = (LeaderPod("llama-0", 0, ready=True), LeaderPod("llama-1", 1, ready=True))
    state = LwsState(KEY, 2, 2, 2, leaders=live)
    snapshot = assemble(KEY, 100.0, leaders, {}, state)
    assert isinstance(snapshot, LwsSnapshot)
    # llama-old is a deleted pod's series; llama-1 is live but has no samples.
    assert set(snapshot.leaders) == {"llama-0"}
