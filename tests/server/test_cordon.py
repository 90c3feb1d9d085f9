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
from autoscaler.server.cordon import (
    CORDONED_BY,
    CORDONED_BY_ANNOTATION,
    SERVING_LABEL,
    Cordon,
    KubePodLabeler,
)
from autoscaler.snapshot import LwsKey
from tests.server.helpers import T0, LabelRecorder, draining_loop
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


def _metadata(api: FakeApiServer, pod: str) -> Any:
    client = api_client(api)
    from kubernetes.client import CoreV1Api

    meta = CoreV1Api(client).read_namespaced_pod(pod, KEY.namespace).metadata
    assert meta is not None
    return meta


def _label(api: FakeApiServer, pod: str) -> str | None:
    labels: dict[str, str] = _metadata(api, pod).labels or {}
    return labels.get(SERVING_LABEL)


def _owner(api: FakeApiServer, pod: str) -> str | None:
    annotations: dict[str, str] = _metadata(api, pod).annotations or {}
    return annotations.get(CORDONED_BY_ANNOTATION)


def _labelled_out_earlier(api: FakeApiServer, group: int, *, owned: bool) -> None:
    """A leader as an earlier server process (or a person, without ``owned``) left it."""
    pod = pod_object(KEY.namespace, KEY.name, group, 0)
    pod["metadata"]["labels"][SERVING_LABEL] = "false"
    if owned:
        pod["metadata"]["annotations"] = {CORDONED_BY_ANNOTATION: CORDONED_BY}
    api.put(pod)


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
        {
            "metadata": {
                "labels": {SERVING_LABEL: "false"},
                "annotations": {CORDONED_BY_ANNOTATION: CORDONED_BY},
            }
        },
    )
    assert _owner(api, "llama-70b-2") == CORDONED_BY
    # Desired state: the same decision again patches nothing.
    cordon.apply([_decision(4, ("llama-70b-2", "llama-70b-3"))])
    assert len(_patches(api)) == 2
    # Load came back: both groups are still wanted (index < 4) and serve again.
    cordon.apply([_decision(4, ())])
    assert _label(api, "llama-70b-2") == "true"
    assert _label(api, "llama-70b-3") == "true"
    assert _owner(api, "llama-70b-2") is None  # the merge patch's null removed it
    assert cordon.cordoned == {}


def test_a_restarted_server_returns_an_earlier_process_drain_to_routing(
    api: FakeApiServer,
) -> None:
    # The process that labelled group 3 out was restarted; its memory is gone. The new
    # one's decision drains nothing and wants 4 groups: group 3 must serve again.
    _labelled_out_earlier(api, 3, owned=True)
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ())])
    assert _label(api, "llama-70b-3") == "true"
    assert _owner(api, "llama-70b-3") is None
    # Still draining in the new process's decision: adopted, no patch needed.
    _labelled_out_earlier(api, 2, owned=True)
    before = len(_patches(api))
    cordon.apply([_decision(4, ("llama-70b-2",))])
    assert len(_patches(api)) == before
    assert cordon.cordoned == {KEY: frozenset({"llama-70b-2"})}


def test_when_its_policy_goes_the_other_replica_drain_ends_too(api: FakeApiServer) -> None:
    # Group 3 was labelled out by the other replica (not in this process's memory).
    # Once the policy is gone, nothing will remove group 3: it must serve again. An LWS
    # this process never decided (another installation's) is not touched.
    other = LwsKey("team-b", "mixtral")
    foreign = pod_object(other.namespace, other.name, 1, 0)
    foreign["metadata"]["labels"][SERVING_LABEL] = "false"
    foreign["metadata"]["annotations"] = {CORDONED_BY_ANNOTATION: CORDONED_BY}
    api.put(foreign)
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ())])
    _labelled_out_earlier(api, 3, owned=True)
    cordon.apply([])
    assert _label(api, "llama-70b-3") == "true"
    assert [pod for pod, _ in _patches(api)] == ["llama-70b-3"]


def test_the_read_back_lists_only_the_namespaces_of_the_lwses_it_decided(
    api: FakeApiServer,
) -> None:
    """A list per namespace, never across all of them: with the chart's ``rbac.namespaces``
    the server may list pods only where its policies point (a cluster-wide list would be
    403, and a restarted server could no longer find the leaders it had labelled out)."""
    _labelled_out_earlier(api, 3, owned=True)
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ())])
    assert _label(api, "llama-70b-3") == "true"  # found in its namespace, given back
    lists = [r.path for r in api.requests if r.method == "GET" and r.path.endswith("/pods")]
    assert lists == [f"/api/v1/namespaces/{KEY.namespace}/pods"]
    # Its policy removed: the namespace is still read, so the orphaned drain ends too.
    _labelled_out_earlier(api, 2, owned=True)
    cordon.apply([])
    assert _label(api, "llama-70b-2") == "true"
    lists = [r.path for r in api.requests if r.method == "GET" and r.path.endswith("/pods")]
    assert set(lists) == {f"/api/v1/namespaces/{KEY.namespace}/pods"}


