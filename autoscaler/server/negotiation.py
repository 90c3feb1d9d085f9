"""Content negotiation: this server answers in JSON only, and says so when asked for
anything else.

kube-apiserver picks the first media range of ``Accept`` it can produce and answers
``406 NotAcceptable`` (a ``Status``) when there is none; so does this server, which
produces plain ``application/json`` alone. A missing or empty header means "anything".
A range counts when it can be that: ``application/json``, ``application/*``, ``*/*``
or a bare ``*``. As in kube-apiserver, the ``q`` weights only order the ranges, so
``application/json;q=0`` still counts; and a range that asks for a conversion
(``as=``, ``g=``, ``v=``: the aggregator's ``application/json;g=apidiscovery.k8s.io;
v=v2;as=APIGroupDiscoveryList``) does not, since this server cannot convert. An
aggregator that asked only for aggregated discovery then gets the 406 on which every
version falls back to the legacy documents.
"""

from __future__ import annotations

from fastapi import Request

from autoscaler.server.status import ApiError

JSON = "application/json"
_JSON_RANGES = frozenset({JSON, "application/*", "*/*", "*"})
_CONVERSION_PARAMETERS = frozenset({"as", "g", "v"})


def _asks_for_conversion(params: list[str]) -> bool:
    return any(p.partition("=")[0].strip().lower() in _CONVERSION_PARAMETERS for p in params)


def accepts_json(header: str | None) -> bool:
    """Whether an ``Accept`` header admits plain ``application/json``.

    ``application/vnd.kubernetes.protobuf, */*`` (what client-go sends) -> True;
    ``application/vnd.kubernetes.protobuf`` alone -> False.
    """
    if header is None or not header.strip():
        return True
    for clause in header.split(","):
        media, *params = clause.split(";")
        if media.strip().lower() in _JSON_RANGES and not _asks_for_conversion(params):
            return True
    return False


async def require_json(request: Request) -> None:
    """A route dependency: 406 ``NotAcceptable`` unless ``Accept`` admits JSON."""
    if not accepts_json(request.headers.get("accept")):
        raise ApiError(406, f"only the following media types are accepted: {JSON}")
