"""Who is calling and what they ask to do: the inputs of authorisation.

``UserInfo`` mirrors ``authentication.k8s.io/v1`` ``UserInfo``; ``Attributes`` is either
a resource request (the metric read: group ``external.metrics.k8s.io``, resource = the
metric name, verb ``list``, a namespace) or a non-resource request (discovery,
``/metrics``, ``/debug/...``, verb ``get``), as a SubjectAccessReview expresses them.

The verbs are the ones kube-apiserver's RequestInfo resolver derives from the same URL
(k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), so that RBAC written for
kube-apiserver means the same here: ``GET /apis/<group>/<version>/namespaces/<ns>/
<metric>`` has no name segment, and a GET without a name is ``list``; a path with fewer
than three segments after ``/apis`` (``/apis``, ``/apis/<group>``, ``/apis/<group>/
<version>``) or outside ``/api``/``/apis`` is a non-resource request, verb ``get``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

EXTERNAL_METRICS_GROUP = "external.metrics.k8s.io"
EXTERNAL_METRICS_VERSION = "v1beta1"


@dataclass(frozen=True)
class UserInfo:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def build(
        cls,
        username: str,
        uid: str = "",
        groups: list[str] | tuple[str, ...] = (),
        extra: Mapping[str, list[str] | tuple[str, ...]] | None = None,
    ) -> UserInfo:
        frozen_extra = tuple(sorted((k, tuple(v)) for k, v in (extra or {}).items()))
        return cls(username, uid, tuple(groups), frozen_extra)


@dataclass(frozen=True)
class Attributes:
    """What the request does; exactly one of ``resource`` and ``path`` is set."""

    verb: str = "get"
    namespace: str = ""
    resource: str = ""
    path: str = ""
    group: str = EXTERNAL_METRICS_GROUP
    version: str = EXTERNAL_METRICS_VERSION

    @classmethod
    def metric(cls, namespace: str, metric: str) -> Attributes:
        """``GET .../namespaces/{namespace}/{metric}``: a collection read, verb ``list``."""
        return cls(verb="list", namespace=namespace, resource=metric)

    @classmethod
    def non_resource(cls, path: str) -> Attributes:
        return cls(path=path)

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    def describe(self) -> str:
        if self.is_resource:
            return (
                f'{self.verb} resource "{self.resource}" in API group "{self.group}" '
                f'in the namespace "{self.namespace}"'
            )
        return f'{self.verb} path "{self.path}"'