def test_a_namespace_that_cannot_be_listed_leaves_the_others_read_back(
    api: FakeApiServer,
) -> None:
    """A policy in a namespace the Role does not cover (from an existing ConfigMap): its
    list is 403. The other namespaces' read-back goes on: a leader an earlier process
    labelled out there is still given back (with one failure for all, it stayed out)."""
    other = LwsKey("other", "llama-8b")
    api.on_get(
        f"/api/v1/namespaces/{other.namespace}/pods",
        lambda _b, _r: (403, status(403, "Forbidden", "pods is forbidden")),
    )
    _labelled_out_earlier(api, 3, owned=True)
    cordon = Cordon(KubePodLabeler(api_client(api), timeout=10))
    elsewhere = Decision(other, "llama-8b", T0, 2, 2, None, (), ())
    cordon.apply([_decision(4, ()), elsewhere])
    assert _label(api, "llama-70b-3") == "true"


def test_a_removed_policy_namespace_is_listed_until_its_leaders_serve_again(
    api: FakeApiServer,
) -> None:
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    cordon.apply([])  # the policy is gone: group 3 serves again
    assert _label(api, "llama-70b-3") == "true"
    before = len([r for r in api.requests if r.method == "GET" and r.path.endswith("/pods")])
    cordon.apply([])
    cordon.apply([])
    after = len([r for r in api.requests if r.method == "GET" and r.path.endswith("/pods")])
    assert after == before  # forgotten: its namespace (and Role) may be gone


def test_a_removed_policy_namespace_that_cannot_be_listed_is_forgotten(
    api: FakeApiServer,
) -> None:
    """``helm upgrade`` removes a policy and the Role of its namespace together: that
    namespace's list is 403 from then on. With nothing of it labelled out by this
    process, it is listed no more (it was, every cycle, for the life of the process)."""
    other = LwsKey("team-a", "llama-8b")
    cordon = Cordon(KubePodLabeler(api_client(api), timeout=10))
    cordon.apply([_decision(4, ()), Decision(other, "llama-8b", T0, 2, 2, None, (), ())])
    forbidden = f"/api/v1/namespaces/{other.namespace}/pods"
    api.on_get(forbidden, lambda _b, _r: (403, status(403, "Forbidden", "pods is forbidden")))
    for _ in range(3):
        cordon.apply([_decision(4, ())])
    lists = [r.path for r in api.requests if r.method == "GET" and r.path == forbidden]
    assert len(lists) == 2  # the first cycle, and the one that found it forbidden


def test_a_leader_labelled_out_by_hand_is_left_alone(api: FakeApiServer) -> None:
    _labelled_out_earlier(api, 1, owned=False)
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ())])
    assert _label(api, "llama-70b-1") == "false"
    assert _patches(api) == []


def test_a_label_set_back_by_someone_else_is_set_out_again(api: FakeApiServer) -> None:
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    api.put(pod_object(KEY.namespace, KEY.name, 3, 0))  # recreated: no serving label
    cordon.apply([_decision(4, ("llama-70b-3",))])
    assert _label(api, "llama-70b-3") == "false"
    assert [pod for pod, _ in _patches(api)] == ["llama-70b-3", "llama-70b-3"]


def test_without_the_read_back_the_server_falls_back_to_its_memory(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    pods = f"/api/v1/namespaces/{KEY.namespace}/pods"
    api.on_get(pods, lambda _b, _r: (403, status(403, "Forbidden", "pods is forbidden")))
    cordon = Cordon(KubePodLabeler(api_client(api), timeout=10))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    cordon.apply([_decision(4, ("llama-70b-3",))])
    cordon.apply([_decision(4, ())])
    assert [pod for pod, _ in _patches(api)] == ["llama-70b-3", "llama-70b-3"]
    assert _label(api, "llama-70b-3") == "true"
    warnings = [r for r in caplog.records if "could not list labelled-out leaders" in r.message]
    assert len(warnings) == 1  # said once, not every cycle


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
    cordon = Cordon(KubePodLabeler(api_client(api), timeout=10))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    assert cordon.cordoned == {}
    cordon.apply([_decision(4, ("llama-70b-3",))])
    assert cordon.cordoned == {KEY: frozenset({"llama-70b-3"})}


def test_a_removed_policy_returns_its_leaders_to_routing(api: FakeApiServer) -> None:
    cordon = Cordon(KubePodLabeler(api_client(api)))
    cordon.apply([_decision(4, ("llama-70b-3",))])
    cordon.apply([])
    assert _label(api, "llama-70b-3") == "true"


def test_the_control_loop_relabels_what_the_engine_drains(tmp_path: Path) -> None:
    recorder = LabelRecorder()
    (decision,) = draining_loop(tmp_path, recorder).run_cycle(T0)
    assert decision.replicas == 4  # held: the drained leaders are still busy
    assert decision.draining == ("llama-70b-3",)
    assert recorder.calls == [(KEY.namespace, "llama-70b-3", False)]
