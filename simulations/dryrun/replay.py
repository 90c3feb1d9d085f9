"""Driving the engine step by step on a manual clock: the code path the server uses.

``decide`` is pure and stateful through the ``EngineState`` it returns; the only
difference between the server and a simulation is who supplies ``now`` and the snapshot.
:class:`EngineDriver` keeps that state between steps; :func:`replay_engine` runs a whole
sequence of snapshots (e.g. a recording replayed as recorded, for comparing the
server's recommendations with the simulator's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from autoscaler.engine import Decision, EngineState, decide
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsKey, LwsSnapshot
from autoscaler.sources.base import SourceResult


class EngineDriver:
    """One policy's engine, advanced by :meth:`step` with an explicit time."""

    def __init__(self, policy: ScalingPolicy, state: EngineState | None = None) -> None:
        self.policy = policy
        self.state = state if state is not None else EngineState()

    def step(self, now: float, snapshot: LwsSnapshot | None) -> Decision:
        decision, self.state = decide(self.policy, snapshot, self.state, now)
        return decision


def replay_engine(
    policy: ScalingPolicy,
    snapshots: Iterable[tuple[float, LwsSnapshot | None]],
    state: EngineState | None = None,
) -> list[Decision]:
    """The decisions ``policy`` makes over ``(now, snapshot)`` pairs, in order."""
    driver = EngineDriver(policy, state)
    return [driver.step(now, snapshot) for now, snapshot in snapshots]


def snapshots_for(
    key: LwsKey, history: Iterable[tuple[float, SourceResult]]
) -> Iterator[tuple[float, LwsSnapshot | None]]:
    """One LWS's snapshots out of ``MetricSource.history``; None where the source failed
    for it (the engine then holds, as the server does)."""
    for now, result in history:
        yield now, (None if key in result.errors else result.snapshots.get(key))
