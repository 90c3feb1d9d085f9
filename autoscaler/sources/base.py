"""The one interface every metric source implements (Prometheus, direct scrape, recording).

A source turns the policies' targets into one :class:`~autoscaler.snapshot.LwsSnapshot`
per LWS for a given instant. It raises :class:`~autoscaler.errors.SourceError` when the
whole backend failed (the loop then feeds the engine ``None`` snapshots, which hold);
problems that concern one target only go into ``SourceResult.errors`` so the other
targets still get their data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsKey, LwsSnapshot


@dataclass(frozen=True)
class Target:
    """One LWS to observe, with the policy that says which signals and how."""

    policy: ScalingPolicy

    @property
    def key(self) -> LwsKey:
        target = self.policy.spec.target
        return LwsKey(target.namespace, target.name)


@dataclass(frozen=True)
class SourceResult:
    """Snapshots for the targets that could be observed; a message for those that could not."""

    snapshots: Mapping[LwsKey, LwsSnapshot] = field(default_factory=dict)
    errors: Mapping[LwsKey, str] = field(default_factory=dict)


class MetricSource(Protocol):
    """A backend that can say what the targets looked like at an instant."""

    name: str

    def fetch(self, targets: Sequence[Target], now: float) -> SourceResult:
        """Observe every target as of ``now`` (Unix seconds). One batch per signal, never
        one request per target. Raises SourceError if the backend is unusable."""
        ...

    def history(
        self, targets: Sequence[Target], start: float, end: float, step: float
    ) -> Iterator[tuple[float, SourceResult]]:
        """Snapshots at ``start, start+step, ... <= end``: used to rebuild engine state on
        start-up (restart safety) and by the dry-run simulator."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...
