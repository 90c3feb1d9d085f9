"""The list options kube-apiserver decodes on a metric read, checked the way it checks them.

The metric read is a *list* in Kubernetes terms, so kube-apiserver (through
custom-metrics-apiserver) decodes ``metav1.ListOptions`` from the query string before the
provider sees the request. The HPA sends none of them; a watch client or a typo does:

- ``watch`` present with any value but ``0`` or ``false`` (in any case) asks for a
  watch, which external metrics do not serve: 405 ``MethodNotAllowed``, as
  ``listResource`` answers a resource with no watcher. An empty ``watch=`` is a watch
  too: apimachinery's ``Convert_Slice_string_To_bool`` reads any other value, the empty
  one included, as true. A plain list there would hand a watch client a body it cannot
  read as events.
- ``limit`` and ``timeoutSeconds`` must be integers (the parameter codec's
  ``ParseInt``): 400 ``BadRequest`` otherwise.
- ``fieldSelector`` must parse, and name only ``metadata.name`` or ``metadata.namespace``
  (the default field label conversion): 400 otherwise. A valid one is accepted and,
  as the provider does, not applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from autoscaler.server.go_ints import parse_int64
from autoscaler.server.status import ApiError, bad_request

_FIELD_TERM = re.compile(r"([^=!,\s]+)\s*(==|!=|=)\s*([^,]*)")
_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})


def first_value(query: Mapping[str, list[str]], name: str) -> str | None:
    """The first of a repeated parameter, as Go's ``url.Values.Get`` (Starlette's
    ``QueryParams.get`` gives the last)."""
    values = query.get(name)
    return values[0] if values else None


def check_list_options(query: Mapping[str, list[str]]) -> None:
    """Raise the :class:`ApiError` kube-apiserver would answer for these options."""
    watch = first_value(query, "watch")
    if watch is not None and watch != "0" and watch.lower() != "false":
        raise ApiError(
            405,
            'watch is not supported on resources of kind "*.external.metrics.k8s.io"',
            details={"group": "external.metrics.k8s.io", "kind": "*"},
        )
    for name in ("limit", "timeoutSeconds"):
        value = first_value(query, name)
        if value is not None and parse_int64(value) is None:
            raise bad_request(f"{name}: {value!r} is not an integer")
    fields = first_value(query, "fieldSelector")
    if fields:
        for term in fields.split(","):
            match = _FIELD_TERM.fullmatch(term.strip())
            if match is None:
                raise bad_request(f"invalid field selector {fields!r}: cannot parse {term!r}")
            if match.group(1) not in _FIELD_LABELS:
                raise bad_request(f'field label not supported: "{match.group(1)}"')
