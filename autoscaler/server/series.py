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
lws_queue_wait_seconds         the policy's queue-wait quantile, likewise       ``quantile``
============================== ================================================ ===========

A raw signal appears only when the policy uses it and the engine had a usable value
(no data is never published as zero). Values are rendered once, when a cycle publishes,
so a request only filters precomputed items. :func:`series_specs` lists what a decision
publishes and :meth:`SeriesSpec.render` serialises one, so the store can drop a single
series that fails to render and keep the rest.

Huge values are clamped so that the HPA's arithmetic cannot wrap around. It reads each
item's ``MilliValue()``, an int64, and sums the items of its answer in int64; only the
newest controllers cap that sum, older ones wrap to a negative total and scale down. So
each of the ``n`` series of one metric in one namespace (the most one answer can select)
is kept within (2^63-1)/1000/n: two series at 1e300 render as 4611686018427387903m each.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from autoscaler.engine.decision import Decision, SignalStatus
from autoscaler.policy.model import LatencySignal, ScalingPolicy
from autoscaler.server.quantity import format_quantity

RECOMMENDED_REPLICAS = "lws_recommended_replicas"
QUEUE_DEPTH = "lws_queue_depth_per_group"
KV_CACHE = "lws_kv_cache_utilization"
TOKENS_PER_SECOND = "lws_tokens_per_second_per_group"
TTFT = "lws_ttft_seconds"
QUEUE_WAIT = "lws_queue_wait_seconds"
# The published series of each latency signal type.
LATENCY_SERIES: Mapping[str, str] = MappingProxyType({"ttft": TTFT, "queueWait": QUEUE_WAIT})

METRICS: Mapping[str, str] = MappingProxyType(
    {
        RECOMMENDED_REPLICAS: "Recommended number of LWS groups; HPA target AverageValue 1.",
        QUEUE_DEPTH: "Waiting requests per ready group (HPA target type Value, per group).",
        KV_CACHE: "Mean KV-cache utilisation of the reporting groups, 0..1.",
        TOKENS_PER_SECOND: "Tokens per second per ready group (label tokens).",
        TTFT: "Time-to-first-token quantile in seconds (label quantile).",
        QUEUE_WAIT: "Queue-wait quantile in seconds, arrival to prefill (label quantile).",
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


_MAX_MILLI = 2**63 - 1
"""The largest MilliValue() an int64 holds."""


def value_ceiling(sharing: int) -> Decimal:
    """The largest magnitude ``sharing`` items may each have with their MilliValue()s'
    sum still in an int64 (exact: no float nearby is). 1 -> 9223372036854775.807."""
    return Decimal(_MAX_MILLI // max(sharing, 1)).scaleb(-3)


@dataclass(frozen=True)
class SeriesSpec:
    """One series of one decision, before its value is serialised."""

    metric: str
    labels: dict[str, str]
    value: float
    window: float | None = None

    def render(self, decision: Decision, sharing: int = 1) -> Series:
        """The ExternalMetricValue; raises if the value cannot be a Quantity.

        ``sharing``: how many series one answer may sum with this one (see the module
        docstring): the value is clamped to ``value_ceiling(sharing)``."""
        item: dict[str, Any] = {
            "metricName": self.metric,
            "metricLabels": self.labels,
            "timestamp": rfc3339(decision.at),
        }
        if self.window is not None:
            item["window"] = round(self.window)
        # An absurd backend value (a 1e30 queue) stays huge but must not wrap around to a
        # negative MilliValue in the HPA, which would then scale down.
        # Infinities and NaN are not clamped: format_quantity refuses them (no data).
        value: float | Decimal = self.value
        ceiling = value_ceiling(sharing)
        if math.isfinite(self.value) and abs(self.value) > ceiling:
            value = ceiling if self.value > 0 else -ceiling
        item["value"] = format_quantity(value)
        return Series(
            metric=self.metric,
            namespace=decision.key.namespace,
            lws=decision.key.name,
            labels=MappingProxyType(self.labels),
            decided_at=decision.at,
            item_json=json.dumps(item, separators=(",", ":")),
        )


def series_specs(policy: ScalingPolicy, decision: Decision) -> Iterator[SeriesSpec]:
    """Every series one decision publishes (see the module table), unrendered."""
    base = {LWS_LABEL: decision.key.name, POLICY_LABEL: decision.policy}
    if decision.replicas is not None:
        yield SeriesSpec(RECOMMENDED_REPLICAS, dict(base), float(decision.replicas))
    rate_window = policy.spec.metrics.rate_window
    for proposal in decision.proposals:
        if proposal.value is None or proposal.status not in (
            SignalStatus.OK,
            SignalStatus.PARTIAL,
        ):
            continue
        name, _, tokens = proposal.name.partition("/")
        if name == "queueDepth":
            yield SeriesSpec(QUEUE_DEPTH, dict(base), proposal.value)
        elif name == "kvCacheUtilization":
            yield SeriesSpec(KV_CACHE, dict(base), proposal.value)
        elif name == "tokenThroughput":
            labels = {**base, "tokens": tokens or "total"}
            yield SeriesSpec(TOKENS_PER_SECOND, labels, proposal.value, rate_window)
        elif name in LATENCY_SERIES:
            quantile = next(
                (
                    s.quantile
                    for s in policy.spec.signals
                    if isinstance(s, LatencySignal) and s.type == name
                ),
                None,
            )
            labels = dict(base)
            if quantile is not None:
                labels["quantile"] = f"{quantile:g}"
            yield SeriesSpec(LATENCY_SERIES[name], labels, proposal.value, rate_window)
