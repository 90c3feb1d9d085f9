"""Snapshots from leader samples and replica counts without the cluster (a recording)."""

from __future__ import annotations

from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Pause, Sample
from autoscaler.sources.assemble import assemble
from autoscaler.sources.cluster import LeaderPod, LwsState

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
