"""Which HorizontalPodAutoscalers scale each LeaderWorkerSet, and what to tell about them.

An LWS scales only if exactly one HPA targets it and that HPA can act. Two HPAs on one
LWS (the chart's next to a KEDA ScaledObject's ``keda-hpa-...``, or an old recipe left
over from a migration) and the HPA controller scales it with neither: its
ambiguous-selector check (Kubernetes 1.26 and later; the chart needs 1.27) sets
``ScalingActive=False`` with reason ``AmbiguousSelector`` on both, every sync, while our
recommendation keeps being served as if it mattered. An HPA that cannot read the
external metric (``FailedGetExternalMetric``: the APIService is down) or the LWS's scale
(``FailedGetScale``) stops as quietly, and one whose ``maxReplicas`` is below the
policy's (or ``minReplicas`` above) clamps the recommendation to its own bounds.

This module owns the pure part: reading ``autoscaling/v2`` HPA objects
(:func:`lws_of`, :func:`standing_of`), matching them to the LWSes
(:func:`hpas_by_lws`), what two audits in a row agree on (:func:`confirmed`), and the
Warning Events a change of that makes (:func:`hpa_events`). Listing them and reporting
is :mod:`~autoscaler.server.hpa_audit`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from autoscaler.errors import one_line
from autoscaler.policy.model import ScalingPolicy
from autoscaler.server.events import LwsEvent, cut_note
from autoscaler.server.series import METRICS
from autoscaler.snapshot import LwsKey
from autoscaler.sources.cluster import LWS_GROUP

# The conditions that say whether an HPA acts at all. ``ScalingLimited`` only says it
# is held at a bound (``TooManyReplicas``): it still scales.
BLOCKING_CONDITIONS = ("AbleToScale", "ScalingActive")
# The reason the HPA controller gives each of several HPAs whose targets' pods overlap
# (its ambiguous-selector check, Kubernetes 1.26 and later).
AMBIGUOUS = "AmbiguousSelector"
# ``scaleTargetRef.kind`` values that resolve to the LWS: discovery's RESTMapper maps the
# kind and its lowercase form (client-go restmapper, NewDiscoveryRESTMapper).
KINDS = ("LeaderWorkerSet", "leaderworkerset")
# A condition's message can be long (a metric error quoting a whole Status); the Event's
# note is cut at 1,024 bytes anyway, and several HPAs may share one.
_MESSAGE_SHOWN = 300


@dataclass(frozen=True)
class Stopped:
    """A False blocking condition of one HPA."""

    condition: str
    reason: str
    message: str


@dataclass(frozen=True)
class HpaStanding:
    """One HPA that targets an LWS: its name, when it cannot scale, why, and whether it
    reads one of this server's metrics (else it scales on its own: a CPU recipe, another
    adapter's metric, and this server's recommendation reaches nothing)."""

    name: str
    stopped: Stopped | None = None
    follows: bool = True
    narrower: str | None = None
    """How its minReplicas/maxReplicas cut the policy's range (see :func:`narrower`)."""


@dataclass(frozen=True)
class PolicyBounds:
    """The range a policy's recommendation moves in: ``replicas.min`` to
    ``replicas.max``, and 0 too with scale-to-zero."""

    low: int
    high: int
    to_zero: bool = False

    @classmethod
    def of(cls, policy: ScalingPolicy) -> PolicyBounds:
        spec = policy.spec
        return cls(spec.replicas.min, spec.replicas.max, spec.scale_to_zero.enabled)


def lws_of(hpa: Any) -> LwsKey | None:
    """The LWS an HPA object scales (``spec.scaleTargetRef`` of kind ``LeaderWorkerSet``
    in group ``leaderworkerset.x-k8s.io``, any version, in the HPA's namespace); None
    when it scales something else or cannot be read (an object of any shape: it comes
    from the API as JSON)."""
    if not isinstance(hpa, dict):
        return None
    meta, spec = hpa.get("metadata"), hpa.get("spec")
    ref = spec.get("scaleTargetRef") if isinstance(spec, dict) else None
    if not isinstance(meta, dict) or not isinstance(ref, dict):
        return None
    namespace, name = meta.get("namespace"), ref.get("name")
    api_version = ref.get("apiVersion")
    # As the HPA controller reads it: ParseGroupVersion ("group/version"; a bare word is
    # a version of the core group, where no LeaderWorkerSet is; two slashes are no
    # apiVersion at all), then the REST mappings of (group, kind), whatever the version.
    # Discovery maps a kind's lowercase form too.
    text = api_version if isinstance(api_version, str) else ""
    group = text.partition("/")[0] if text.count("/") == 1 else ""
    if ref.get("kind") not in KINDS or group != LWS_GROUP:
        return None
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    return LwsKey(namespace, name)


