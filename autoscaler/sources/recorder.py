"""Records the raw series the policies need from Prometheus into a :class:`Recording`.

What is stored is *raw*: gauges, cumulative counters and cumulative histogram buckets,
one series per leader pod and family (engines of a data-parallel vLLM summed, SGLang's
repeated per-rank gauges collapsed with ``max``), never rates or quantiles. A policy with
another ``rateWindow``, quantile or signal can therefore be replayed on the same inputs.
Summing the engines' counters *before* ``rate()`` differs from PromQL's rate-then-sum only
across a counter reset of a single engine, which in practice restarts with its pod.

Replica counts are recorded too when Prometheus has them: by default the
kube-state-metrics custom-resource gauges of ``deploy/prometheus/
kube-state-metrics-lws.yaml`` (``kube_leaderworkerset_{spec,status,status_ready}_replicas``
labelled ``namespace`` and ``leaderworkerset``). Without them, replays count reporting
leaders instead.

Ranges are cut into chunks of at most 10,000 steps (Prometheus refuses more than 11,000
points per series): a week at 15 s is 5 chunks per query. The grid starts on a whole
second and steps in whole milliseconds, Prometheus's resolution. Only the targets' series
are kept (the selectors match the cross product of their namespaces and LWS names), and a
leader series counts only with the namespace, LWS and pod labels a replay needs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Template

from autoscaler.durations import format_duration_ms
from autoscaler.errors import SourceError
from autoscaler.signals import MetricKind, ServingEngine
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import Target
from autoscaler.sources.families import Reduction, families
from autoscaler.sources.prometheus import chunks
from autoscaler.sources.prometheus_api import (
    PrometheusQueryClient,
    milliseconds,
    whole_milliseconds,
)
from autoscaler.sources.promql import (
    LabelNames,
    collapse_copies,
    regex_literal,
    selector,
    string_literal,
)
from autoscaler.sources.range_answer import matrix_item
from autoscaler.sources.recording_format import (
    ACTIVATION_SERIES,
    REPLICA_SERIES,
    RecordedTarget,
    Recording,
    Series,
)
from autoscaler.sources.recording_header import FIRST_SECOND, LAST_SECOND, MAX_GRID_STEPS

Progress = Callable[[int, int], None]

RECORD_MAX_ANSWER_BYTES = 1024 * 1024 * 1024
"""The cap on one chunk's answer when recording (1 GiB), above the control loop's 64 MiB:
a bucket query for 50 leaders x 18 buckets x 10,000 steps at ~22 bytes a point is ~200
MB, and ``record`` runs on a workstation, not in the autoscaler's 512Mi pod."""


@dataclass(frozen=True)
class ReplicaMetrics:
    """Where Prometheus keeps LWS replica counts (kube-state-metrics custom resources)."""

    spec: str = "kube_leaderworkerset_spec_replicas"
    status: str = "kube_leaderworkerset_status_replicas"
    ready: str = "kube_leaderworkerset_status_ready_replicas"
    namespace_label: str = "namespace"
    name_label: str = "leaderworkerset"


@dataclass(frozen=True)
class RecordQuery:
    """One range query and how to label what it returns."""

    promql: str
    name: str  # stored as __name__
    rename: tuple[tuple[str, str], ...] = ()  # (from label, to label)


def raw_queries(targets: Sequence[Target], labels: LabelNames) -> list[RecordQuery]:
    """Per (engine, model) group of targets, one query per raw family name."""
    groups: dict[tuple[ServingEngine, str | None], list[Target]] = defaultdict(list)
    for target in targets:
        metrics = target.policy.spec.metrics
        groups[(metrics.engine, metrics.model_name)].append(target)
    queries = []
    for (engine, model), members in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or "")):
        matchers = selector(members, labels, model)
        for fam in families(engine):
            op = "sum" if fam.reduction is Reduction.SUM else "avg"
            for name in fam.sample_names:
                inner = collapse_copies(engine, fam.kind, f"{name}{{{matchers}}}")
                by = labels.by_leader + (", le" if fam.kind is MetricKind.HISTOGRAM else "")
                queries.append(RecordQuery(f"{op} by ({by}) ({inner})", name))
    return queries


