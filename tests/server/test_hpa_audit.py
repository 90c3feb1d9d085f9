"""The HPA audit through the Kubernetes API: listing the HPAs of the targets'
namespaces, the gauges and counters it exports, and its Warnings on the LWS written by
the control loop's Event writer.

No kube-apiserver can be installed here, so the real ``kubernetes`` client talks to the
wire-level fake in ``tests/support/fake_apiserver.py``, which serves ``autoscaling/v2``
HPA objects shaped as the API server returns them (``tests/server/hpa_objects.py``) and
validates the Events written as kube-apiserver does.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes.client import ApiClient, Configuration

from autoscaler.cli.main import build_parser
from autoscaler.cli.serve import settings_from
from autoscaler.errors import QueryRejectedError
from autoscaler.server.event_writer import EventRecorder, KubeEventSink
from autoscaler.server.hpa_audit import (
    NARROWER_HOLD_SECONDS,
    HpaAudit,
    KubeHpaLister,
)
from autoscaler.server.hpa_findings import PolicyBounds
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.runner import ServerProcess, bound_port
from autoscaler.server.sources_factory import build_events, build_hpa_audit, build_source
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from autoscaler.sources.kube_lists import Json, NoAnswerError
from tests.server.helpers import T0, FixedLeader, FunctionSource, ManualClock, write_policy
from tests.server.hpa_objects import NO_METRIC, SCALING, ambiguous, hpa_object
from tests.sources.kube_objects import api_client, lws_object
from tests.support.fake_apiserver import FakeApiServer, RecordedRequest, status
from tests.support.raw_server import RawServer

NS, OTHER = "inference", "batch"
KEY, SECOND = LwsKey(NS, "llama-70b"), LwsKey(OTHER, "mixtral")
EVENTS = f"/apis/events.k8s.io/v1/namespaces/{NS}/events"


def _hpas_path(namespace: str) -> str:
    return f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.put(lws_object(NS, KEY.name, 4, 4, ready=4))
        server.put(lws_object(OTHER, SECOND.name, 2, 2, ready=2))
        yield server


def _value(telemetry: Telemetry, name: str, **labels: str) -> float | None:
    return telemetry.registry.get_sample_value(f"lws_autoscaler_{name}", labels)


def _lists(api: FakeApiServer, namespace: str) -> int:
    return sum(1 for r in api.requests if r.method == "GET" and r.path == _hpas_path(namespace))


def test_two_hpas_on_one_lws_are_found_counted_and_told(api: FakeApiServer) -> None:
    names = ["keda-hpa-llama-70b", "llama-70b"]
    for name in names:
        api.put(hpa_object(NS, name, KEY.name, ambiguous(NS, names)))
    # Neither the HPA of another kind nor the one in the other namespace is the LWS's.
    api.put(hpa_object(NS, "web", KEY.name, SCALING, kind="Deployment", api_version="apps/v1"))
    api.put(hpa_object(OTHER, "mixtral", SECOND.name, SCALING))
    telemetry = Telemetry()
    audit = HpaAudit(KubeHpaLister(api_client(api)), telemetry, interval=60)
    assert audit.run([KEY, SECOND], T0) == []  # one reading is not enough for a Warning
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 2
    assert _value(telemetry, "hpas", namespace=OTHER, leaderworkerset=SECOND.name) == 1
    for name in names:
        labels = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": name}
        assert _value(telemetry, "hpa_scaling", **labels) == 0
    labels = {"namespace": OTHER, "leaderworkerset": SECOND.name, "hpa": "mixtral"}
    assert _value(telemetry, "hpa_scaling", **labels) == 1
    web = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": "web"}
    assert _value(telemetry, "hpa_scaling", **web) is None
    assert _value(telemetry, "hpa_audits_total", result="ok") == 1
    # One list call per namespace.
    assert (_lists(api, NS), _lists(api, OTHER)) == (1, 1)

    # A minute later both are still there: one Warning names them (the two HPAs'
    # AmbiguousSelector conditions are that same story, not two more Warnings).
    (event,) = audit.run([KEY, SECOND], T0 + 60)
    assert (event.key, event.type, event.reason) == (KEY, "Warning", "CompetingAutoscalers")
    assert "2 HorizontalPodAutoscalers target this LeaderWorkerSet" in event.note
    assert "(keda-hpa-llama-70b, llama-70b)" in event.note
    assert audit.run([KEY, SECOND], T0 + 120) == []  # told once

    # The migration finished: the KEDA object is gone, the chart's HPA scales again.
    api.delete("autoscaling/v2", "HorizontalPodAutoscaler", NS, "keda-hpa-llama-70b")
    api.put(hpa_object(NS, "llama-70b", KEY.name, SCALING))
    assert audit.run([KEY, SECOND], T0 + 180) == []  # recovery is quiet
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 1
    gone = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": "keda-hpa-llama-70b"}
    assert _value(telemetry, "hpa_scaling", **gone) is None
    # The policy of the second LWS removed: its series go with it.
    audit.run([KEY], T0 + 240)
    assert _value(telemetry, "hpas", namespace=OTHER, leaderworkerset=SECOND.name) is None


def test_an_hpa_that_cannot_read_the_metric_is_told_after_two_audits(
    api: FakeApiServer,
) -> None:
    api.put(hpa_object(NS, "llama-70b", KEY.name, NO_METRIC))
    audit = HpaAudit(KubeHpaLister(api_client(api)), Telemetry(), interval=60)
    assert audit.run([KEY], T0) == []
    (event,) = audit.run([KEY], T0 + 60)
    assert event.reason == "HPANotScaling"
    assert event.note.startswith(
        "HorizontalPodAutoscaler llama-70b does not scale this LeaderWorkerSet: "
        "ScalingActive is False (FailedGetExternalMetric): the HPA was unable to compute"
    )


def test_one_object_the_typed_models_refuse_blinds_nothing(api: FakeApiServer) -> None:
    """A status without ``desiredReplicas`` (required by the client's models): read as
    JSON, that object is read as well as it can be, and the others as usual."""
    odd = hpa_object(NS, "web", "frontend", SCALING, kind="Deployment", api_version="apps/v1")
    del odd["status"]["desiredReplicas"]
    api.put(odd)
    api.put(hpa_object(NS, "llama-70b", KEY.name, NO_METRIC))
    telemetry = Telemetry()
    HpaAudit(KubeHpaLister(api_client(api)), telemetry, interval=60).run([KEY], T0)
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 1
    assert _value(telemetry, "hpa_audits_total", result="ok") == 1


def test_an_audit_runs_once_per_interval_and_at_once_after_the_clock_goes_back(
    api: FakeApiServer,
) -> None:
    audit = HpaAudit(KubeHpaLister(api_client(api)), Telemetry(), interval=60)
    # The same tick twice (a cycle run again) lists once.
    for at, lists in [(0, 1), (15, 1), (59.9, 1), (60, 2), (60, 2), (90, 2), (30, 3), (45, 3)]:
        audit.run([KEY], T0 + at)
        assert _lists(api, NS) == lists, at


def test_a_namespace_that_refuses_keeps_its_findings_and_is_warned_of_once(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    api.put(hpa_object(NS, "llama-70b", KEY.name, NO_METRIC))
    api.put(hpa_object(OTHER, "mixtral", SECOND.name, SCALING))
    telemetry = Telemetry()
    audit = HpaAudit(KubeHpaLister(api_client(api)), telemetry, interval=60)
    assert audit.run([KEY, SECOND], T0) == []
    assert [e.reason for e in audit.run([KEY, SECOND], T0 + 60)] == ["HPANotScaling"]

    def forbidden(_body: Json, request: RecordedRequest) -> tuple[int, Json]:
        message = (
            'horizontalpodautoscalers.autoscaling is forbidden: User "system:serviceaccount:'
            'lws-autoscaler:lws-autoscaler" cannot list resource "horizontalpodautoscalers" '
            f'in API group "autoscaling" in the namespace "{NS}"'
        )
        return 403, status(403, "Forbidden", message)

    api.on_get(_hpas_path(NS), forbidden)
    with caplog.at_level(logging.INFO, logger="autoscaler.server.hpa_audit"):
        assert audit.run([KEY, SECOND], T0 + 120) == []
        assert audit.run([KEY, SECOND], T0 + 180) == []
        api.remove_route("GET", _hpas_path(NS))
        # Back, with the same finding: the HPANotScaling Warning is not told twice.
        assert audit.run([KEY, SECOND], T0 + 240) == []
    mine = [r for r in caplog.records if r.name == "autoscaler.server.hpa_audit"]
    warnings = [r.getMessage() for r in mine if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot audit the HPAs of namespace inference" in warnings[0]
    assert "403" in warnings[0]
    assert "forbidden" in warnings[0]
    assert any("works again" in r.getMessage() for r in mine)
    # Through the failures the last findings held: the alert's series did not vanish.
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 1
    labels = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": "llama-70b"}
    assert _value(telemetry, "hpa_scaling", **labels) == 0
    assert _value(telemetry, "hpa_audits_total", result="error") == 2
    assert _value(telemetry, "hpa_audits_total", result="ok") == 3


class _Lister:
    """Answers from a table; records the namespaces asked (an API server that does not
    answer cannot be counted on the wire)."""

    def __init__(self, answers: dict[str, list[Json] | Exception]) -> None:
        self.answers, self.asked = answers, list[str]()

    def list_hpas(self, namespace: str) -> list[Json]:
        self.asked.append(namespace)
        answer = self.answers[namespace]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_an_api_server_that_does_not_answer_is_not_waited_on_once_per_namespace() -> None:
    silent = NoAnswerError("Kubernetes API did not answer within 5s")
    lister = _Lister({OTHER: silent, NS: []})
    telemetry = Telemetry()
    HpaAudit(lister, telemetry, interval=60).run([KEY, SECOND], T0)
    assert lister.asked == [OTHER]  # sorted: batch first; inference not tried
    assert _value(telemetry, "hpa_audits_total", result="error") == 1
    # A refusal is that namespace's only: the next one is still asked.
    lister = _Lister({OTHER: QueryRejectedError("403"), NS: []})
    HpaAudit(lister, telemetry, interval=60).run([KEY, SECOND], T0)
    assert lister.asked == [OTHER, NS]


def test_findings_are_kept_five_intervals_then_forgotten() -> None:
    """A replica that lost its RBAC must not hold the alert up on its own for ever."""
    lister = _Lister({NS: [hpa_object(NS, "llama-70b", KEY.name, NO_METRIC)]})
    telemetry = Telemetry()
    audit = HpaAudit(lister, telemetry, interval=60)
    audit.run([KEY], T0)
    audit.run([KEY], T0 + 60)
    lister.answers[NS] = QueryRejectedError("403 forbidden")
    labels = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": "llama-70b"}
    keep = 5  # intervals (written out: the test is of the module's constant)
    for at in range(120, 60 * (keep + 1) + 1, 60):
        audit.run([KEY], T0 + at)
        assert _value(telemetry, "hpa_scaling", **labels) == 0, at  # 5 intervals since
    audit.run([KEY], T0 + 60 * (keep + 2))
    assert _value(telemetry, "hpa_scaling", **labels) is None  # unknown now
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) is None
    # Readable again: a problem still there is told again, as new, after two audits.
    lister.answers[NS] = [hpa_object(NS, "llama-70b", KEY.name, NO_METRIC)]
    assert audit.run([KEY], T0 + 60 * (keep + 3)) == []
    events = audit.run([KEY], T0 + 60 * (keep + 4))
    assert [e.reason for e in events] == ["HPANotScaling"]


class _SlowLister(_Lister):
    """Each answer takes ``seconds`` on the audit's timer."""

    def __init__(self, namespaces: list[str], seconds: float) -> None:
        super().__init__({n: [] for n in namespaces})
        self.clock, self.seconds = 0.0, seconds

    def list_hpas(self, namespace: str) -> list[Json]:
        self.clock += self.seconds
        return super().list_hpas(namespace)


def test_a_slow_api_server_costs_one_budget_and_starves_no_namespace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    namespaces = [f"ns-{i}" for i in range(5)]
    keys = [LwsKey(n, "lws") for n in namespaces]
    lister = _SlowLister(namespaces, seconds=2.0)
    telemetry = Telemetry()
    audit = HpaAudit(lister, telemetry, interval=60, budget=3.0, timer=lambda: lister.clock)
    with caplog.at_level(logging.WARNING, logger="autoscaler.server.hpa_audit"):
        for i in range(4):
            audit.run(keys, T0 + 60 * i)
    # 2 s a call, 3 s of budget: two calls an audit (the second starts at 2 s, before
    # the budget is out), the next audit going on where this one stopped.
    assert lister.asked == [*namespaces, *namespaces[:3]]
    # Not an error: every namespace is listed every few audits (the failing-audit
    # alert reads errors only).
    assert _value(telemetry, "hpa_audits_total", result="partial") == 4
    assert _value(telemetry, "hpa_audits_total", result="error") == 0
    mine = [r.getMessage() for r in caplog.records if r.name == "autoscaler.server.hpa_audit"]
    assert mine == [
        "the HPA audit used its 3s after 2 of 5 namespaces; the others keep their last "
        "findings and go first next time"
    ]
    # Each namespace was listed once: each LWS has findings.
    for key in keys:
        assert _value(telemetry, "hpas", namespace=key.namespace, leaderworkerset="lws") == 0


def test_a_budget_spent_exactly_is_spent() -> None:
    """2 s a call and 4 s of budget: the third call would start at the deadline."""
    namespaces = [f"ns-{i}" for i in range(3)]
    lister = _SlowLister(namespaces, seconds=2.0)
    audit = HpaAudit(lister, Telemetry(), interval=60, budget=4.0, timer=lambda: lister.clock)
    audit.run([LwsKey(n, "lws") for n in namespaces], T0)
    assert lister.asked == namespaces[:2]


def test_the_first_namespace_is_asked_whatever_the_budget() -> None:
    lister = _SlowLister([NS, OTHER], seconds=2.0)
    audit = HpaAudit(lister, Telemetry(), interval=60, budget=0.0, timer=lambda: lister.clock)
    audit.run([KEY, SECOND], T0)
    audit.run([KEY, SECOND], T0 + 60)
    assert lister.asked == [OTHER, NS]


def test_a_body_that_stalls_is_no_answer_counted_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The headers come, then the body stops: with the answer read as JSON, the body is
    read after the call returns, and its timeout must fail the namespace like any other
    (it raised out of the audit: nothing counted, the other namespaces' listing lost)."""
    release = threading.Event()

    def headers_only(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500"
            conn.sendall(f"{head}\r\n\r\n".encode() + b'{"kind": "HorizontalPod')
            release.wait(30)

    server = RawServer(headers_only)
    try:
        client = ApiClient(Configuration(host=f"http://127.0.0.1:{server.port}"))
        telemetry = Telemetry()
        audit = HpaAudit(KubeHpaLister(client, timeout=1.0), telemetry, interval=60)
        with caplog.at_level(logging.WARNING, logger="autoscaler.server.hpa_audit"):
            assert audit.run([KEY], T0) == []
    finally:
        release.set()
        server.close()
    assert _value(telemetry, "hpa_audits_total", result="error") == 1
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "autoscaler.server.hpa_audit"]
    assert "did not answer (list horizontalpodautoscalers in inference) within 1s" in warning


def test_a_finding_read_once_is_not_confirmed_by_a_failed_audit() -> None:
    lister = _Lister({NS: [hpa_object(NS, "llama-70b", KEY.name, SCALING)]})
    audit = HpaAudit(lister, Telemetry(), interval=60)
    audit.run([KEY], T0)
    lister.answers[NS] = [
        hpa_object(NS, "llama-70b", KEY.name, NO_METRIC),
        hpa_object(NS, "keda-hpa-llama-70b", KEY.name, NO_METRIC),
    ]
    assert audit.run([KEY], T0 + 60) == []  # seen once
    lister.answers[NS] = QueryRejectedError("403 forbidden")
    assert audit.run([KEY], T0 + 120) == []  # kept, not read again: still seen once
    lister.answers[NS] = [
        hpa_object(NS, "llama-70b", KEY.name, NO_METRIC),
        hpa_object(NS, "keda-hpa-llama-70b", KEY.name, NO_METRIC),
    ]
    reasons = [e.reason for e in audit.run([KEY], T0 + 180)]  # read a second time
    assert reasons == ["CompetingAutoscalers", "HPANotScaling", "HPANotScaling"]
    # Told, then a failure, then the same again: not told twice.
    lister.answers[NS] = QueryRejectedError("403 forbidden")
    assert audit.run([KEY], T0 + 240) == []
    lister.answers[NS] = [
        hpa_object(NS, "llama-70b", KEY.name, NO_METRIC),
        hpa_object(NS, "keda-hpa-llama-70b", KEY.name, NO_METRIC),
    ]
    assert audit.run([KEY], T0 + 300) == []


def test_a_rotation_longer_than_the_keep_neither_drops_nor_repeats(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Eight namespaces, one listed an audit (a slow API server): every LWS keeps its
    series between its turns, and its Warning is told once."""
    namespaces = [f"ns-{i}" for i in range(8)]
    keys = [LwsKey(n, "lws") for n in namespaces]
    lister = _SlowLister(namespaces, seconds=2.0)
    for n in namespaces:
        lister.answers[n] = [hpa_object(n, "a", "lws", SCALING), hpa_object(n, "b", "lws", SCALING)]
    telemetry = Telemetry()
    audit = HpaAudit(lister, telemetry, interval=60, budget=1.0, timer=lambda: lister.clock)
    told: list[str] = []
    for i in range(4 * len(namespaces)):
        told += [e.key.namespace for e in audit.run(keys, T0 + 60 * i)]
        if i >= len(namespaces):
            for n in namespaces:
                assert _value(telemetry, "hpas", namespace=n, leaderworkerset="lws") == 2, (i, n)
    assert sorted(told) == namespaces  # each told once, at its second listing
    assert _value(telemetry, "hpa_audits_total", result="error") == 0


def test_a_failing_namespace_is_an_error_even_in_audits_that_do_not_reach_it() -> None:
    lister = _SlowLister([NS, OTHER], seconds=2.0)
    lister.answers[NS] = QueryRejectedError("403 forbidden")
    telemetry = Telemetry()
    audit = HpaAudit(lister, telemetry, interval=60, budget=1.0, timer=lambda: lister.clock)
    for i in range(4):
        audit.run([KEY, SECOND], T0 + 60 * i)
    assert lister.asked == [OTHER, NS, OTHER, NS]  # batch, inference, in turns
    assert _value(telemetry, "hpa_audits_total", result="error") == 3
    assert _value(telemetry, "hpa_audits_total", result="partial") == 1  # before it failed


def test_no_audit_interval_of_zero() -> None:
    with pytest.raises(ValueError, match="longer than 0s"):
        HpaAudit(_Lister({}), Telemetry(), interval=0)
    assert HpaAudit(_Lister({}), Telemetry(), interval=0.5).interval == 0.5


def _events(api: FakeApiServer) -> list[dict[str, Any]]:
    return [r.json() for r in api.requests if r.method == "POST" and r.path == EVENTS]


def _loop(
    tmp_path: Path,
    api: FakeApiServer,
    level: list[float],
    *,
    events: bool = True,
    leader: Any = None,
    lister: Any = None,
) -> tuple[ControlLoop, Telemetry]:
    """A loop over inference/llama-70b auditing every cycle (15 s); the total queue in
    ``level[0]`` sets the recommendation (four groups at 32, eight at 64)."""
    path = write_policy(
        tmp_path / "p.yaml",
        scaleUp={"stabilizationWindow": "0s", "maxStep": None},
        scaleDown={"stabilizationWindow": "0s", "minGroupAge": "0s", "maxStep": None},
    )
    telemetry = Telemetry()
    watcher = PolicyWatcher([path], telemetry)
    watcher.load_initial()
    client = api_client(api)
    recorder = EventRecorder(KubeEventSink(client), "lws-autoscaler-0", telemetry)
    loop = ControlLoop(
        FunctionSource({KEY: lambda _now: level[0]}),
        watcher,
        DecisionStore(max_age=45),
        telemetry,
        ManualClock(),
        15.0,
        leader=leader,
        events=recorder if events else None,
        hpa_audit=HpaAudit(lister or KubeHpaLister(client), telemetry, interval=15),
    )
    return loop, telemetry


def _cycle(loop: ControlLoop) -> list[Any]:
    assert isinstance(loop.clock, ManualClock)
    loop.clock.advance(15)
    decisions = loop.run_cycle(loop.clock.now())
    if loop.events is not None:
        assert loop.events.flush(30)
    return decisions


def test_the_loop_writes_the_audits_warnings_beside_the_decisions_events(
    tmp_path: Path, api: FakeApiServer
) -> None:
    api.put(hpa_object(NS, "llama-70b", KEY.name, SCALING, max_replicas=12))
    level = [32.0]
    loop, telemetry = _loop(tmp_path, api, level)
    _cycle(loop)
    assert _events(api) == []  # one HPA that scales: nothing to tell
    api.put(hpa_object(NS, "keda-hpa-llama-70b", KEY.name, SCALING, max_replicas=12))
    _cycle(loop)
    assert _events(api) == []  # a second HPA, seen once
    # Seen again, and the load doubles in the same cycle: the scale-up's Event and the
    # audit's Warning are made at one instant, and both are created (an Event's name is
    # the instant and a number: the same number twice is refused as AlreadyExists).
    level[0] = 64.0
    _cycle(loop)
    written = _events(api)
    assert [e["reason"] for e in written] == ["ScaleUpRecommended", "CompetingAutoscalers"]
    assert len({e["metadata"]["name"] for e in written}) == 2
    assert _value(telemetry, "events_total", result="created") == 2
    assert _value(telemetry, "events_total", result="failed") == 0
    assert written[1]["type"] == "Warning"
    assert written[1]["regarding"]["name"] == KEY.name
    _cycle(loop)  # still two: told once
    assert len(_events(api)) == 2


def test_the_loop_measures_each_hpa_against_its_policys_bounds(
    tmp_path: Path, api: FakeApiServer
) -> None:
    """The policy allows 1 to 12 groups; a hand-made HPA stops at 8 (hpa_objects). Told
    once the cut has held for five minutes, then not again."""
    api.put(hpa_object(NS, "llama-70b", KEY.name, SCALING))
    loop, _ = _loop(tmp_path, api, [32.0])
    first = loop.clock.now() + 15
    while not _events(api):
        _cycle(loop)
        assert loop.clock.now() - first <= NARROWER_HOLD_SECONDS, "never told"
    assert loop.clock.now() - first == NARROWER_HOLD_SECONDS
    (event,) = _events(api)
    assert (event["reason"], event["type"]) == ("HPABoundsNarrower", "Warning")
    assert event["note"] == (
        "HorizontalPodAutoscaler llama-70b reads this recommendation but clamps it to "
        "narrower bounds than the policy's: its maxReplicas 8 is below the policy's "
        "replicas.max 12: a recommendation above 8 scales to 8"
    )
    for _ in range(3):
        _cycle(loop)
    assert len(_events(api)) == 1  # told once


def test_bounds_cut_for_less_than_the_hold_are_not_told() -> None:
    """A helm upgrade that tightens the policy and the chart's HPA: the HPA changes at
    once, the policy file a minute or two later."""
    lister = _Lister({NS: [hpa_object(NS, "llama-70b", KEY.name, SCALING, max_replicas=12)]})
    audit = HpaAudit(lister, Telemetry(), interval=60)
    policy = {KEY: PolicyBounds(1, 12)}
    assert audit.run([KEY], T0, policy) == []
    lister.answers[NS] = [hpa_object(NS, "llama-70b", KEY.name, SCALING, max_replicas=8)]
    for at in (60, 120, 180):  # the HPA at 8, the policy still at 12
        assert audit.run([KEY], T0 + at, policy) == []
    policy = {KEY: PolicyBounds(1, 8)}  # the new policy file arrived
    for at in range(240, 900, 60):
        assert audit.run([KEY], T0 + at, policy) == []


def test_a_replica_that_does_not_lead_audits_but_writes_nothing(
    tmp_path: Path, api: FakeApiServer
) -> None:
    for name in ("keda-hpa-llama-70b", "llama-70b"):
        api.put(hpa_object(NS, name, KEY.name, SCALING))
    loop, telemetry = _loop(tmp_path, api, [32.0], leader=FixedLeader(False))
    for _ in range(3):
        _cycle(loop)
    assert _events(api) == []
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 2
    # Without an Event writer at all (--no-events), the gauges all the same.
    loop, telemetry = _loop(tmp_path, api, [32.0], events=False)
    _cycle(loop)
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 2


class _BrokenLister:
    def list_hpas(self, namespace: str) -> list[Json]:
        raise RuntimeError("a bug in the audit")


def test_an_audit_that_breaks_never_stops_the_cycle(
    tmp_path: Path, api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    loop, telemetry = _loop(tmp_path, api, [32.0], lister=_BrokenLister())
    with caplog.at_level(logging.ERROR, logger="autoscaler.server.loop"):
        (decision,) = _cycle(loop)
    assert decision.replicas == 4
    assert loop.store.decision(KEY) is not None  # published
    assert _value(telemetry, "cycles_total", result="ok") == 1
    assert any("auditing the HPAs failed" in r.getMessage() for r in caplog.records)


def test_serve_builds_the_audit_from_its_flags_and_exports_it(
    tmp_path: Path, api: FakeApiServer
) -> None:
    api.put(hpa_object(NS, "keda-hpa-llama-70b", KEY.name, SCALING))
    api.put(hpa_object(NS, "llama-70b", KEY.name, NO_METRIC))
    folder = tmp_path / "policies"
    folder.mkdir()
    write_policy(folder / "p.yaml", metrics={"scrape": {"port": "http"}})
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token="sa")
    flags = [
        "serve",
        f"--policies={folder}",
        "--source=scrape",
        f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        f"--cert-dir={tmp_path / 'certs'}",
        "--disable-auth",
    ]
    settings = settings_from(build_parser().parse_args([*flags, "--hpa-audit-interval=2m"]))
    assert settings.hpa_audit_interval == 120
    telemetry = Telemetry()
    audit = build_hpa_audit(settings, telemetry)
    assert audit is not None
    assert audit.interval == 120
    process = ServerProcess(
        settings,
        build_source(settings),
        ManualClock(T0 + 3600),
        telemetry=telemetry,
        events=build_events(settings, telemetry),
        hpa_audit=audit,
    )
    with process.background(start_loop=False) as server:
        process.loop.run_cycle(T0 + 3600)
        url = f"https://127.0.0.1:{bound_port(server)}/metrics"
        verify = ssl.create_default_context(cafile=str(tmp_path / "certs" / "apiserver.crt"))
        page = httpx.get(url, verify=verify, timeout=10).text
        debug = url.replace("/metrics", f"/debug/decisions/{NS}/{KEY.name}")
        shown = httpx.get(debug, verify=verify, timeout=10).json()["hpas"]
    line = f'lws_autoscaler_hpas{{leaderworkerset="{KEY.name}",namespace="{NS}"}} 2.0'
    assert line in page.splitlines()
    # The decision's debug view shows what the audit found of each HPA (what `explain`
    # prints): both clamp the policy's range; one cannot read the metric.
    cut = "its maxReplicas 8 is below the policy's replicas.max 12: a recommendation above 8"
    assert [(h["name"], h["scaling"], h["follows"]) for h in shown] == [
        ("keda-hpa-llama-70b", True, True),
        ("llama-70b", False, True),
    ]
    assert all(h["narrower"].startswith(cut) for h in shown)
    assert "condition" not in shown[0]
    assert (shown[1]["condition"], shown[1]["reason"]) == (
        "ScalingActive",
        "FailedGetExternalMetric",
    )
    assert shown[1]["message"].startswith("the HPA was unable to compute the replica count")
    off = settings_from(build_parser().parse_args([*flags, "--hpa-audit-interval=0"]))
    assert build_hpa_audit(off, Telemetry()) is None
    default = settings_from(build_parser().parse_args(flags))
    assert default.hpa_audit_interval == 60
