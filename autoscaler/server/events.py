"""Kubernetes Events on each LeaderWorkerSet: what the autoscaler recommended, and why.

``kubectl describe leaderworkerset NAME`` then tells the story next to the HPA's own
``SuccessfulRescale`` events, without ``explain`` or the server's log:

- ``ScaleUpRecommended`` / ``ScaleDownRecommended`` (Normal) when the recommendation
  changes from one cycle to the next: ``recommended 5 groups (was 3; current 3): <the
  reasons>``, and ``RecommendationResumed`` when there is one again after none;
- ``SlowStart``, ``FallbackReplicas``, ``NoRecommendation``, ``InvalidSignal`` (Warning)
  when a decision first gives that reason code, not again every cycle while it lasts.

Which events a cycle makes is :func:`events_for`, a pure function of the previous and
the current decision of one LWS. :class:`EventRecorder` keeps the previous decisions
and writes through an :class:`EventSink`. It runs where relabelling runs: in the holder
of the leader-election Lease only (two replicas would tell everything twice), but it
follows the decisions in every replica, so a new holder goes on from the last cycle.

Events are best effort, as client-go's recorder: written by a thread of their own from a
bounded queue (a slow API server never holds up a cycle; a full queue drops), a failed
write is logged, counted in ``events_total{result="failed"}`` and not retried. The LWS's
``uid`` goes into ``regarding`` (``kubectl describe`` matches on it); it is read with a
``list`` of the LWS by name, the verb the server already has, and kept for ten minutes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

from autoscaler.engine import Decision, ReasonCode
from autoscaler.server.lease_kube import MicroTime
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "lws-autoscaler.io/lws-autoscaler"
ACTION = "Recommend"
LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
MAX_NOTE_BYTES = 1024  # the API server refuses a longer note
UID_TTL_SECONDS = 600.0
UID_RETRY_SECONDS = 30.0
QUEUE_SIZE = 1000

WARNING_CODES = (
    ReasonCode.SLOW_START,
    ReasonCode.FALLBACK,
    ReasonCode.NO_RECOMMENDATION,
    ReasonCode.INVALID_SIGNAL,
)


@dataclass(frozen=True)
class LwsEvent:
    key: LwsKey
    type: str  # Normal or Warning
    reason: str
    note: str


def _note(text: str) -> str:
    """At most 1,024 bytes of UTF-8, cut on a character."""
    data = text.encode()
    if len(data) <= MAX_NOTE_BYTES:
        return text
    return data[: MAX_NOTE_BYTES - 3].decode(errors="ignore") + "..."


def _messages(decision: Decision, codes: Iterable[ReasonCode]) -> str:
    wanted = set(codes)
    return "; ".join(r.message for r in decision.reasons if r.code in wanted)


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
        events.append(LwsEvent(current.key, "Normal", reason, _note(f"{text}: {why}")))
    before = {r.code for r in previous.reasons}
    for code in WARNING_CODES:
        if any(r.code is code for r in current.reasons) and code not in before:
            text = _messages(current, [code])
            events.append(LwsEvent(current.key, "Warning", code.value, _note(text)))
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
        "apiVersion": LWS_API_VERSION,
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


class EventSink(Protocol):
    def create(self, namespace: str, body: Any) -> None:
        """Create one Event; raise on any failure."""
        ...

    def lws_uid(self, key: LwsKey) -> str | None:
        """The LWS's ``metadata.uid``; None when it does not exist. Raise on failure."""
        ...


class KubeEventSink:
    """Events through the Kubernetes API (RBAC: ``create`` on ``events.k8s.io``
    ``events``, ``list`` on ``leaderworkersets``)."""

    def __init__(self, api_client: Any, timeout: float = 5.0) -> None:
        from kubernetes.client import CustomObjectsApi, EventsV1Api

        self._events = EventsV1Api(api_client)
        self._custom = CustomObjectsApi(api_client)
        self._timeout = timeout

    def create(self, namespace: str, body: Any) -> None:
        self._events.create_namespaced_event(namespace, body, _request_timeout=self._timeout)

    def lws_uid(self, key: LwsKey) -> str | None:
        group, version = LWS_API_VERSION.split("/")
        answer = self._custom.list_namespaced_custom_object(
            group,
            version,
            key.namespace,
            "leaderworkersets",
            field_selector=f"metadata.name={key.name}",
            _request_timeout=self._timeout,
        )
        for item in answer.get("items", []) if isinstance(answer, dict) else []:
            meta = item.get("metadata") if isinstance(item, dict) else None
            if isinstance(meta, dict) and meta.get("name") == key.name:
                uid = meta.get("uid")
                return uid if isinstance(uid, str) else None
        return None


