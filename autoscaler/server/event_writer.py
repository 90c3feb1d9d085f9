"""Writing the Events of :mod:`~autoscaler.server.events` to the Kubernetes API.

:class:`EventRecorder` keeps each LWS's previous decision and hands the events to a
writer thread through an :class:`EventSink`. It runs where relabelling runs: in the
holder of the leader-election Lease only (two replicas would tell everything twice), but
it follows the decisions in every replica, so a new holder goes on from the last cycle.

Events are best effort, as client-go's recorder:

- written by a thread of their own from a bounded queue, so a slow or hung API server
  never holds up a cycle; a full queue drops new events, with one warning until the
  backlog has cleared;
- throttled per LWS as client-go's spam filter is: a burst of :data:`BURST` events,
  then one per :data:`REFILL_SECONDS` (a policy flapping every 15 s would otherwise
  write 240 events an hour);
- a failed write is logged once per streak, counted and not retried.

``events_total{result}`` counts each outcome (created, failed, dropped, throttled). The
LWS's ``uid`` goes into ``regarding`` (``kubectl describe`` matches on it); it is read
with a ``list`` of the LWS by name, the verb the server already has, and kept for ten
minutes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from autoscaler.engine import Decision
from autoscaler.server.events import LwsEvent, event_object, events_for
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from autoscaler.sources.cluster import LWS_GROUP, LWS_PLURAL, LWS_VERSION

log = logging.getLogger(__name__)

UID_TTL_SECONDS = 600.0
UID_RETRY_SECONDS = 30.0
QUEUE_SIZE = 1000
BURST = 25.0
REFILL_SECONDS = 300.0


def refill(tokens: float, elapsed: float) -> float:
    """Tokens of one LWS's bucket after ``elapsed`` seconds: one per
    :data:`REFILL_SECONDS`, at most :data:`BURST`. Worked example: 0 tokens, 15 minutes
    later: 900 / 300 = 3 events may go."""
    return min(BURST, tokens + max(0.0, elapsed) / REFILL_SECONDS)


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
        answer = self._custom.list_namespaced_custom_object(
            LWS_GROUP,
            LWS_VERSION,
            key.namespace,
            LWS_PLURAL,
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
        self._buckets: dict[LwsKey, tuple[float, float]] = {}  # (tokens, at)
        self._uids: dict[LwsKey, tuple[str | None, float]] = {}  # writer thread only
        self._failing = False  # writer thread only
        self._dropping = False
        self._seq_at, self._seq = float("nan"), 0  # the instant events are numbered in
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
        self._buckets = {k: b for k, b in self._buckets.items() if k in current}
        return self.send(events, now, write=write)

    def send(self, events: Iterable[LwsEvent], now: float, *, write: bool) -> int:
        """Queue ``events`` made at ``now`` elsewhere (the HPA audit's) for writing when
        ``write``, throttled with the decisions' events of their LWS. Returns the events
        queued."""
        if not write:
            return 0
        if now != self._seq_at:
            self._seq_at, self._seq = now, 0
        queued = 0
        for event in events:
            # Each event of one instant gets its own number: the Event's name is made of
            # the instant and it, and a second one with the name of the first is refused.
            seq, self._seq = self._seq, self._seq + 1
            if not self._allow(event.key, now):
                self._telemetry.events.labels("throttled").inc()
                continue
            queued += self._enqueue((event, now, seq))
        return queued

    def _allow(self, key: LwsKey, now: float) -> bool:
        tokens, at = self._buckets.get(key, (BURST, now))
        tokens = refill(tokens, now - at)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

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
        # The streak of drops ends when the backlog has cleared (this event went into an
        # empty queue), not when one slot freed up: a slow API server frees one slot per
        # write, and the warning would come back every cycle while it stays slow.
        if self._queue.qsize() <= 1:
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
