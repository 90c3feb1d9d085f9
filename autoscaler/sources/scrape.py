"""The direct-scrape source: reads the leader pods' ``/metrics`` itself, no Prometheus.

Each ``fetch`` scrapes every leader concurrently (one thread per request up to
``concurrency``), parses the bodies with ``prometheus_client``
(:mod:`autoscaler.sources.exposition`), and keeps a short history of raw readings per pod
(:mod:`autoscaler.sources.pod_history`), each with the time its page came. Gauges are
the newest reading; token rates and latency quantiles come from the readings inside the
policy's ``rateWindow`` (:mod:`autoscaler.sources.derive`), so the first cycle after
start-up has no rates yet (missing, not zero). Counter resets (a restarted pod)
count as restarts from zero, per data-parallel engine (rates are taken per engine, then
summed, so one engine restarting alone is its own reset); a pod that disappears from
discovery loses its history, and one that fails a scrape keeps its last readings, whose
timestamps then age into "stale".

Leaders come from the cluster reader (``worker-index`` 0 pods with an IP, scraped at
``http://IP:port/path`` as the policy's ``metrics.scrape`` says: vLLM's 8000 and
``/metrics`` by default) or from a fixed ``endpoints`` map (tests, static setups).

Bounds (:mod:`autoscaler.sources.pages`): ``timeout`` bounds connecting and each wait
for data; ``deadline`` (default twice ``timeout``) bounds the whole of a fetch's scrapes,
wall clock: a pod still answering then (a hung one, one that trickles its page) counts as
a failed scrape of that pod, and is not scraped again while that scrape still holds its
thread. A page is read up to ``max_body_bytes`` (16 MiB; a data-parallel-8 vLLM page is
about 2,600 lines, a few hundred KiB). Pods whose scrape failed are logged once per
fetch, a few by name.

A reading older than the pod's last one (the wall clock stepped back) restarts that
pod's history: rates over readings out of order would be wrong (a counter growing
100/s read 500/s after a 60 s step back).

Scale-to-zero: ``scaleToZero.activation`` is a PromQL query (usually on a gateway), which
this source cannot evaluate. A policy with one gets an error for its target every cycle,
so the engine holds instead of taking the LWS to zero, where it would never see the
activation that should wake it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import requests

from autoscaler.errors import SourceError, SourceUnavailableError
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.cluster import ClusterStateReader, LwsState
from autoscaler.sources.exposition import parse_exposition
from autoscaler.sources.pages import MAX_BODY_BYTES, PageFetcher
from autoscaler.sources.pod_history import PodHistory, snapshot_from_histories

log = logging.getLogger(__name__)

# Readings older than this are dropped whatever the windows (bounds memory per pod).
_MAX_HISTORY_SECONDS = 3600.0
_NAMED_FAILURES = 3  # pods named in the per-fetch warning
ACTIVATION_UNSUPPORTED = (
    "scaleToZero.activation is a PromQL query, which the scrape source cannot evaluate: "
    "use --source prometheus, or turn scale-to-zero off for this policy"
)


def needs_prometheus(target: Target) -> str | None:
    """Why the scrape source cannot serve ``target``, or None when it can."""
    zero = target.policy.spec.scale_to_zero
    if zero.enabled and zero.activation is not None:
        return ACTIVATION_UNSUPPORTED
    overrides = target.policy.spec.metrics.overrides
    if overrides:
        # Dropped without a word, the policy would scale on other numbers than it says.
        names = ", ".join(sorted(overrides))
        return (
            f"metrics.overrides ({names}) are PromQL, which the scrape source cannot "
            "evaluate: use --source prometheus, or remove them"
        )
    return None


class DirectScrapeSource:
    """:class:`~autoscaler.sources.base.MetricSource` scraping leader pods directly."""

    name = "scrape"

    def __init__(
        self,
        cluster: ClusterStateReader | None = None,
        endpoints: Mapping[LwsKey, Mapping[str, str]] | None = None,
        *,
        timeout: float = 2.0,
        concurrency: int = 16,
        session: requests.Session | None = None,
        deadline: float | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cluster is None and endpoints is None:
            raise ValueError("DirectScrapeSource needs a cluster reader or fixed endpoints")
        if timeout <= 0 or (deadline is not None and deadline <= 0) or max_body_bytes <= 0:
            raise ValueError("timeout, deadline and max_body_bytes must be positive")
        self._cluster = cluster
        self._endpoints = endpoints
        self._pages: PageFetcher[tuple[LwsKey, str]] = PageFetcher(
            timeout=timeout,
            deadline=deadline if deadline is not None else 2 * timeout,
            max_body_bytes=max_body_bytes,
            concurrency=concurrency,
            session=session,
            clock=clock,
        )
        self._history: dict[tuple[LwsKey, str], PodHistory] = {}

    def _urls(
        self, targets: Sequence[Target], states: Mapping[LwsKey, LwsState] | None
    ) -> tuple[dict[tuple[LwsKey, str], str], list[str]]:
        """The URL of each leader with an IP, and why the others named no port."""
        urls: dict[tuple[LwsKey, str], str] = {}
        unnamed: list[str] = []
        for target in targets:
            if self._endpoints is not None:
                for pod, url in self._endpoints.get(target.key, {}).items():
                    urls[(target.key, pod)] = url
                continue
            state = (states or {}).get(target.key)
            where = target.policy.spec.metrics.scrape
            for leader in state.leaders if state else ():
                if not leader.ip:
                    continue
                port = where.port if isinstance(where.port, int) else leader.port_named(where.port)
                if port is None:
                    unnamed.append(
                        f"leader pod {target.key.namespace}/{leader.name} has no container "
                        f"port named {where.port!r}"
                    )
                    continue
                host = f"[{leader.ip}]" if ":" in leader.ip else leader.ip
                urls[(target.key, leader.name)] = f"http://{host}:{port}{where.path}"
        return urls, unnamed

    def fetch(self, targets: Sequence[Target], now: float) -> SourceResult:
        if not targets:
            return SourceResult()
        errors: dict[LwsKey, str] = {}
        for target in targets:
            why = needs_prometheus(target)
            if why is not None:
                errors[target.key] = why
        served = [t for t in targets if t.key not in errors]
        if not served:
            return SourceResult({}, errors)
        states = self._cluster.read([t.key for t in served]) if self._cluster else None
        unread = dict(states.errors) if states is not None else {}
        errors.update(unread)
        served = [t for t in served if t.key not in unread]
        urls, unnamed = self._urls(served, states)
        bodies = self._pages.fetch_all(urls)
        by_key = {t.key: t for t in served}
        keep = max([t.policy.spec.metrics.rate_window for t in served] + [60.0]) * 2
        for pod in list(self._history):
            if pod not in urls and pod[0] not in unread:
                del self._history[pod]  # the pod is gone: its counters mean nothing now
        failures = list(unnamed)
        for pod, page in bodies.items():
            if isinstance(page, SourceError):
                failures.append(str(page))
                continue
            metrics = by_key[pod[0]].policy.spec.metrics
            try:
                reading = parse_exposition(page.text, metrics.engine, metrics.model_name)
            except SourceError as exc:
                failures.append(f"{urls[pod]}: {exc}")
                continue
            self._history.setdefault(pod, PodHistory()).add(
                now, reading, min(keep, _MAX_HISTORY_SECONDS), page.read_at
            )
        tried = len(urls) + len(unnamed)
        if tried and len(failures) == tried:
            raise SourceUnavailableError(f"all {tried} leader scrapes failed; first: {failures[0]}")
        if failures:
            named = "; ".join(failures[:_NAMED_FAILURES])
            more = len(failures) - _NAMED_FAILURES
            log.warning(
                "%d of %d leader scrapes failed: %s%s",
                len(failures),
                tried,
                named,
                f"; and {more} more" if more > 0 else "",
            )
        result = self._results(served, now, states)
        return SourceResult(result.snapshots, {**errors, **result.errors})

    def _results(
        self, targets: Sequence[Target], now: float, states: Mapping[LwsKey, LwsState] | None
    ) -> SourceResult:
        snapshots, errors = {}, {}
        for target in targets:
            state = None
            if states is not None:
                state = states.get(target.key)
                if state is None:
                    errors[target.key] = f"LeaderWorkerSet {target.key} not found"
                    continue
            pods = {p: h for (k, p), h in self._history.items() if k == target.key}
            if state is not None:
                pods = {p: h for p, h in pods.items() if p in state.leader_names}
            built = snapshot_from_histories(target, pods, now, state)
            if isinstance(built, str):
                errors[target.key] = built
            else:
                snapshots[target.key] = built
        return SourceResult(snapshots, errors)

    def history(
        self, targets: Sequence[Target], start: float, end: float, step: float
    ) -> Iterator[tuple[float, SourceResult]]:
        """A scrape source has no past: nothing before its first scrape."""
        return iter(())

    def close(self) -> None:
        self._pages.close()
