"""Leader election for actuation: with several server replicas, one relabels leaders.

Every replica decides and answers the external metrics API (with ``source.type:
prometheus`` they decide the same); only relabelling draining leaders
(``scaleDown.drain``) is an action on the cluster, and two replicas that disagree (the
``scrape`` source, a replica still warming up) would label a leader out and back in,
cycle after cycle. So the replicas hold a ``coordination.k8s.io/v1`` Lease, as
kube-controller-manager's do, and only its holder relabels.

As client-go's ``leaderelection``: the lease's times are written for people reading it;
expiry is judged by when *this* process saw the record last change, on its own
monotonic clock read right after the read, so clocks that disagree between nodes, a
wall-clock step, or a cycle that starts late (the loop's ``now`` is the tick the cycle
belongs to, not the moment of the read) cannot make two holders. A replica takes the
lease over when the record has not changed for ``leaseDurationSeconds``; the holder
renews it every cycle. Every failure (the API unreachable, a write that lost a race)
counts as "not the leader this cycle": the safe answer, as an unled cycle only defers
relabelling to the next one.

Worked numbers: a 15 s cycle and a 45 s lease. The holder renews at 0, 15, 30; it
dies at 31. The other replica last saw a change at 30 (it reads at its own 15 s
ticks), so it takes over at its first tick at or after 75: about three cycles without
relabelling, and never two holders. If its read at 30 came just before the renewal, it
first sees that renewal at 45 and takes over at 90.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseRecord:
    """``spec`` of a Lease, and the ``resourceVersion`` it was read at."""

    holder: str
    duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int
    resource_version: str = ""


class LeaseStore(Protocol):
    """One Lease object. Methods raise on failures other than those they return."""

    def get(self) -> LeaseRecord | None:
        """The lease, or None when it does not exist."""
        ...

    def create(self, record: LeaseRecord) -> bool:
        """Create it; False when another process created it first."""
        ...

    def update(self, record: LeaseRecord) -> bool:
        """Replace it if unchanged since ``record.resource_version``; False otherwise."""
        ...


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class LeaderElector:
    """``leads(now)`` once per control-loop cycle, before acting on the cluster."""

    def __init__(
        self,
        store: LeaseStore,
        identity: str,
        duration_seconds: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``monotonic``: seconds on a clock that never jumps, read when the lease is
        observed; only differences of it matter."""
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        if duration_seconds < 1:
            raise ValueError("the lease must last at least 1s")
        self.store, self.identity, self.duration = store, identity, duration_seconds
        self._monotonic = monotonic
        self._observed: tuple[str, str] | None = None  # (holder, resourceVersion) last seen
        self._observed_at = 0.0
        self._leading = False

    def leads(self, now: float) -> bool:
        """Acquire or renew the lease; whether this process holds it for this cycle.
        ``now`` (the loop's clock) is only written into the lease's times."""
        try:
            leading = self._try(now)
        except Exception as exc:  # any failure means "not the leader this cycle"
            log.warning("leader election: cannot read or write the lease: %s", exc)
            leading = False
        if leading != self._leading:
            log.info(
                "leader election: %s %s",
                self.identity,
                "now holds the lease" if leading else "no longer holds the lease",
            )
            self._leading = leading
        return leading

    def release(self, now: float) -> None:
        """Give the lease up (at shutdown), so that another replica takes it at its next
        cycle rather than one lease duration later. Best effort: a failure only means
        the lease lapses by itself. Also after a failed renewal: the Lease may still name
        this process, and only that is checked."""
        self._leading = False
        try:
            current = self.store.get()
            if current is None or current.holder != self.identity:
                return
            released = LeaseRecord(
                holder="",
                duration_seconds=current.duration_seconds or self.duration,
                acquire_time=current.acquire_time,
                renew_time=_stamp(now),
                transitions=current.transitions,
                resource_version=current.resource_version,
            )
            if self.store.update(released):
                log.info("leader election: %s released the lease", self.identity)
        except Exception as exc:  # it lapses by itself
            log.warning("leader election: cannot release the lease: %s", exc)

    def _try(self, now: float) -> bool:
        current = self.store.get()
        observed_at = self._monotonic()
        if current is None:
            return self.store.create(self._record(now, now, 0))
        seen = (current.holder, current.resource_version)
        if seen != self._observed:
            self._observed, self._observed_at = seen, observed_at
        if current.holder == self.identity:
            renewed = self._record(
                current.acquire_time.timestamp() if current.acquire_time else now,
                now,
                current.transitions,
                current.resource_version,
            )
            return self.store.update(renewed)
        if current.holder and observed_at < self._observed_at + current.duration_seconds:
            return False  # held, and renewed within its duration as far as we saw
        taken = self._record(now, now, current.transitions + 1, current.resource_version)
        # False when another replica wrote first: it leads this cycle.
        return self.store.update(taken)

    def _record(
        self, acquired: float, renewed: float, transitions: int, version: str = ""
    ) -> LeaseRecord:
        return LeaseRecord(
            holder=self.identity,
            duration_seconds=self.duration,
            acquire_time=_stamp(acquired),
            renew_time=_stamp(renewed),
            transitions=transitions,
            resource_version=version,
        )
