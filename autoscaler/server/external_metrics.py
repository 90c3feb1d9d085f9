"""``GET /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}`` and the debug view.

The metric read answers only from the decision store:

- malformed ``labelSelector`` -> 400 ``BadRequest`` (checked first, as a list option);
  unknown metric -> 404 ``NotFound``;
  list options as kube-apiserver checks them (``list_options``: ``watch`` -> 405, a
  non-integer ``limit`` or an unsupported ``fieldSelector`` -> 400);
- no series of that metric in the namespace match the selector -> 404 ``NotFound``
  (the HPA would treat an empty ``items`` list as an error anyway, and a 404 says why);
- any selected series is stale (its decision is older than the store's max age) ->
  503 ``ServiceUnavailable``: the HPA holds the current size on any error, which is the
  safe reaction to a control loop that stopped producing decisions;
- otherwise 200 with an ``ExternalMetricValueList`` of exactly the selected series (the
  HPA sums every item, so nothing else may be returned).

``/debug/decisions[/{ns}/{name}]`` returns the latest decisions with their reasons, for
``lws-autoscaler explain``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from autoscaler.durations import format_duration
from autoscaler.server.discovery import GROUP_VERSION
from autoscaler.server.hpa_findings import HpaStanding
from autoscaler.server.list_options import check_list_options, first_value
from autoscaler.server.selectors import SelectorError, parse_selector
from autoscaler.server.series import METRICS, rfc3339
from autoscaler.server.status import ApiError, bad_request, not_found
from autoscaler.server.store import DecisionStore, StoredDecision
from autoscaler.snapshot import LwsKey

METRIC_PATH = f"/apis/{GROUP_VERSION}/namespaces/{{namespace}}/{{metric}}"
_LIST_HEAD = (
    '{"kind":"ExternalMetricValueList","apiVersion":"' + GROUP_VERSION + '","metadata":{},"items":['
)


def _json(body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def router(
    store: DecisionStore,
    clock: Callable[[], float],
    hpas: Callable[[LwsKey], tuple[HpaStanding, ...] | None] = lambda _key: None,
) -> APIRouter:
    """``hpas``: what the HPA audit found for an LWS, shown with its decision."""
    api = APIRouter()

    @api.get(METRIC_PATH)
    async def read_metric(namespace: str, metric: str, request: Request) -> Response:
        # Decoded before the provider is asked, so before "no such metric" too.
        query = {k: request.query_params.getlist(k) for k in request.query_params}
        check_list_options(query)
        # The selector is part of the list options, which kube-apiserver decodes before
        # it asks the provider: a malformed one is 400 even for a metric that does not exist.
        text = first_value(query, "labelSelector")
        try:
            selector = parse_selector(text)
        except SelectorError as exc:
            raise bad_request(str(exc)) from None
        if metric not in METRICS:
            raise not_found(
                f"the server could not find the metric {metric} for namespace {namespace}",
                {"name": metric, "group": "external.metrics.k8s.io", "kind": metric},
            )
        selected = [s for s in store.series(namespace, metric) if selector.matches(s.labels)]
        if not selected:
            where = f" matching {text!r}" if text else ""
            raise not_found(
                f"no series of metric {metric} in namespace {namespace}{where}",
                {"name": metric, "group": "external.metrics.k8s.io", "kind": metric},
            )
        now = clock()
        stale = next((s for s in selected if store.is_stale(s.decided_at, now)), None)
        if stale is not None:
            age = now - stale.decided_at
            when = (
                f"{format_duration(age)} old"
                if age >= 0
                else f"dated {format_duration(-age)} ahead of this server's clock"
            )
            raise ApiError(
                503,
                f"the latest decision for {namespace}/{stale.lws} is {when} "
                f"({store.describe_max_age()}); not serving an outdated value",
            )
        items = ",".join(s.item_json for s in selected)
        return Response(f"{_LIST_HEAD}{items}]}}", media_type="application/json")

    @api.get("/debug/decisions")
    async def list_decisions() -> Response:
        now = clock()
        items = [_describe(s, store, now, hpas(s.decision.key)) for s in store.decisions()]
        return _json({"items": items})

    @api.get("/debug/decisions/{namespace}/{name}")
    async def one_decision(namespace: str, name: str) -> Response:
        stored = store.decision(LwsKey(namespace, name))
        if stored is None:
            raise not_found(f"no decision for {namespace}/{name}: no policy targets this LWS")
        return _json(_describe(stored, store, clock(), hpas(stored.decision.key)))

    return api


def _describe(
    stored: StoredDecision,
    store: DecisionStore,
    now: float,
    hpas: tuple[HpaStanding, ...] | None,
) -> dict[str, Any]:
    d = stored.decision
    return {
        "namespace": d.key.namespace,
        "name": d.key.name,
        "policy": d.policy,
        "decidedAt": rfc3339(d.at),
        "ageSeconds": round(now - d.at, 3),
        "stale": store.is_stale(d.at, now),
        "replicas": d.replicas,
        "current": d.current,
        "driver": d.driver,
        "demand": d.demand,
        "forecast": d.forecast,
        "coldStartSeconds": d.cold_start_seconds,
        "reasons": [{"code": str(r.code), "message": r.message} for r in d.reasons],
        "proposals": [
            {
                "signal": p.name,
                "status": str(p.status),
                "target": p.target,
                "value": p.value,
                "needed": p.needed,
                "replicas": p.replicas,
                "reporting": p.reporting,
            }
            for p in d.proposals
        ],
        "explanation": d.explain(),
        # null: not audited (no cluster, the audit off, its namespace not listed yet).
        "hpas": None if hpas is None else [_hpa(h) for h in hpas],
    }


def _hpa(hpa: HpaStanding) -> dict[str, Any]:
    stopped = hpa.stopped
    shown = {"name": hpa.name, "scaling": stopped is None, "follows": hpa.follows}
    if hpa.narrower is not None:
        shown["narrower"] = hpa.narrower
    if stopped is not None:
        shown |= {
            "condition": stopped.condition,
            "reason": stopped.reason,
            "message": stopped.message,
        }
    return shown
