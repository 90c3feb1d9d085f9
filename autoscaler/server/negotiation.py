"""Content negotiation: this server answers in JSON only, and says so when asked for
anything else.

kube-apiserver picks the first media range of ``Accept`` it can produce and answers
``406 NotAcceptable`` (a ``Status``) when there is none; so does this server, which
produces ``application/json`` alone. A missing or empty header means "anything". A
range counts when it can be JSON (``application/json`` with any parameters, so the
aggregator's ``application/json;g=apidiscovery.k8s.io;...`` still gets the legacy
discovery it falls back to; ``application/*``; ``*/*``) and its ``q`` is above 0.
"""

from __future__ import annotations

from fastapi import Request

from autoscaler.server.status import ApiError

JSON = "application/json"
_JSON_RANGES = frozenset({JSON, "application/*", "*/*"})


def _weight(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0  # an unreadable weight accepts nothing, as goautoneg reads it
    return 1.0


def accepts_json(header: str | None) -> bool:
    """Whether an ``Accept`` header admits ``application/json``.

    ``application/vnd.kubernetes.protobuf, application/json`` (what kube clients send)
    -> True; ``application/vnd.kubernetes.protobuf`` alone -> False; ``*/*;q=0`` -> False.
    """
    if header is None or not header.strip():
        return True
    for clause in header.split(","):
        media, *params = clause.split(";")
        if media.strip().lower() in _JSON_RANGES and _weight(params) > 0:
            return True
    return False


async def require_json(request: Request) -> None:
    """A route dependency: 406 ``NotAcceptable`` unless ``Accept`` admits JSON."""
    if not accepts_json(request.headers.get("accept")):
        raise ApiError(406, f"only the following media types are accepted: {JSON}")
