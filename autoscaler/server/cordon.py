"""Actuation of ``scaleDown.drain``: relabel the leader pods of draining groups.

The engine only decides which leaders drain (``Decision.draining``); this module makes
the cluster agree, once per cycle, by desired state rather than by events:

- a leader that starts draining gets ``lws-autoscaler.io/serving: "false"``. A Service
  (or gateway pool) whose selector includes ``lws-autoscaler.io/serving: "true"`` drops it
  from its endpoints, so it receives no new requests while it finishes the ones it has;
- a leader whose drain is called off (its group is still wanted: index below the
  current ``spec.replicas``) gets ``"true"`` back;
- a leader whose group was removed is forgotten (its pod is gone or terminating);
- the leaders labelled out for an LWS this process decided before and no longer does
  (its policy removed) get ``"true"`` back, whoever labelled them: nothing will remove
  those groups now. The loop passes the decisions it kept for an LWS whose engine
  failed this cycle too, so a failure is not mistaken for a removed policy.

What is labelled out is read back from the cluster every cycle, not only remembered: a
leader labelled out carries the annotation ``lws-autoscaler.io/cordoned-by:
lws-autoscaler`` too, and a list call per namespace of the LWSes decided (label
selector ``serving=false``) finds those leaders again; only those namespaces, so a
server whose RBAC is a Role per namespace (chart value ``rbac.namespaces``) can read
them. An LWS whose policy is gone is listed until its leaders are given back, then
forgotten. So a restarted server, or a second replica, gives
back to routing a leader that an earlier process labelled out and whose drain is now
called off; without the read-back it would stay out of its Service for good. A leader
labelled ``"false"`` by hand, without the annotation, is never touched. When the list
of a namespace fails (a 403 where the Role is missing, a timeout), the LWSes of that
namespace fall back to what this process labelled itself; the others are unaffected.

A failed patch is logged and retried at the next cycle; a pod that no longer exists
(404) is forgotten. The leader template of the LWS must carry
``lws-autoscaler.io/serving: "true"`` so new groups are routed to (docs/policy-reference.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from autoscaler.engine import Decision
from autoscaler.snapshot import LwsKey, group_index
from autoscaler.sources.cluster import LWS_NAME_LABEL

log = logging.getLogger(__name__)

SERVING_LABEL = "lws-autoscaler.io/serving"
CORDONED_BY_ANNOTATION = "lws-autoscaler.io/cordoned-by"
CORDONED_BY = "lws-autoscaler"


class PodGoneError(Exception):
    """The pod to relabel does not exist (any more)."""


class PodLabeler(Protocol):
    def set_serving(self, namespace: str, pod: str, serving: bool) -> None:
        """Label one leader in (``"true"``) or out (``"false"``, with the ownership
        annotation) of routing; raise :class:`PodGoneError` on 404, anything else on
        other failures."""
        ...

    def labelled_out(self, namespace: str) -> Mapping[LwsKey, frozenset[str]]:
        """The leaders this autoscaler labelled out in ``namespace``, per LWS, as the
        cluster has them now; raise on any failure."""
        ...


class KubePodLabeler:
    """Merge-patches pod labels through the Kubernetes API (verb ``patch`` on pods)."""

    def __init__(self, api_client: Any, timeout: float = 5.0) -> None:
        from kubernetes.client import CoreV1Api

        self._core = CoreV1Api(api_client)
        self._timeout = timeout

    def set_serving(self, namespace: str, pod: str, serving: bool) -> None:
        from kubernetes.client.exceptions import ApiException

        # A merge patch: null deletes the annotation when the leader serves again.
        owner = None if serving else CORDONED_BY
        body = {
            "metadata": {
                "labels": {SERVING_LABEL: "true" if serving else "false"},
                "annotations": {CORDONED_BY_ANNOTATION: owner},
            }
        }
        try:
            self._core.patch_namespaced_pod(pod, namespace, body, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                raise PodGoneError(f"{namespace}/{pod}") from exc
            raise

    def labelled_out(self, namespace: str) -> Mapping[LwsKey, frozenset[str]]:
        pods = self._core.list_namespaced_pod(
            namespace, label_selector=f"{SERVING_LABEL}=false", _request_timeout=self._timeout
        )
        found: dict[LwsKey, set[str]] = {}
        for pod in pods.items:
            meta = pod.metadata
            if meta is None or not meta.name or not meta.namespace:
                continue
            lws = (meta.labels or {}).get(LWS_NAME_LABEL)
            if lws and (meta.annotations or {}).get(CORDONED_BY_ANNOTATION) == CORDONED_BY:
                found.setdefault(LwsKey(meta.namespace, lws), set()).add(meta.name)
        return {key: frozenset(names) for key, names in found.items()}


class Cordon:
    """Keeps the ``serving`` label of every LWS's leaders in line with the decisions."""

    def __init__(self, labeler: PodLabeler) -> None:
        self._labeler = labeler
        self._cordoned: dict[LwsKey, frozenset[str]] = {}
        # Leaders that were 404 when labelled out: the read-back cannot see them, and a
        # decision may still name them for a cycle; they are not patched again.
        self._gone: set[tuple[LwsKey, str]] = set()
        self._unreadable: set[str] = set()  # namespaces whose list failed last cycle
        self._decided: set[LwsKey] = set()

    @property
    def cordoned(self) -> dict[LwsKey, frozenset[str]]:
        """Leader pods currently labelled out of routing, per LWS."""
        return dict(self._cordoned)

    def apply(self, decisions: Iterable[Decision]) -> None:
        decisions = list(decisions)
        keys = {d.key for d in decisions} | self._decided | set(self._cordoned)
        observed, unreadable = self._observe({key.namespace for key in keys})
        seen: set[LwsKey] = set()
        for decision in decisions:
            seen.add(decision.key)
            held = self._cordoned.get(decision.key, frozenset())
            if decision.key.namespace not in unreadable:
                gone = {pod for key, pod in self._gone if key == decision.key}
                held = observed.get(decision.key, frozenset()) | (held & gone)
            self._reconcile(decision.key, held, frozenset(decision.draining), decision.current)
        self._decided |= seen
        # An LWS decided before and not now: its policy is gone, nothing will remove
        # these groups, so they serve again. Only LWSes this process decided: another
        # installation's drains (other namespaces, other policies) are not ours to end.
        orphaned = (set(self._cordoned) | (set(observed) & self._decided)) - seen
        for key in sorted(orphaned):
            held = self._cordoned.get(key, frozenset()) | observed.get(key, frozenset())
            self._reconcile(key, held, frozenset(), None)
        # Once given back (or never drained), a removed policy's LWS is forgotten: its
        # namespace is listed no more (its Role may be gone with the policy, and its list
        # fail for good). Kept while this process still has leaders of it to give back.
        self._decided = seen | {key for key in self._decided - seen if key in self._cordoned}
        self._gone = {(key, pod) for key, pod in self._gone if key in self._decided}

    def _observe(self, namespaces: set[str]) -> tuple[Mapping[LwsKey, frozenset[str]], set[str]]:
        """The cluster's labelled-out leaders in ``namespaces``, and the namespaces that
        could not be listed (their LWSes use memory)."""
        observed: dict[LwsKey, frozenset[str]] = {}
        unreadable: set[str] = set()
        for namespace in sorted(namespaces):
            try:
                observed.update(self._labeler.labelled_out(namespace))
            except Exception as exc:  # any API failure: memory is the best we have
                if namespace not in self._unreadable:
                    log.warning(
                        "could not list labelled-out leaders in %s, using memory: %s",
                        namespace,
                        exc,
                    )
                unreadable.add(namespace)
        for namespace in sorted(self._unreadable - unreadable):
            log.info("listing labelled-out leaders in %s works again", namespace)
        self._unreadable = unreadable
        return observed, unreadable

    def _reconcile(
        self, key: LwsKey, held: frozenset[str], wanted: frozenset[str], current: int | None
    ) -> None:
        now_out = set(held)
        for pod in sorted(wanted - held):
            if self._set(key, pod, serving=False):
                now_out.add(pod)
        for pod in sorted(held - wanted):
            index = group_index(pod, key.name)
            removed = current is not None and (index is None or index >= current)
            if removed or self._set(key, pod, serving=True):
                now_out.discard(pod)
        self._gone -= {(key, pod) for pod in held - now_out}
        if now_out:
            self._cordoned[key] = frozenset(now_out)
        else:
            self._cordoned.pop(key, None)

    def _set(self, key: LwsKey, pod: str, *, serving: bool) -> bool:
        """True when the pod now carries the label or is gone."""
        value = "true" if serving else "false"
        try:
            self._labeler.set_serving(key.namespace, pod, serving)
        except PodGoneError:
            self._gone.add((key, pod))
            return True
        except Exception as exc:  # any API failure: retried next cycle
            log.warning("could not set %s=%s on %s/%s: %s", SERVING_LABEL, value, key, pod, exc)
            return False
        log.info("%s/%s: %s=%s", key.namespace, pod, SERVING_LABEL, value)
        return True
