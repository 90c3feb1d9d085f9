"""Snapshots and samples for the dry-run loop, built from parts that are already frozen.

``LwsSnapshot.__post_init__`` copies every leader's mapping into a fresh read-only proxy
(the snapshot must not change when its builder's dicts do), and frozen dataclasses set
each field through ``object.__setattr__``. For 40,320 steps with up to a dozen simulated
leaders that was a fifth of the dry-run loop, and none of it is needed here: every
simulated leader of a step reports the same mapping, which the loop wraps in one
``MappingProxyType`` and never mutates (:class:`~simulations.dryrun.load.Redistributor`
keeps each step's dict private). So these builders fill the instances directly
(:func:`autoscaler.fastbuild.fast_constructor`, fields in declaration order), with the
same read-only mapping types ``__post_init__`` would give, so they compare equal to
snapshots built the ordinary way.
"""

from __future__ import annotations

from collections.abc import Mapping

from autoscaler.fastbuild import fast_constructor
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsKey, LwsSnapshot, Sample

LeaderView = Mapping[Signal, Sample]
"""One leader's samples, read-only (a ``MappingProxyType``)."""

_sample = fast_constructor(Sample)
# __post_init__ only wraps the mappings read-only; callers pass them wrapped already.
_snapshot = fast_constructor(LwsSnapshot, skip_post_init=True)


def sample(value: float, timestamp: float) -> Sample:
    """``Sample(value, timestamp)``."""
    return _sample(value, timestamp)


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
    they wrap. No pause: a recording carries no cluster annotations."""
    return _snapshot(
        key, now, spec_replicas, status_replicas, ready_replicas, groups, leaders, aggregates, None
    )
