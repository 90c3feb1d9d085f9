"""The decision store: the latest Decision per LWS, written by the loop, read by requests.

The control loop publishes a whole cycle at once; the store builds a new immutable
index (per ``(namespace, metric)`` the series, per LWS the decision) and swaps one
reference. Readers never take a lock and never see half a cycle; no request ever
queries a metric backend.

Staleness: a series whose decision is older than ``max_age`` seconds (by default three
cycles) is *stale*. The API then answers 503 ``ServiceUnavailable`` instead of an old
value, and ``/readyz`` fails, because the HPA treats any error as "hold the current size"
(see docs/api.md). A fresh-but-wrong value would instead make it scale.

Publishing never raises for one bad value: a series that cannot be rendered (or a
decision whose series cannot be listed) is logged and left out, so that LWS's series go
absent while every other LWS is published as usual.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

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
    ) -> None:
        """Replace the whole content with one cycle's decisions; ``source_ok`` says
        whether the source answered this cycle (readiness needs one that did)."""
        by_metric: dict[tuple[str, str], list[Series]] = defaultdict(list)
        stored: dict[LwsKey, StoredDecision] = {}
        for policy, decision in decisions:
            stored[decision.key] = StoredDecision(policy, decision)
            try:
                specs: list[SeriesSpec] = list(series_specs(policy, decision))
            except Exception:  # a bug for one decision must not blank every LWS
                log.exception("cannot list the series of %s; leaving them out", decision.key)
                continue
            for spec in specs:
                try:
                    series = spec.render(decision)
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
        """Older than ``max_age``, or dated more than ``max_age`` ahead of ``now``: after
        the wall clock steps back an hour, a decision stamped an hour ahead is not fresh
        for that hour, it is one nobody can date."""
        age = now - decided_at
        return age > self.max_age or age < -self.max_age
