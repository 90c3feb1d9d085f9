"""A LeaderWorkerSet as the HPA and the engine see it: groups created, starting, ready.

Scaling follows the LWS controller: ``spec.replicas`` is the number of groups; a scale-up
creates groups with the next indices, each becoming ready after a cold start drawn from
:class:`ColdStartModel`; a scale-down deletes the highest indices first, ready or not
(capacity and cost stop at once: termination grace is not modelled).

What the model exposes maps onto the real objects:

- ``spec_replicas``  -> ``LeaderWorkerSet.spec.replicas`` (what the HPA writes);
- ``status_replicas`` -> ``status.replicas``: groups created, ready or not (the HPA's
  AverageValue divisor);
- ``ready_replicas`` -> ``status.readyReplicas`` (leaders are assumed Ready together with
  their workers, so this is also the HPA's ready-pod count on the Value path);
- ``groups(now)`` -> :class:`~autoscaler.snapshot.GroupStatus` tuples for an
  :class:`~autoscaler.snapshot.LwsSnapshot`.

Time only moves forward: every query takes ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autoscaler.snapshot import GroupStatus

# Groups present when a simulation starts are treated as long-running: ready this long
# before the first step, and created at the same instant so no cold start is learned
# from them.
_INITIAL_AGE = 86_400.0


@dataclass(frozen=True)
class ColdStartModel:
    """How long a new group takes from creation to ready, in seconds.

    ``spread`` 0 gives a fixed ``median``; otherwise a log-normal with that median and
    ``spread`` as the sigma of its logarithm (0.25 puts ~95% of starts within a factor
    e^(±0.5) ≈ 0.61-1.65 of the median), truncated below at ``minimum``.
    ``schedule_delay`` is the time a created group waits before it starts (Pending pods).
    """

    median: float
    spread: float = 0.0
    minimum: float = 1.0
    schedule_delay: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.median) and self.median >= 0):
            raise ValueError(f"cold-start median must be >= 0 seconds, got {self.median}")
        if not (math.isfinite(self.spread) and self.spread >= 0):
            raise ValueError(f"cold-start spread must be >= 0, got {self.spread}")
        if self.schedule_delay < 0:
            raise ValueError("schedule delay must be >= 0")

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` start durations (creation -> ready), scheduling delay included."""
        if self.spread == 0 or self.median == 0:
            starts = np.full(count, self.median, dtype=float)
        else:
            starts = np.asarray(rng.lognormal(math.log(self.median), self.spread, size=count))
        out: np.ndarray = np.maximum(starts, self.minimum) + self.schedule_delay
        return out


@dataclass
class _Group:
    index: int
    created_at: float
    ready_at: float  # planned; the group is ready once now >= ready_at
    status: GroupStatus | None = None  # cached once ready (immutable from then on)


class LwsModel:
    """One simulated LWS. ``rng`` is the only source of randomness (seed it)."""

    def __init__(
        self,
        cold_start: ColdStartModel,
        rng: np.random.Generator,
        initial_replicas: int = 0,
        now: float = 0.0,
    ) -> None:
        if initial_replicas < 0:
            raise ValueError("initial replicas must be >= 0")
        self.cold_start = cold_start
        self._rng = rng
        self._spec = initial_replicas
        born = now - _INITIAL_AGE
        self._groups = [_Group(i, born, born) for i in range(initial_replicas)]
        self._cache_key: tuple[float, int] | None = None
        self._ready_count, self._ready_from = 0, -math.inf
        self._ready_until: float | None = None
        self._cache: tuple[GroupStatus, ...] = ()
        self.scale_ups = 0
        self.scale_downs = 0

    @property
    def spec_replicas(self) -> int:
        return self._spec

    @property
    def status_replicas(self) -> int:
        return len(self._groups)

    def ready_replicas(self, now: float) -> int:
        # Fast path: nothing became ready since the last call (the common case per step).
        if self._ready_until is not None and self._ready_from <= now < self._ready_until:
            return self._ready_count
        pending = sorted(g.ready_at for g in self._groups if g.ready_at > now)
        self._ready_count = len(self._groups) - len(pending)
        self._ready_from = now
        self._ready_until = pending[0] if pending else math.inf
        return self._ready_count

    def starting_replicas(self, now: float) -> int:
        return self.status_replicas - self.ready_replicas(now)

    def scale(self, replicas: int, now: float) -> None:
        """Set ``spec.replicas``: create the missing groups or delete the highest ones."""
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0, got {replicas}")
        current = len(self._groups)
        if replicas > current:
            starts = self.cold_start.sample(self._rng, replicas - current)
            for offset, duration in enumerate(starts):
                self._groups.append(_Group(current + offset, now, now + float(duration)))
            self.scale_ups += 1
        elif replicas < current:
            del self._groups[replicas:]
            self.scale_downs += 1
        self._spec = replicas
        self._cache_key = None
        self._ready_until = None

    def groups(self, now: float) -> tuple[GroupStatus, ...]:
        """Every group, ``ready_at`` None while it is still starting."""
        ready = self.ready_replicas(now)
        key = (float(ready), len(self._groups))
        if key == self._cache_key:
            return self._cache
        statuses = []
        for g in self._groups:
            if g.ready_at <= now:
                if g.status is None:
                    g.status = GroupStatus(g.index, g.created_at, g.ready_at)
                statuses.append(g.status)
            else:
                statuses.append(GroupStatus(g.index, g.created_at, None))
        self._cache_key, self._cache = key, tuple(statuses)
        return self._cache
