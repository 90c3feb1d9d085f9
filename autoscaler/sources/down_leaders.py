"""Leaders whose scrapes fail, for the Prometheus source without a cluster reader.

Without the Kubernetes API the reporting leaders stand for the LWS's replica counts
(:mod:`autoscaler.sources.assemble`). A leader whose scrapes *fail* (a timeout, a 500,
a refused connection: an overloaded vLLM) reports nothing: Prometheus writes a
staleness marker for each of its series at the failed scrape. Counted from the series
alone, 3 leaders at 10 waiting with 2 failing read as 1 group at 10, and the engine
followed that size down. This module asks Prometheus which leader targets are down
*now*, so that such a leader counts as a ready group that does not report: the engine's
partial-data rules then assume it carries the average load and refuse a scale-down.

**The query** (one per cycle, for all targets): a pod whose synthetic ``up`` series is 0
now, *and* that exported the engine's queue-depth family (the one family every source
reads for every target, :data:`~autoscaler.sources.families.LEADER_SIGNALS`) within
:data:`DOWN_LOOKBACK`. The second half keeps out a worker pod scraped by a broader
PodMonitor (its ``up`` may be 0 forever, but it never served vLLM's or SGLang's
metrics) and any other target of the LWS that is not a serving leader. It works on a
failing leader because a range selector skips staleness markers: ``last_over_time``
still sees the last real sample before the scrapes began to fail. The answer is tagged
with ``lws_autoscaler_field="down"`` so that it is never mistaken for leader values.

**Only pods kube-state-metrics lists, and not those it says are leaving.** A leader
shutting down after a scale-down refuses its scrapes too (uvicorn closes its listener
at SIGTERM and finishes its requests), while its pod is still a target. Counted, it is
a ready group the HPA has just removed: the snapshot reads one group more than
``spec.replicas``, partial data refuses the scale-down, and the recommendation takes
the LWS back up, at every scale-down that catches one failed scrape. Only
kube-state-metrics tells the two apart from Prometheus: a down pod counts when it is in
``kube_pod_info`` and not in ``kube_pod_deletion_timestamp`` (standard pod metrics,
labelled ``namespace`` and ``pod``). Where kube-state-metrics is not scraped, or its
own scrape fails, nothing counts, and a failing leader is a group fewer, as without
this module: an undone scale-down at every scale-down is no better than the risk this
module removes.

**Failure.** The query is a refinement: when it fails in any way (rejected, timed out,
past the fetch's deadline, malformed), the cycle goes on without it, as before this
module existed (a failing leader is a group fewer), and a warning says so. It never
fails a cycle whose default queries succeeded.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autoscaler.errors import SourceError
from autoscaler.signals import ServingEngine, Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import Target
from autoscaler.sources.families import family
from autoscaler.sources.prometheus_frames import parse_points
from autoscaler.sources.promql import (
    FIELD_LABEL,
    LabelNames,
    format_window,
    regex_literal,
    selector,
)

log = logging.getLogger(__name__)

DOWN_LOOKBACK = 600.0
"""How recently a down pod must have exported the engine's metrics to count as a leader.

Long enough to bridge an overload: a vLLM that answers its scrapes too late while it
works through a burst can do so for minutes, until the groups the engine ordered take
load off it (cold starts of large models take 5-10 minutes), and all that time the
engine must not read its group as gone. Short enough that a leader whose server is gone
for good (a crash loop, a port that stays closed) stops counting after 10 minutes and
reads, as before, as a group fewer: counted, it would hold every scale-down back
(partial data) and have the average load put on it. Cheap: the range reads one gauge
per pod, 40 samples at 15 s scrapes.
"""

DOWN_FIELD = "down"
"""The value of :data:`~autoscaler.sources.promql.FIELD_LABEL` on the answer's series."""

Run = Callable[[str], list[dict[str, Any]]]


def down_leaders_query(targets: Sequence[Target], labels: LabelNames) -> str:
    """One query for every target: leader pods down now that served recently.

    The ``up`` half selects on namespace and LWS only (``up`` carries no ``model_name``);
    the exported half on what the targets' default queries select on, per engine and
    model name. Both are reduced ``by (namespace, <lws label>, pod)``, so a leader
    scraped by two jobs is one pod, and a down pod is matched to its own series only.
    """
    by = labels.by_leader
    window = format_window(DOWN_LOOKBACK)
    grouped: dict[tuple[ServingEngine, str | None], list[Target]] = defaultdict(list)
    for target in targets:
        metrics = target.policy.spec.metrics
        grouped[(metrics.engine, metrics.model_name)].append(target)
    served: list[str] = []
    for (engine, model_name), members in sorted(grouped.items(), key=lambda g: str(g[0])):
        matchers = selector(members, labels, model_name)
        for name in family(engine, Signal.QUEUE_DEPTH).sample_names:
            served.append(f"count by ({by}) (last_over_time({name}{{{matchers}}}[{window}]))")
    down = f"count by ({by}) (up{{{selector(targets, labels, None)}}} == 0)"
    leaders = f"({down} and on ({by}) ({' or '.join(served)}))"
    pods = f"{labels.namespace}, {labels.pod}"
    listed = _state_metric("kube_pod_info", targets, labels)
    leaving = _state_metric("kube_pod_deletion_timestamp", targets, labels)
    both = f"{leaders} and on ({pods}) ({listed} unless on ({pods}) {leaving})"
    return f'label_replace({both}, "{FIELD_LABEL}", "{DOWN_FIELD}", "", "")'


def _state_metric(name: str, targets: Sequence[Target], labels: LabelNames) -> str:
    """A kube-state-metrics pod metric of the targets' namespaces, under the label names
    the leader series use (kube-state-metrics always says ``namespace`` and ``pod``)."""
    names = regex_literal(t.key.namespace for t in targets)
    out = f"{name}{{namespace=~{names}}}"
    for ours, theirs in ((labels.namespace, "namespace"), (labels.pod, "pod")):
        if ours != theirs:
            out = f'label_replace({out}, "{ours}", "$1", "{theirs}", "(.*)")'
    return out


def parse_down(
    items: list[dict[str, Any]], targets: Sequence[Target], labels: LabelNames
) -> dict[LwsKey, frozenset[str]]:
    """The answer as down leader pods per target (the batched selector also matches
    other (namespace, LWS) pairs: those are dropped, as for the signal queries)."""
    wanted = {t.key for t in targets}
    found: dict[LwsKey, set[str]] = defaultdict(set)
    for metric, _t, _v in parse_points(items):
        if metric.get(FIELD_LABEL) != DOWN_FIELD:
            continue
        key = LwsKey(metric.get(labels.namespace, ""), metric.get(labels.lws, ""))
        pod = metric.get(labels.pod, "")
        if key in wanted and pod:
            found[key].add(pod)
    return {key: frozenset(pods) for key, pods in found.items()}


def read_down_leaders(
    targets: Sequence[Target], labels: LabelNames, run: Run, url: str
) -> Mapping[LwsKey, frozenset[str]]:
    """Down leader pods per target; none (with a warning) when the query fails."""
    if not targets:
        return {}
    try:
        return parse_down(run(down_leaders_query(targets, labels)), targets, labels)
    except SourceError as exc:
        log.warning(
            "Prometheus at %s: the query for leaders whose scrapes fail did not succeed "
            "(%s); this cycle counts only the leaders that report, so a failing leader "
            "is a group fewer",
            url,
            exc,
        )
        return {}


__all__ = ["DOWN_LOOKBACK", "down_leaders_query", "parse_down", "read_down_leaders"]
