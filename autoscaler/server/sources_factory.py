"""Builds the configured :class:`~autoscaler.sources.base.MetricSource` from settings.

- ``prometheus``: queries ``--prometheus-url``; group and replica state come from the
  Kubernetes API (``--kubeconfig`` or in-cluster) when reachable, else from Prometheus
  series only (a warning says so);
- ``scrape``: scrapes leader pods found through the Kubernetes API (required);
- ``recording``: replays ``--recording`` (default: the built-in demo recording), looping
  forever. ``now`` starts in recording time and keeps increasing past the end (the
  source maps it back onto the recording and restamps the samples), so pair it with a
  :class:`~autoscaler.server.clock.ReplayClock` started inside the recording.

It also builds the drain actuator (:func:`build_cordon`), the Events writer
(:func:`build_events`), the HPA audit (:func:`build_hpa_audit`) and, with
``--leader-elect``, the Lease elector (:func:`build_leader_elector`) on the same API
access.
"""

from __future__ import annotations

import logging
import math
import socket
import uuid

from autoscaler.errors import AutoscalerError
from autoscaler.server.cordon import Cordon, KubePodLabeler
from autoscaler.server.event_writer import EventRecorder, KubeEventSink
from autoscaler.server.hpa_audit import HpaAudit, KubeHpaLister
from autoscaler.server.kube_reviews import KubeConfigError, api_client
from autoscaler.server.leader import LeaderElector
from autoscaler.server.lease_kube import KubeLeaseStore
from autoscaler.server.settings import ServerSetupError, ServeSettings
from autoscaler.server.telemetry import Telemetry
from autoscaler.sources.base import MetricSource

log = logging.getLogger(__name__)


def build_source(settings: ServeSettings) -> MetricSource:
    try:
        if settings.source == "recording":
            from autoscaler.sources.recording import RecordingSource

            loaded = RecordingSource(settings.recording)
            # "Wall" time here is the ReplayClock's timeline, already accelerated: speed 1.
            return RecordingSource(
                recording=loaded.recording, wall_start=loaded.start, speed=1.0, loop=True
            )
        from autoscaler.sources.kube import KubernetesClusterReader

        if settings.source == "scrape":
            from autoscaler.sources.scrape import DirectScrapeSource

            # Scraping needs the leader pods' addresses: the API is required, not optional.
            hint = (
                "the scrape source lists leader pods through the Kubernetes API: pass --kubeconfig"
            )
            return DirectScrapeSource(
                KubernetesClusterReader(api_client(settings.kubeconfig, hint)),
                timeout=settings.scrape_timeout,
                concurrency=settings.scrape_concurrency,
            )
        from autoscaler.sources.prometheus import PrometheusSource
        from autoscaler.sources.prometheus_api import PrometheusQueryClient
        from autoscaler.sources.promql import LabelNames

        try:
            cluster = KubernetesClusterReader(api_client(settings.kubeconfig))
        except KubeConfigError as exc:
            log.warning("no Kubernetes API (%s): group state from Prometheus series only", exc)
            cluster = None
        return PrometheusSource(
            PrometheusQueryClient(settings.prometheus_url, timeout=settings.prometheus_timeout),
            cluster,
            LabelNames(lws=settings.prometheus_lws_label),
        )
    except AutoscalerError:
        raise
    except (OSError, ValueError) as exc:
        raise ServerSetupError(f"cannot set up the {settings.source} source: {exc}") from exc


def build_cordon(settings: ServeSettings) -> Cordon | None:
    """The drain actuator: relabels leader pods through the Kubernetes API. None for a
    recording (no cluster), or when no API access is configured (a warning says so):
    drains then show in the decisions and still wait for idle leaders, but nothing stops
    the routing to them."""
    if settings.source == "recording":
        return None
    try:
        return Cordon(KubePodLabeler(api_client(settings.kubeconfig)))
    except KubeConfigError as exc:
        log.warning("no Kubernetes API (%s): draining leaders will not be relabelled", exc)
        return None


def build_events(settings: ServeSettings, telemetry: Telemetry) -> EventRecorder | None:
    """Events on the LWSes (``--events``, on by default). None for a recording (no
    cluster), with ``--no-events``, or without API access (a warning says so). The
    reporting instance is the leader-election identity (the chart's pod name), else the
    host name (a pod's name in Kubernetes)."""
    if settings.source == "recording" or not settings.events:
        return None
    try:
        sink = KubeEventSink(api_client(settings.kubeconfig))
    except KubeConfigError as exc:
        log.warning("no Kubernetes API (%s): no Events will be written", exc)
        return None
    return EventRecorder(sink, settings.leader_elect_identity or socket.gethostname(), telemetry)


def build_hpa_audit(settings: ServeSettings, telemetry: Telemetry) -> HpaAudit | None:
    """The audit of the HPAs that target the LWSes (``--hpa-audit-interval``, 60 s by
    default). None for a recording (no cluster), with an interval of 0, or without API
    access (a warning says so)."""
    if settings.source == "recording" or settings.hpa_audit_interval == 0:
        return None
    try:
        lister = KubeHpaLister(api_client(settings.kubeconfig))
    except KubeConfigError as exc:
        log.warning("no Kubernetes API (%s): the HPAs on the LWSes will not be audited", exc)
        return None
    # A quarter of a cycle of listing at most (plus the call in flight) on the loop's
    # thread: with a 15 s cycle, 3.75 s; the namespaces not reached go first next time.
    budget = settings.cycle_seconds / 4
    return HpaAudit(lister, telemetry, settings.hpa_audit_interval, budget=budget)


def build_leader_elector(settings: ServeSettings) -> LeaderElector | None:
    """The Lease-based elector of ``--leader-elect``; None without the flag. Unlike the
    drain actuator, missing API access is an error here: the flag asks for it."""
    if not settings.leader_elect:
        return None
    namespace, _, name = settings.leader_elect_lease.partition("/")
    store = KubeLeaseStore(api_client(settings.kubeconfig), namespace, name)
    # As kube-controller-manager: the host name alone is shared by processes on one
    # host (hostNetwork pods get the node's), and two holders of one name both lead.
    identity = settings.leader_elect_identity or f"{socket.gethostname()}_{uuid.uuid4()}"
    return LeaderElector(store, identity, math.ceil(settings.lease_seconds))
