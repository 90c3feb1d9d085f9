"""Drain actuation: leader pods of draining groups are relabelled out of routing.

No kube-apiserver can be installed here, so the real ``kubernetes`` client talks to
the wire-level fake in ``tests/support/fake_apiserver.py``, which stores real-shaped Pod
objects and applies merge patches to them as the API server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.engine import Decision
from autoscaler.server.cordon import SERVING_LABEL, Cordon, KubePodLabeler
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from tests.server.helpers import T0, FunctionSource, ManualClock, constant, write_policy
from tests.sources.kube_objects import api_client, pod_object
from tests.support.fake_apiserver import FakeApiServer, RecordedRequest, status

KEY = LwsKey("inference", "llama-70b")


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        for group in range(4):
            pod = pod_object(KEY.namespace, KEY.name, group, 0)
            pod["metadata"]["labels"][SERVING_LABEL] = "true"
            server.put(pod)
        yield server


def _label(api: FakeApiServer, pod: str) -> str | None:
    client = api_client(api)
    from kubernetes.client import CoreV1Api

    meta = CoreV1Api(client).read_namespaced_pod(pod, KEY.namespace).metadata
    assert meta is not None
    labels: dict[str, str] = meta.labels or {}
    return labels.get(SERVING_LABEL)


def _patches(api: FakeApiServer) -> list[tuple[str, Any]]:
    return [(r.path.rsplit("/", 1)[-1], r.json()) for r in api.requests if r.method == "PATCH"]


def _decision(current: int, draining: tuple[str, ...]) -> Decision:
    return Decision(KEY, "llama-70b", T0, current, current, None, (), (), draining=draining)


def test_draining_leaders_are_labelled_out_and_back_when_called_off(api: FakeApiServer) -> None:
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ("llama-70b-2", "llama-70b-3"))])
    assert _label(api, "llama-70b-2") == "false"
    assert _label(api, "llama-70b-3") == "false"
    assert _label(api, "llama-70b-1") == "true"
    assert _patches(api)[0] == (
        "llama-70b-2",
        {"metadata": {"labels": {SERVING_LABEL: "false"}}},
    )
    # Desired state: the same decision again patches nothing.
    cordon.apply([_decision(4, ("llama-70b-2", "llama-70b-3"))])
    assert len(_patches(api)) == 2
    # Load came back: both groups are still wanted (index < 4) and serve again.
    cordon.apply([_decision(4, ())])
    assert _label(api, "llama-70b-2") == "true"
    assert _label(api, "llama-70b-3") == "true"
    assert cordon.cordoned == {}


def test_removed_groups_are_forgotten_without_a_patch(api: FakeApiServer) -> None:
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    # The HPA followed: spec.replicas is 3, group 3 is gone; nothing to relabel.
    cordon.apply([_decision(3, ())])
    assert [pod for pod, _ in _patches(api)] == ["llama-70b-3"]
    assert cordon.cordoned == {}


def test_a_vanished_pod_is_not_retried(api: FakeApiServer) -> None:
    api.delete("v1", "Pod", KEY.namespace, "llama-70b-3")
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    cordon.apply([_decision(4, ("llama-70b-3",))])
    assert [pod for pod, _ in _patches(api)] == ["llama-70b-3"]


def test_api_errors_are_retried_next_cycle(api: FakeApiServer) -> None:
    path = f"/api/v1/namespaces/{KEY.namespace}/pods/llama-70b-3"
    failures = iter([True])

    def flaky(_body: dict[str, Any], _request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if next(failures, False):
            return 500, status(500, "InternalError", "etcd timeout")
        return 200, {}

    api.on_patch(path, flaky)
    cordon = Cordon(KubePodLabeler(api_client(api), timeout=2))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    assert cordon.cordoned == {}
    cordon.apply([_decision(4, ("llama-70b-3",))])
    assert cordon.cordoned == {KEY: frozenset({"llama-70b-3"})}


def test_a_removed_policy_returns_its_leaders_to_routing(api: FakeApiServer) -> None:
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    cordon.apply([])
    assert _label(api, "llama-70b-3") == "true"


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []

    def set_label(self, namespace: str, pod: str, key: str, value: str) -> None:
        self.calls.append((namespace, pod, key, value))


def test_the_control_loop_relabels_what_the_engine_drains(tmp_path: Path) -> None:
    # Four groups at KV-cache 0.5 (target 0.8): 2.5 groups needed, so group 3 drains
    # while its leader still reports 4 running requests.
    path = write_policy(
        tmp_path / "p.yaml",
        scaleDown={
            "stabilizationWindow": "0s",
            "minGroupAge": "0s",
            "maxStep": None,
            "drain": {"enabled": True},
        },
    )
    telemetry = Telemetry()
    watcher = PolicyWatcher([path], telemetry)
    watcher.load_initial()
    recorder = _Recorder()
    source = FunctionSource({KEY: constant(8.0)})
    loop = ControlLoop(
        source,
        watcher,
        DecisionStore(max_age=45),
        telemetry,
        ManualClock(),
        15.0,
        cordon=Cordon(recorder),
    )
    (decision,) = loop.run_cycle(T0)
    assert decision.replicas == 4  # held: the drained leaders are still busy
    assert decision.draining == ("llama-70b-3",)
    assert recorder.calls == [(KEY.namespace, "llama-70b-3", SERVING_LABEL, "false")]
