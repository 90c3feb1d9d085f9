"""The HPA audit: every ``--hpa-audit-interval``, list the HorizontalPodAutoscalers of
the targets' namespaces and report which ones scale each LeaderWorkerSet.

One ``list`` call per namespace per audit (``autoscaling/v2``, read as JSON), on the
loop's thread at the loop's tick; at the default 60 s interval and 15 s cycle, one cycle
in four makes it. An audit lists for at most ``budget`` seconds (a quarter of a cycle
from ``serve``) plus the call in flight, which the client's timeout bounds; the
namespaces it did not reach go first at the next audit. What an audit finds
(:mod:`~autoscaler.server.hpa_findings`) goes to three places:

- the gauges ``lws_autoscaler_hpas{namespace,leaderworkerset}`` (how many HPAs target the
  LWS) and ``lws_autoscaler_hpa_scaling{...,hpa}`` (0 while one cannot scale), for the
  alerts, which wait minutes on top;
- Warning Events on the LWS (``CompetingAutoscalers``, ``HPANotScaling``,
  ``HPABoundsNarrower``) once two audits in a row agree, handed to the loop, which has
  the Lease holder write them;
- ``lws_autoscaler_hpa_audits_total{result}``: ``error`` when a namespace could not be
  listed (RBAC without ``list`` on ``horizontalpodautoscalers``, an API server down),
  ``partial`` when the budget ran out before every namespace was asked.

A namespace that was not listed keeps what its last listing found, in the gauges and as
what was told of it: an API blip neither resolves an alert nor makes the same Warning
twice. One the budget did not reach keeps it until its turn comes; one whose listing
fails, for :data:`KEEP_INTERVALS` intervals, then its LWSes have no findings (unknown,
not "no HPA"): a replica that lost its RBAC does not hold an alert up on its own. Every
replica audits, as every replica decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from autoscaler.errors import SourceError
from autoscaler.server.events import LwsEvent
from autoscaler.server.hpa_findings import (
    HpaStanding,
    PolicyBounds,
    confirmed,
    hpa_events,
    hpas_by_lws,
)
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from autoscaler.sources.kube_lists import Json, NoAnswerError, list_items

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0
DEFAULT_BUDGET_SECONDS = 5.0
# Intervals a namespace that cannot be listed keeps its last findings: through an API
# blip, but not for ever (a replica that lost its RBAC would hold an alert up alone).
KEEP_INTERVALS = 5
# How long an HPA's bounds must have cut the policy's before it is told: a helm upgrade
# that tightens both updates the HPA at once and the policy file a minute or two later
# (the kubelet's sync of the ConfigMap), and the cut is gone by then.
NARROWER_HOLD_SECONDS = 300.0


class HpaLister(Protocol):
    def list_hpas(self, namespace: str) -> list[Json]:
        """The namespace's HPA objects as the API's JSON; a SourceError when it fails."""
        ...


class KubeHpaLister:
    """Lists ``autoscaling/v2`` HorizontalPodAutoscalers through the Kubernetes API."""

    def __init__(self, api_client: Any, timeout: float = 5.0) -> None:
        from kubernetes.client import AutoscalingV2Api

        self._api, self._timeout = api_client, timeout
        self._autoscaling = AutoscalingV2Api(api_client)

    def list_hpas(self, namespace: str) -> list[Json]:
        return list_items(
            self._api,
            self._timeout,
            f"list horizontalpodautoscalers in {namespace}",
            self._autoscaling.list_namespaced_horizontal_pod_autoscaler,
            namespace,
            # As JSON: the typed models refuse a whole list for one odd object (an HPA
            # of a Deployment with a field they require missing), and the audit reads
            # each object on its own (``hpa_findings.lws_of``).
            _preload_content=False,
        )


class HpaAudit:
    """Runs an audit when one is due and keeps what the last ones found."""

    def __init__(
        self,
        lister: HpaLister,
        telemetry: Telemetry,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        budget: float = DEFAULT_BUDGET_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """``budget``: wall seconds one audit may spend listing, on the loop's thread;
        the call in flight is bounded by the client's timeout. ``timer`` measures it
        (wall time for an I/O budget, never a decision's time, which is ``now``)."""
        if interval <= 0:
            raise ValueError("the audit interval must be longer than 0s")
        self._lister, self._telemetry, self.interval = lister, telemetry, interval
        self.budget, self._timer = budget, timer
        self._last: float | None = None  # the tick of the last audit
        self.found: dict[LwsKey, tuple[HpaStanding, ...]] = {}
        self._told: dict[LwsKey, tuple[HpaStanding, ...]] = {}  # the last confirmed
        self._listed_at: dict[str, float] = {}  # namespace -> tick of its last listing
        self._failing: set[str] = set()  # namespaces whose last list failed
        # (LWS, HPA, the cut) -> the tick it was first read at
        self._narrow_since: dict[tuple[LwsKey, str, str], float] = {}
        self._short = False  # the last audit ran out of its budget
        self._start = 0  # where the next audit starts in the sorted namespaces

    def due(self, now: float) -> bool:
        """The first tick, then one ``interval`` after the last audit; at once after the
        clock went back, which would otherwise stop the audits until it caught up."""
        last = self._last
        return last is None or now - last >= self.interval or now < last

    def run(
        self,
        keys: Sequence[LwsKey],
        now: float,
        bounds: Mapping[LwsKey, PolicyBounds] | None = None,
    ) -> list[LwsEvent]:
        """Audit the HPAs of ``keys`` if one is due at ``now``, against their policies'
        ``bounds`` when given; the Events it makes."""
        if not self.due(now):
            return []
        self._last = now
        namespaces = sorted({k.namespace for k in keys})
        listed, result = self._list_all(namespaces)
        self._telemetry.hpa_audits.labels(result).inc()
        # min(): after the clock went back, a listing "in the future" would keep a
        # failing namespace's findings for the step on top of the keep.
        self._listed_at = {
            n: min(t, now) for n, t in self._listed_at.items() if n in namespaces
        } | dict.fromkeys(listed, now)
        current = hpas_by_lws(listed, keys, bounds)
        # Compared with what the last audit found: only what was read again this time
        # can be confirmed (a finding kept through a failure was read once).
        agreed = confirmed(self.found, current)
        keep = KEEP_INTERVALS * self.interval
        for key in keys:
            if key in current or key not in self.found:
                continue
            # Not listed this time: what the last listing found, and what was told of it.
            # Not reached for the budget: for as long as it takes to come round (a slow
            # API server must not make the series come and go); failing: for a while.
            since = self._listed_at.get(key.namespace, -float("inf"))
            if key.namespace not in self._failing or now - since <= keep:
                current[key] = self.found[key]
                if key in self._told:
                    agreed[key] = self._told[key]
        agreed = self._hold_cuts(current, agreed, now)
        events = hpa_events(self._told, agreed)
        self.found, self._told = current, agreed
        self._telemetry.record_hpas(
            {k: [(h.name, h.stopped is None) for h in hpas] for k, hpas in current.items()}
        )
        return events

    def _hold_cuts(
        self,
        current: Mapping[LwsKey, tuple[HpaStanding, ...]],
        agreed: Mapping[LwsKey, tuple[HpaStanding, ...]],
        now: float,
    ) -> dict[LwsKey, tuple[HpaStanding, ...]]:
        """``agreed`` without the bounds cuts read for less than
        :data:`NARROWER_HOLD_SECONDS` (a cut that held while it was told stays told)."""
        since = {
            (key, h.name, h.narrower): min(
                self._narrow_since.get((key, h.name, h.narrower), now), now
            )
            for key, hpas in current.items()
            for h in hpas
            if h.narrower is not None
        }
        self._narrow_since = since
        held: dict[LwsKey, tuple[HpaStanding, ...]] = {}
        for key, hpas in agreed.items():
            told = {h.name: h.narrower for h in self._told.get(key, ())}
            held[key] = tuple(
                h
                if h.narrower is None
                or told.get(h.name) == h.narrower
                or now - since.get((key, h.name, h.narrower), now) >= NARROWER_HOLD_SECONDS
                else replace(h, narrower=None)
                for h in hpas
            )
        return held

    def _list_all(self, namespaces: Sequence[str]) -> tuple[dict[str, list[Json]], str]:
        """(the HPAs of each namespace listed, the audit's result: ``ok``, ``error`` while
        a namespace fails (asked this time or not), ``partial`` when the budget ran out
        before every namespace was asked and none is known to fail). Starts where the
        last audit's budget ran out, so a slow API server starves no namespace; stops
        asking an API server that did not answer."""
        count = len(namespaces)
        start = self._start % count if count else 0
        order = [*namespaces[start:], *namespaces[:start]]
        deadline = self._timer() + self.budget
        listed: dict[str, list[Json]] = {}
        failing: set[str] = set()
        tried, short = 0, False
        for namespace in order:
            if tried and self._timer() >= deadline:
                short = True  # the first one is always asked, whatever the budget
                break
            tried += 1
            try:
                listed[namespace] = self._lister.list_hpas(namespace)
            except SourceError as exc:
                failing.add(namespace)
                if namespace not in self._failing:
                    log.warning("cannot audit the HPAs of namespace %s: %s", namespace, exc)
                if isinstance(exc, NoAnswerError):
                    break  # no answer a moment ago: do not wait on it again
        if short and not self._short:
            log.warning(
                "the HPA audit used its %gs after %d of %d namespaces; the others keep "
                "their last findings and go first next time",
                self.budget,
                tried,
                count,
            )
        for namespace in sorted(self._failing & listed.keys()):
            log.info("auditing the HPAs of namespace %s works again", namespace)
        # A namespace not asked this time is still failing, as far as anyone knows (one
        # whose policy went is forgotten: its next failure is a new streak).
        self._failing = ((self._failing - set(order[:tried])) | failing) & set(namespaces)
        self._short, self._start = short, start + tried
        if len(listed) == count:
            return listed, "ok"
        # A namespace known to fail is an error even in an audit that did not reach it:
        # under a lasting budget shortfall the failing-audit alert still sees one.
        return listed, "error" if self._failing else "partial"