class EventRecorder:
    """Follows every cycle's decisions; hands their events to a writer thread when asked
    to (the leader), so that a slow or hung API server never holds up a cycle.

    The queue is bounded (``queue_size``, :data:`QUEUE_SIZE`): when it is full, as with 1,000 LWSes
    changing at once against an API server that answers slowly, further events are
    dropped and counted (``events_total{result="dropped"}``), as client-go drops them."""

    def __init__(
        self, sink: EventSink, instance: str, telemetry: Telemetry, queue_size: int = QUEUE_SIZE
    ) -> None:
        self._sink, self._instance, self._telemetry = sink, instance, telemetry
        self._previous: dict[LwsKey, Decision] = {}
        self._uids: dict[LwsKey, tuple[str | None, float]] = {}  # writer thread only
        self._failing = False  # writer thread only
        self._dropping = False
        self._queue: queue.Queue[tuple[LwsEvent, float, int] | None] = queue.Queue(queue_size)
        self._writer: threading.Thread | None = None

    def record(
        self,
        decisions: Iterable[Decision],
        now: float,
        *,
        write: bool,
        kept: Iterable[LwsKey] = (),
    ) -> int:
        """Compare each decision with the last one of its LWS; queue the events for
        writing when ``write``. ``kept``: LWSes whose engine failed this cycle, whose last
        decision stays the one to compare with; the others not decided (a policy
        removed) are forgotten. Returns the events queued."""
        events: list[LwsEvent] = []
        current = {k: self._previous[k] for k in kept if k in self._previous}
        for decision in decisions:
            current[decision.key] = decision
            events += events_for(self._previous.get(decision.key), decision)
        self._previous = current
        if not write:
            return 0
        queued = 0
        for seq, event in enumerate(events):
            queued += self._enqueue((event, now, seq))
        return queued

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event was written or failed; False on timeout."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, for at most ``timeout`` seconds, and stop the writer."""
        if self._writer is None:
            return
        self.flush(timeout)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            return  # the writer is stuck on the API; it is a daemon thread
        self._writer.join(timeout)
        self._writer = None

    def _enqueue(self, item: tuple[LwsEvent, float, int]) -> int:
        if self._writer is None:
            self._writer = threading.Thread(target=self._drain, name="events", daemon=True)
            self._writer.start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._telemetry.events.labels("dropped").inc()
            if not self._dropping:
                log.warning("%d events wait to be written: dropping new ones", self._queue.maxsize)
            self._dropping = True
            return 0
        self._dropping = False
        return 1

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write(*item)
            except Exception:  # never let one event end the writer
                log.exception("writing an event failed")
            finally:
                self._queue.task_done()

    def _write(self, event: LwsEvent, now: float, seq: int) -> None:
        try:
            body = event_object(event, self._uid(event.key, now), self._instance, now, seq)
            self._sink.create(event.key.namespace, body)
        except Exception as exc:  # best effort: a lost event must not stop the others
            self._telemetry.events.labels("failed").inc()
            if not self._failing:
                log.warning("could not create an event on %s: %s", event.key, exc)
            self._failing = True
            return
        if self._failing:
            log.info("creating events works again")
        self._failing = False
        self._telemetry.events.labels("created").inc()

    def _uid(self, key: LwsKey, now: float) -> str | None:
        """The LWS's uid, kept :data:`UID_TTL_SECONDS` once known. No uid (the LWS does
        not exist yet, or the read failed) is kept :data:`UID_RETRY_SECONDS` only, so an
        LWS created after its policy gets its uid soon, and a failing read is not
        repeated for every event."""
        cached = self._uids.get(key)
        if cached is not None:
            uid, at = cached
            if now - at < (UID_TTL_SECONDS if uid else UID_RETRY_SECONDS):
                return uid
        try:
            uid = self._sink.lws_uid(key)
        except Exception as exc:  # without the uid the event still shows in `get events`
            log.debug("could not read the uid of %s: %s", key, exc)
            uid = None
        self._uids[key] = (uid, now)
        return uid
