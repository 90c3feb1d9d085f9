"""Writing Events on LeaderWorkerSets: only by the leader, off the loop's thread,
throttled per LWS, with the LWS's uid, as the API server stores them.

No kube-apiserver can be installed here, so the real ``kubernetes`` client writes to the
wire-level fake in ``tests/support/fake_apiserver.py``, which validates an
``events.k8s.io/v1`` Event at create as kube-apiserver does (``fake_event_rules``) and
holds LWS objects shaped like the real ones (``tests/sources/kube_objects.py``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autoscaler.engine import Decision
from autoscaler.server.event_writer import EventRecorder, KubeEventSink
from autoscaler.server.events import REPORTING_CONTROLLER, LwsEvent, micro_time
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from tests.server.helpers import T0, FixedLeader, FunctionSource, ManualClock, write_policy
from tests.sources.kube_objects import api_client, lws_object
from tests.support.fake_apiserver import FakeApiServer, RecordedRequest, status

KEY = LwsKey("inference", "llama-70b")
EVENTS = "/apis/events.k8s.io/v1/namespaces/inference/events"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.put(lws_object(KEY.namespace, "other-lws", 2, 2, ready=2))
        server.put(lws_object(KEY.namespace, KEY.name, 4, 4, ready=4))
        yield server


def _get(api: FakeApiServer, path: str) -> Any:
    answer = httpx.get(api.url + path, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _events(api: FakeApiServer) -> list[dict[str, Any]]:
    return [r.json() for r in api.requests if r.method == "POST" and r.path == EVENTS]


def _loop(
    tmp_path: Path, api: FakeApiServer, level: list[float], leader: Any = None
) -> tuple[ControlLoop, Telemetry]:
    """A loop over inference/llama-70b (four ready groups, 8 waiting per group wanted,
    no windows or steps): the total queue in ``level[0]`` sets the recommendation."""
    path = write_policy(
        tmp_path / "p.yaml",
        scaleUp={"stabilizationWindow": "0s", "maxStep": None},
        scaleDown={"stabilizationWindow": "0s", "minGroupAge": "0s", "maxStep": None},
    )
    telemetry = Telemetry()
    watcher = PolicyWatcher([path], telemetry)
    watcher.load_initial()
    recorder = EventRecorder(KubeEventSink(api_client(api)), "lws-autoscaler-0", telemetry)
    loop = ControlLoop(
        FunctionSource({KEY: lambda _now: level[0]}),
        watcher,
        DecisionStore(max_age=45),
        telemetry,
        ManualClock(),
        15.0,
        leader=leader,
        events=recorder,
    )
    return loop, telemetry


def _cycle(loop: ControlLoop) -> Decision:
    clock = loop.clock
    assert isinstance(clock, ManualClock)
    clock.advance(15)
    (decision,) = loop.run_cycle(clock.now())
    assert loop.events is not None
    assert loop.events.flush(30)  # written by the recorder's own thread
    return decision


def test_a_changed_recommendation_is_an_event_on_the_lws(
    tmp_path: Path, api: FakeApiServer
) -> None:
    level = [32.0]
    loop, telemetry = _loop(tmp_path, api, level)
    first = _cycle(loop)
    assert first.replicas == 4
    assert _events(api) == []  # the first decision of this process tells nothing
    level[0] = 64.0
    assert _cycle(loop).replicas == 8
    (sent,) = _events(api)
    # As the API server stored it: created, not refused by its validation.
    stored = _get(api, f"{EVENTS}/{sent['metadata']['name']}")
    assert stored["reason"] == "ScaleUpRecommended"
    assert stored["type"] == "Normal"
    assert stored["note"].startswith("recommended 8 groups (was 4; current 4): ")
    assert stored["reportingController"] == REPORTING_CONTROLLER
    assert stored["reportingInstance"] == "lws-autoscaler-0"
    assert stored["eventTime"] == micro_time(loop.clock.now()).isoformat()
    lws = _get(
        api, f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/inference/leaderworkersets/{KEY.name}"
    )
    # kubectl describe finds an object's events by its uid: the right LWS's, not the other's.
    assert stored["regarding"] == {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "namespace": KEY.namespace,
        "name": KEY.name,
        "uid": lws["metadata"]["uid"],
    }
    assert (
        telemetry.registry.get_sample_value("lws_autoscaler_events_total", {"result": "created"})
        == 1
    )
    # What an operator reads with kubectl: the event, listed by the API.
    kubeconfig = api.write_kubeconfig(tmp_path / "kc", token="t")
    listed = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", EVENTS],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    (item,) = json.loads(listed.stdout)["items"]
    assert (item["reason"], item["regarding"]["name"]) == ("ScaleUpRecommended", KEY.name)
    _cycle(loop)  # unchanged: nothing more
    level[0] = 16.0
    assert _cycle(loop).replicas == 3  # the KV-cache signal keeps 2.5 groups
    assert [e["reason"] for e in _events(api)] == ["ScaleUpRecommended", "ScaleDownRecommended"]


def test_only_the_leader_writes_but_every_replica_follows(
    tmp_path: Path, api: FakeApiServer
) -> None:
    level, leader = [32.0], FixedLeader()
    leader.leading = False
    loop, _ = _loop(tmp_path, api, level, leader)
    _cycle(loop)
    level[0] = 64.0
    _cycle(loop)  # a change, seen by a replica that does not lead: no event
    assert _events(api) == []
    leader.leading = True
    _cycle(loop)  # now leading, nothing changed since: still nothing to tell
    assert _events(api) == []
    level[0] = 16.0
    down = _cycle(loop).replicas
    assert down is not None
    assert down < 8
    # The change since the last cycle, which the replica followed while not leading.
    assert [e["note"].split(":")[0] for e in _events(api)] == [
        f"recommended {down} groups (was 8; current 4)"
    ]


def test_a_refused_event_is_counted_and_logged_once_and_the_loop_goes_on(
    tmp_path: Path, api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    def forbid(_body: Any, _request: RecordedRequest) -> tuple[int, Any]:
        return 403, status(403, "Forbidden", "events.events.k8s.io is forbidden")

    api.on_post(EVENTS, forbid)
    level = [32.0]
    loop, telemetry = _loop(tmp_path, api, level)
    _cycle(loop)
    with caplog.at_level(logging.WARNING, logger="autoscaler.server.event_writer"):
        for value in (64.0, 16.0, 48.0):
            level[0] = value
            decision = _cycle(loop)
    assert decision.replicas == 6  # decisions go on
    failed = telemetry.registry.get_sample_value(
        "lws_autoscaler_events_total", {"result": "failed"}
    )
    assert failed == 3
    assert caplog.text.count("could not create an event") == 1
    assert "Forbidden" in caplog.text or "403" in caplog.text
    api.remove_route("POST", EVENTS)  # allowed again
    with caplog.at_level(logging.INFO, logger="autoscaler.server.event_writer"):
        level[0] = 64.0
        _cycle(loop)
        assert caplog.text.count("creating events works again") == 1
        level[0] = 16.0
        _cycle(loop)
    assert caplog.text.count("creating events works again") == 1  # said once


class _SlowSink:
    """A sink whose API calls wait until released, as a hung API server's do."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.created: list[Any] = []
        self.uid_reads = 0
        self.uid: str | None = None
        self.uid_fails = False

    def create(self, namespace: str, body: Any) -> None:
        assert self.release.wait(30)
        self.created.append(body)

    def lws_uid(self, key: LwsKey) -> str | None:
        self.uid_reads += 1
        if self.uid_fails:
            raise OSError("connection refused")
        return self.uid


