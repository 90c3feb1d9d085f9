"""The decision store: the latest Decision per LWS, written by the loop, read by requests.

The control loop publishes a whole cycle at once; the store builds a new immutable
index (per ``(namespace, metric)`` the series, per LWS the decision) and swaps one
reference. Readers never take a lock and never see half a cycle; no request ever
queries a metric backend.

Staleness: a series whose decision is older than ``max_age`` seconds (by default three
cycles) is *stale*. The API then answers 503 ``ServiceUnavailable`` instead of an old
value, and ``/readyz`` fails, because the HPA treats any error as "hold the current size"
(see docs/api.md). A fresh-but-wrong value would instead make it scale.

A decision is dated by its cycle's tick, but published when the cycle ends; the time in
between (the cycle's *lateness*) is added to the max age. Without it, a loop that still
cycles went stale whenever cycles ran long: with a 15 s cycle and a slow Prometheus
taking 23 s a fetch, the decision of tick 15 is published at 46 and replaced at 69, 54 s
after its tick, so every replica answered 503 and failed ``/readyz`` for part of every
cycle (the APIService then goes unavailable cluster-wide). With the lateness, 31 s, that
decision is stale only past 15 + 45 + 31 = 91: a loop whose cycles each end within the
max age is never stale, one that stops is stale a max age after its last publication.

Publishing never raises for one bad value: a series that cannot be rendered (or a
decision whose series cannot be listed) is logged and left out, so that LWS's series go
absent while every other LWS is published as usual.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from autoscaler.durations import format_duration
from autoscaler.engine.decision import Decision
from autoscaler.policy.model import ScalingPolicy
from autoscaler.server.series import Series, SeriesSpec, series_specs
from autoscaler.snapshot import LwsKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredDecision:
    policy: ScalingPolicy
    decision: Decision


@dataclass(frozen=True)
class _Index:
    series: Mapping[tuple[str, str], tuple[Series, ...]] = field(default_factory=dict)
    decisions: Mapping[LwsKey, StoredDecision] = field(default_factory=dict)
    published_at: float | None = None
    lateness: float = 0.0
    source_ok_at: float | None = None
    first_published_at: float | None = None


class DecisionStore:
    """Latest decisions and their series; single writer (the loop), many readers."""

    def __init__(self, max_age: float) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        self.max_age = max_age
        self._index = _Index()

    def publish(
        self,
        decisions: Iterable[tuple[ScalingPolicy, Decision]],
        published_at: float,
        source_ok: bool = True,
        finished_at: float | None = None,
    ) -> None:
        """Replace the whole content with one cycle's decisions; ``source_ok`` says
        whether the source answered this cycle (readiness needs one that did).

        ``published_at`` is the cycle's tick, ``finished_at`` the loop clock's time as it
        publishes (default: the tick). Their difference, the cycle's lateness, is capped
        at 1.5 max ages: a clock stepped forward an hour mid-cycle must not keep a value
        fresh for an hour after the loop stops. A cycle that runs within the max age is
        never later than that: it starts up to one cycle after its tick (an overrun
        resumes on the tick before), and a cycle is at most half the max age (45 s and
        15 s by default: 44 s of run time + 15 s = 59 s <= 67.5 s).
        """
        lateness = 0.0 if finished_at is None else finished_at - published_at
        lateness = min(max(lateness, 0.0), 1.5 * self.max_age)
        by_metric: dict[tuple[str, str], list[Series]] = defaultdict(list)
        stored: dict[LwsKey, StoredDecision] = {}
        listed: list[tuple[Decision, SeriesSpec]] = []
        for policy, decision in decisions:
            stored[decision.key] = StoredDecision(policy, decision)
            try:
                listed += [(decision, spec) for spec in series_specs(policy, decision)]
            except Exception:  # a bug for one decision must not blank every LWS
                log.exception("cannot list the series of %s; leaving them out", decision.key)
        # One answer may sum every series of a metric in a namespace (no selector).
        sharing = Counter((d.key.namespace, spec.metric) for d, spec in listed)
        for decision, spec in listed:
            try:
                series = spec.render(decision, sharing[(decision.key.namespace, spec.metric)])
            except Exception:  # e.g. a value no Quantity can carry
                log.exception(
                    "cannot publish %s=%r for %s; leaving it out",
                    spec.metric,
                    spec.value,
                    decision.key,
                )
                continue
            by_metric[(series.namespace, series.metric)].append(series)
        self._index = _Index(
            series=MappingProxyType({k: tuple(v) for k, v in by_metric.items()}),
            decisions=MappingProxyType(stored),
            published_at=published_at,
            lateness=lateness,
            source_ok_at=published_at if source_ok else self._index.source_ok_at,
            first_published_at=(
                published_at
                if self._index.first_published_at is None
                else self._index.first_published_at
            ),
        )

    @property
    def published_at(self) -> float | None:
        """Time (loop clock) of the last published cycle; None before the first."""
        return self._index.published_at

    @property
    def lateness(self) -> float:
        """Seconds the last published cycle ended after its tick (0 to 1.5 ``max_age``)."""
        return self._index.lateness

    @property
    def first_published_at(self) -> float | None:
        """Time of the first published cycle, with or without source data."""
        return self._index.first_published_at

    @property
    def source_ok_at(self) -> float | None:
        """Time of the last cycle whose source fetch succeeded; None if none has."""
        return self._index.source_ok_at

    def series(self, namespace: str, metric: str) -> Sequence[Series]:
        return self._index.series.get((namespace, metric), ())

    def decision(self, key: LwsKey) -> StoredDecision | None:
        return self._index.decisions.get(key)

    def decisions(self) -> list[StoredDecision]:
        return sorted(self._index.decisions.values(), key=lambda s: s.decision.key)

    def is_stale(self, decided_at: float, now: float) -> bool:
        """Older than ``max_age`` plus the last cycle's lateness, or dated more than
        ``max_age`` ahead of ``now``: after the wall clock steps back an hour, a decision
        stamped an hour ahead is not fresh for that hour, it is one nobody can date.

        A decision the loop keeps publishing with its own older time (its engine failed)
        gets the same allowance as the fresh ones beside it."""
        age = now - decided_at
        return age > self.max_age + self.lateness or age < -self.max_age

    def describe_max_age(self) -> str:
        """The limit as errors state it: ``max age 45s``, with the last cycle's lateness
        when it adds to it (``max age 45s + 31s the last cycle ran past its tick``)."""
        text = f"max age {format_duration(self.max_age)}"
        if self.lateness >= 1:
            text += f" + {format_duration(self.lateness)} the last cycle ran past its tick"
        return text
