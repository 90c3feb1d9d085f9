"""The Prometheus source (the production default): one batched query per signal per cycle.

Each cycle runs the queries of :func:`~autoscaler.sources.promql.signal_queries` (one per
signal for all targets sharing engine, model, window and overrides), plus one batched
query for the activation expressions of scale-to-zero policies, then merges the per-leader
series with the cluster state (:mod:`autoscaler.sources.assemble`). Without a cluster
reader, one more query (right after the default ones) finds the leaders whose scrapes
fail (:mod:`autoscaler.sources.down_leaders`): they count as ready groups that do not
report; when it fails, the cycle goes on without it (a warning), as a refinement.

Failure handling: Prometheus down or failing a shared default query raises a
:class:`~autoscaler.errors.SourceError` (the loop holds every target); the default queries
run first, so a dead Prometheus fails the cycle before any per-policy query waits on it.
An *override* or activation expression that fails in any way (rejected, timed out,
Prometheus answering 5xx) only fails the policies that wrote it, in
``SourceResult.errors``: the batched activation query is retried one expression at a
time to find the culprit, for at most one more query timeout. No query is sent later
than ``deadline`` (default twice the client's ``timeout``) after a fetch began, so a
Prometheus answering every query just inside its timeout cannot stretch one fetch to
(queries x timeout); the query then in flight keeps its own timeout, so a fetch ends
within about three timeouts (30 s at the default 10 s, inside the decisions' 45 s
expiry). A query not sent fails as one that timed out: the cycle for a default query,
its policies for an override or activation expression, never as zero. A namespace the
cluster reader could not read fails its targets only. Prometheus answering with no series at all
(leader or activation) for targets that should have some raises :class:`EmptyResultError`,
which almost always means the scrape config does not attach the namespace / LWS / pod
labels this source selects on (see ``docs/sources.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from autoscaler.errors import SourceError, SourceUnavailableError
from autoscaler.policy.model import LATENCY_SIGNALS
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, Sample
from autoscaler.sources.assemble import assemble, wake_threshold
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.cluster import ClusterStateReader, LwsState
from autoscaler.sources.down_leaders import read_down_leaders
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.prometheus_frames import Frame, Points, merge_frames, parse_points
from autoscaler.sources.promql import (
    FIELD_LABEL,
    TARGET_LABEL,
    LabelNames,
    SignalQuery,
    activation_query,
    signal_queries,
)

MAX_POINTS_PER_QUERY = 10_000
"""Prometheus refuses range queries of more than 11,000 points per series."""

Json = dict[str, Any]


class EmptyResultError(SourceError):
    """Prometheus answered, but no query returned a series for any target."""


def chunks(start: float, end: float, step: float) -> Iterator[tuple[float, float]]:
    """``[start, end]`` cut into ranges of at most MAX_POINTS_PER_QUERY evaluation steps.

    A week at 15 s is 40,321 points: chunks of 10,000 points (41h40m) -> 5 range queries
    per expression. Chunks do not overlap: the next starts one step after the last.
    """
    span = step * (MAX_POINTS_PER_QUERY - 1)
    cursor = start
    while cursor <= end:
        last = min(end, cursor + span)
        yield cursor, last
        cursor = last + step


class PrometheusSource:
    """:class:`~autoscaler.sources.base.MetricSource` over a Prometheus HTTP API."""

    name = "prometheus"

    def __init__(
        self,
        client: PrometheusQueryClient,
        cluster: ClusterStateReader | None = None,
        labels: LabelNames | None = None,
        deadline: float | None = None,
    ) -> None:
        """``deadline``: seconds after the start of a fetch past which no query is sent
        (default twice the client's timeout)."""
        if deadline is not None and not deadline > 0:
            raise ValueError(f"deadline must be positive, got {deadline!r}")
        self._client = client
        self._cluster = cluster
        self._labels = labels or LabelNames()
        self.deadline = deadline if deadline is not None else 2 * client.timeout

    # -- parsing ---------------------------------------------------------------------------
    def _absorb(self, query: SignalQuery, points: Points, frames: dict[float, Frame]) -> None:
        wanted = {t.key for t in query.targets}
        signal = query.key.signal
        values: dict[tuple[float, LwsKey, str], float] = {}
        fresh: dict[tuple[float, LwsKey, str], float] = {}
        names = self._labels
        per_lws = signal in LATENCY_SIGNALS  # one quantile per LWS, not per leader
        for metric, t, v in points:
            key = LwsKey(metric.get(names.namespace, ""), metric.get(names.lws, ""))
            if key not in wanted:
                continue
            pod = "" if per_lws else metric.get(names.pod, "")
            if not per_lws and not pod:
                continue
            bucket = fresh if metric.get(FIELD_LABEL) == "timestamp" else values
            bucket[(t, key, pod)] = v
        for (t, key, pod), value in values.items():
            newest = fresh.get((t, key, pod))
            if query.has_freshness and newest is None:
                continue  # the series ended (stale marker): a rate over old samples only
            sample = Sample(value, newest if newest is not None else t)
            frame = frames.setdefault(t, Frame())
            frame.series += 1
            if per_lws:
                frame.aggregates[key][signal] = sample
            else:
                frame.leaders[key][pod][signal] = sample

    def _absorb_activation(
        self, points: Points, index: Mapping[str, LwsKey], frames: dict[float, Frame]
    ) -> None:
        for metric, t, v in points:
            key = index.get(metric.get(TARGET_LABEL, ""))
            if key is not None:
                frame = frames.setdefault(t, Frame())
                frame.aggregates[key][Signal.ACTIVATION] = Sample(v, t)
                frame.series += 1  # an answer too: at zero it is the only one

    # -- querying ----------------------------------------------------------------------------
    def _run(
        self, targets: Sequence[Target], run: Any, shared: Callable[[], None] | None = None
    ) -> tuple[dict[float, Frame], dict[LwsKey, str]]:
        """The queries of one fetch (or one range chunk); ``shared`` runs after the
        default queries and before any per-policy one (the down-leaders query)."""
        frames: dict[float, Frame] = {}
        errors: dict[LwsKey, str] = {}
        queries = signal_queries(targets, self._labels)
        # The shared default queries first: they fail the whole cycle, so a Prometheus that
        # is down does so before any per-policy query has waited on it.
        for query in queries:
            if query.key.override is None:
                self._absorb(query, parse_points(run(query.promql)), frames)
        if shared is not None:
            shared()
        for query in queries:
            if query.key.override is None:
                continue
            try:
                found = parse_points(run(query.promql))
            except SourceError as exc:
                for target in query.targets:
                    errors.setdefault(target.key, f"override for {query.key.signal}: {exc}")
                continue
            self._absorb(query, found, frames)
        self._run_activation(targets, run, frames, errors)
        return frames, errors

    def _run_activation(
        self,
        targets: Sequence[Target],
        run: Any,
        frames: dict[float, Frame],
        errors: dict[LwsKey, str],
    ) -> None:
        """The batched activation query; when it fails, each expression alone (within one
        more query timeout), so only the policies whose expression fails get an error."""
        batched = activation_query(targets)
        if batched is None:
            return
        promql, index = batched
        try:
            self._absorb_activation(parse_points(run(promql)), index, frames)
            return
        except SourceError as exc:
            failed = exc
        owners = [t for t in targets if t.key in index.values()]
        if len(owners) == 1:
            errors.setdefault(owners[0].key, f"activation query: {failed}")
            return
        deadline = time.monotonic() + self._client.timeout
        for target in owners:
            if time.monotonic() >= deadline:
                errors.setdefault(
                    target.key,
                    f"activation query not evaluated: the batched activation query failed "
                    f"({failed}) and retrying each expression alone ran out of time",
                )
                continue
            one, one_index = activation_query([target]) or ("", {})
            try:
                self._absorb_activation(parse_points(run(one)), one_index, frames)
            except SourceError as exc:
                errors.setdefault(target.key, f"activation query: {exc}")

    def _results(
        self,
        targets: Sequence[Target],
        frame: Frame,
        at: float,
        states: Mapping[LwsKey, LwsState] | None,
        errors: Mapping[LwsKey, str],
        down: Mapping[LwsKey, frozenset[str]] | None = None,
    ) -> SourceResult:
        snapshots = {}
        failed = dict(errors)
        for target in targets:
            if target.key in failed:
                continue
            state = None
            if states is not None:
                state = states.get(target.key)
                if state is None:
                    failed[target.key] = f"LeaderWorkerSet {target.key} not found"
                    continue
            built = assemble(
                target.key,
                at,
                frame.leaders.get(target.key, {}),
                frame.aggregates[target.key],
                state,
                wake_above=wake_threshold(target),
                silent=(down or {}).get(target.key, frozenset()),
            )
            if isinstance(built, str):
                failed[target.key] = built
            else:
                snapshots[target.key] = built
        return SourceResult(snapshots, failed)

    def fetch(self, targets: Sequence[Target], now: float) -> SourceResult:
        if not targets:
            return SourceResult()
        states = self._cluster.read([t.key for t in targets]) if self._cluster else None
        unread = dict(states.errors) if states is not None else {}
        live = [t for t in targets if t.key not in unread]
        if not live:
            return SourceResult({}, unread)
        deadline = time.monotonic() + self.deadline

        def run(promql: str) -> list[Json]:
            # 8 queries answered in 9 s each took 72 s at timeout 10; now the third starts
            # at 18 s, the fourth would at 27 s and is not sent (see the module docstring).
            if time.monotonic() >= deadline:
                raise SourceUnavailableError(
                    f"Prometheus at {self._client.url}: query not sent, the fetch ran past "
                    f"its {self.deadline:g}s deadline"
                )
            return self._client.instant(promql, now)

        down: dict[LwsKey, frozenset[str]] = {}

        def ask_down() -> None:  # only without the cluster state, which knows the groups
            down.update(read_down_leaders(live, self._labels, run, self._client.url))

        frames, errors = self._run(live, run, ask_down if states is None else None)
        frame = merge_frames(frames)
        # Leaders that are down answered too: the labels are right, the pods just fail.
        if frame.series == 0 and not down and _expects_series(live, states):
            raise EmptyResultError(
                f"Prometheus at {self._client.url} returned no series for any of "
                f"{len(live)} target(s); check that leader pods are scraped and carry the "
                f"labels {self._labels.by_leader!r} (see docs/sources.md)"
            )
        return self._results(targets, frame, now, states, {**unread, **errors}, down)

    def history(
        self, targets: Sequence[Target], start: float, end: float, step: float
    ) -> Iterator[tuple[float, SourceResult]]:
        """Range queries (chunked under the points limit). Past cluster states are not
        known, so replica counts are those of the reporting leaders."""
        for lo, hi in chunks(start, end, step):
            frames, errors = self._run(
                targets, lambda q, a=lo, b=hi: self._client.range(q, a, b, step)
            )
            steps = round((hi - lo) / step) + 1
            for i in range(steps):
                t = float(round(lo) + i * step)
                yield t, self._results(targets, frames.get(t, Frame()), t, None, errors)

    def close(self) -> None:
        self._client.close()


def _expects_series(targets: Sequence[Target], states: Mapping[LwsKey, LwsState] | None) -> bool:
    if states is None:
        return True
    return any(s.ready_replicas > 0 for s in states.values())


__all__ = ["EmptyResultError", "PrometheusSource", "chunks"]
