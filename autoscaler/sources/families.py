"""Which raw metric families each serving engine exports, and how one leader's series
reduce to one number per signal.

Every source (Prometheus, direct scrape, recording) applies the *same* reduction so that
they produce the same snapshot for the same data:

- vLLM exports one series per engine-core (``engine="0"``, ``"1"``... under data
  parallelism): counts (waiting, running, tokens, histogram buckets) are **summed** over
  them; the KV-cache fraction is **averaged** (two engines at 0.5 and 0.7 are 0.6 used,
  not 1.2).
- SGLang exports every gauge once per tensor/pipeline rank with the same value, so gauges
  first collapse the rank labels with ``max`` (8 TP ranks reporting 12 queued requests
  are 12, not 96), then sum or average as above. Counters and histograms come from the
  tokenizer process, which has no rank labels.
- Copies of one series from two scrapes of the leader (they differ only in
  :data:`SCRAPE_LABELS`) collapse with ``max`` first, like the ranks.
- The KV-cache family has two vLLM generations: ``kv_cache_usage_perc`` (>= 0.10) and
  ``gpu_cache_usage_perc`` (older); the first present wins.

The catalogue of names lives in :mod:`autoscaler.signals`; this module only adds the
reduction rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from autoscaler.policy.model import LATENCY_SIGNALS
from autoscaler.signals import CATALOGUE, SUMMED_SIGNALS, MetricKind, ServingEngine, Signal

LEADER_SIGNALS: tuple[Signal, ...] = (
    Signal.QUEUE_DEPTH,
    Signal.RUNNING,
    Signal.KV_CACHE,
    Signal.PROMPT_TOKENS,
    Signal.GENERATION_TOKENS,
)
"""Per-leader signals every source reports for every target (the latency quantiles and
activation are LWS-wide aggregates, see :class:`~autoscaler.snapshot.LwsSnapshot`)."""


# Labels that only say which process of a multi-process engine exported the series.
RANK_LABELS: dict[ServingEngine, frozenset[str]] = {
    ServingEngine.VLLM: frozenset(),
    ServingEngine.SGLANG: frozenset({"tp_rank", "pp_rank", "moe_ep_rank"}),
}


# Labels that say which scrape read a series, not which series it is. One leader read by
# two jobs (a PodMonitor beside the ServiceMonitor a vLLM chart ships; two Prometheus
# replicas behind a querier that does not deduplicate) has two copies of each series
# that differ only here. They are one series: collapsed with ``max`` before any sum, or
# a queue of 7 reads 14 and the engine orders twice the groups.
SCRAPE_LABELS: frozenset[str] = frozenset(
    {"job", "instance", "service", "endpoint", "container", "prometheus", "prometheus_replica"}
)


def copies_labels(engine: ServingEngine, kind: MetricKind) -> frozenset[str]:
    """The labels whose series are copies of one value, collapsed with ``max``: the
    scrape labels, and a gauge's rank labels (SGLang repeats it on every rank)."""
    return SCRAPE_LABELS | RANK_LABELS[engine] if kind is MetricKind.GAUGE else SCRAPE_LABELS


class Reduction(StrEnum):
    SUM = "sum"
    MEAN = "avg"


@dataclass(frozen=True)
class Family:
    """One signal's raw family on one engine: candidate names, type, and reduction."""

    signal: Signal
    names: tuple[str, ...]
    kind: MetricKind
    reduction: Reduction

    @property
    def sample_names(self) -> tuple[str, ...]:
        """Names of the stored series: ``<name>_bucket`` for histograms."""
        if self.kind is MetricKind.HISTOGRAM:
            return tuple(f"{n}_bucket" for n in self.names)
        return self.names


def family(engine: ServingEngine, signal: Signal) -> Family:
    spec = CATALOGUE[engine][signal]
    reduction = (
        Reduction.SUM
        if signal in SUMMED_SIGNALS or spec.kind is MetricKind.HISTOGRAM
        else Reduction.MEAN
    )
    return Family(signal, spec.names, spec.kind, reduction)


def families(engine: ServingEngine) -> tuple[Family, ...]:
    """The leader families plus the latency histograms, in a stable order."""
    return tuple(family(engine, s) for s in (*LEADER_SIGNALS, *LATENCY_SIGNALS))
