"""Reads LeaderWorkerSets and their pods from the Kubernetes API.

Two list calls per *namespace* per cycle, whatever the number of LWS in it: the
``leaderworkersets`` of the namespace (``leaderworkerset.x-k8s.io/v1``) and its pods
selected by ``leaderworkerset.sigs.k8s.io/name in (a,b,...)``. From them:

- ``spec.replicas`` / ``status.replicas`` / ``status.readyReplicas`` as the LWS reports them
  (the scale subresource maps ``.spec.replicas`` and ``.status.replicas``);
- one group per ``group-index``: created when its leader pod was created, ready when all
  ``spec.leaderWorkerTemplate.size`` pods are Ready (at the latest of their Ready
  transitions), as the LWS controller counts a ready group;
- the leader pods (``worker-index`` 0) with their IPs, for the direct-scrape source;
- an operator's pause (the annotation ``lws-autoscaler.io/paused-replicas``).

Terminating pods are ignored: their group is going away. While groups are leaving after
a scale-down, the LWS status still counts them, so the counts are capped at the groups
the pods show (see ``lws_state``).

Failures: a namespace whose calls fail (RBAC refuses one namespace, a 5xx, an answer
that is no readable list) fails only the LWS of that namespace, in
``ClusterStates.errors``; an API server that does not answer at all fails the rest of
the read without waiting on it once per namespace. A SourceError is raised only when no
namespace could be read. Each call is bounded by ``timeout``; how often a failed call is
retried is the client's ``Configuration.retries``, which the server's client factory
(``autoscaler.server.kube_reviews.api_client``) bounds to one retry of a connection
error."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from autoscaler.errors import SourceError
from autoscaler.snapshot import GroupStatus, LwsKey
from autoscaler.sources.cluster import (
    GROUP_INDEX_LABEL,
    LWS_GROUP,
    LWS_NAME_LABEL,
    LWS_PLURAL,
    LWS_VERSION,
    WORKER_INDEX_LABEL,
    ClusterStates,
    LeaderPod,
    LwsState,
    read_pause,
    ready_among_created,
)
from autoscaler.sources.kube_lists import Json, NoAnswerError, list_items


def parse_time(text: str | None) -> float | None:
    """RFC 3339 (``2026-01-01T00:00:00Z``) -> Unix seconds."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# A Ready condition without its time (the API always sets one; a hand-made or
# truncated object may not): ready, but since when is unknown. It reads as "just ready"
# everywhere: protected by minGroupAge, its token rate a newcomer's, and no cold start
# learned from it. 0.0 (1970) made it the oldest group, the first a scale-down removed.
READY_TIME_UNKNOWN = math.inf


def _ready_since(pod: Json) -> float | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            since = parse_time(condition.get("lastTransitionTime"))
            return READY_TIME_UNKNOWN if since is None else since
    return None


def _named_ports(pod: Json) -> tuple[tuple[str, int], ...]:
    """``spec.containers[*].ports[*]`` that have a name, as (name, containerPort)."""
    named: list[tuple[str, int]] = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            name, number = port.get("name"), port.get("containerPort")
            if isinstance(name, str) and isinstance(number, int):
                named.append((name, number))
    return tuple(named)


def _int_label(labels: Mapping[str, str], name: str) -> int | None:
    try:
        return int(labels[name])
    except (KeyError, ValueError):
        return None


