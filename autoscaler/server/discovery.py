"""Discovery documents the aggregator reads, the OpenAPI stubs, and the health probes.

Discovery is the legacy (``application/json``) form the aggregator falls back to:
``APIGroupList`` at ``/apis``, ``APIGroup`` at ``/apis/external.metrics.k8s.io`` and an
``APIResourceList`` listing every published metric at ``/apis/external.metrics.k8s.io/
v1beta1``. These always answer 200, from constants: the availability check must never
fail because the loop is slow.

Health: ``/healthz`` and ``/livez`` say the process and its loop thread are alive and
the loop is not stuck (the kubelet restarts a pod whose loop hangs);
``/readyz`` is 200 once a cycle got data from the source, and while the last cycle is
fresher than the store's max age, so a replica whose loop is stuck leaves the Service.
A replica whose source has never answered turns ready anyway one max age after its
first cycle: in a rolling update the new pod waits for data while the old one serves,
but with Prometheus down when both replicas start, no endpoint at all would make the
APIService unavailable, and the aggregator's failed discovery then stalls namespace
deletion and warns on every kubectl call, cluster-wide. Its reads answer 404 (no
decision), and the HPAs hold their size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from autoscaler import __version__
from autoscaler.server.identity import EXTERNAL_METRICS_GROUP, EXTERNAL_METRICS_VERSION
from autoscaler.server.series import METRICS
from autoscaler.server.store import DecisionStore

GROUP_VERSION = f"{EXTERNAL_METRICS_GROUP}/{EXTERNAL_METRICS_VERSION}"
_VERSION_ENTRY = {"groupVersion": GROUP_VERSION, "version": EXTERNAL_METRICS_VERSION}

API_GROUP: dict[str, Any] = {
    "kind": "APIGroup",
    "apiVersion": "v1",
    "name": EXTERNAL_METRICS_GROUP,
    "versions": [_VERSION_ENTRY],
    "preferredVersion": _VERSION_ENTRY,
}

API_GROUP_LIST: dict[str, Any] = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [{k: v for k, v in API_GROUP.items() if k not in ("kind", "apiVersion")}],
}

API_RESOURCE_LIST: dict[str, Any] = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": GROUP_VERSION,
    "resources": [
        {
            "name": metric,
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }
        for metric in METRICS
    ],
}

OPENAPI_V2: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "lws-autoscaler external metrics", "version": __version__},
    "paths": {},
}

OPENAPI_V3_INDEX: dict[str, Any] = {"paths": {}}


def discovery_router() -> APIRouter:
    router = APIRouter()

    @router.get("/apis")
    async def apis() -> JSONResponse:
        return JSONResponse(API_GROUP_LIST)

    @router.get(f"/apis/{EXTERNAL_METRICS_GROUP}")
    async def group() -> JSONResponse:
        return JSONResponse(API_GROUP)

    @router.get(f"/apis/{GROUP_VERSION}")
    async def resources() -> JSONResponse:
        return JSONResponse(API_RESOURCE_LIST)

    return router


def openapi_router() -> APIRouter:
    """The OpenAPI stubs, answered whatever ``Accept`` says: the aggregator's downloader
    asks for its own media types, and a failure there only fills its log."""
    router = APIRouter()

    @router.get("/openapi/v2", include_in_schema=False)
    async def openapi_v2() -> JSONResponse:
        return JSONResponse(OPENAPI_V2)

    @router.get("/openapi/v3", include_in_schema=False)
    async def openapi_v3() -> JSONResponse:
        return JSONResponse(OPENAPI_V3_INDEX)

    return router


def health_router(
    store: DecisionStore, clock: Callable[[], float], loop_problem: Callable[[], str | None]
) -> APIRouter:
    """``loop_problem``: why the control loop does not run (dead, stuck), or None."""
    router = APIRouter()

    async def live() -> PlainTextResponse:
        problem = loop_problem()
        if problem is not None:
            return PlainTextResponse(problem, status_code=500)
        return PlainTextResponse("ok")

    # HEAD too: load balancers and uptime checkers probe with it, and kube-apiserver's
    # health handlers do not look at the method.
    router.add_api_route("/healthz", live, methods=["GET", "HEAD"])
    router.add_api_route("/livez", live, methods=["GET", "HEAD"])

    @router.api_route("/readyz", methods=["GET", "HEAD"])
    async def ready() -> PlainTextResponse:
        published, first = store.published_at, store.first_published_at
        if published is None or first is None:
            return PlainTextResponse("no control-loop cycle has completed yet", status_code=503)
        if store.source_ok_at is None and clock() - first < store.max_age:
            return PlainTextResponse(
                "no control-loop cycle with source data yet (ready without it "
                f"{store.max_age:.0f}s after the first cycle)",
                status_code=503,
            )
        now = clock()
        if store.is_stale(published, now):
            return PlainTextResponse(
                f"last cycle {now - published:.0f}s ago ({store.describe_max_age()})",
                status_code=503,
            )
        problem = loop_problem()
        if problem is not None:
            return PlainTextResponse(problem, status_code=503)
        return PlainTextResponse("ok")

    return router
