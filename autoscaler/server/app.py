"""The FastAPI application factory: every dependency is passed in, nothing is global.

``create_app(context)`` wires discovery, health, the external metrics endpoint, the
debug endpoint and ``/metrics`` behind authentication and authorisation (unless
``context.security`` is None, i.e. ``--disable-auth``), and wraps it all in the
middleware that turns any failure into a Kubernetes ``Status``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from autoscaler import __version__
from autoscaler.server import discovery, external_metrics
from autoscaler.server.authn import Authenticator
from autoscaler.server.authz import Authorizer
from autoscaler.server.hpa_findings import HpaStanding
from autoscaler.server.identity import Attributes
from autoscaler.server.middleware import DEFAULT_MAX_PATH_BYTES, ObserveAndContain
from autoscaler.server.negotiation import require_json
from autoscaler.server.status import REASONS, ApiError, internal_error
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import CONTENT_TYPE, Telemetry
from autoscaler.snapshot import LwsKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Security:
    authenticator: Authenticator
    authorizer: Authorizer


@dataclass(frozen=True)
class ServerContext:
    """What the HTTP side needs. ``clock`` is the control loop's clock (recording time in
    replay mode); it only judges staleness."""

    store: DecisionStore
    telemetry: Telemetry
    clock: Callable[[], float]
    security: Security | None
    loop_problem: Callable[[], str | None] = field(default=lambda: None)
    """What keeps the control loop from deciding (dead, stuck), or None when it runs."""
    hpas: Callable[[LwsKey], tuple[HpaStanding, ...] | None] = field(default=lambda _key: None)
    """The HPAs the last HPA audit found targeting an LWS; None when not audited."""


def _guard(context: ServerContext) -> Callable[[Request], Awaitable[None]]:
    async def guard(request: Request) -> None:
        security = context.security
        if security is None:
            return
        user = await security.authenticator.authenticate(dict(request.scope))
        params = request.path_params
        if "metric" in params and "namespace" in params:
            attributes = Attributes.metric(params["namespace"], params["metric"])
        else:
            attributes = Attributes.non_resource(request.url.path)
        await security.authorizer.authorize(user, attributes)

    return guard


def _status_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.code)


def create_app(context: ServerContext) -> FastAPI:
    """Build the application; wrap with :class:`ObserveAndContain` via ``asgi()``."""
    app = FastAPI(
        title="lws-autoscaler external metrics API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # /openapi/v2 and /openapi/v3 are the aggregator's documents
        redirect_slashes=False,
    )
    check = _guard(context)
    guard = Depends(check)
    app.include_router(discovery.health_router(context.store, context.clock, context.loop_problem))
    # Authentication and authorisation first, then negotiation, as kube-apiserver orders
    # them: an anonymous caller learns nothing from a 406.
    json_only = [guard, Depends(require_json)]
    app.include_router(discovery.discovery_router(), dependencies=json_only)
    app.include_router(discovery.openapi_router(), dependencies=[guard])
    metrics_api = external_metrics.router(context.store, context.clock, context.hpas)
    app.include_router(metrics_api, dependencies=json_only)

    @app.api_route(
        "/metrics", methods=["GET", "HEAD"], dependencies=[guard], include_in_schema=False
    )
    async def metrics() -> Response:
        return Response(context.telemetry.exposition(), media_type=CONTENT_TYPE)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _status_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            # Routing fails before any route's guard runs. As kube-apiserver does,
            # authenticate and authorise first, so an anonymous caller gets 401 (or 403)
            # for every path and cannot map which ones exist.
            try:
                await check(request)
            except ApiError as denied:
                return _status_response(denied)
        if exc.status_code == 404:
            message = "the server could not find the requested resource"
        elif exc.status_code == 405:
            message = f"the server does not allow method {request.method} on this resource"
        else:
            message = str(exc.detail)
        response = _status_response(
            ApiError(exc.status_code, message, REASONS.get(exc.status_code))
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged before the answer leaves; Starlette re-raises afterwards and
        # ObserveAndContain swallows it (the response has started).
        log.error("unhandled error serving %s %s", request.method, request.url.path, exc_info=exc)
        return _status_response(internal_error())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _status_response(ApiError(400, f"invalid request: {exc.errors()[:3]}"))

    return app


def asgi(context: ServerContext, max_path_bytes: int = DEFAULT_MAX_PATH_BYTES) -> ObserveAndContain:
    """The full ASGI application to serve: the app inside the Status/metrics middleware."""
    return ObserveAndContain(create_app(context), context.telemetry, max_path_bytes)