def _ready_recorder() -> tuple[_SlowSink, Telemetry, EventRecorder]:
    """A recorder over a sink that answers at once."""
    sink, telemetry = _SlowSink(), Telemetry()
    sink.release.set()
    return sink, telemetry, EventRecorder(sink, "pod-0", telemetry)


def _changes(n: int) -> list[tuple[Decision, Decision]]:
    keys = [LwsKey("inference", f"lws-{i}") for i in range(n)]
    return [
        (
            Decision(k, k.name, T0, 2, 2, None, (), ()),
            Decision(k, k.name, T0, 3, 2, None, (), ()),
        )
        for k in keys
    ]


def test_a_hung_api_server_never_holds_up_a_cycle_and_a_full_queue_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, telemetry = _SlowSink(), Telemetry()
    recorder = EventRecorder(sink, "pod-0", telemetry, queue_size=5)
    changes = _changes(20)
    recorder.record([before for before, _ in changes], T0, write=True)
    with caplog.at_level(logging.WARNING, logger="autoscaler.server.event_writer"):
        queued = recorder.record([after for _, after in changes], T0 + 15, write=True)
    # Returned while the writer waits on the first create: five queued (one of them
    # taken by the writer, four waiting, then one more fits), the rest dropped.
    assert 5 <= queued <= 6
    dropped = telemetry.registry.get_sample_value(
        "lws_autoscaler_events_total", {"result": "dropped"}
    )
    assert dropped == 20 - queued
    assert caplog.text.count("dropping new ones") == 1
    sink.release.set()
    assert recorder.flush(30)
    assert len(sink.created) == queued
    recorder.close()


