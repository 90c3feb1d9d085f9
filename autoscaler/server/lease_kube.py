"""The Lease of :mod:`autoscaler.server.leader` on the Kubernetes API.

``get``/``create``/``update`` of one ``coordination.k8s.io/v1`` Lease with the
``kubernetes`` client (RBAC: ``get``, ``create`` and ``update`` on ``leases`` in the
lease's namespace; the chart's Role grants them). A write that loses a race is the
API's 409 (``AlreadyExists`` on create, ``Conflict`` on an update at a stale
``resourceVersion``) and reads as "another replica leads"; every other failure raises.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autoscaler.server.leader import LeaseRecord


class MicroTime(datetime):
    """A ``metav1.MicroTime`` as the API server parses it: RFC 3339 with exactly six
    fractional digits. The client sends a datetime as its ``isoformat()``, which drops
    the fraction at a whole second (``...T18:00:00+00:00``), and the server refuses
    that; its models also turn a string back into a datetime, so the format has to
    travel with the value."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return self.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _micro_time(moment: datetime | None) -> MicroTime | None:
    if moment is None:
        return None
    return MicroTime.fromtimestamp(moment.timestamp(), UTC)


class KubeLeaseStore:
    """One Lease, ``namespace``/``name``, through an ``ApiClient``."""

    def __init__(self, api_client: Any, namespace: str, name: str, timeout: float = 5.0) -> None:
        from kubernetes.client import CoordinationV1Api

        self._api = CoordinationV1Api(api_client)
        self.namespace, self.name, self._timeout = namespace, name, timeout

    def get(self) -> LeaseRecord | None:
        from kubernetes.client.exceptions import ApiException

        try:
            lease = self._api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        spec = lease.spec
        return LeaseRecord(
            holder=(spec.holder_identity if spec is not None else None) or "",
            duration_seconds=(spec.lease_duration_seconds if spec is not None else None) or 0,
            acquire_time=spec.acquire_time if spec is not None else None,
            renew_time=spec.renew_time if spec is not None else None,
            transitions=(spec.lease_transitions if spec is not None else None) or 0,
            resource_version=(lease.metadata.resource_version if lease.metadata else None) or "",
        )

    def create(self, record: LeaseRecord) -> bool:
        return self._write(self._api.create_namespaced_lease, self.namespace, record)

    def update(self, record: LeaseRecord) -> bool:
        return self._write(self._api.replace_namespaced_lease, self.name, self.namespace, record)

    def _write(self, call: Any, *args: Any) -> bool:
        from kubernetes.client.exceptions import ApiException

        *where, record = args
        try:
            call(*where, self._body(record), _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def _body(self, record: LeaseRecord) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if record.resource_version:
            meta["resourceVersion"] = record.resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": record.holder,
                "leaseDurationSeconds": record.duration_seconds,
                "acquireTime": _micro_time(record.acquire_time),
                "renewTime": _micro_time(record.renew_time),
                "leaseTransitions": record.transitions,
            },
        }
