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
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autoscaler.cli.main import build_parser
from autoscaler.cli.serve import settings_from
from autoscaler.errors import QueryRejectedError
from autoscaler.server.event_writer import EventRecorder, KubeEventSink
from autoscaler.server.hpa_audit import HpaAudit, KubeHpaLister
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.runner import ServerProcess, bound_port
from autoscaler.server.sources_factory import build_events, build_hpa_audit, build_source
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from autoscaler.sources.kube_lists import Json, NoAnswerError
from tests.server.helpers import T0, FunctionSource, ManualClock, write_policy
from tests.server.hpa_objects import NO_METRIC, SCALING, ambiguous, hpa_object
from tests.sources.kube_objects import api_client, lws_object
from tests.support.fake_apiserver import FakeApiServer, RecordedRequest, status

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
    events = audit.run([KEY, SECOND], T0)
    assert [(e.key, e.reason) for e in events] == [
        (KEY, "CompetingAutoscalers"),
        (KEY, "HPANotScaling"),
        (KEY, "HPANotScaling"),
    ]
    assert "(keda-hpa-llama-70b, llama-70b)" in events[0].note
    assert "AmbiguousSelector" in events[1].note
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 2
    assert _value(telemetry, "hpas", namespace=OTHER, leaderworkerset=SECOND.name) == 1
    for name in names:
        labels = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": name}
        assert _value(telemetry, "hpa_scaling", **labels) == 0
    labels = {"namespace": OTHER, "leaderworkerset": SECOND.name, "hpa": "mixtral"}
    assert _value(telemetry, "hpa_scaling", **labels) == 1
    assert _value(telemetry, "hpa", namespace=NS, leaderworkerset=KEY.name, hpa="web") is None
    assert _value(telemetry, "hpa_audits_total", result="ok") == 1
    # One list call per namespace.
    assert (_lists(api, NS), _lists(api, OTHER)) == (1, 1)

    # The migration finished: the KEDA object is gone, the chart's HPA scales again.
    api.delete("autoscaling/v2", "HorizontalPodAutoscaler", NS, "keda-hpa-llama-70b")
    api.put(hpa_object(NS, "llama-70b", KEY.name, SCALING))
    assert audit.run([KEY, SECOND], T0 + 60) == []  # recovery is quiet
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 1
    gone = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": "keda-hpa-llama-70b"}
    assert _value(telemetry, "hpa_scaling", **gone) is None
    # The policy of the second LWS removed: its series go with it.
    audit.run([KEY], T0 + 120)
    assert _value(telemetry, "hpas", namespace=OTHER, leaderworkerset=SECOND.name) is None


def test_an_audit_runs_once_per_interval_and_at_once_after_the_clock_goes_back(
    api: FakeApiServer,
) -> None:
    audit = HpaAudit(KubeHpaLister(api_client(api)), Telemetry(), interval=60)
    for at, lists in [(0, 1), (15, 1), (59.9, 1), (60, 2), (90, 2), (30, 3), (45, 3)]:
        audit.run([KEY], T0 + at)
        assert _lists(api, NS) == lists, at