class _OneAtATimeSink(_SlowSink):
    """A sink that writes one event per permit, as an API server that answers slowly."""

    def __init__(self) -> None:
        super().__init__()
        self.taking = threading.Semaphore(0)  # released as the writer takes an event
        self.permits = threading.Semaphore(0)
        self.written = threading.Semaphore(0)

    def create(self, namespace: str, body: Any) -> None:
        self.taking.release()
        assert self.permits.acquire(timeout=30)
        self.created.append(body)
        self.written.release()


def test_the_drop_warning_comes_once_per_backlog_not_once_per_freed_slot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, telemetry = _OneAtATimeSink(), Telemetry()
    recorder = EventRecorder(sink, "pod-0", telemetry, queue_size=3)
    keys = [LwsKey("inference", f"lws-{i}") for i in range(20)]
    replicas = dict.fromkeys(keys, 2)

    def scale(batch: int, at: float) -> int:
        """LWSes 5*batch to 5*batch+4 scale to 3 in a cycle that decides every LWS."""
        for key in keys[batch * 5 : batch * 5 + 5]:
            replicas[key] = 3
        decisions = [Decision(k, k.name, at, replicas[k], 2, None, (), ()) for k in keys]
        return recorder.record(decisions, at, write=True)

    assert scale(-1, T0) == 0  # each LWS's first decision: nothing to tell
    with caplog.at_level(logging.WARNING, logger="autoscaler.server.event_writer"):
        # The writer holds at most one (taken before the queue filled, or not), three wait.
        first = scale(0, T0 + 15)
        assert first in (3, 4)
        sink.permits.release()  # the API answers one create: one slot frees
        assert sink.written.acquire(timeout=30)
        for _ in range(2):  # ... and the writer has taken the next one
            assert sink.taking.acquire(timeout=30)
        second = scale(1, T0 + 30)  # full again (1 or 2 more fit): the same backlog
        assert second == 5 - first
        assert caplog.text.count("dropping new ones") == 1
        for _ in range(first + second - 1):
            sink.permits.release()
        assert recorder.flush(30)  # the backlog has cleared; no permit is left
        assert scale(2, T0 + 45) in (3, 4)  # a new one: warned again
        assert caplog.text.count("dropping new ones") == 2
    for _ in range(20):
        sink.permits.release()
    assert recorder.flush(30)
    recorder.close()


def test_the_uid_is_read_again_soon_when_missing_and_not_per_event_when_failing() -> None:
    sink, _, recorder = _ready_recorder()
    key = LwsKey("inference", "lws-0")

    def change(at: float, replicas: int) -> None:
        decision = Decision(key, key.name, at, replicas, 2, None, (), ())
        recorder.record([decision], at, write=True)
        assert recorder.flush(30)

    change(T0, 2)
    change(T0 + 15, 3)  # the LWS does not exist yet: no uid
    sink.uid = "uid-1"  # created since
    change(T0 + 30, 4)  # within 30 s: not read again
    change(T0 + 60, 5)  # read again: found, and kept
    change(T0 + 75, 6)
    assert [b["regarding"].get("uid") for b in sink.created] == [None, None, "uid-1", "uid-1"]
    assert sink.uid_reads == 2

    sink.uid_fails = True
    change(T0 + 700, 7)  # the uid is 10 min old: read again, fails
    change(T0 + 715, 8)  # the failure is kept too: no read for this event
    assert sink.uid_reads == 3
    assert [b["regarding"].get("uid") for b in sink.created[-2:]] == [None, None]
    recorder.close()


def test_a_flapping_lws_is_throttled_as_client_gos_spam_filter_does() -> None:
    sink, telemetry, recorder = _ready_recorder()
    key = LwsKey("inference", "flapping")
    other = LwsKey("inference", "steady")

    def cycle(at: float, replicas: int) -> None:
        flap = Decision(key, key.name, at, replicas, 2, None, (), ())
        calm = Decision(other, other.name, at, 2 + (at >= T0 + 1000 * 15), 2, None, (), ())
        recorder.record([flap, calm], at, write=True)

    for i in range(100):  # 15 s apart: a change every cycle for 25 minutes
        cycle(T0 + 15 * i, 2 + i % 2)
    assert recorder.flush(30)
    flapping = [b for b in sink.created if b["regarding"]["name"] == "flapping"]
    # A burst of 25, then one per 5 minutes: 99 changes in 1,485 s make 25 + 4 events.
    assert len(flapping) == 25 + 4
    throttled = telemetry.registry.get_sample_value(
        "lws_autoscaler_events_total", {"result": "throttled"}
    )
    assert throttled == 99 - len(flapping)
    # Another LWS has a bucket of its own.
    cycle(T0 + 15_000, 2)
    assert recorder.flush(30)
    assert [b["regarding"]["name"] for b in sink.created].count("steady") == 1
    recorder.close()


