"""The application factory's safety net: a request a route's typed parameters refuse is
a Kubernetes ``Status`` 400 naming the first problems, not FastAPI's own 422 body.

No route of the API takes a typed parameter today (the path segments are strings and the
list options are decoded by hand, as kube-apiserver decodes them), so a probe route with
an integer parameter is added to the real application here; it is served in-process
through httpx's ASGI transport, since only the application's answer is under test."""

from __future__ import annotations

import asyncio

import httpx

from autoscaler.server.app import ServerContext, create_app
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from tests.server.helpers import T0


def test_a_request_a_typed_parameter_refuses_is_a_status_400() -> None:
    app = create_app(ServerContext(DecisionStore(60.0), Telemetry(), lambda: T0, None))

    @app.get("/probe/{count}")
    async def probe(count: int) -> dict[str, int]:
        return {"count": count}

    @app.get("/probe/{a}/{b}/{c}/{d}")
    async def probe_four(a: int, b: int, c: int, d: int) -> int:
        return a + b + c + d

    async def ask(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get(path)

    assert asyncio.run(ask("/probe/3")).json() == {"count": 3}
    refused = asyncio.run(ask("/probe/three"))
    assert refused.status_code == 400
    body = refused.json()
    assert (body["kind"], body["status"], body["code"], body["reason"]) == (
        "Status",
        "Failure",
        400,
        "BadRequest",
    )
    assert body["message"].startswith("invalid request: [{")
    assert "'loc': ('path', 'count')" in body["message"]
    # Four refused parameters: the first three are named, enough to fix the request.
    message = asyncio.run(ask("/probe/w/x/y/z")).json()["message"]
    assert message.count("'loc': ") == 3