def standing_of(hpa: Mapping[str, Any], bounds: PolicyBounds | None = None) -> HpaStanding:
    """The HPA's name, its first False blocking condition, in
    :data:`BLOCKING_CONDITIONS`' order, whether it reads this server's metrics and, given
    the policy's ``bounds``, how its own cut them. An HPA without a status yet (just
    created) is not stopped: the controller has not looked at it."""
    name = str(hpa["metadata"].get("name", ""))
    status = hpa.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    found: dict[str, Stopped] = {}
    for condition in conditions if isinstance(conditions, list) else ():
        if not isinstance(condition, dict) or condition.get("status") != "False":
            continue
        kind = condition.get("type")
        if kind in BLOCKING_CONDITIONS and kind not in found:
            found[kind] = Stopped(
                kind,
                str(condition.get("reason") or "no reason given"),
                one_line(str(condition.get("message") or ""), _MESSAGE_SHOWN),
            )
    first = next((found[kind] for kind in BLOCKING_CONDITIONS if kind in found), None)
    spec = hpa.get("spec")
    follows = _reads_ours(spec)
    cut = narrower(spec, bounds) if follows and bounds is not None else None
    return HpaStanding(name, first, follows, cut)


def narrower(spec: object, bounds: PolicyBounds) -> str | None:
    """How an HPA's ``minReplicas``/``maxReplicas`` cut the policy's range, or None.
    The HPA clamps what it reads to its own bounds: with ``maxReplicas: 4`` under a
    policy whose ``replicas.max`` is 8, a recommendation of 6 scales to 4; with
    ``minReplicas: 1`` a scale-to-zero policy's 0 never happens. The chart's HPA copies
    the policy's bounds, so only a hand-made one differs (or the chart's for the minutes
    a ``helm upgrade`` that tightens them takes to reach the policy file)."""
    if not isinstance(spec, dict):
        return None
    # minReplicas defaults to 1 when left out (the API's default).
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    cuts: list[str] = []
    if _count(high) and high < bounds.high:
        cuts.append(
            f"its maxReplicas {high} is below the policy's replicas.max {bounds.high}: "
            f"a recommendation above {high} scales to {high}"
        )
    if _count(low) and bounds.to_zero and low > 0:
        cuts.append(
            f"its minReplicas {low} keeps at least {low}: the policy's scale-to-zero never "
            "reaches 0 (that needs minReplicas 0, with the HPAScaleToZero feature)"
        )
    if _count(low) and low > bounds.low:
        cuts.append(
            f"its minReplicas {low} is above the policy's replicas.min {bounds.low}: "
            f"a recommendation below {low} scales to {low}"
        )
    return "; ".join(cuts) or None


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _reads_ours(spec: object) -> bool:
    """Whether ``spec.metrics`` has an External metric this server serves."""
    metrics = spec.get("metrics") if isinstance(spec, dict) else None
    for metric in metrics if isinstance(metrics, list) else ():
        if not isinstance(metric, dict) or metric.get("type") != "External":
            continue
        external = metric.get("external")
        identifier = external.get("metric") if isinstance(external, dict) else None
        name = identifier.get("name") if isinstance(identifier, dict) else None
        if isinstance(name, str) and name in METRICS:
            return True
    return False


def hpas_by_lws(
    listed: Mapping[str, Iterable[Any]],
    keys: Collection[LwsKey],
    bounds: Mapping[LwsKey, PolicyBounds] | None = None,
) -> dict[LwsKey, tuple[HpaStanding, ...]]:
    """For each LWS of ``keys`` whose namespace was listed (``listed``: namespace -> its
    HPA objects), the HPAs that target it, by name, each measured against its policy's
    ``bounds``; an LWS of a namespace not listed has no entry: unknown, not "no HPA"."""
    found: dict[LwsKey, list[HpaStanding]] = {k: [] for k in keys if k.namespace in listed}
    for hpas in listed.values():
        for hpa in hpas:
            key = lws_of(hpa)
            if key is not None and key in found:
                found[key].append(standing_of(hpa, (bounds or {}).get(key)))
    return {k: tuple(sorted(v, key=lambda s: s.name)) for k, v in found.items()}


