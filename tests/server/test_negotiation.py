"""Content negotiation: JSON only, 406 ``NotAcceptable`` as a ``Status`` otherwise.

The table reads headers as kube-apiserver's negotiation would; the HTTP test goes
through uvicorn over real HTTPS with httpx (auth off; its order before negotiation is
in test_auth.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autoscaler.server.negotiation import accepts_json
from tests.server.conftest import Running, Start

BASE = "/apis/external.metrics.k8s.io/v1beta1"
REC = f"{BASE}/namespaces/inference/lws_recommended_replicas"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, True),  # no header: anything will do
        ("", True),
        ("application/json", True),
        ("application/json, */*", True),  # kubectl get --raw
        ("application/vnd.kubernetes.protobuf, */*", True),  # client-go's default
        ("application/vnd.kubernetes.protobuf, application/json", True),
        ("APPLICATION/JSON; charset=utf-8", True),
        ("text/html, application/*;q=0.5", True),
        ("*/*", True),
        ("*", True),
        # As kube-apiserver: q only orders the ranges, it never refuses one.
        ("application/json;q=0", True),
        ("application/json;q=high", True),
        ("application/vnd.kubernetes.protobuf", False),
        ("application/yaml", False),
        ("text/plain, text/html", False),
        ("application/*+json", False),
        # A conversion this server cannot make: aggregated discovery, a Table.
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", False),
        (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            True,
        ),
        ("application/json;as=Table;g=meta.k8s.io;v=v1", False),
    ],
)
def test_accept_headers(header: str | None, expected: bool) -> None:
    assert accepts_json(header) is expected


@pytest.fixture
def api(start_server: Start) -> Iterator[Running]:
    with start_server(disable_auth=True) as running:
        running.cycle()
        yield running


@pytest.mark.parametrize("path", ["/apis", BASE, REC])
def test_only_json_is_served(api: Running, path: str) -> None:
    with api.client() as http:
        refused = http.get(path, headers={"Accept": "application/vnd.kubernetes.protobuf"})
        served = http.get(
            path, headers={"Accept": "application/vnd.kubernetes.protobuf, application/json"}
        )
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/json"
    body = refused.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotAcceptable", 406)
    assert body["message"] == "only the following media types are accepted: application/json"
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"


def test_aggregated_discovery_gets_the_406_it_falls_back_on(api: Running) -> None:
    # What kube-aggregator asks first; it then fetches the legacy documents, as the
    # discovery test in test_api.py does.
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    )
    with api.client() as http:
        response = http.get("/apis", headers={"Accept": accept})
    assert response.status_code == 406
    assert response.json()["reason"] == "NotAcceptable"


@pytest.mark.parametrize("path", ["/openapi/v2", "/openapi/v3", "/healthz", "/metrics"])
def test_stubs_probes_and_telemetry_answer_any_accept(api: Running, path: str) -> None:
    # The aggregator's OpenAPI downloader, kubelet probes and Prometheus ask for their
    # own media types; none of them may get a 406.
    with api.client() as http:
        response = http.get(path, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert response.status_code == 200