def lws_state(lws: Json, pods: Sequence[Json]) -> LwsState:
    """One LWS object and its (non-terminating) pods -> :class:`LwsState`."""
    meta, spec, status = lws["metadata"], lws.get("spec") or {}, lws.get("status") or {}
    size = int((spec.get("leaderWorkerTemplate") or {}).get("size") or 1)
    by_group: dict[int, list[Json]] = defaultdict(list)
    terminating: set[int] = set()
    for pod in pods:
        index = _int_label(pod["metadata"].get("labels") or {}, GROUP_INDEX_LABEL)
        if index is None:
            continue
        if pod["metadata"].get("deletionTimestamp"):
            terminating.add(index)
        else:
            by_group[index].append(pod)
    groups: list[GroupStatus] = []
    leaders: list[LeaderPod] = []
    for index in sorted(by_group):
        members = by_group[index]
        leader = next(
            (
                p
                for p in members
                if _int_label(p["metadata"].get("labels") or {}, WORKER_INDEX_LABEL) == 0
            ),
            None,
        )
        created = [parse_time(p["metadata"].get("creationTimestamp")) for p in members]
        if leader is not None:
            created_at = parse_time(leader["metadata"].get("creationTimestamp"))
        else:
            created_at = min((c for c in created if c is not None), default=None)
        ready = [_ready_since(p) for p in members]
        ready_times = [r for r in ready if r is not None]
        ready_at = max(ready_times) if len(ready_times) >= size else None
        groups.append(GroupStatus(index, created_at or 0.0, ready_at))
        if leader is not None:
            leaders.append(
                LeaderPod(
                    leader["metadata"]["name"],
                    index,
                    (leader.get("status") or {}).get("podIP"),
                    _ready_since(leader) is not None,
                    _named_ports(leader),
                )
            )
    spec_replicas = int(spec.get("replicas", 1))
    groups_created = int(status.get("replicas") or 0)
    ready_groups = int(status.get("readyReplicas") or 0)
    gone = terminating - by_group.keys()  # groups left with terminating pods only
    restarting = {index for index in gone if index < spec_replicas}
    if gone - restarting:
        # Groups on their way out (a scale-down removes the highest indices). The current
        # LWS controller counts them in both ``replicas`` (the leader StatefulSet's status
        # counts a terminating pod) and ``readyReplicas`` (a terminating leader is still
        # Running and Ready) until their pods are gone: 6 and 6 for a while after a
        # scale-down to 2. As capacity they would be 4 silent ready groups, scaling the
        # queue up 3-fold. Count the groups the pods show instead while the status lags
        # behind them; a group restarting in place is still one of them.
        groups_created = min(groups_created, len(groups) + len(restarting))
        ready_groups = min(ready_groups, sum(g.ready_at is not None for g in groups))
    return LwsState(
        key=LwsKey(meta["namespace"], meta["name"]),
        spec_replicas=spec_replicas,
        status_replicas=groups_created,
        ready_replicas=ready_among_created(ready_groups, groups_created),
        groups=tuple(groups),
        leaders=tuple(leaders),
        pause=read_pause(meta.get("annotations")),
    )


class KubernetesClusterReader:
    """:class:`~autoscaler.sources.cluster.ClusterStateReader` over the Kubernetes API.

    ``api_client`` is a configured ``kubernetes.client.ApiClient`` (in-cluster config or a
    kubeconfig); building it (auth, TLS, retries) is the caller's job.
    """

    def __init__(self, api_client: Any, timeout: float = 5.0) -> None:
        from kubernetes.client import CoreV1Api, CustomObjectsApi

        self._api = api_client
        self._core = CoreV1Api(self._api)
        self._custom = CustomObjectsApi(self._api)
        self._timeout = timeout

    def _list(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> list[Json]:
        return list_items(self._api, self._timeout, what, fn, *args, **kwargs)

    def read(self, keys: Sequence[LwsKey]) -> ClusterStates:
        by_namespace: dict[str, set[str]] = defaultdict(set)
        for key in keys:
            by_namespace[key.namespace].add(key.name)
        states = ClusterStates()
        failures: list[SourceError] = []
        gone: NoAnswerError | None = None
        for namespace, names in sorted(by_namespace.items()):
            if gone is not None:
                # No answer a moment ago: do not wait on it once more per namespace.
                failures.append(gone)
                for name in names:
                    states.errors[LwsKey(namespace, name)] = f"{gone} ({namespace} not tried)"
                continue
            try:
                self._read_namespace(namespace, names, states)
            except SourceError as exc:
                failures.append(exc)
                if isinstance(exc, NoAnswerError):
                    gone = exc
                for name in names:
                    states.errors[LwsKey(namespace, name)] = str(exc)
        if failures and len(failures) == len(by_namespace):
            raise failures[0]  # nothing could be read: the whole backend failed
        return states

    def _read_namespace(self, namespace: str, names: set[str], into: ClusterStates) -> None:
        """Adds the namespace's LWS to ``into`` (an unreadable object: to its errors)."""
        lws_items = self._list(
            f"list {LWS_PLURAL} in {namespace}",
            self._custom.list_namespaced_custom_object,
            LWS_GROUP,
            LWS_VERSION,
            namespace,
            LWS_PLURAL,
        )
        selector = f"{LWS_NAME_LABEL} in ({','.join(sorted(names))})"
        pod_items = self._list(
            f"list pods in {namespace}",
            self._core.list_namespaced_pod,
            namespace,
            label_selector=selector,
        )
        pods: dict[str, list[Json]] = defaultdict(list)
        for pod in pod_items:
            owner = (pod["metadata"].get("labels") or {}).get(LWS_NAME_LABEL)
            if owner:
                pods[owner].append(pod)
        for lws in lws_items:
            name = lws["metadata"].get("name")
            if isinstance(name, str) and name in names:
                try:
                    state = lws_state(lws, pods.get(name, []))
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    into.errors[LwsKey(namespace, name)] = (
                        f"Kubernetes API: LeaderWorkerSet {namespace}/{name} or its pods "
                        f"could not be read: {exc!r}"
                    )
                    continue
                into[state.key] = state
