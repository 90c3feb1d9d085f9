"""Which HorizontalPodAutoscalers scale each LeaderWorkerSet, and what to tell about them.

An LWS scales only if exactly one HPA targets it and that HPA can act. Two HPAs on one
LWS (the chart's next to a KEDA ScaledObject's ``keda-hpa-...``, or an old recipe left
over from a migration) and the HPA controller scales it with neither: it sets
``ScalingActive=False`` with reason ``AmbiguousSelector`` on both, every sync, while our
recommendation keeps being served as if it mattered. An HPA that cannot read the
external metric (``FailedGetExternalMetric``: the APIService is down) or the LWS's scale
(``FailedGetScale``) stops as quietly.

This module owns the pure part: reading ``autoscaling/v2`` HPA objects
(:func:`lws_of`, :func:`standing_of`), matching them to the LWSes
(:func:`hpas_by_lws`), and the Warning Events a change of that picture makes
(:func:`hpa_events`). Listing them and reporting is :mod:`~autoscaler.server.hpa_audit`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autoscaler.errors import one_line
from autoscaler.server.events import LwsEvent, note
from autoscaler.snapshot import LwsKey
from autoscaler.sources.cluster import LWS_GROUP

# The conditions that say whether an HPA acts at all. ``ScalingLimited`` only says it
# is held at a bound (``TooManyReplicas``): it still scales.
BLOCKING_CONDITIONS = ("AbleToScale", "ScalingActive")
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
    """One HPA that targets an LWS: its name and, when it cannot scale, why."""

    name: str
    stopped: Stopped | None = None


def lws_of(hpa: Any) -> LwsKey | None:
    """The LWS an HPA object scales (``spec.scaleTargetRef`` of kind ``LeaderWorkerSet``
    in group ``leaderworkerset.x-k8s.io``, any version, in the HPA's namespace); None
    when it scales something else or cannot be read."""
    if not isinstance(hpa, dict):
        return None
    meta, spec = hpa.get("metadata"), hpa.get("spec")
    ref = spec.get("scaleTargetRef") if isinstance(spec, dict) else None
    if not isinstance(meta, dict) or not isinstance(ref, dict):
        return None
    namespace, name = meta.get("namespace"), ref.get("name")
    api_version = ref.get("apiVersion")
    # Without an apiVersion the reference is to the core group, where no
    # LeaderWorkerSet is: the HPA controller fails to find its scale, it scales nothing.
    group = api_version.partition("/")[0] if isinstance(api_version, str) else ""
    if ref.get("kind") != "LeaderWorkerSet" or group != LWS_GROUP:
        return None
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    return LwsKey(namespace, name)


def standing_of(hpa: Mapping[str, Any]) -> HpaStanding:
    """The HPA's name and its first False blocking condition, in
    :data:`BLOCKING_CONDITIONS`' order. An HPA without a status yet (just created)
    is not stopped: the controller has not looked at it."""
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
    return HpaStanding(name, first)


def hpas_by_lws(
    listed: Mapping[str, Iterable[Any]], keys: Collection[LwsKey]
) -> dict[LwsKey, tuple[HpaStanding, ...]]:
    """For each LWS of ``keys`` whose namespace was listed (``listed``: namespace -> its
    HPA objects), the HPAs that target it, by name; an LWS of a namespace not listed
    has no entry: unknown, not "no HPA"."""
    found: dict[LwsKey, list[HpaStanding]] = {k: [] for k in keys if k.namespace in listed}
    for hpas in listed.values():
        for hpa in hpas:
            key = lws_of(hpa)
            if key is not None and key in found:
                found[key].append(standing_of(hpa))
    return {k: tuple(sorted(v, key=lambda s: s.name)) for k, v in found.items()}


def hpa_events(
    previous: Mapping[LwsKey, tuple[HpaStanding, ...]],
    current: Mapping[LwsKey, tuple[HpaStanding, ...]],
) -> list[LwsEvent]:
    """The Warnings one audit makes after ``previous`` (empty at start-up: a problem that
    is there when the server starts is told once, as a new one):

    - ``CompetingAutoscalers`` when two or more HPAs target an LWS and they are not the
      ones that already did;
    - ``HPANotScaling`` when an HPA's blocking condition turns False, or its reason
      changes (``FailedGetExternalMetric`` then ``AmbiguousSelector``)."""
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
            events.append(LwsEvent(key, "Warning", "CompetingAutoscalers", note(text)))
        was = {h.name: h.stopped for h in before or ()}
        for hpa in hpas:
            stopped, old = hpa.stopped, was.get(hpa.name)
            if stopped is None or (
                old is not None
                and (old.condition, old.reason) == (stopped.condition, stopped.reason)
            ):
                continue
            text = (
                f"HorizontalPodAutoscaler {hpa.name} does not scale this LeaderWorkerSet: "
                f"{stopped.condition} is False ({stopped.reason})"
            )
            if stopped.message:
                text += f": {stopped.message}"
            events.append(LwsEvent(key, "Warning", "HPANotScaling", note(text)))
    return events
