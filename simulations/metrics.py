"""What each simulated leader exports, and the production path from there to a snapshot.

Every scrape interval each ready group's leader exposes the vLLM families with their real
names, types and labels (``model_name``, ``engine="0"``): the gauges
``vllm:num_requests_waiting``, ``vllm:num_requests_running``,
``vllm:kv_cache_usage_perc``, the counters ``vllm:prompt_tokens_total``,
``vllm:generation_tokens_total``, ``vllm:num_preemptions_total``,
``vllm:request_success_total`` and the histograms ``vllm:time_to_first_token_seconds``
and ``vllm:request_queue_time_seconds``.

From there the snapshot is built by the production source code:
``autoscaler.sources.exposition.reading_from_samples`` reduces the series to one raw
reading per leader, kept in the scrape source's own per-pod history
(:class:`autoscaler.sources.pod_history.PodHistory`), and
:func:`autoscaler.sources.pod_history.snapshot_from_histories` turns the histories into
gauges, per-engine rates (counter resets of re-created groups included) and latency
quantiles, merged with the LWS state, exactly as ``DirectScrapeSource`` does. Only the
HTTP fetch and the text parsing are left out.

A scale-to-zero policy's activation query is PromQL over the gateway's metrics, which
the direct-scrape source cannot evaluate: here the gateway's request rate over the last
minute (:meth:`simulations.gateway.Gateway.request_rate`, read at each scrape) stands in
for it, put in the snapshot's aggregates as the Prometheus source puts the query's value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import CATALOGUE, ServingEngine, Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample, leader_pod_name
from autoscaler.sources.assemble import wake_threshold
from autoscaler.sources.base import Target
from autoscaler.sources.cluster import LwsState
from autoscaler.sources.exposition import Labels, RawReading, reading_from_samples
from autoscaler.sources.pod_history import PodHistory, snapshot_from_histories
from simulations.serving import QUEUE_TIME_BUCKETS, TTFT_BUCKETS, GroupEngine

Samples = dict[str, list[tuple[Labels, float]]]
TTFT_HISTOGRAM = CATALOGUE[ServingEngine.VLLM][Signal.TTFT].names[0]
QUEUE_HISTOGRAM = CATALOGUE[ServingEngine.VLLM][Signal.QUEUE_WAIT].names[0]


def leader_samples(group: GroupEngine, now: float, model_name: str) -> Samples:
    """The leader's ``/metrics`` as ``{sample name: [(labels, value)]}``."""
    labels = {"model_name": model_name, "engine": "0"}
    c = group.counters
    samples: Samples = {
        "vllm:num_requests_waiting": [(labels, float(group.waiting_at(now)))],
        "vllm:num_requests_running": [(labels, float(group.running_at(now)))],
        "vllm:kv_cache_usage_perc": [(labels, group.kv_usage(now))],
        "vllm:prompt_tokens_total": [(labels, c.prompt_tokens)],
        "vllm:generation_tokens_total": [(labels, c.generation_tokens)],
        "vllm:num_preemptions_total": [(labels, float(c.preemptions))],
        "vllm:request_success_total": [({**labels, "finished_reason": "stop"}, float(c.successes))],
    }
    histograms = (
        (TTFT_HISTOGRAM, TTFT_BUCKETS, c.ttft_buckets.tolist(), c.ttft_sum),
        (QUEUE_HISTOGRAM, QUEUE_TIME_BUCKETS, c.queue_buckets.tolist(), c.queue_sum),
    )
    for name, bounds, counts, total in histograms:
        cumulative = 0
        buckets: list[tuple[Labels, float]] = []
        for bound, count in zip((*bounds, math.inf), counts, strict=True):
            cumulative += count
            le = "+Inf" if math.isinf(bound) else repr(bound)
            buckets.append(({**labels, "le": le}, float(cumulative)))
        samples[f"{name}_bucket"] = buckets
        samples[f"{name}_count"] = [(labels, float(cumulative))]
        samples[f"{name}_sum"] = [(labels, total)]
    return samples


_TYPES = {
    "vllm:num_requests_waiting": "gauge",
    "vllm:num_requests_running": "gauge",
    "vllm:kv_cache_usage_perc": "gauge",
    "vllm:prompt_tokens_total": "counter",
    "vllm:generation_tokens_total": "counter",
    "vllm:num_preemptions_total": "counter",
    "vllm:request_success_total": "counter",
}


def exposition_text(samples: Samples) -> str:
    """The samples in the Prometheus text format (for inspection and parser tests)."""
    lines: list[str] = []
    for name, series in samples.items():
        if name.startswith((TTFT_HISTOGRAM, QUEUE_HISTOGRAM)):
            continue
        # The classic text format names a counter's family with its ``_total`` (as
        # prometheus_client writes vLLM's: ``# TYPE vllm:prompt_tokens_total counter``).
        lines.append(f"# TYPE {name} {_TYPES[name]}")
        lines.extend(f"{name}{_labels(lb)} {v!r}" for lb, v in series)
    for histogram in (TTFT_HISTOGRAM, QUEUE_HISTOGRAM):
        lines.append(f"# TYPE {histogram} histogram")
        for suffix in ("_bucket", "_count", "_sum"):
            name = f"{histogram}{suffix}"
            lines.extend(f"{name}{_labels(lb)} {v!r}" for lb, v in samples[name])
    return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


class ScrapeStore:
    """Readings per leader pod over the last ``keep`` seconds, and the snapshots the
    direct-scrape source would build from them (:func:`snapshot_from_histories`: the
    same histories, rates and quantiles, only the HTTP and text parsing left out)."""

    def __init__(self, key: LwsKey, model_name: str, keep: float) -> None:
        self.key, self.model_name, self.keep = key, model_name, keep
        self.readings: dict[str, PodHistory] = {}
        self.gateway_rate: Sample | None = None

    def pod_name(self, index: int) -> str:
        return leader_pod_name(self.key.name, index)

    def scrape(self, now: float, groups: Sequence[GroupEngine]) -> None:
        # A pod that is gone takes its series with it (Prometheus marks a vanished
        # target's series stale): a group re-created at the same index, still starting,
        # must not report its predecessor's last queue.
        serving = {self.pod_name(group.index) for group in groups}
        for pod in [p for p in self.readings if p not in serving]:
            del self.readings[pod]
        for group in groups:
            samples = leader_samples(group, now, self.model_name)
            reading = reading_from_samples(ServingEngine.VLLM, samples, self.model_name)
            history = self.readings.setdefault(self.pod_name(group.index), PodHistory())
            history.add(now, reading, self.keep)

    def record_gateway_rate(self, now: float, requests_per_second: float) -> None:
        """The gateway's request rate as scraped at ``now`` (the activation signal)."""
        self.gateway_rate = Sample(requests_per_second, now)

    def latest(self) -> Mapping[str, RawReading]:
        return {pod: h.readings[-1] for pod, h in self.readings.items() if h.readings}

    def snapshot(self, policy: ScalingPolicy, now: float, state: LwsState) -> LwsSnapshot:
        """What a direct-scrape source would hand the engine for ``policy`` at ``now``."""
        pods = {pod: history for pod, history in self.readings.items() if history.readings}
        target = Target(policy)
        result = snapshot_from_histories(target, pods, now, state)
        assert isinstance(result, LwsSnapshot)  # with a cluster state it always is
        if self.gateway_rate is None or wake_threshold(target) is None:
            return result
        aggregates = {**result.aggregates, Signal.ACTIVATION: self.gateway_rate}
        return dataclasses.replace(result, aggregates=aggregates)