def confirmed(
    previous: Mapping[LwsKey, tuple[HpaStanding, ...]],
    current: Mapping[LwsKey, tuple[HpaStanding, ...]],
) -> dict[LwsKey, tuple[HpaStanding, ...]]:
    """What two audits in a row agree on, for the Events: per LWS of both, the HPAs both
    saw, each stopped only if both saw it stopped for the same condition and reason,
    and narrower only if both read the same bounds of the one HPA, which scales.

    One reading is not enough for a Warning: an HPA misses its metric for a sync while
    this server restarts, and a chart upgrade that renames an HPA has both for a moment.
    With a 60 s audit, a problem is told after one to two minutes (the alerts wait 5 and
    10), and a blip shorter than an interval not at all. An LWS first seen this audit
    has no entry: nothing to tell yet."""
    agreed: dict[LwsKey, tuple[HpaStanding, ...]] = {}
    for key, hpas in current.items():
        before = previous.get(key)
        if before is None:
            continue
        was = {h.name: h for h in before}
        both = [h for h in hpas if h.name in was]
        agreed[key] = tuple(_agree(was[h.name], h, alone=len(both) == 1) for h in both)
    return agreed


def _agree(before: HpaStanding, now: HpaStanding, *, alone: bool) -> HpaStanding:
    """What two readings of one HPA agree on. Its bounds matter only as the one HPA of
    the LWS, scaling: with two, or a stopped one, that is the problem to tell (and the
    cut too, once it is the only one left)."""
    stopped = now.stopped if _same(before.stopped, now.stopped) else None
    cut = now.narrower if before.narrower == now.narrower else None
    judged = alone and now.stopped is None
    return HpaStanding(now.name, stopped, now.follows, cut if judged else None)


def _same(a: Stopped | None, b: Stopped | None) -> bool:
    """The same stop: condition and reason (its message may carry a changing value)."""
    return a is not None and b is not None and (a.condition, a.reason) == (b.condition, b.reason)


def hpa_events(
    previous: Mapping[LwsKey, tuple[HpaStanding, ...]],
    current: Mapping[LwsKey, tuple[HpaStanding, ...]],
) -> list[LwsEvent]:
    """The Warnings of going from the ``previous`` to the ``current`` :func:`confirmed`
    findings (empty at start-up: a problem that is there when the server starts is told
    once, as a new one):

    - ``CompetingAutoscalers`` when two or more HPAs target an LWS and they are not the
      ones that already did;
    - ``HPANotScaling`` when an HPA's blocking condition turns False, or its reason
      changes (``FailedGetExternalMetric`` then ``FailedGetScale``). Not for
      ``AmbiguousSelector`` while the LWS has several HPAs: that is the
      ``CompetingAutoscalers`` Warning's story, told once rather than once more per HPA;
    - ``HPABoundsNarrower`` when an HPA that follows this server cuts the policy's range
      with its own ``minReplicas``/``maxReplicas`` (:func:`narrower`)."""
    events: list[LwsEvent] = []
    for key, hpas in current.items():
        before = previous.get(key)
        names = [h.name for h in hpas]
        if len(names) > 1 and (before is None or [h.name for h in before] != names):
            text = (
                f"{len(names)} HorizontalPodAutoscalers target this LeaderWorkerSet "
                f"({', '.join(names)}): the HPA controller scales it with none of them "
                "(AmbiguousSelector) until all but one are removed"
            )
            events.append(LwsEvent(key, "Warning", "CompetingAutoscalers", cut_note(text)))
        was = {h.name: h for h in before or ()}
        for hpa in hpas:
            old = was.get(hpa.name)
            if hpa.narrower is not None and (old is None or old.narrower != hpa.narrower):
                text = (
                    f"HorizontalPodAutoscaler {hpa.name} reads this recommendation but "
                    f"clamps it to narrower bounds than the policy's: {hpa.narrower}"
                )
                events.append(LwsEvent(key, "Warning", "HPABoundsNarrower", cut_note(text)))
            stopped = hpa.stopped
            if stopped is None or _same(old.stopped if old else None, stopped):
                continue
            if stopped.reason == AMBIGUOUS and len(names) > 1:
                continue
            text = (
                f"HorizontalPodAutoscaler {hpa.name} does not scale this LeaderWorkerSet: "
                f"{stopped.condition} is False ({stopped.reason})"
            )
            if stopped.message:
                text += f": {stopped.message}"
            events.append(LwsEvent(key, "Warning", "HPANotScaling", cut_note(text)))
    return events
