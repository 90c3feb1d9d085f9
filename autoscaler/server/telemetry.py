"""The server's own Prometheus metrics, on a per-instance registry (never the global one).

Names (all prefixed ``lws_autoscaler_``):

- ``cycle_duration_seconds`` (histogram) and ``cycles_total{result}`` (ok, source_error;
  both exported from start-up at 0, so ``increase(...{result="ok"}[10m]) == 0`` holds
  for a server that never had a good cycle, not only for one that stopped having them);
- ``last_cycle_timestamp_seconds``: loop-clock time of the last published cycle;
- ``source_errors_total{scope}``: ``backend`` (the whole fetch failed) or ``target``
  (both exported from start-up at 0);
- ``policy_reload_errors_total{file}`` (each rejected version, counted once),
  ``policy_file_rejected{file}`` (1 while the file's current version is rejected, 0 once
  a version loads; gone with the file) and ``policies_loaded``;
- ``recommended_replicas{namespace,leaderworkerset,policy}`` and
  ``signal_proposal_replicas{namespace,leaderworkerset,policy,signal}``;
- ``demand_groups{namespace,leaderworkerset,policy}`` (the largest continuous demand
  over the signals), ``cold_start_seconds{...}`` (the cold start the engine plans with:
  learned, or ``coldStart.expected``) and ``decision_reasons_total{...,reason}`` (one
  per decision that gave the reason code, so ``rate()`` shows how often a rule acts);
- ``http_requests_total{route,method,code}`` and
  ``http_request_duration_seconds{route,method}``;
- ``front_proxy_ca_loaded`` (1 when the aggregator can be authenticated),
  ``auth_lookup_errors_total{reason}`` (reading kube-system/extension-apiserver-
  authentication failed: NotFound, Forbidden, Unavailable, Invalid) and
  ``tls_reloads_total{result}`` (serving certificate or client CAs re-loaded: ok, error);
- ``events_total{result}``: Kubernetes Events on LWSes (created, failed, dropped,
  throttled);
- ``serving_certificate_expiry_timestamp_seconds{file}``: the ``notAfter`` of the serving
  certificate in force (only when serving TLS);
- ``hpas{namespace,leaderworkerset}`` (HPAs targeting the LWS), ``hpa_scaling{...,hpa}``
  (0 while that HPA cannot scale) and ``hpa_audits_total{result}`` (ok, partial, error): the
  HPA audit's (:mod:`~autoscaler.server.hpa_audit`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from autoscaler.engine.decision import Decision
from autoscaler.snapshot import LwsKey

_PREFIX = "lws_autoscaler"
_LWS_LABELS = ("namespace", "leaderworkerset", "policy")
# Request latencies are sub-millisecond when served from memory; resolve that range.
_HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Telemetry:
    """All metric families of one server instance."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycle_duration = Histogram(
            f"{_PREFIX}_cycle_duration_seconds",
            "Wall time of one control-loop cycle (fetch, decide, publish).",
            buckets=_CYCLE_BUCKETS,
            registry=r,
        )
        self.cycles = Counter(
            f"{_PREFIX}_cycles_total", "Control-loop cycles by result.", ["result"], registry=r
        )
        for result in ("ok", "source_error"):
            self.cycles.labels(result)
        self.last_cycle = Gauge(
            f"{_PREFIX}_last_cycle_timestamp_seconds",
            "Loop-clock time of the last published cycle.",
            registry=r,
        )
        self.source_errors = Counter(
            f"{_PREFIX}_source_errors_total",
            "Metric-source failures: scope=backend (whole fetch) or target (one LWS).",
            ["scope"],
            registry=r,
        )
        # At 0 from start-up, as cycles_total: the first failure is then an increase that
        # rate() sees, and a dashboard shows 0 errors rather than no data.
        for scope in ("backend", "target"):
            self.source_errors.labels(scope)
        self.reload_errors = Counter(
            f"{_PREFIX}_policy_reload_errors_total",
            "Policy files rejected on reload (the last good version stays in force).",
            ["file"],
            registry=r,
        )
        self.file_rejected = Gauge(
            f"{_PREFIX}_policy_file_rejected",
            "1 while the policy file's current version is rejected, else 0.",
            ["file"],
            registry=r,
        )
        self.policies_loaded = Gauge(
            f"{_PREFIX}_policies_loaded", "Policies currently in force.", registry=r
        )
        self.recommended = Gauge(
            f"{_PREFIX}_recommended_replicas",
            "Latest recommendation per LWS (absent when the policy makes none).",
            list(_LWS_LABELS),
            registry=r,
        )
        self.proposals = Gauge(
            f"{_PREFIX}_signal_proposal_replicas",
            "Groups each signal proposed in the latest decision.",
            [*_LWS_LABELS, "signal"],
            registry=r,
        )
        self.demand = Gauge(
            f"{_PREFIX}_demand_groups",
            "Largest continuous demand over the signals, in groups, in the latest "
            "decision (absent when no signal had data).",
            list(_LWS_LABELS),
            registry=r,
        )
        self.cold_start = Gauge(
            f"{_PREFIX}_cold_start_seconds",
            "Cold start the engine plans with: learned from observed starts, or the "
            "policy's coldStart.expected.",
            list(_LWS_LABELS),
            registry=r,
        )
        self.reasons = Counter(
            f"{_PREFIX}_decision_reasons",
            "Decisions that gave each reason code (a rule that changed the outcome).",
            [*_LWS_LABELS, "reason"],
            registry=r,
        )
        self.http_requests = Counter(
            f"{_PREFIX}_http_requests_total",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "code"],
            registry=r,
        )
        self.http_latency = Histogram(
            f"{_PREFIX}_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )
        self.front_proxy_ca_loaded = Gauge(
            f"{_PREFIX}_front_proxy_ca_loaded",
            "1 when a front-proxy (requestheader) CA is loaded, so the aggregator's "
            "requests can be authenticated; 0 means every HPA read fails (a failed TLS "
            "handshake, or 401 when no CA can be loaded at all).",
            registry=r,
        )
        self.auth_lookup_errors = Counter(
            f"{_PREFIX}_auth_lookup_errors_total",
            "Failed reads of ConfigMap kube-system/extension-apiserver-authentication.",
            ["reason"],
            registry=r,
        )
        self.tls_reloads = Counter(
            f"{_PREFIX}_tls_reloads_total",
            "Rebuilds of the TLS context (new serving certificate or client CAs) by result.",
            ["result"],
            registry=r,
        )
        self.events = Counter(
            f"{_PREFIX}_events_total",
            "Kubernetes Events on LeaderWorkerSets by result (created, failed, dropped, "
            "throttled).",
            ["result"],
            registry=r,
        )
        for result in ("created", "failed", "dropped", "throttled"):
            self.events.labels(result)
        self.serving_cert_expiry = Gauge(
            f"{_PREFIX}_serving_certificate_expiry_timestamp_seconds",
            "When the serving certificate in force expires (its notAfter, Unix seconds), "
            "by certificate file; absent when the server does not serve TLS.",
            ["file"],
            registry=r,
        )
        self.hpas = Gauge(
            f"{_PREFIX}_hpas",
            "HorizontalPodAutoscalers whose scaleTargetRef is the LeaderWorkerSet, at the "
            "last audit that could list its namespace (more than 1: none of them scales it).",
            ["namespace", "leaderworkerset"],
            registry=r,
        )
        self.hpa_scaling = Gauge(
            f"{_PREFIX}_hpa_scaling",
            "1 while the HPA's AbleToScale and ScalingActive conditions are not False, 0 "
            "while one is (the reason is in the HPANotScaling Event and kubectl describe).",
            ["namespace", "leaderworkerset", "hpa"],
            registry=r,
        )
        self.hpa_audits = Counter(
            f"{_PREFIX}_hpa_audits_total",
            "Audits of the HPAs that target the LeaderWorkerSets, by result (ok; error: a "
            "namespace could not be listed; partial: the audit's time ran out first).",
            ["result"],
            registry=r,
        )
        for result in ("ok", "partial", "error"):
            self.hpa_audits.labels(result)
        self._published_hpas: frozenset[tuple[str, ...]] = frozenset()
        self._published_hpa_scaling: frozenset[tuple[str, ...]] = frozenset()
        self._published_recommended: frozenset[tuple[str, ...]] = frozenset()
        self._published_proposals: frozenset[tuple[str, ...]] = frozenset()
        self._published_demand: frozenset[tuple[str, ...]] = frozenset()
        self._published_cold_start: frozenset[tuple[str, ...]] = frozenset()
        self._counted_reasons: frozenset[tuple[str, ...]] = frozenset()

    def record_decisions(
        self, decisions: Iterable[Decision], kept: Iterable[Decision] = ()
    ) -> None:
        """Set the per-LWS gauges to this cycle's values; label sets that were not
        decided this cycle (a removed policy, no recommendation) disappear. Existing
        children are updated in place: recreating thousands per cycle is the costly part.

        ``kept``: last cycle's decisions of LWSes whose engine failed this cycle. Their
        series stay as they were (stale, as the served value), and their reason counters
        are neither counted again nor removed, which would reset them."""
        recommended: dict[tuple[str, ...], float] = {}
        proposals: dict[tuple[str, ...], float] = {}
        demand: dict[tuple[str, ...], float] = {}
        cold_start: dict[tuple[str, ...], float] = {}
        reasons: set[tuple[str, ...]] = set()
        fresh = [(d, True) for d in decisions]
        for d, counts in [*fresh, *((d, False) for d in kept)]:
            labels = (d.key.namespace, d.key.name, d.policy)
            if d.replicas is not None:
                recommended[labels] = d.replicas
            if d.demand is not None:
                demand[labels] = d.demand
            cold_start[labels] = d.cold_start_seconds
            for p in d.proposals:
                if p.replicas is not None:
                    proposals[(*labels, p.name)] = p.replicas
            # A code given twice in one decision (two notes of one rule) counts once.
            for code in {reason.code for reason in d.reasons}:
                key = (*labels, code.value)
                if counts:
                    self.reasons.labels(*key).inc()
                reasons.add(key)
        self._published_recommended = _replace(
            self.recommended, self._published_recommended, recommended
        )
        self._published_proposals = _replace(self.proposals, self._published_proposals, proposals)
        self._published_demand = _replace(self.demand, self._published_demand, demand)
        self._published_cold_start = _replace(
            self.cold_start, self._published_cold_start, cold_start
        )
        # Counters of an LWS that is no longer decided (its policy removed) go with it;
        # an LWS still decided keeps every count, including codes absent this cycle.
        decided = cold_start.keys()
        for gone in [k for k in self._counted_reasons if k[:3] not in decided]:
            self.reasons.remove(*gone)
        self._counted_reasons = frozenset(
            k for k in self._counted_reasons | reasons if k[:3] in decided
        )

    def record_hpas(self, found: Mapping[LwsKey, Sequence[tuple[str, bool]]]) -> None:
        """Set the HPA gauges to an audit's findings: per LWS, (HPA name, can scale) of
        each HPA that targets it; an LWS not in ``found`` (its policy removed, its
        namespace not listed for a while) has none."""
        counts: dict[tuple[str, ...], float] = {}
        scaling: dict[tuple[str, ...], float] = {}
        for key, hpas in found.items():
            counts[(key.namespace, key.name)] = len(hpas)
            for name, scales in hpas:
                scaling[(key.namespace, key.name, name)] = float(scales)
        self._published_hpas = _replace(self.hpas, self._published_hpas, counts)
        self._published_hpa_scaling = _replace(
            self.hpa_scaling, self._published_hpa_scaling, scaling
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _replace(
    gauge: Gauge, previous: frozenset[tuple[str, ...]], values: dict[tuple[str, ...], float]
) -> frozenset[tuple[str, ...]]:
    for gone in previous - values.keys():
        gauge.remove(*gone)
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
    return frozenset(values)
