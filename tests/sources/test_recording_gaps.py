"""What a recording says where it has little to say: a step with neither a replica count
nor a reporting leader is no data (not "0 replicas"), and an LWS recorded only through
its activation series is still one of the recording's LWS."""

from __future__ import annotations

import math

import numpy as np

from autoscaler.snapshot import LwsKey
from autoscaler.sources.recording import RecordingSource
from autoscaler.sources.recording_format import RecordedTarget, Recording, Series
from tests.sources.factories import target

KEY = LwsKey("inference", "llama")
START, STEP = 1_800_000_000.0, 15.0
LWS = {"namespace": "inference", "leaderworkerset_sigs_k8s_io_name": "llama"}


def _series(name: str, values: list[float | None], **labels: str) -> Series:
    points = [(START + i * STEP, v) for i, v in enumerate(values) if v is not None]
    return Series({"__name__": name, **LWS, **labels}, points)


def _source(*series: Series, steps: int = 4) -> RecordingSource:
    end = START + (steps - 1) * STEP
    return RecordingSource(recording=Recording(START, end, STEP, targets=(), series=list(series)))


def test_a_step_without_count_or_leader_has_no_replica_count() -> None:
    """Steps 0-1: nothing; steps 2-3: a count of 3 and one leader. The first two steps
    used to hold 0 replicas (the leader count, 0), and replay as a 0-group LWS."""
    source = _source(
        _series("lws:spec_replicas", [None, None, 3, 3]),
        _series("lws:status_replicas", [None, None, 3, 3]),
        _series("lws:ready_replicas", [None, None, 3, 3]),
        _series("vllm:num_requests_waiting", [None, None, 5, 5], pod="llama-0"),
    )
    tgt = target("inference", "llama")
    spec, status, ready = source.arrays(tgt).replicas
    for counts in (spec, status, ready):
        np.testing.assert_array_equal(counts, [math.nan, math.nan, 3, 3])
    assert KEY in source.fetch([tgt], START).errors  # a gap, not a 0-group snapshot
    assert source.fetch([tgt], START + 2 * STEP).snapshots[KEY].spec_replicas == 3


def test_without_replica_series_a_silent_step_has_no_count() -> None:
    source = _source(_series("vllm:num_requests_waiting", [4, None, 4, 4], pod="llama-0"))
    spec, _, _ = source.arrays(target("inference", "llama")).replicas
    np.testing.assert_array_equal(spec, [1, math.nan, 1, 1])


def test_an_lws_recorded_only_through_its_activation_is_in_the_recording() -> None:
    """A parked LWS has no leader and no replica series: it was reported as absent, and
    its scale-to-zero policy skipped ("not in the recording") instead of woken."""
    source = _source(_series("lws:activation", [0, 0, 2, 2]))
    assert source.keys == (KEY,)
    recording = Recording(START, START, STEP, targets=(RecordedTarget(KEY),), series=[])
    assert RecordingSource(recording=recording).keys == ()
