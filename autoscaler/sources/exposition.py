"""From one leader's ``/metrics`` text to one raw reading per family.

Parsing is ``prometheus_client``'s own text parser; this module only picks the families
of the catalogue and reduces their series with the rules of
:mod:`autoscaler.sources.families` (sum over vLLM engines, max over SGLang ranks, mean
for the KV-cache fraction). The result is *raw*: counters stay cumulative and the latency
histograms stay as cumulative buckets; rates and quantiles are computed later from two
readings (see :mod:`autoscaler.sources.derive`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from autoscaler.errors import SourceError
from autoscaler.signals import MetricKind, ServingEngine, Signal
from autoscaler.sources.families import RANK_LABELS, Family, Reduction, families

Labels = Mapping[str, str]


class ExpositionError(SourceError):
    """A ``/metrics`` body could not be parsed as the Prometheus text format."""


PartKey = tuple[tuple[str, str], ...]
"""The labels of one series but its rank labels: one data-parallel engine, say."""


@dataclass(frozen=True)
class RawReading:
    """One leader's raw values at one instant.

    ``values`` holds gauges and cumulative counters per signal; ``histograms`` each
    latency signal's cumulative histogram {le: count}. A signal absent from both was not
    exported. ``counter_parts`` and ``histogram_parts`` hold the same counters and
    histograms per series (per data-parallel engine), before the sum: a rate must be
    taken per series, since one engine's reset drops the sum while the others go on.
    """

    values: Mapping[Signal, float] = field(default_factory=dict)
    histograms: Mapping[Signal, Mapping[float, float]] = field(default_factory=dict)
    counter_parts: Mapping[Signal, Mapping[PartKey, float]] = field(default_factory=dict)
    histogram_parts: Mapping[PartKey, Mapping[Signal, Mapping[float, float]]] = field(
        default_factory=dict
    )


def series_parts(
    fam: Family, engine: ServingEngine, series: Iterable[tuple[Labels, float]]
) -> dict[PartKey, float] | None:
    """A family's series on one leader, one value per part (max over rank labels);
    None when one is infinite: no sum or mean with an infinite term means anything
    (and fsum raises on +Inf + -Inf, which would fail the whole fetch, every LWS).

    NaN as PromQL reads it, so that every source gives the same snapshot: ``max`` over
    ranks passes it over when another rank has a number, and a part that is NaN makes
    the sum NaN (the engine's "unusable", the leader's load then estimated). Skipped, a
    NaN engine beside one waiting 3 read as 3 waiting on the whole leader.
    """
    ranks = RANK_LABELS[engine] if fam.kind is MetricKind.GAUGE else frozenset()
    collapsed: dict[PartKey, float] = {}
    for labels, value in series:
        if math.isinf(value):
            return None
        key = tuple(sorted((k, v) for k, v in labels.items() if k not in ranks))
        known = collapsed.get(key)
        if known is None or math.isnan(known) or value > known:
            collapsed[key] = value
    return collapsed


def reduce_series(
    fam: Family, engine: ServingEngine, series: Iterable[tuple[Labels, float]]
) -> float | None:
    """One number from a family's series on one leader (see the module docstring).

    Worked example, vLLM with two engines waiting 3 and 4 requests: 7. SGLang with TP=2
    reporting ``token_usage`` 0.4 on both ranks: max 0.4 per rank set, mean 0.4. An
    infinite series makes it NaN, which the engine reads as unusable.
    """
    return _combine(fam, series_parts(fam, engine, series))


def _combine(fam: Family, parts: Mapping[PartKey, float] | None) -> float | None:
    if parts is None:
        return math.nan
    if not parts:
        return None
    values = list(parts.values())
    try:
        total = math.fsum(values)
    except OverflowError:  # finite terms whose sum is not (two of 1e308)
        return math.nan
    return total if fam.reduction is Reduction.SUM else total / len(values)


def _le(labels: Labels) -> float | None:
    try:
        return float(labels["le"])
    except (KeyError, ValueError):
        return None


def reading_from_samples(
    engine: ServingEngine,
    samples: Mapping[str, list[tuple[Labels, float]]],
    model_name: str | None = None,
) -> RawReading:
    """Reduce ``{sample name: [(labels, value)]}`` to a :class:`RawReading`."""

    def keep(labels: Labels) -> bool:
        return model_name is None or labels.get("model_name") == model_name

    values: dict[Signal, float] = {}
    histograms: dict[Signal, dict[float, float]] = {}
    counter_parts: dict[Signal, Mapping[PartKey, float]] = {}
    histogram_parts: dict[PartKey, dict[Signal, Mapping[float, float]]] = defaultdict(dict)
    for fam in families(engine):
        for name in fam.names:
            if fam.kind is MetricKind.HISTOGRAM:
                found, by_part = _histogram(fam, engine, samples, name, keep)
                if found:
                    histograms[fam.signal] = found
                    for part, buckets in by_part.items():
                        histogram_parts[part][fam.signal] = buckets
                    break
                continue
            series = [(lb, v) for lb, v in samples.get(name, []) if keep(lb)]
            parts = series_parts(fam, engine, series)
            value = _combine(fam, parts)
            if value is not None:
                values[fam.signal] = value
                if fam.kind is MetricKind.COUNTER and parts:
                    counter_parts[fam.signal] = parts
                break
    return RawReading(values, histograms, counter_parts, dict(histogram_parts))


def _histogram(
    fam: Family,
    engine: ServingEngine,
    samples: Mapping[str, list[tuple[Labels, float]]],
    name: str,
    keep: Callable[[Labels], bool],
) -> tuple[dict[float, float], dict[PartKey, dict[float, float]]]:
    """The histogram summed over parts ({le: count}), and per part."""
    by_le: dict[float, list[tuple[Labels, float]]] = defaultdict(list)
    for labels, value in samples.get(f"{name}_bucket", []):
        le = _le(labels)
        if le is not None and keep(labels):
            by_le[le].append(({k: v for k, v in labels.items() if k != "le"}, value))
    if by_le and math.inf not in by_le:
        # Truncated captures (the vLLM design-doc example) omit +Inf; _count is the same
        # number by definition of a Prometheus histogram.
        counts = [(lb, v) for lb, v in samples.get(f"{name}_count", []) if keep(lb)]
        if counts:
            by_le[math.inf] = counts
    result: dict[float, float] = {}
    by_part: dict[PartKey, dict[float, float]] = defaultdict(dict)
    for le, series in by_le.items():
        parts = series_parts(fam, engine, series)
        reduced = _combine(fam, parts)
        if reduced is not None:
            result[le] = reduced
            for part, count in (parts or {}).items():
                by_part[part][le] = count
    return result, dict(by_part)


def samples_by_name(text: str) -> dict[str, list[tuple[Labels, float]]]:
    """Every sample of an exposition, grouped by sample name (``prometheus_client``'s parser)."""
    grouped: dict[str, list[tuple[Labels, float]]] = defaultdict(list)
    try:
        for metric in text_string_to_metric_families(text):
            for sample in metric.samples:
                grouped[sample.name].append((dict(sample.labels), float(sample.value)))
    # Not only ValueError: the parser raises IndexError on some malformed label sets
    # (``x{a="b", =1} 1``), and the text comes from a pod. Such an error used to escape
    # the fetch, so one leader's page held every LWS on no data, not that scrape only.
    except Exception as exc:
        raise ExpositionError(f"invalid Prometheus exposition: {exc!r}") from exc
    return dict(grouped)


def parse_exposition(text: str, engine: ServingEngine, model_name: str | None = None) -> RawReading:
    """One leader's ``/metrics`` body -> its raw reading for ``engine``'s families."""
    return reading_from_samples(engine, samples_by_name(text), model_name)
