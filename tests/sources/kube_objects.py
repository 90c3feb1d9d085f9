"""LeaderWorkerSet and Pod objects shaped exactly like the API server returns them
(``leaderworkerset.x-k8s.io/v1``; labels and status fields from kubernetes-sigs/lws
``api/leaderworkerset/v1/leaderworkerset_types.go``), for the fake API server."""

from __future__ import annotations

from typing import Any

from tests.support.fake_apiserver import FakeApiServer

Json = dict[str, Any]


def lws_object(
    namespace: str, name: str, replicas: int, status: int, ready: int, size: int = 2
) -> Json:
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "namespace": namespace, "generation": 3},
        "spec": {
            "replicas": replicas,
            "startupPolicy": "LeaderCreated",
            "leaderWorkerTemplate": {
                "size": size,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "workerTemplate": {
                    "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]}
                },
            },
            "rolloutStrategy": {"type": "RollingUpdate"},
        },
        "status": {
            "replicas": status,
            "readyReplicas": ready,
            "updatedReplicas": status,
            "hpaPodSelector": (
                f"leaderworkerset.sigs.k8s.io/name={name},leaderworkerset.sigs.k8s.io/worker-index=0"
            ),
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


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
) -> Json:
    name = f"{lws}-{group}" if worker == 0 else f"{lws}-{group}-{worker}"
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": created}]
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready_at else "False",
            "lastTransitionTime": ready_at or created,
        }
    )
    meta: Json = {
        "name": name,
        "namespace": namespace,
        "creationTimestamp": created,
        "labels": {
            "leaderworkerset.sigs.k8s.io/name": lws,
            "leaderworkerset.sigs.k8s.io/group-index": str(group),
            "leaderworkerset.sigs.k8s.io/worker-index": str(worker),
            "leaderworkerset.sigs.k8s.io/group-key": f"{lws}{group}hash",
        },
        "annotations": {"leaderworkerset.sigs.k8s.io/size": "2"},
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    status: Json = {"phase": "Running" if ready_at else "Pending", "conditions": conditions}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]},
        "status": status,
    }


def api_client(api: FakeApiServer) -> Any:
    """A client of the wire-level fake, with the retries the server's clients have."""
    from kubernetes.client import ApiClient, Configuration

    from autoscaler.server.kube_reviews import bounded_retries

    config = Configuration(host=api.url)
    config.retries = bounded_retries()
    return ApiClient(config)
