"""The wire-level fake of kube-apiserver (tests/support/fake_apiserver.py) answers the real
clients (kubectl, the kubernetes Python client) the way kube-apiserver would. No
kube-apiserver can be installed here, so this fake stands in for it in every test that
needs Kubernetes API calls."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from tests.support.certs import TestPki
from tests.support.fake_apiserver import FakeApiServer, access_reviewer, token_reviewer


def _pod(name: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "serving", "labels": labels},
        "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]},
        "status": {"phase": "Running"},
    }


LWS = {
    "apiVersion": "leaderworkerset.x-k8s.io/v1",
    "kind": "LeaderWorkerSet",
    "metadata": {"name": "llama-70b", "namespace": "serving"},
    "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 4}},
    "status": {"replicas": 2, "readyReplicas": 2},
}


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return TestPki(tmp_path / "pki")


def test_python_client_lists_pods_with_selector_and_reads_custom_objects(
    tmp_path: Path, pki: TestPki
) -> None:
    with FakeApiServer(tls=pki.server()) as api:
        api.put(_pod("leader-0", {"role": "leader", "lws": "llama-70b"}))
        api.put(_pod("worker-0-1", {"role": "worker", "lws": "llama-70b"}))
        api.put(_pod("other", {"role": "leader", "lws": "dev-8b"}))
        api.put(LWS)
        config = api.write_kubeconfig(tmp_path / "kubeconfig", token="t", ca_file=pki.ca_file)
        client = kubernetes.config.new_client_from_config(config_file=str(config))  # type: ignore[no-untyped-call]
        core = kubernetes.client.CoreV1Api(client)
        pods = core.list_namespaced_pod("serving", label_selector="role=leader,lws in (llama-70b)")
        assert [p.metadata.name if p.metadata else None for p in pods.items] == ["leader-0"]
        custom = kubernetes.client.CustomObjectsApi(client)
        lws: Any = custom.get_namespaced_custom_object(
            "leaderworkerset.x-k8s.io", "v1", "serving", "leaderworkersets", "llama-70b"
        )
        assert lws["spec"]["replicas"] == 2
        with pytest.raises(kubernetes.client.ApiException) as missing:
            custom.get_namespaced_custom_object(
                "leaderworkerset.x-k8s.io", "v1", "serving", "leaderworkersets", "nope"
            )
        assert missing.value.status == 404
        assert json.loads(missing.value.body or "{}")["reason"] == "NotFound"
        assert api.requests[0].headers["authorization"] == "Bearer t"


def test_kubectl_reads_through_kubeconfig(tmp_path: Path, pki: TestPki) -> None:
    with FakeApiServer(tls=pki.server()) as api:
        api.put(LWS)
        config = api.write_kubeconfig(tmp_path / "kubeconfig", token="t", ca_file=pki.ca_file)
        out = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(config),
                "get",
                "--raw",
                "/apis/leaderworkerset.x-k8s.io/v1/namespaces/serving/leaderworkersets",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        listing = json.loads(out.stdout)
        assert listing["kind"] == "LeaderWorkerSetList"
        assert [o["metadata"]["name"] for o in listing["items"]] == ["llama-70b"]


def test_token_and_access_review_hooks_and_client_certs(pki: TestPki) -> None:
    with FakeApiServer(tls=pki.server(), client_ca=pki.ca_file) as api:
        api.on_post(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            token_reviewer({"good": ("alice", ["devs"])}),
        )
        api.on_post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            access_reviewer(lambda spec: spec.get("user") == "alice"),
        )
        client_cert = pki.client("system:kube-aggregator")
        context = ssl.create_default_context(cafile=str(pki.ca_file))
        context.load_cert_chain(client_cert.cert, client_cert.key)
        with httpx.Client(base_url=api.url, verify=context) as http:
            review = http.post(
                "/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": "good"}}
            ).json()
            assert review["status"]["user"]["username"] == "alice"
            bad = http.post(
                "/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": "bad"}}
            ).json()
            assert bad["status"]["authenticated"] is False
            sar = http.post(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews", json={"spec": {"user": "bob"}}
            ).json()
            assert sar["status"]["allowed"] is False
            assert http.delete("/api/v1/namespaces/x/pods/y").status_code == 405
        subject = dict(pair[0] for pair in api.requests[0].client_cert_subject or ())
        assert subject["commonName"] == "system:kube-aggregator"


def test_create_and_replace_with_optimistic_concurrency() -> None:
    """POST/PUT as kube-apiserver answers them, with httpx on the wire: 201, then 409
    AlreadyExists; a replace at the stored resourceVersion wins, a stale one is a 409
    Conflict; a Lease time without six fractional digits is a 400."""
    leases = "/apis/coordination.k8s.io/v1/namespaces/ops/leases"
    lease: dict[str, Any] = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "lock"},
        "spec": {"holderIdentity": "a", "renewTime": "2026-01-01T00:00:00.000000Z"},
    }
    with FakeApiServer() as api, httpx.Client(base_url=api.url) as http:
        created = http.post(leases, json=lease)
        assert created.status_code == 201
        version = created.json()["metadata"]["resourceVersion"]
        assert created.json()["metadata"]["namespace"] == "ops"
        again = http.post(leases, json=lease)
        assert (again.status_code, again.json()["reason"]) == (409, "AlreadyExists")
        assert again.json()["message"] == 'leases.coordination.k8s.io "lock" already exists'

        renewed = {**lease, "metadata": {"name": "lock", "resourceVersion": version}}
        replaced = http.put(f"{leases}/lock", json=renewed)
        assert replaced.status_code == 200
        assert replaced.json()["metadata"]["resourceVersion"] != version
        assert replaced.json()["metadata"]["uid"] == created.json()["metadata"]["uid"]
        stale = http.put(f"{leases}/lock", json=renewed)
        assert (stale.status_code, stale.json()["reason"]) == (409, "Conflict")
        assert "the object has been modified" in stale.json()["message"]

        missing = http.put(f"{leases}/other", json={**lease, "metadata": {"name": "other"}})
        assert (missing.status_code, missing.json()["reason"]) == (404, "NotFound")
        bad_time = {**lease, "spec": {"renewTime": "2026-01-01T00:00:00+00:00"}}
        assert http.put(f"{leases}/lock", json=bad_time).status_code == 400
        assert http.post(f"{leases}/lock", json=lease).status_code == 405

        # What the real server refuses beyond that (its Lease strategy and create path).
        unconditional = http.put(f"{leases}/lock", json=lease)
        assert (unconditional.status_code, unconditional.json()["reason"]) == (422, "Invalid")
        assert "must be specified for an update" in unconditional.json()["message"]
        current = http.get(f"{leases}/lock").json()["metadata"]["resourceVersion"]
        zero = {
            **lease,
            "metadata": {"name": "lock", "resourceVersion": current},
            "spec": {"leaseDurationSeconds": 0},
        }
        assert http.put(f"{leases}/lock", json=zero).status_code == 422
        preset = {**lease, "metadata": {"name": "new", "resourceVersion": "5"}}
        assert http.post(leases, json=preset).status_code == 500
        elsewhere = {**lease, "metadata": {"name": "new", "namespace": "other"}}
        assert http.post(leases, json=elsewhere).status_code == 400


_EVENT: dict[str, Any] = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "llama.18a"},
    "eventTime": "2026-01-01T00:00:00.000000Z",
    "reportingController": "lws-autoscaler.io/lws-autoscaler",
    "reportingInstance": "lws-autoscaler-0",
    "action": "Recommend",
    "reason": "ScaleUpRecommended",
    "regarding": {"kind": "LeaderWorkerSet", "namespace": "inference", "name": "llama"},
    "note": "recommended 5 groups",
    "type": "Normal",
}


@pytest.mark.parametrize(
    ("change", "code", "says"),
    [
        pytest.param({}, 201, "", id="valid"),
        pytest.param({"eventTime": "2026-01-01T00:00:00+00:00"}, 400, "cannot parse", id="time"),
        pytest.param({"eventTime": None}, 422, "eventTime: Required value", id="no-time"),
        pytest.param({"reportingInstance": ""}, 422, "reportingInstance: Required", id="instance"),
        pytest.param({"reportingController": "a b"}, 422, "reportingController: Invalid", id="qn"),
        pytest.param({"action": "x" * 129}, 422, "action: Invalid", id="long-action"),
        pytest.param({"reason": None}, 422, "reason: Required value", id="no-reason"),
        pytest.param({"note": "é" * 513}, 422, "at most 1024 characters", id="note-bytes"),
        pytest.param({"type": "Info"}, 422, "type: Invalid value", id="type"),
        pytest.param({"regarding": {"name": "llama"}}, 422, "involvedObject.namespace", id="ns"),
    ],
)
def test_events_are_validated_at_create_as_kube_apiserver_does(
    change: dict[str, Any], code: int, says: str
) -> None:
    event = {k: v for k, v in {**_EVENT, **change}.items() if v is not None}
    with FakeApiServer() as api, httpx.Client(base_url=api.url) as http:
        answer = http.post("/apis/events.k8s.io/v1/namespaces/inference/events", json=event)
    assert answer.status_code == code, answer.text
    assert says in answer.text
