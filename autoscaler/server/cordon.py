"""Actuation of ``scaleDown.drain``: relabel the leader pods of draining groups.

The engine only decides which leaders drain (``Decision.draining``); this module makes
the cluster agree, once per cycle, by desired state rather than by events:

- a leader that starts draining gets ``lws-autoscaler.io/serving: "false"``. A Service
  (or gateway pool) whose selector includes ``lws-autoscaler.io/serving: "true"`` drops it
  from its endpoints, so it receives no new requests while it finishes the ones it has;
- a leader whose drain is called off (its group is still wanted: index below the
  current ``spec.replicas``) gets ``"true"`` back;
- a leader whose group was removed is forgotten (its pod is gone or terminating).

A failed patch is logged and retried at the next cycle; a pod that no longer exists
(404) is forgotten. The leader template of the LWS must carry
``lws-autoscaler.io/serving: "true"`` so new groups are routed to (docs/policy-reference.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from autoscaler.engine import Decision
from autoscaler.snapshot import LwsKey, group_index

log = logging.getLogger(__name__)

SERVING_LABEL = "lws-autoscaler.io/serving"


class PodGoneError(Exception):
    """The pod to relabel does not exist (any more)."""


class PodLabeler(Protocol):
    def set_label(self, namespace: str, pod: str, key: str, value: str) -> None:
        """Set one label on one pod; raise :class:`PodGoneError` on 404, anything else on
        other failures."""
        ...


class KubePodLabeler:
    """Merge-patches pod labels through the Kubernetes API (verb ``patch`` on pods)."""

    def __init__(self, api_client: Any, timeout: float = 5.0) -> None:
        from kubernetes.client import CoreV1Api

        self._core = CoreV1Api(api_client)
        self._timeout = timeout

    def set_label(self, namespace: str, pod: str, key: str, value: str) -> None:
        from kubernetes.client.exceptions import ApiException

        body = {"metadata": {"labels": {key: value}}}
        try:
            self._core.patch_namespaced_pod(pod, namespace, body, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                raise PodGoneError(f"{namespace}/{pod}") from exc
            raise


class Cordon:
    """Keeps the ``serving`` label of every LWS's leaders in line with the decisions."""

    def __init__(self, labeler: PodLabeler) -> None:
        self._labeler = labeler
        self._cordoned: dict[LwsKey, frozenset[str]] = {}

    @property
    def cordoned(self) -> dict[LwsKey, frozenset[str]]:
        """Leader pods currently labelled out of routing, per LWS."""
        return dict(self._cordoned)

    def apply(self, decisions: Iterable[Decision]) -> None:
        seen: set[LwsKey] = set()
        for decision in decisions:
            seen.add(decision.key)
            self._reconcile(decision.key, frozenset(decision.draining), decision.current)
        for key in [k for k in self._cordoned if k not in seen]:
            # The policy is gone: nothing will remove these groups, so they serve again.
            self._reconcile(key, frozenset(), None)

    def _reconcile(self, key: LwsKey, wanted: frozenset[str], current: int | None) -> None:
        held = set(self._cordoned.get(key, frozenset()))
        for pod in sorted(wanted - held):
            if self._set(key, pod, "false"):
                held.add(pod)
        for pod in sorted(held - wanted):
            index = group_index(pod, key.name)
            removed = current is not None and (index is None or index >= current)
            if removed or self._set(key, pod, "true"):
                held.discard(pod)
        if held:
            self._cordoned[key] = frozenset(held)
        else:
            self._cordoned.pop(key, None)

    def _set(self, key: LwsKey, pod: str, value: str) -> bool:
        """True when the pod now carries ``value`` or is gone."""
        try:
            self._labeler.set_label(key.namespace, pod, SERVING_LABEL, value)
        except PodGoneError:
            return True
        except Exception as exc:  # any API failure: retried next cycle
            log.warning("could not set %s=%s on %s/%s: %s", SERVING_LABEL, value, key, pod, exc)
            return False
        log.info("%s/%s: %s=%s", key.namespace, pod, SERVING_LABEL, value)
        return True
