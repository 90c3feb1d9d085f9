"""A hypothesis-driven fuzzer over the routes of the real server (uvicorn, TLS, 127.0.0.1):
whatever the path, method, selector or headers, the answer is 200 with the documented
shape, or a Kubernetes Status with a 4xx code, never a 500 or a traceback."""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import Start

BASE = "/apis/external.metrics.k8s.io/v1beta1"
METRICS = [
    "lws_recommended_replicas",
    "lws_queue_depth_per_group",
    "lws_kv_cache_utilization",
    "lws_tokens_per_second_per_group",
    "lws_ttft_seconds",
    "lws_queue_wait_seconds",
]

segment = st.one_of(
    st.sampled_from(["inference", "default", "kube-system", "", ".", "..", "%2F", "%00"]),
    st.text(min_size=1, max_size=30),
    st.text(alphabet=string.ascii_lowercase + "-._~%", min_size=1, max_size=300),
)
metric = st.one_of(st.sampled_from(METRICS), segment)
selector_part = st.one_of(
    st.sampled_from(
        [
            "leaderworkerset",
            "policy",
            "tokens",
            "=",
            "==",
            "!=",
            "!",
            ",",
            "in",
            "notin",
            "(",
            ")",
            "llama-70b",
            "dev-8b",
            " ",
            ">",
            "<",
            "3",
        ]
    ),
    st.text(max_size=8),
)
selector = st.lists(selector_part, max_size=12).map("".join)
path = st.one_of(
    st.builds(
        lambda ns, m: f"{BASE}/namespaces/{quote(ns, safe='%')}/{quote(m, safe='%')}",
        segment,
        metric,
    ),
    st.sampled_from(
        [
            "/apis",
            "/apis/external.metrics.k8s.io",
            BASE,
            "/openapi/v2",
            "/openapi/v3",
            "/healthz",
            "/livez",
            "/readyz",
            "/metrics",
            "/debug/decisions",
            "/debug/decisions/inference/llama-70b",
            f"{BASE}/namespaces",
            f"{BASE}/namespaces/inference",
            "/",
            "/apis/",
        ]
    ),
    st.text(alphabet=string.printable, max_size=200).map(lambda s: "/" + quote(s, safe="/%")),
)
method = st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
header_value = st.text(alphabet=string.printable.strip() + " ", max_size=40).map(str.strip)


def _check(response: httpx.Response, method_name: str) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400 and method_name != "HEAD":
        body = response.json()
        assert body["kind"] == "Status"
        assert body["code"] == response.status_code
        assert "Traceback" not in response.text
    elif response.status_code == 200 and response.headers.get("content-type") == "application/json":
        document: Any = response.json() if method_name != "HEAD" else {}
        if document.get("kind") == "ExternalMetricValueList":
            assert document["items"]
            for item in document["items"]:
                assert set(item) <= {"metricName", "metricLabels", "timestamp", "window", "value"}


def test_fuzz_routes(start_server: Start) -> None:
    with start_server(disable_auth=True) as running:
        running.cycle()
        with running.client() as http:

            @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
            @given(method=method, path=path, selector=st.none() | selector, header=header_value)
            def probe(method: str, path: str, selector: str | None, header: str) -> None:
                params = {} if selector is None else {"labelSelector": selector}
                response = http.request(
                    method, path, params=params, headers={"X-Remote-User": header}
                )
                _check(response, method)

            probe()


def test_fuzz_auth_headers_against_a_secured_server(start_server: Start) -> None:
    """With auth on, junk credentials and headers never get past authentication: the
    answer is a Status (401, or 404/405 for unknown routes), except the open probes."""

    class NoReviews:
        def review_token(self, token: str) -> None:
            return None

        def review_access(self, user: Any, attributes: Any) -> tuple[bool, str]:
            return False, "no"

    with start_server(reviewer=NoReviews(), authentication_skip_lookup=True) as running:
        running.cycle()
        with running.client() as http:

            @settings(max_examples=100, deadline=None)
            @given(auth=header_value, user=header_value, path=path)
            def probe(auth: str, user: str, path: str) -> None:
                response = http.get(path, headers={"Authorization": auth, "X-Remote-User": user})
                assert response.status_code in (200, 400, 401, 404, 405, 503), response.text
                if response.status_code >= 400:
                    assert response.json()["kind"] == "Status"
                if response.status_code == 200:  # only the unauthenticated probes
                    assert path in ("/healthz", "/livez", "/readyz")

            probe()
