"""``simulations.dryrun.frozen`` builds snapshots without their constructors (speed):
they must be indistinguishable from ones built the ordinary way."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsKey, LwsSnapshot, Sample
from simulations.dryrun import frozen


def test_sample_equals_the_constructed_one() -> None:
    built = frozen.sample(2.5, 100.0)
    assert built == Sample(2.5, 100.0)
    assert hash(built) == hash(Sample(2.5, 100.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.value = 3.0  # type: ignore[misc]


def test_snapshot_equals_the_constructed_one() -> None:
    leader = MappingProxyType({Signal.QUEUE_DEPTH: Sample(4.0, 99.0)})
    leaders = MappingProxyType({"0": leader, "1": leader})
    aggregates = MappingProxyType({Signal.TTFT: Sample(0.8, 99.0)})
    groups = (GroupStatus(0, 10.0, 50.0), GroupStatus(1, 60.0))
    key = LwsKey("ns", "lws")
    built = frozen.snapshot(key, 100.0, 2, 2, 1, groups, leaders, aggregates)
    ordinary = LwsSnapshot(key, 100.0, 2, 2, 1, groups, leaders, aggregates)
    assert built == ordinary
    assert built.starting_replicas == ordinary.starting_replicas == 1
    assert isinstance(built.leaders, MappingProxyType)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.spec_replicas = 3  # type: ignore[misc]
