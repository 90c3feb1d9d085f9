"""The external metrics this server publishes, derived from each LWS's latest Decision.

Every series is labelled ``leaderworkerset=<LWS name>`` and ``policy=<policy name>``;
the namespace is the one in the request path (the HPA's own), so it is not a label.

============================== ================================================ ===========
metric                         value                                            extra label
============================== ================================================ ===========
lws_recommended_replicas       the recommendation in groups (use AverageValue 1)
lws_queue_depth_per_group      waiting requests per ready group
lws_kv_cache_utilization       mean KV-cache use over reporting groups (0..1)
lws_tokens_per_second_per_group token throughput per ready group                 ``tokens``
lws_ttft_seconds               the policy's TTFT quantile over its rate window  ``quantile``
============================== ================================================ ===========

A raw signal appears only when the policy uses it and the engine had a usable value
(no data is never published as zero). Values are rendered once, when a cycle publishes,
so a request only filters precomputed items.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from autoscaler.engine.decision import Decision, SignalStatus
from autoscaler.policy.model import ScalingPolicy, TtftSignal
from autoscaler.server.quantity import format_quantity

RECOMMENDED_REPLICAS = "lws_recommended_replicas"
QUEUE_DEPTH = "lws_queue_depth_per_group"
KV_CACHE = "lws_kv_cache_utilization"
TOKENS_PER_SECOND = "lws_tokens_per_second_per_group"
TTFT = "lws_ttft_seconds"

METRICS: Mapping[str, str] = MappingProxyType(
    {
        RECOMMENDED_REPLICAS: "Recommended number of LWS groups; HPA target AverageValue 1.",
        QUEUE_DEPTH: "Waiting requests per ready group (HPA target type Value, per group).",
        KV_CACHE: "Mean KV-cache utilisation of the reporting groups, 0..1.",
        TOKENS_PER_SECOND: "Tokens per second per ready group (label tokens).",
        TTFT: "Time-to-first-token quantile in seconds (label quantile).",
    }
)

LWS_LABEL = "leaderworkerset"
POLICY_LABEL = "policy"


@dataclass(frozen=True)
class Series:
    """One ExternalMetricValue, ready to serialise."""

    metric: str
    namespace: str
    lws: str
    labels: Mapping[str, str]
    decided_at: float
    item_json: str
    """The serialised ExternalMetricValue, rendered once at publish time."""


def rfc3339(seconds: float) -> str:
    """metav1.Time's JSON form: UTC, second precision (``2026-08-21T10:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _series(
    metric: str,
    decision: Decision,
    labels: dict[str, str],
    value: float,
    window: float | None = None,
) -> Series:
    item: dict[str, Any] = {
        "metricName": metric,
        "metricLabels": labels,
        "timestamp": rfc3339(decision.at),
    }
    if window is not None:
        item["window"] = round(window)
    item["value"] = format_quantity(value)
    return Series(
        metric=metric,
        namespace=decision.key.namespace,
        lws=decision.key.name,
        labels=MappingProxyType(labels),
        decided_at=decision.at,
        item_json=json.dumps(item, separators=(",", ":")),
    )


def series_for(policy: ScalingPolicy, decision: Decision) -> Iterator[Series]:
    """Every series one decision publishes (see the module table)."""
    base = {LWS_LABEL: decision.key.name, POLICY_LABEL: decision.policy}
    if decision.replicas is not None:
        yield _series(RECOMMENDED_REPLICAS, decision, dict(base), float(decision.replicas))
    rate_window = policy.spec.metrics.rate_window
    for proposal in decision.proposals:
        if proposal.value is None or proposal.status not in (
            SignalStatus.OK,
            SignalStatus.PARTIAL,
        ):
            continue
        name, _, tokens = proposal.name.partition("/")
        if name == "queueDepth":
            yield _series(QUEUE_DEPTH, decision, dict(base), proposal.value)
        elif name == "kvCacheUtilization":
            yield _series(KV_CACHE, decision, dict(base), proposal.value)
        elif name == "tokenThroughput":
            labels = {**base, "tokens": tokens or "total"}
            yield _series(TOKENS_PER_SECOND, decision, labels, proposal.value, rate_window)
        elif name == "ttft":
            quantile = next(
                (s.quantile for s in policy.spec.signals if isinstance(s, TtftSignal)), None
            )
            labels = dict(base)
            if quantile is not None:
                labels["quantile"] = f"{quantile:g}"
            yield _series(TTFT, decision, labels, proposal.value, rate_window)