def replica_queries(
    targets: Sequence[Target], labels: LabelNames, metrics: ReplicaMetrics
) -> list[RecordQuery]:
    ns_re = regex_literal(t.key.namespace for t in targets)
    name_re = regex_literal(t.key.name for t in targets)
    queries = []
    for field_name, stored in REPLICA_SERIES.items():
        metric = getattr(metrics, field_name)
        by = f"{metrics.namespace_label}, {metrics.name_label}"
        promql = (
            f"max by ({by}) ({metric}{{{metrics.namespace_label}=~{ns_re}, "
            f"{metrics.name_label}=~{name_re}}})"
        )
        rename = ((metrics.namespace_label, labels.namespace), (metrics.name_label, labels.lws))
        queries.append(RecordQuery(promql, stored, rename))
    return queries


def activation_queries(targets: Sequence[Target], labels: LabelNames) -> list[RecordQuery]:
    """Each scale-to-zero policy's activation expression, labelled with its LWS.

    The expression is recorded as evaluated then (it usually reads a gateway, not the
    leaders); a replay with a *changed* activation query still sees the recorded one.
    """
    queries = []
    for target in targets:
        zero = target.policy.spec.scale_to_zero
        if not zero.enabled or zero.activation is None:
            continue
        expression = Template(zero.activation.query).safe_substitute(
            namespace=string_literal(target.key.namespace), name=string_literal(target.key.name)
        )
        tagged = (
            f"label_replace(label_replace(sum(({expression})), {string_literal(labels.namespace)}, "
            f'{string_literal(target.key.namespace)}, "", ""), {string_literal(labels.lws)}, '
            f'{string_literal(target.key.name)}, "", "")'
        )
        queries.append(RecordQuery(tagged, ACTIVATION_SERIES))
    return queries


def range_problem(start: float, end: float, step: float) -> str | None:
    """Why ``[start, end]`` at ``step`` cannot be recorded, or None.

    Checked before the first query: a span of more than :data:`MAX_GRID_STEPS` steps is a
    file ``simulate`` refuses to replay (60 days at 1 s is 5,184,001 steps: 519 chunks of
    11 queries for one vLLM policy, 5,709 queries for nothing), and an ``end`` of 1e15
    would have the chunks listed for ever. Written so that NaN fails (``not end > start``
    is True for NaN). The start is rounded as :func:`record` rounds it, and the step must
    be whole milliseconds (Prometheus would step by other ones than the file says).
    """
    if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(step)):
        return "start, end and step must be finite numbers"
    if not step >= 1:
        return "the step must be at least 1s"
    if not whole_milliseconds(step):
        return f"the step must be whole milliseconds (Prometheus's resolution), got {step!r}s"
    if not end > start:
        return "the end must be after the start"
    if end < round(start):
        return f"the start rounds to the whole second {round(start)}, after the end {end!r}"
    steps = (end - round(start)) // step + 1
    if steps > MAX_GRID_STEPS:
        return (
            f"{_figure((end - start) / 86400)} days at a {format_duration_ms(step)} step is "
            f"{_figure(steps)} steps, over the {MAX_GRID_STEPS:,} a recording may hold "
            "(simulate replays no more); record a shorter span or a longer step"
        )
    if not (start >= FIRST_SECOND and end <= LAST_SECOND):
        return f"times must be from 0001-01-01 to 9999-12-31 ({FIRST_SECOND} to {LAST_SECOND})"
    return None


