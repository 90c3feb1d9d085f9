"""What kube-apiserver refuses of an ``events.k8s.io/v1`` Event at create, for the fake.

Mirrors ``ValidateEventCreate`` in ``pkg/apis/core/validation/events.go``: the legacy
checks every Event passes once ``eventTime`` is set (``reportingController`` a qualified
name, ``reportingInstance``, ``action`` and ``reason`` present and at most 128 bytes,
the note at most 1,024 bytes, the regarding object's namespace set unless the Event is in
``default``/``kube-system``) and the strict ones of the v1 API (``eventTime`` required,
``type`` Normal or Warning, the deprecated core fields unset, a name that is a DNS
subdomain). An ``eventTime`` that is no MicroTime is the fake's decoding error (400).
"""

from __future__ import annotations

import re
from typing import Any

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_QUALIFIED = re.compile(rf"^(({_SUBDOMAIN})/)?{_NAME}$")
_DNS_SUBDOMAIN = re.compile(rf"^{_SUBDOMAIN}$")


def invalid_event(event: dict[str, Any], namespace: str) -> list[str]:
    """The field errors, as ``path: Required value`` / ``path: Invalid value: ...``."""
    problems: list[str] = []
    meta = event.get("metadata") or {}
    name = str(meta.get("name", ""))
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        problems.append(f"metadata.name: Invalid value: {name!r}: a DNS-1123 subdomain")
    if not event.get("eventTime"):
        problems.append("eventTime: Required value")
    regarding = event.get("regarding") or {}
    if not regarding.get("namespace") and namespace not in ("default", "kube-system"):
        problems.append(
            'involvedObject.namespace: Invalid value: "": does not match event.namespace'
        )
    controller = str(event.get("reportingController") or "")
    if not controller:
        problems.append("reportingController: Required value")
    if len(controller.rsplit("/", maxsplit=1)[-1]) > 63 or not _QUALIFIED.match(controller):
        problems.append(f"reportingController: Invalid value: {controller!r}: a qualified name")
    for field, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
        value = str(event.get(field) or "")
        if not value:
            problems.append(f"{field}: Required value")
        if len(value.encode()) > limit:
            problems.append(f'{field}: Invalid value: "": can have at most {limit} characters')
    if len(str(event.get("note") or "").encode()) > 1024:
        problems.append('message: Invalid value: "": can have at most 1024 characters')
    if event.get("type") not in ("Normal", "Warning"):
        problems.append(f'type: Invalid value: "": has invalid value: {event.get("type")}')
    for deprecated in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedSource"):
        if event.get(deprecated):
            problems.append(f'{deprecated}: Invalid value: "": needs to be unset')
    if event.get("deprecatedCount"):
        problems.append('count: Invalid value: "": needs to be unset')
    return problems
