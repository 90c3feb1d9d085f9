"""LeaderWorkerSet and Pod objects shaped exactly like the API server returns them
(``leaderworkerset.x-k8s.io/v1``; labels and status fields from kubernetes-sigs/lws
``api/leaderworkerset/v1/leaderworkerset_types.go``), for the fake API server."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.support.fake_apiserver import FakeApiServer

Json = dict[str, Any]


def _condition(kind: str, status: str, reason: str, message: str) -> Json:
    """A ``metav1.Condition``: all five fields are required by the API."""
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:05:00Z",
        "observedGeneration": 3,
    }


def lws_object(
    namespace: str,
    name: str,
    replicas: int,
    status: int | None,
    ready: int = 0,
    size: int = 2,
) -> Json:
    """``status=None``: an LWS the controller has not reconciled yet (no status at all).
    Counts of 0 are left out, as the API server does for ``int32 ... omitempty``."""
    obj: Json = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        # The fake API server adds uid, resourceVersion and creationTimestamp.
        "metadata": {"name": name, "namespace": namespace, "generation": 3},
        "spec": {
            "replicas": replicas,
            "startupPolicy": "LeaderCreated",
            "leaderWorkerTemplate": {
                "size": size,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "workerTemplate": {
                    "metadata": {},
                    "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]},
                },
            },
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"partition": 0, "maxUnavailable": 1, "maxSurge": 0},
            },
            "networkConfig": {"subdomainPolicy": "Shared"},
        },
    }
    if status is None:
        return obj
    counts = {"replicas": status, "readyReplicas": ready, "updatedReplicas": status}
    available = ready > 0
    obj["status"] = {
        **{field: value for field, value in counts.items() if value},
        "hpaPodSelector": (
            f"leaderworkerset.sigs.k8s.io/name={name},leaderworkerset.sigs.k8s.io/worker-index=0"
        ),
        "conditions": [
            _condition(
                "Available",
                "True" if available else "False",
                "AllGroupsReady" if available else "GroupsNotReady",
                "All replicas are ready" if available else "Replicas are progressing",
            )
        ],
    }
    return obj


def pod_object(
    namespace: str,
    lws: str,
    group: int,
    worker: int,
    *,
    ip: str | None = "10.0.0.1",
    created: str = "2026-01-01T00:00:00Z",
    ready_at: str | None = "2026-01-01T00:05:00Z",
    terminating: bool = False,
    size: int = 2,
    ports: dict[str, int] | None = None,
) -> Json:
    """A leader (``worker=0``) or worker pod as the LWS controller creates it: owned by
    the group's StatefulSet, a SHA-1 group key, the template hash, and on workers the
    leader's name. ``ports``: the vLLM container's named ports."""
    leader = f"{lws}-{group}"
    name = leader if worker == 0 else f"{leader}-{worker}"
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": created},
        {"type": "Initialized", "status": "True", "lastTransitionTime": created},
    ]
    for kind in ("ContainersReady", "Ready"):
        conditions.append(
            {
                "type": kind,
                "status": "True" if ready_at else "False",
                "lastTransitionTime": ready_at or created,
                **({} if ready_at else {"reason": "ContainersNotReady"}),
            }
        )
    annotations = {"leaderworkerset.sigs.k8s.io/size": str(size)}
    if worker:
        annotations["leaderworkerset.sigs.k8s.io/leader-name"] = leader
    meta: Json = {
        "name": name,
        "namespace": namespace,
        "uid": f"7f3a9c1e-{group:04d}-{worker:04d}",
        "creationTimestamp": created,
        "labels": {
            "leaderworkerset.sigs.k8s.io/name": lws,
            "leaderworkerset.sigs.k8s.io/group-index": str(group),
            "leaderworkerset.sigs.k8s.io/worker-index": str(worker),
            "leaderworkerset.sigs.k8s.io/group-key": hashlib.sha1(
                f"{namespace}/{leader}".encode()
            ).hexdigest(),
            "leaderworkerset.sigs.k8s.io/template-revision-hash": "5d7c9f8b6",
            "apps.kubernetes.io/pod-index": str(worker),
        },
        "annotations": annotations,
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": lws if worker == 0 else leader,
                "uid": f"5e2d8b0c-{group:04d}",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T01:00:00Z"
        meta["deletionGracePeriodSeconds"] = 30
    status: Json = {
        "phase": "Running" if ready_at else "Pending",
        "conditions": conditions,
        "startTime": created,
    }
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    container: Json = {"name": "vllm", "image": "vllm/vllm-openai"}
    if ports:
        container["ports"] = [
            {"name": port, "containerPort": number, "protocol": "TCP"}
            for port, number in ports.items()
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [container]},
        "status": status,
    }


def api_client(api: FakeApiServer) -> Any:
    """A client of the wire-level fake, with the retries the server's clients have."""
    from kubernetes.client import ApiClient, Configuration

    from autoscaler.server.kube_reviews import bounded_retries

    config = Configuration(host=api.url)
    config.retries = bounded_retries()
    return ApiClient(config)


def annotate_lws(
    api: FakeApiServer, namespace: str, name: str, key: str, value: str | None
) -> None:
    """What ``kubectl annotate leaderworkerset NAME KEY=VALUE`` sends for a custom
    resource: a JSON merge patch of the annotations (``KEY-`` removes it: the key as
    null)."""
    path = f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{namespace}/leaderworkersets/{name}"
    answer = httpx.patch(
        api.url + path,
        json={"metadata": {"annotations": {key: value}}},
        headers={"content-type": "application/merge-patch+json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