def test_a_namespace_that_refuses_keeps_its_findings_and_is_warned_of_once(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    api.put(hpa_object(NS, "llama-70b", KEY.name, NO_METRIC))
    api.put(hpa_object(OTHER, "mixtral", SECOND.name, SCALING))
    telemetry = Telemetry()
    audit = HpaAudit(KubeHpaLister(api_client(api)), telemetry, interval=60)
    first = audit.run([KEY, SECOND], T0)
    assert [e.reason for e in first] == ["HPANotScaling"]

    def forbidden(_body: Json, request: RecordedRequest) -> tuple[int, Json]:
        message = (
            'horizontalpodautoscalers.autoscaling is forbidden: User "system:serviceaccount:'
            'lws-autoscaler:lws-autoscaler" cannot list resource "horizontalpodautoscalers" '
            f'in API group "autoscaling" in the namespace "{NS}"'
        )
        return 403, status(403, "Forbidden", message)

    api.on_get(_hpas_path(NS), forbidden)
    with caplog.at_level(logging.INFO, logger="autoscaler.server.hpa_audit"):
        assert audit.run([KEY, SECOND], T0 + 60) == []
        assert audit.run([KEY, SECOND], T0 + 120) == []
        api.remove_route("GET", _hpas_path(NS))
        # Back, with the same finding: the HPANotScaling Warning is not told twice.
        assert audit.run([KEY, SECOND], T0 + 180) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot audit the HPAs of namespace inference" in warnings[0]
    assert "403" in warnings[0]
    assert "forbidden" in warnings[0]
    assert any("works again" in r.getMessage() for r in caplog.records)
    # Through the failures the last findings held: the alert's series did not vanish.
    assert _value(telemetry, "hpas", namespace=NS, leaderworkerset=KEY.name) == 1
    labels = {"namespace": NS, "leaderworkerset": KEY.name, "hpa": "llama-70b"}
    assert _value(telemetry, "hpa_scaling", **labels) == 0
    assert _value(telemetry, "hpa_audits_total", result="error") == 2
    assert _value(telemetry, "hpa_audits_total", result="ok") == 2


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


def test_no_audit_interval_of_zero() -> None:
    with pytest.raises(ValueError, match="longer than 0s"):
        HpaAudit(_Lister({}), Telemetry(), interval=0)


def _events(api: FakeApiServer) -> list[dict[str, Any]]:
    return [r.json() for r in api.requests if r.method == "POST" and r.path == EVENTS]


def test_the_loop_writes_the_audits_warnings_beside_the_decisions_events(
    tmp_path: Path, api: FakeApiServer
) -> None:
    api.put(hpa_object(NS, "llama-70b", KEY.name, SCALING))
    path = write_policy(
        tmp_path / "p.yaml",
        scaleUp={"stabilizationWindow": "0s", "maxStep": None},
        scaleDown={"stabilizationWindow": "0s", "minGroupAge": "0s", "maxStep": None},
    )
    telemetry = Telemetry()
    watcher = PolicyWatcher([path], telemetry)
    watcher.load_initial()
    level = [32.0]
    client = api_client(api)
    loop = ControlLoop(
        FunctionSource({KEY: lambda _now: level[0]}),
        watcher,
        DecisionStore(max_age=45),
        telemetry,
        ManualClock(),
        15.0,
        events=EventRecorder(KubeEventSink(client), "lws-autoscaler-0", telemetry),
        hpa_audit=HpaAudit(KubeHpaLister(client), telemetry, interval=15),
    )

    def cycle() -> None:
        assert isinstance(loop.clock, ManualClock)
        assert loop.events is not None
        loop.clock.advance(15)
        loop.run_cycle(loop.clock.now())
        assert loop.events.flush(30)

    cycle()
    assert _events(api) == []  # one HPA that scales: nothing to tell
    # A KEDA ScaledObject on the same LWS, and the load doubles in the same cycle: the
    # scale-up's Event and the audit's Warning are made at one instant, and both are
    # created (an Event's name is the instant and a number: the same number twice
    # would be refused as AlreadyExists).
    api.put(hpa_object(NS, "keda-hpa-llama-70b", KEY.name, SCALING))
    level[0] = 64.0
    cycle()
    written = _events(api)
    assert [e["reason"] for e in written] == ["ScaleUpRecommended", "CompetingAutoscalers"]
    assert len({e["metadata"]["name"] for e in written}) == 2
    assert _value(telemetry, "events_total", result="created") == 2
    assert _value(telemetry, "events_total", result="failed") == 0
    assert written[1]["type"] == "Warning"
    assert written[1]["regarding"]["name"] == KEY.name
    cycle()  # still two: told once
    assert len(_events(api)) == 2


def test_serve_builds_the_audit_from_its_flags_and_exports_it(
    tmp_path: Path, api: FakeApiServer
) -> None:
    for name in ("keda-hpa-llama-70b", "llama-70b"):
        api.put(hpa_object(NS, name, KEY.name, SCALING))
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
    line = f'lws_autoscaler_hpas{{leaderworkerset="{KEY.name}",namespace="{NS}"}} 2.0'
    assert line in page.splitlines()
    off = settings_from(build_parser().parse_args([*flags, "--hpa-audit-interval=0"]))
    assert build_hpa_audit(off, Telemetry()) is None
    default = settings_from(build_parser().parse_args(flags))
    assert default.hpa_audit_interval == 60
