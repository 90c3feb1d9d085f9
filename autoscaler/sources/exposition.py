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


@dataclass(frozen=True)
class RawReading:
    """One leader's raw values at one instant.

    ``values`` holds gauges and cumulative counters per signal; ``histograms`` each
    latency signal's cumulative histogram {le: count}. A signal absent from both was not
    exported.
    """

    values: Mapping[Signal, float] = field(default_factory=dict)
    histograms: Mapping[Signal, Mapping[float, float]] = field(default_factory=dict)


def reduce_series(
    fam: Family, engine: ServingEngine, series: Iterable[tuple[Labels, float]]
) -> float | None:
    """One number from a family's series on one leader (see the module docstring).

    Worked example, vLLM with two engines waiting 3 and 4 requests: 7. SGLang with TP=2
    reporting ``token_usage`` 0.4 on both ranks: max 0.4 per rank set, mean 0.4.
    """
    ranks = RANK_LABELS[engine] if fam.kind is MetricKind.GAUGE else frozenset()
    collapsed: dict[tuple[tuple[str, str], ...], float] = {}
    for labels, value in series:
        if math.isnan(value):
            continue
        if math.isinf(value):
            # No sum or mean with an infinite term means anything (and fsum raises on
            # +Inf + -Inf, which would fail the whole fetch, every LWS): the leader's
            # reading of this family is unusable, as the engine treats NaN.
            return math.nan
        key = tuple(sorted((k, v) for k, v in labels.items() if k not in ranks))
        collapsed[key] = max(value, collapsed.get(key, -math.inf))
    if not collapsed:
        return None
    values = list(collapsed.values())
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
    for fam in families(engine):
        for name in fam.names:
            if fam.kind is MetricKind.HISTOGRAM:
                found = _histogram(fam, engine, samples, name, keep)
                if found:
                    histograms[fam.signal] = found
                    break
                continue
            series = [(lb, v) for lb, v in samples.get(name, []) if keep(lb)]
            value = reduce_series(fam, engine, series)
            if value is not None:
                values[fam.signal] = value
                break
    return RawReading(values, histograms)


def _histogram(
    fam: Family,
    engine: ServingEngine,
    samples: Mapping[str, list[tuple[Labels, float]]],
    name: str,
    keep: Callable[[Labels], bool],
) -> dict[float, float]:
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
    for le, series in by_le.items():
        reduced = reduce_series(fam, engine, series)
        if reduced is not None:
            result[le] = reduced
    return result


def samples_by_name(text: str) -> dict[str, list[tuple[Labels, float]]]:
    """Every sample of an exposition, grouped by sample name (``prometheus_client``'s parser)."""
    grouped: dict[str, list[tuple[Labels, float]]] = defaultdict(list)
    try:
        for metric in text_string_to_metric_families(text):
            for sample in metric.samples:
                grouped[sample.name].append((dict(sample.labels), float(sample.value)))
    except ValueError as exc:
        raise ExpositionError(f"invalid Prometheus exposition: {exc}") from exc
    return dict(grouped)


def parse_exposition(text: str, engine: ServingEngine, model_name: str | None = None) -> RawReading:
    """One leader's ``/metrics`` body -> its raw reading for ``engine``'s families."""
    return reading_from_samples(engine, samples_by_name(text), model_name)
