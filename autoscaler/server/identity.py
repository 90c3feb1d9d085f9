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

Every authenticated user is also in ``system:authenticated``
(:meth:`UserInfo.authenticated`), as k8s.io/apiserver's delegating authenticator adds
it, so that RBAC bound to that group (``system:discovery``, ``system:basic-user``)
means the same here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

EXTERNAL_METRICS_GROUP = "external.metrics.k8s.io"
EXTERNAL_METRICS_VERSION = "v1beta1"

ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"


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

    def authenticated(self) -> UserInfo:
        """This user as k8s.io/apiserver's ``AuthenticatedGroupAdder`` hands it on, with
        ``system:authenticated`` appended: unless it is ``system:anonymous``, or already
        in that group or in ``system:unauthenticated``. A client certificate's groups
        are its O fields only; without this, RBAC granted to every authenticated user
        (discovery, through ``system:discovery``) was refused to it here."""
        if self.username == ANONYMOUS or {ALL_AUTHENTICATED, ALL_UNAUTHENTICATED} & set(
            self.groups
        ):
            return self
        return replace(self, groups=(*self.groups, ALL_AUTHENTICATED))


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