def _figure(value: float) -> str:
    """``5,184,000`` or ``60.5``; ``1.16e+296`` past a million million (``--start=-1e300``
    would otherwise print a number 300 digits long)."""
    if value >= 1e12:
        return f"{value:.3g}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def record(
    client: PrometheusQueryClient,
    targets: Sequence[Target],
    start: float,
    end: float,
    step: float,
    *,
    labels: LabelNames | None = None,
    replicas: ReplicaMetrics | None = None,
    progress: Progress | None = None,
) -> Recording:
    """Query every raw series of ``targets`` over ``[start, end]`` at ``step``.

    Raises SourceError subclasses when Prometheus is down, refuses a query or answers
    one with anything but a matrix of ``[time, "value"]`` pairs; SourceError when no
    target has a single leader series in the range (a wrong LWS label, leaders not
    scraped, a range before they ran), where the recording would replay nothing; and
    ValueError for a range :func:`range_problem` refuses. A recording in which only some
    targets have leader series is returned (an LWS scaled to zero throughout has none):
    :func:`leaderless` names them.
    """
    problem = range_problem(start, end, step)
    if problem is not None:
        raise ValueError(f"cannot record this range: {problem}")
    # Aligning the start keeps every chunk on one grid; the step as the nearest float to
    # its milliseconds (2001ms parses to 2.0010000000000003); the points up to ``end`` in
    # milliseconds, as range() sends it.
    start, step = float(round(start)), milliseconds(step) / 1000
    count = (milliseconds(end) - milliseconds(start)) // milliseconds(step) + 1
    names = labels or LabelNames()
    queries = (
        raw_queries(targets, names)
        + replica_queries(targets, names, replicas or ReplicaMetrics())
        + activation_queries(targets, names)
    )
    ranges = list(chunks(start, end, step))
    wanted = {(t.key.namespace, t.key.name) for t in targets}
    total, done = len(ranges) * len(queries), 0
    collected: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = defaultdict(list)
    for lo, hi in ranges:
        for query in queries:
            answer = client.range(query.promql, lo, hi, step, max_bytes=RECORD_MAX_ANSWER_BYTES)
            for n, item in enumerate(answer):
                labels_of, points = matrix_item(item, n, query.name, query.promql, client.url)
                metric = dict(labels_of)
                for old, new in query.rename:
                    if old in metric:
                        metric[new] = metric.pop(old)
                if (metric.get(names.namespace), metric.get(names.lws)) not in wanted:
                    continue  # an LWS of the selectors' cross product that no policy targets
                metric["__name__"] = query.name
                key = tuple(sorted(metric.items()))
                collected[key].extend(points)
            done += 1
            if progress is not None:
                progress(done, total)
    series = [Series(dict(key), sorted(points)) for key, points in sorted(collected.items())]
    if not _leader_lws(series, names):
        when = f"from {_utc(start)} to {_utc(end)}"
        raise SourceError(_nothing_recorded(client.url, targets, when, names, series))
    recorded = tuple(
        RecordedTarget(t.key, t.policy.spec.metrics.engine, t.policy.spec.metrics.model_name)
        for t in targets
    )
    return Recording(
        start=start,
        end=start + step * (count - 1),
        step=step,
        labels=names,
        targets=recorded,
        series=series,
        source={"prometheusUrl": client.url},  # without credentials (PrometheusQueryClient)
    )


def _leader_lws(series: Sequence[Series], names: LabelNames, *, pod: bool = True) -> set[LwsKey]:
    """The LWS with a leader series (a raw family, not a replica count or an activation
    value) labelled with its namespace, LWS and, unless ``pod=False``, pod."""
    found = set()
    for metric in (s.metric for s in series):
        if metric.get("__name__") in (*REPLICA_SERIES.values(), ACTIVATION_SERIES):
            continue
        ns, lws = metric.get(names.namespace), metric.get(names.lws)
        if ns and lws and (metric.get(names.pod) or not pod):
            found.add(LwsKey(ns, lws))
    return found


def leaderless(recording: Recording, *, pod: bool = True) -> list[LwsKey]:
    """The recorded targets without one leader series labelled with their namespace, LWS
    and pod (scaled to zero throughout, or not scraped with the recording's labels);
    ``pod=False``: without one even among the series lacking the pod label."""
    found = _leader_lws(recording.series, recording.labels, pod=pod)
    return [t.key for t in recording.targets if t.key not in found]


def _nothing_recorded(
    url: str, targets: Sequence[Target], when: str, labels: LabelNames, series: Sequence[Series]
) -> str:
    unlabelled = sorted(_leader_lws(series, labels, pod=False))
    if unlabelled:
        return (
            f"Prometheus at {url} has leader series for {_keys(unlabelled)} {when}, but the "
            f"series lack the label {labels.pod!r} that tells a replay one leader from "
            "another: nothing recorded. Check that the scrape keeps the pod label on the "
            "leaders' series"
        )
    return (
        f"Prometheus at {url} has no leader series for any of the {len(targets)} LWS "
        f"({_keys([t.key for t in targets])}) {when}: nothing recorded. Check that the "
        f"leaders' series carry the LWS name in the label {labels.lws!r} (--lws-label) "
        "and that Prometheus scraped them in that range"
    )


def _keys(keys: Sequence[LwsKey]) -> str:
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return ", ".join(str(key) for key in keys[:5]) + more


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
