"""Snapshots and samples for the dry-run loop, built from parts that are already frozen.

``LwsSnapshot.__post_init__`` copies every leader's mapping into a fresh read-only proxy
(the snapshot must not change when its builder's dicts do), and frozen dataclasses set
each field through ``object.__setattr__``. For 40,320 steps with up to a dozen simulated
leaders that was a fifth of the dry-run loop, and none of it is needed here: every
simulated leader of a step reports the same mapping, which the loop wraps in one
``MappingProxyType`` and never mutates (:class:`~simulations.dryrun.load.Redistributor`
keeps each step's dict private). So these builders fill the instances directly, with
the same field values and the same read-only mapping types ``__post_init__`` would give,
so they compare equal to snapshots built the ordinary way.

A guard keeps this honest if the dataclasses change: when the fields are not exactly
the ones filled here, the ordinary constructors are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsKey, LwsSnapshot, Sample

_SNAPSHOT_FIELDS = (
    "key",
    "observed_at",
    "spec_replicas",
    "status_replicas",
    "ready_replicas",
    "groups",
    "leaders",
    "aggregates",
)
_DIRECT = tuple(f.name for f in fields(LwsSnapshot)) == _SNAPSHOT_FIELDS and tuple(
    f.name for f in fields(Sample)
) == ("value", "timestamp")
_new = object.__new__

LeaderView = Mapping[Signal, Sample]
"""One leader's samples, read-only (a ``MappingProxyType``)."""


def sample(value: float, timestamp: float) -> Sample:
    """``Sample(value, timestamp)``."""
    if not _DIRECT:
        return Sample(value, timestamp)
    built: Sample = _new(Sample)
    fields = built.__dict__
    fields["value"] = value
    fields["timestamp"] = timestamp
    return built


def snapshot(
    key: LwsKey,
    now: float,
    spec_replicas: int,
    status_replicas: int,
    ready_replicas: int,
    groups: tuple[GroupStatus, ...],
    leaders: Mapping[str, LeaderView],
    aggregates: Mapping[Signal, Sample],
) -> LwsSnapshot:
    """An ``LwsSnapshot`` over ``leaders`` (a ``MappingProxyType`` of ``LeaderView``) and
    ``aggregates`` (a ``MappingProxyType``), taken as they are: nobody may mutate what
    they wrap."""
    if not _DIRECT:
        return LwsSnapshot(
            key, now, spec_replicas, status_replicas, ready_replicas, groups, leaders, aggregates
        )
    built: LwsSnapshot = _new(LwsSnapshot)
    fields = built.__dict__
    fields["key"] = key
    fields["observed_at"] = now
    fields["spec_replicas"] = spec_replicas
    fields["status_replicas"] = status_replicas
    fields["ready_replicas"] = ready_replicas
    fields["groups"] = groups
    fields["leaders"] = leaders
    fields["aggregates"] = aggregates
    return built
