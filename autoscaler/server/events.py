"""Kubernetes Events on each LeaderWorkerSet: what the autoscaler recommended, and why.

``kubectl describe leaderworkerset NAME`` then tells the story next to the HPA's own
``SuccessfulRescale`` events, without ``explain`` or the server's log:

- ``ScaleUpRecommended`` / ``ScaleDownRecommended`` (Normal) when the recommendation
  changes from one cycle to the next: ``recommended 5 groups (was 3; current 3): <the
  reasons>``, and ``RecommendationResumed`` when there is one again after none;
- ``SlowStart``, ``FallbackReplicas``, ``NoRecommendation``, ``InvalidSignal``,
  ``InvalidPause`` (Warning) when a decision first gives that reason code, not again
  every cycle while it lasts;
- ``AutoscalingPaused`` / ``AutoscalingResumed`` (Normal) when an operator's pause (the
  annotation ``lws-autoscaler.io/paused-replicas``) begins and ends.

This module owns what to tell: :func:`events_for`, a pure function of the previous and
the current decision of one LWS, and the ``events.k8s.io/v1`` object for it
(:func:`event_object`). Writing them (the leader only, off the loop's thread, throttled
per LWS) is :mod:`~autoscaler.server.event_writer`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from autoscaler.engine import Decision, ReasonCode
from autoscaler.server.lease_kube import MicroTime
from autoscaler.snapshot import LwsKey
from autoscaler.sources.cluster import LWS_GROUP, LWS_VERSION

REPORTING_CONTROLLER = "lws-autoscaler.io/lws-autoscaler"
ACTION = "Recommend"
MAX_NOTE_BYTES = 1024  # the API server refuses a longer note

WARNING_CODES = (
    ReasonCode.SLOW_START,
    ReasonCode.FALLBACK,
    ReasonCode.NO_RECOMMENDATION,
    ReasonCode.INVALID_SIGNAL,
    ReasonCode.INVALID_PAUSE,
)


@dataclass(frozen=True)
class LwsEvent:
    key: LwsKey
    type: str  # Normal or Warning
    reason: str
    note: str


def cut_note(text: str) -> str:
    """At most 1,024 bytes of UTF-8, cut on a character."""
    data = text.encode()
    if len(data) <= MAX_NOTE_BYTES:
        return text
    return data[: MAX_NOTE_BYTES - 3].decode(errors="ignore") + "..."


def events_for(previous: Decision | None, current: Decision) -> list[LwsEvent]:
    """The events one cycle's decision of one LWS makes, after ``previous`` (None: the
    first decision this process made for it, which tells nothing new)."""
    if previous is None:
        return []
    events: list[LwsEvent] = []
    old, new = previous.replicas, current.replicas
    if new is not None and old != new:
        if old is None:
            reason, was = "RecommendationResumed", "none"
        else:
            reason = "ScaleUpRecommended" if new > old else "ScaleDownRecommended"
            was = str(old)
        size = "unknown" if current.current is None else current.current
        why = "; ".join(str(r) for r in current.reasons)
        text = f"recommended {new} groups (was {was}; current {size})"
        events.append(LwsEvent(current.key, "Normal", reason, cut_note(f"{text}: {why}")))
    before, now = {r.code for r in previous.reasons}, {r.code for r in current.reasons}
    paused = ReasonCode.PAUSED
    if paused in now and paused not in before:
        text = "; ".join(r.message for r in current.reasons if r.code is paused)
        events.append(LwsEvent(current.key, "Normal", "AutoscalingPaused", cut_note(text)))
    elif paused in before and paused not in now:
        text = f"the pause was lifted: the rules recommend {current.replicas} groups"
        if current.replicas is None:
            text = "the pause was lifted; the rules make no recommendation"
        events.append(LwsEvent(current.key, "Normal", "AutoscalingResumed", cut_note(text)))
    for code in WARNING_CODES:
        if code in now and code not in before:
            text = "; ".join(r.message for r in current.reasons if r.code is code)
            events.append(LwsEvent(current.key, "Warning", code.value, cut_note(text)))
    return events


def micro_time(seconds: float) -> MicroTime:
    """``metav1.MicroTime``, which the API server requires of ``eventTime``: RFC 3339
    with exactly six fractional digits. A plain string would not do: the client turns a
    string that reads as a date into a datetime, and sends ``...T00:00:30+00:00``."""
    return MicroTime.fromtimestamp(seconds, UTC)


def event_object(event: LwsEvent, uid: str | None, instance: str, now: float, seq: int) -> Any:
    """The ``events.k8s.io/v1`` Event. Named as client-go names them (the object's name,
    a dot, a hexadecimal timestamp), plus ``seq`` so that two events of one cycle differ."""
    regarding = {
        "apiVersion": f"{LWS_GROUP}/{LWS_VERSION}",
        "kind": "LeaderWorkerSet",
        "namespace": event.key.namespace,
        "name": event.key.name,
    }
    if uid:
        regarding["uid"] = uid
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": f"{event.key.name}.{int(now * 1e9) + seq:x}",
            "namespace": event.key.namespace,
        },
        "eventTime": micro_time(now),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance[:128],
        "action": ACTION,
        "reason": event.reason,
        "regarding": regarding,
        "note": event.note,
        "type": event.type,
    }
