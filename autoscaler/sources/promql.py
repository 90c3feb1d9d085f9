"""PromQL for the Prometheus source: templates per engine and signal, safe label matchers,
and the batching of many targets into one query per signal.

**Batching.** Targets are grouped by what changes the query text: engine, model name,
``rateWindow`` (counters and histograms only), latency quantile, and any per-policy
override. Each group gets *one* query per signal whose selector matches all its LWS at
once (``namespace=~"a|b", <lws label>=~"x|y"``) and returns one series per leader pod
(``by (namespace, <lws label>, pod)``). With every policy on the defaults that is one
query per signal per cycle, for 1 target or 500; only the result grows.

**Freshness.** An instant query stamps every value with the evaluation time, which hides
a target that stopped being scraped. So each default query also returns, in the same
answer, the timestamp of the newest raw sample behind each value:
``(<value>) or label_replace(max by (...) (timestamp(<metric>)), "lws_autoscaler_field",
"timestamp", "", "")``. The extra label keeps the two halves apart.

**Templates.** Overrides are PromQL with ``$``-variables (``$`` never occurs in PromQL, so
the braces of label matchers need no escaping): ``$selector`` (the label matchers, without
braces), ``$window`` (``60s``), ``$by`` (``namespace, <lws label>, pod``), ``$lws_by``
(``namespace, <lws label>``), ``$quantile``. An override must return one series per
leader (per LWS for ``ttftSeconds`` and ``queueWaitSeconds``) labelled like ``$by``; its
values carry the evaluation time, as an override's freshness cannot be known.

**Escaping.** Every label value that comes from a policy or the cluster goes through
:func:`string_literal` (and :func:`regex_literal` inside ``=~``), so a value such as
``a"} or vector(1) #`` stays a literal that matches nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from string import Template

from autoscaler.policy.model import LatencySignal, ScalingPolicy
from autoscaler.signals import MetricKind, ServingEngine, Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import Target
from autoscaler.sources.families import (
    LEADER_SIGNALS,
    SCRAPE_LABELS,
    Family,
    Reduction,
    copies_labels,
    family,
)

DEFAULT_LWS_LABEL = "leaderworkerset_sigs_k8s_io_name"
"""``leaderworkerset.sigs.k8s.io/name`` after a PodMonitor's ``podTargetLabels`` (the
operator replaces every character outside ``[a-zA-Z0-9_]`` with ``_``)."""
FIELD_LABEL = "lws_autoscaler_field"
TARGET_LABEL = "lws_autoscaler_target"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class LabelNames:
    """The series labels that name a leader's namespace, LWS and pod."""

    namespace: str = "namespace"
    lws: str = DEFAULT_LWS_LABEL
    pod: str = "pod"

    def __post_init__(self) -> None:
        for name in (self.namespace, self.lws, self.pod):
            if not _LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid Prometheus label name")
            if name in SCRAPE_LABELS:
                # Copies of a series that differ only in these are collapsed before the
                # sum: a leader's identity cannot be one of them.
                raise ValueError(
                    f"{name!r} names the scrape, not the leader (the labels "
                    f"{', '.join(sorted(SCRAPE_LABELS))} are collapsed); relabel the LWS "
                    "name into a label of its own"
                )

    @property
    def by_leader(self) -> str:
        return f"{self.namespace}, {self.lws}, {self.pod}"

    @property
    def by_lws(self) -> str:
        return f"{self.namespace}, {self.lws}"


def string_literal(value: str) -> str:
    """A PromQL double-quoted string holding exactly ``value``."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def regex_literal(values: Iterable[str]) -> str:
    """A string literal for ``=~`` matching exactly these values (RE2 is fully anchored)."""
    alternatives = "|".join(re.escape(v) for v in sorted(set(values)))
    return string_literal(alternatives)


def format_window(seconds: float) -> str:
    """``60.0`` -> ``60s``; sub-second windows in ms (PromQL durations are integers)."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class GroupKey:
    """What makes two targets need different query text for one signal."""

    signal: Signal
    engine: ServingEngine
    model_name: str | None
    window: float | None
    quantile: float | None
    override: str | None


@dataclass(frozen=True)
class SignalQuery:
    """One query to run, and the targets whose series it returns."""

    key: GroupKey
    promql: str
    targets: tuple[Target, ...]

    @property
    def has_freshness(self) -> bool:
        return self.key.override is None


def latency_quantiles(policy: ScalingPolicy) -> dict[Signal, float]:
    """The latency signals ``policy`` scales on, each with its quantile."""
    return {
        spec.signal: float(spec.quantile)
        for spec in policy.spec.signals
        if isinstance(spec, LatencySignal)
    }