def test_events_of_one_instant_are_numbered_across_batches_and_anew_at_the_next() -> None:
    """The decisions' events and the HPA audit's come in two batches of one cycle: their
    names (the instant in ns, plus the number) must differ, or the second is refused."""
    sink, _, recorder = _ready_recorder()

    def batch(at: float, reasons: list[str]) -> None:
        events = [LwsEvent(KEY, "Normal", reason, "note") for reason in reasons]
        assert recorder.send(events, at, write=True) == len(events)

    batch(T0, ["A", "B"])
    batch(T0, ["C"])  # the same instant, a second batch
    batch(T0 + 15, ["D"])  # the next instant starts at 0 again
    assert recorder.flush(30)
    at, later = int(T0 * 1e9), int((T0 + 15) * 1e9)
    expected = [f"{KEY.name}.{n:x}" for n in (at, at + 1, at + 2, later)]
    assert [body["metadata"]["name"] for body in sink.created] == expected
    recorder.close()


def test_a_burst_of_25_events_passes_at_once_and_the_26th_waits() -> None:
    _, _, recorder = _ready_recorder()
    events = [LwsEvent(KEY, "Normal", "Change", f"event {i}") for i in range(26)]
    assert recorder.send(events, T0, write=True) == 25
    assert recorder.send(events[:1], T0 + 299, write=True) == 0  # 1 token per 300 s
    assert recorder.send(events[:1], T0 + 300, write=True) == 1
    assert recorder.flush(30)
    recorder.close()


def test_the_lws_uid_is_read_again_at_its_ttl_and_retry_times() -> None:
    """A found uid is kept 600 s; a missing one 30 s (``UID_TTL_SECONDS``,
    ``UID_RETRY_SECONDS``), both counted from the read."""
    sink, _, recorder = _ready_recorder()

    def event_at(at: float) -> None:
        assert recorder.send([LwsEvent(KEY, "Normal", "Change", "x")], at, write=True) == 1
        assert recorder.flush(30)

    event_at(T0)  # no uid yet: read
    event_at(T0 + 29.9)
    assert sink.uid_reads == 1
    sink.uid = "uid-1"
    event_at(T0 + 30)  # retried at 30 s: found
    event_at(T0 + 629.9)
    assert sink.uid_reads == 2
    event_at(T0 + 630)  # 600 s after it was found: read again
    assert sink.uid_reads == 3
    recorder.close()


def test_closing_a_recorder_that_never_wrote_is_quiet() -> None:
    _, _, recorder = _ready_recorder()
    recorder.close()
    recorder.close()


def test_an_lws_whose_engine_failed_keeps_its_last_decision_to_compare_with() -> None:
    """``kept``: the engine failed for it this cycle, its policy is not gone. Its next
    decision is compared with the last one; an LWS not decided nor kept is forgotten."""
    sink, _, recorder = _ready_recorder()

    def decide(at: float, replicas: int | None, kept: tuple[LwsKey, ...] = ()) -> int:
        decisions = (
            [] if replicas is None else [Decision(KEY, KEY.name, at, replicas, 2, None, (), ())]
        )
        return recorder.record(decisions, at, write=True, kept=kept)

    assert decide(T0, 2) == 0  # the first decision tells nothing new
    assert decide(T0 + 15, 3) == 1
    assert decide(T0 + 30, None, kept=(KEY,)) == 0
    assert decide(T0 + 45, 5) == 1  # 3 -> 5
    assert decide(T0 + 60, None) == 0  # its policy gone: forgotten
    assert decide(T0 + 75, 6) == 0  # a first decision again
    assert recorder.flush(30)
    notes = [body["note"] for body in sink.created]
    assert [n.split(":")[0] for n in notes] == [
        "recommended 3 groups (was 2; current 2)",
        "recommended 5 groups (was 3; current 2)",
    ]
    recorder.close()


def test_a_follower_records_but_queues_nothing() -> None:
    sink, _, recorder = _ready_recorder()
    first = Decision(KEY, KEY.name, T0, 2, 2, None, (), ())
    second = Decision(KEY, KEY.name, T0 + 15, 3, 2, None, (), ())
    assert recorder.record([first], T0, write=False) == 0
    assert recorder.record([second], T0 + 15, write=False) == 0
    assert recorder.send([LwsEvent(KEY, "Normal", "X", "y")], T0 + 15, write=False) == 0
    assert sink.created == []
    recorder.close()
