"""The HPA audit: every ``--hpa-audit-interval``, list the HorizontalPodAutoscalers of
the targets' namespaces and report which ones scale each LeaderWorkerSet.

One ``list`` call per namespace per audit (``autoscaling/v2``), on the loop's thread at
the loop's tick, bounded by the client's timeout; at the default 60 s interval and 15 s
cycle, one cycle in four makes it. What an audit finds (:mod:`~autoscaler.server.hpa_findings`)
goes to three places:

- the gauges ``lws_autoscaler_hpas{namespace,leaderworkerset}`` (how many HPAs target the
  LWS) and ``lws_autoscaler_hpa_scaling{...,hpa}`` (0 while one cannot scale), for the
  alerts;
- Warning Events on the LWS (``CompetingAutoscalers``, ``HPANotScaling``), handed to the
  loop, which has the Lease holder write them;
- ``lws_autoscaler_hpa_audits_total{result}``: ``error`` when a namespace could not be
  listed (RBAC without ``list`` on ``horizontalpodautoscalers``, an API server down).

A namespace that could not be listed keeps what its last good audit found, in the gauges
and as the reference for the next Events: an API blip neither resolves an alert nor
makes the same Warning twice. Every replica audits, as every replica decides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from autoscaler.errors import SourceError
from autoscaler.server.events import LwsEvent
from autoscaler.server.hpa_findings import HpaStanding, hpa_events, hpas_by_lws
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from autoscaler.sources.kube_lists import Json, NoAnswerError, list_items

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0


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
        )


class HpaAudit:
    """Runs an audit when one is due and keeps what the last ones found."""

    def __init__(
        self,
        lister: HpaLister,
        telemetry: Telemetry,
        interval: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        if interval <= 0:
            raise ValueError("the audit interval must be longer than 0s")
        self._lister, self._telemetry, self.interval = lister, telemetry, interval
        self._last: float | None = None  # the tick of the last audit
        self.found: dict[LwsKey, tuple[HpaStanding, ...]] = {}
        self._failing: set[str] = set()  # namespaces whose last list failed

    def due(self, now: float) -> bool:
        """The first tick, then one ``interval`` after the last audit; at once after the
        clock went back, which would otherwise stop the audits until it caught up."""
        last = self._last
        return last is None or now - last >= self.interval or now < last

    def run(self, keys: Sequence[LwsKey], now: float) -> list[LwsEvent]:
        """Audit the HPAs of ``keys`` if one is due at ``now``; the Events it makes."""
        if not self.due(now):
            return []
        self._last = now
        listed: dict[str, list[Json]] = {}
        failing: set[str] = set()
        gone: NoAnswerError | None = None
        for namespace in sorted({k.namespace for k in keys}):
            if gone is not None:
                failing.add(namespace)  # no answer a moment ago: do not wait on it again
                continue
            try:
                listed[namespace] = self._lister.list_hpas(namespace)
            except SourceError as exc:
                failing.add(namespace)
                if isinstance(exc, NoAnswerError):
                    gone = exc
                if namespace not in self._failing:
                    log.warning("cannot audit the HPAs of namespace %s: %s", namespace, exc)
        for namespace in sorted(self._failing - failing):
            log.info("auditing the HPAs of namespace %s works again", namespace)
        self._failing = failing
        self._telemetry.hpa_audits.labels("error" if failing else "ok").inc()
        current = hpas_by_lws(listed, keys)
        for key in keys:
            if key not in current and key in self.found:
                current[key] = self.found[key]
        events = hpa_events(self.found, current)
        self.found = current
        self._telemetry.record_hpas(current)
        return events