def _group_key(target: Target, signal: Signal) -> GroupKey:
    metrics = target.policy.spec.metrics
    kind = family(metrics.engine, signal).kind
    window = metrics.rate_window if kind is not MetricKind.GAUGE else None
    quantile = latency_quantiles(target.policy).get(signal)
    return GroupKey(
        signal, metrics.engine, metrics.model_name, window, quantile, metrics.overrides.get(signal)
    )


def selector(targets: Sequence[Target], labels: LabelNames, model_name: str | None) -> str:
    parts = [
        f"{labels.namespace}=~{regex_literal(t.key.namespace for t in targets)}",
        f"{labels.lws}=~{regex_literal(t.key.name for t in targets)}",
    ]
    if model_name is not None:
        parts.append(f"model_name={string_literal(model_name)}")
    return ", ".join(parts)


def _reduce(fam: Family, engine: ServingEngine, inner: str, by: str) -> str:
    op = "sum" if fam.reduction is Reduction.SUM else "avg"
    return f"{op} by ({by}) ({collapse_copies(engine, fam.kind, inner)})"


def collapse_copies(engine: ServingEngine, kind: MetricKind, inner: str) -> str:
    """``inner`` with its copies of one series (scrape labels, a gauge's ranks) made one."""
    return f"max without ({', '.join(sorted(copies_labels(engine, kind)))}) ({inner})"


def default_value(fam: Family, engine: ServingEngine) -> str:
    """The value half of a default query, as a template over ``$selector`` etc."""
    alternatives = []
    for name in fam.names:
        if fam.kind is MetricKind.GAUGE:
            alternatives.append(_reduce(fam, engine, f"{name}{{$selector}}", "$by"))
        elif fam.kind is MetricKind.COUNTER:
            alternatives.append(_reduce(fam, engine, f"rate({name}{{$selector}}[$window])", "$by"))
        else:
            buckets = f"rate({name}_bucket{{$selector}}[$window])"
            alternatives.append(f"histogram_quantile($quantile, sum by ($lws_by, le) ({buckets}))")
    return " or ".join(f"({a})" for a in alternatives)


def default_freshness(fam: Family) -> str:
    by = "$lws_by" if fam.kind is MetricKind.HISTOGRAM else "$by"
    suffix = "_count" if fam.kind is MetricKind.HISTOGRAM else ""
    parts = [f"max by ({by}) (timestamp({name}{suffix}{{$selector}}))" for name in fam.names]
    return " or ".join(parts)


def render(template: str, targets: Sequence[Target], labels: LabelNames, key: GroupKey) -> str:
    return Template(template).safe_substitute(
        selector=selector(targets, labels, key.model_name),
        window=format_window(key.window or 60.0),
        by=labels.by_leader,
        lws_by=labels.by_lws,
        quantile=repr(key.quantile if key.quantile is not None else 0.9),
    )


def signal_queries(targets: Sequence[Target], labels: LabelNames) -> list[SignalQuery]:
    """The batched queries of one cycle: per signal, one per distinct :class:`GroupKey`."""
    grouped: dict[GroupKey, list[Target]] = defaultdict(list)
    for target in targets:
        for signal in LEADER_SIGNALS:
            grouped[_group_key(target, signal)].append(target)
        for signal in latency_quantiles(target.policy):
            grouped[_group_key(target, signal)].append(target)
    queries = []
    for key, members in grouped.items():
        if key.override is not None:
            template = key.override
        else:
            fam = family(key.engine, key.signal)
            template = (
                f"({default_value(fam, key.engine)}) or label_replace("
                f'{default_freshness(fam)}, "{FIELD_LABEL}", "timestamp", "", "")'
            )
        queries.append(SignalQuery(key, render(template, members, labels, key), tuple(members)))
    return queries


def activation_query(targets: Sequence[Target]) -> tuple[str, dict[str, LwsKey]] | None:
    """One query for every policy's activation expression, each tagged with an index.

    ``$namespace`` and ``$name`` in an activation query are replaced by the escaped
    target (``"inference"``), so a gateway query can be written once per template.
    """
    parts: list[str] = []
    index: dict[str, LwsKey] = {}
    for target in targets:
        activation = target.policy.spec.scale_to_zero.activation
        if activation is None or not target.policy.spec.scale_to_zero.enabled:
            continue
        tag = str(len(parts))
        expression = Template(activation.query).safe_substitute(
            namespace=string_literal(target.key.namespace), name=string_literal(target.key.name)
        )
        parts.append(f'label_replace(sum(({expression})), "{TARGET_LABEL}", "{tag}", "", "")')
        index[tag] = target.key
    if not parts:
        return None
    return " or ".join(parts), index
