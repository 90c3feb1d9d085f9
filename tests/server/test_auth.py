"""Delegated authentication and authorisation over real TLS.

No kube-apiserver can run here: TokenReview and SubjectAccessReview go to the
wire-level fake (tests/support/fake_apiserver.py), reached through a kubeconfig by the
real ``kubernetes`` client, exactly as the server would reach kube-apiserver. Client
certificates (front proxy, kubectl users, a foreign CA) are made per test with trustme.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autoscaler.server import security_setup
from tests.server.conftest import Running, Start
from tests.support.certs import TestPki
from tests.support.fake_apiserver import FakeApiServer, access_reviewer, token_reviewer

REC = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


def _allow(spec: dict[str, Any]) -> bool:
    """The test RBAC, evaluated as kube-apiserver's RBAC would: the HPA and alice may
    ``list`` metrics in 'inference' (what a metric read is), carol only ``get`` them
    (which allows no metric read); alice may also ``get`` /metrics; bob may nothing."""
    user = spec.get("user")
    resource = spec.get("resourceAttributes")
    if resource is not None:
        verbs = {HPA_USER: {"list"}, "alice": {"list"}, "carol": {"get"}}.get(str(user), set())
        return (
            resource.get("group") == "external.metrics.k8s.io"
            and resource.get("verb") in verbs
            and resource.get("namespace") == "inference"
        )
    non_resource = spec.get("nonResourceAttributes", {})
    return user == "alice" and non_resource == {"path": "/metrics", "verb": "get"}


@pytest.fixture
def kube(tmp_path: Path, pki: TestPki) -> Iterator[tuple[FakeApiServer, Path]]:
    with FakeApiServer(tls=pki.server()) as api:
        api.on_post(
            TOKEN_REVIEWS,
            token_reviewer(
                {
                    "alice-token": ("alice", ["team"]),
                    "bob-token": ("bob", []),
                    "carol-token": ("carol", []),
                },
                extras={"alice-token": {"authentication.kubernetes.io/pod-name": ["web-0"]}},
            ),
        )
        api.on_post(ACCESS_REVIEWS, access_reviewer(_allow))
        config = api.write_kubeconfig(
            tmp_path / "server-kubeconfig", token="sa", ca_file=pki.ca_file
        )
        yield api, config


class AuthClock:
    """The monotonic clock of the review caches, moved by the test: whether an answer
    is still cached then depends on the TTL alone, not on how long a loaded machine
    takes between two requests (with the real clock, 3.1 s slept stood for the TTL
    and two requests had to fall within its 3 s)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def auth_clock(monkeypatch: pytest.MonkeyPatch) -> AuthClock:
    clock = AuthClock()
    # build_security hands ``time.monotonic`` to the authenticator and the authorizer.
    monkeypatch.setattr(security_setup, "time", clock)
    return clock


@pytest.fixture
def secured(
    start_server: Start,
    kube: tuple[FakeApiServer, Path],
    pki: TestPki,
    proxy_ca: TestPki,
    user_ca: TestPki,
    auth_clock: AuthClock,
) -> Iterator[Running]:
    serving = pki.server()
    with start_server(
        trust=pki.ca_file,
        tls_cert_file=serving.cert,
        tls_private_key_file=serving.key,
        kubeconfig=kube[1],
        requestheader_client_ca_file=proxy_ca.ca_file,
        requestheader_allowed_names=("front-proxy-client",),
        client_ca_file=user_ca.ca_file,
        auth_cache_ttl=3.0,  # on auth_clock
    ) as running:
        running.cycle()
        yield running


def _reviews(api: FakeApiServer, path: str) -> list[dict[str, Any]]:
    return [r.json() for r in api.requests if r.path == path]


def _assert_status(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code
    body: dict[str, Any] = response.json()
    assert (body["kind"], body["status"], body["code"], body["reason"]) == (
        "Status",
        "Failure",
        code,
        reason,
    )
    return body


def test_front_proxy_headers_are_trusted_with_the_proxy_certificate(
    secured: Running, kube: tuple[FakeApiServer, Path], proxy_ca: TestPki
) -> None:
    api, _ = kube
    cert = proxy_ca.client("front-proxy-client")
    headers = {
        "X-Remote-User": HPA_USER,
        "X-Remote-Group": "system:serviceaccounts",
        "X-Remote-Extra-Scopes%2fKind": "hpa",
        "X-Remote-Extra-": "a prefix without a key names no extra",
        "X-A-Header-Longer-Than-The-Prefix": "not an extra",
    }
    with secured.client(cert) as http:
        response = http.get(REC, headers=headers)
    assert response.status_code == 200
    assert response.json()["kind"] == "ExternalMetricValueList"
    (review,) = _reviews(api, ACCESS_REVIEWS)
    assert review["spec"]["user"] == HPA_USER
    # Every authenticated caller is in system:authenticated (test_auth_groups.py).
    assert review["spec"]["groups"] == ["system:serviceaccounts", "system:authenticated"]
    assert review["spec"]["extra"] == {"scopes/kind": ["hpa"]}
    assert review["spec"]["resourceAttributes"] == {
        "group": "external.metrics.k8s.io",
        "version": "v1beta1",
        "resource": "lws_recommended_replicas",
        "namespace": "inference",
        "verb": "list",  # no name in the URL: kube-apiserver's RequestInfo says list
    }
    assert _reviews(api, TOKEN_REVIEWS) == []


def test_front_proxy_refusals(secured: Running, proxy_ca: TestPki, tmp_path: Path) -> None:
    wrong_name = proxy_ca.client("someone-else")
    right_name = proxy_ca.client("front-proxy-client")
    headers = {"X-Remote-User": HPA_USER}
    with secured.client(wrong_name) as http:
        _assert_status(http.get(REC, headers=headers), 401, "Unauthorized")
    with secured.client(right_name) as http:
        _assert_status(http.get(REC), 401, "Unauthorized")  # no username header
    with secured.client() as http:  # the headers alone, without the certificate
        _assert_status(http.get(REC, headers=headers), 401, "Unauthorized")
    foreign = TestPki(tmp_path / "foreign", name="foreign-ca").client("front-proxy-client")
    with secured.client(foreign) as http, pytest.raises(httpx.TransportError):
        http.get(REC, headers=headers)  # refused in the TLS handshake


def test_proxy_headers_count_only_with_the_proxy_ca(
    secured: Running, kube: tuple[FakeApiServer, Path], user_ca: TestPki
) -> None:
    """A user certificate named like the proxy, from the client CA, cannot impersonate
    through X-Remote-User: it is its own CN, and its request is reviewed as such."""
    api, _ = kube
    lookalike = user_ca.client("front-proxy-client", organization="lookalikes")
    headers = {"X-Remote-User": "alice", "X-Remote-Group": "system:masters"}
    with secured.client(lookalike) as http:
        _assert_status(http.get(REC, headers=headers), 403, "Forbidden")
    (review,) = _reviews(api, ACCESS_REVIEWS)
    assert (review["spec"]["user"], review["spec"]["groups"]) == (
        "front-proxy-client",
        ["lookalikes", "system:authenticated"],
    )


def test_system_masters_skip_the_access_review(
    secured: Running, kube: tuple[FakeApiServer, Path], proxy_ca: TestPki
) -> None:
    api, _ = kube
    headers = {"X-Remote-User": "system:kube-aggregator", "X-Remote-Group": "system:masters"}
    with secured.client(proxy_ca.client("front-proxy-client")) as http:
        assert http.get("/apis/external.metrics.k8s.io/v1beta1", headers=headers).status_code == 200
        assert http.get(REC, headers=headers).status_code == 200
        # A caller allowed everything learns that a path does not exist, or takes no POST.
        missing = _assert_status(http.get("/no-such-path", headers=headers), 404, "NotFound")
        assert missing["message"] == "the server could not find the requested resource"
        refused = _assert_status(http.post(REC, headers=headers), 405, "MethodNotAllowed")
        assert refused["message"] == "the server does not allow method POST on this resource"
    assert _reviews(api, ACCESS_REVIEWS) == []


def test_an_anonymous_caller_cannot_map_the_routes(secured: Running) -> None:
    # As kube-apiserver: authentication comes before routing, so an unknown path and a
    # method a route refuses both answer 401, not 404 or 405.
    with secured.client() as http:
        _assert_status(http.get("/no-such-path"), 401, "Unauthorized")
        _assert_status(http.post(REC), 401, "Unauthorized")
        bob = {"Authorization": "Bearer bob-token"}  # known, but not allowed that path
        _assert_status(http.get("/no-such-path", headers=bob), 403, "Forbidden")
        # Negotiation comes after authorisation too: a 406 is for callers allowed in.
        protobuf = {"Accept": "application/vnd.kubernetes.protobuf"}
        _assert_status(http.get(REC, headers=protobuf), 401, "Unauthorized")
        _assert_status(http.get(REC, headers={**bob, **protobuf}), 403, "Forbidden")
        alice = {"Authorization": "Bearer alice-token", **protobuf}
        _assert_status(http.get(REC, headers=alice), 406, "NotAcceptable")


def test_bearer_tokens_and_caching(
    secured: Running, kube: tuple[FakeApiServer, Path], auth_clock: AuthClock
) -> None:
    api, _ = kube
    alice = {"Authorization": "Bearer alice-token"}
    with secured.client() as http:
        assert http.get(REC, headers=alice).status_code == 200
        assert http.get(REC, headers=alice).status_code == 200
        assert len(_reviews(api, TOKEN_REVIEWS)) == 1  # cached
        assert len(_reviews(api, ACCESS_REVIEWS)) == 1
        # The access review asks for the user the TokenReview named, whole.
        (asked,) = [r["spec"] for r in _reviews(api, ACCESS_REVIEWS)]
        assert (asked["user"], asked["uid"], asked["groups"], asked["extra"]) == (
            "alice",
            "uid-alice",
            ["team", "system:authenticated"],
            {"authentication.kubernetes.io/pod-name": ["web-0"]},
        )
        auth_clock.advance(2.9)  # auth_cache_ttl is 3 s
        assert http.get(REC, headers=alice).status_code == 200
        assert len(_reviews(api, TOKEN_REVIEWS)) == 1  # still cached
        assert len(_reviews(api, ACCESS_REVIEWS)) == 1
        auth_clock.advance(0.2)
        assert http.get(REC, headers=alice).status_code == 200
        assert len(_reviews(api, TOKEN_REVIEWS)) == 2
        assert len(_reviews(api, ACCESS_REVIEWS)) == 2

        _assert_status(http.get(REC, headers={"Authorization": "Bearer nope"}), 401, "Unauthorized")
        reviewed = len(_reviews(api, TOKEN_REVIEWS))
        for other in ("Basic abc", "Bearer"):  # no bearer token: nothing to review
            _assert_status(http.get(REC, headers={"Authorization": other}), 401, "Unauthorized")
        assert len(_reviews(api, TOKEN_REVIEWS)) == reviewed
        denied = _assert_status(
            http.get(REC, headers={"Authorization": "Bearer bob-token"}), 403, "Forbidden"
        )
        assert 'User "bob" cannot list resource "lws_recommended_replicas"' in denied["message"]
        assert denied["message"].endswith(": denied by the test policy")  # the review's reason
        assert denied["details"] == {
            "group": "external.metrics.k8s.io",
            "kind": "lws_recommended_replicas",
        }
        before = len(_reviews(api, ACCESS_REVIEWS))
        _assert_status(
            http.get(REC, headers={"Authorization": "Bearer bob-token"}), 403, "Forbidden"
        )
        assert len(_reviews(api, ACCESS_REVIEWS)) == before  # denial cached too
        other_ns = REC.replace("/inference/", "/elsewhere/")
        _assert_status(http.get(other_ns, headers=alice), 403, "Forbidden")


def test_a_metric_read_is_a_list_and_discovery_a_non_resource_get(
    secured: Running, kube: tuple[FakeApiServer, Path]
) -> None:
    """kube-apiserver's RequestInfo makes ``GET .../namespaces/<ns>/<metric>`` (no name
    segment) a ``list``, and ``/apis/<group>/<version>`` a non-resource path: a caller
    that RBAC allows ``list`` reads the metric, one allowed ``get`` only does not."""
    api, _ = kube
    with secured.client() as http:
        allowed = http.get(REC, headers={"Authorization": "Bearer alice-token"})
        assert allowed.status_code == 200
        refused = _assert_status(
            http.get(REC, headers={"Authorization": "Bearer carol-token"}), 403, "Forbidden"
        )
        assert (
            'User "carol" cannot list resource "lws_recommended_replicas"' in (refused["message"])
        )
        discovery = "/apis/external.metrics.k8s.io/v1beta1"
        _assert_status(
            http.get(discovery, headers={"Authorization": "Bearer alice-token"}), 403, "Forbidden"
        )
    asked = [r["spec"] for r in _reviews(api, ACCESS_REVIEWS)]
    assert [(s["user"], s.get("resourceAttributes", {}).get("verb")) for s in asked[:2]] == [
        ("alice", "list"),
        ("carol", "list"),
    ]
    assert asked[2]["nonResourceAttributes"] == {"path": discovery, "verb": "get"}
    assert "resourceAttributes" not in asked[2]


def test_non_resource_paths_are_authorised_and_health_is_open(
    secured: Running, kube: tuple[FakeApiServer, Path]
) -> None:
    api, _ = kube
    with secured.client() as http:
        for path in ("/healthz", "/livez", "/readyz"):
            assert http.get(path).status_code == 200
        _assert_status(http.get("/metrics"), 401, "Unauthorized")
        _assert_status(http.get("/apis"), 401, "Unauthorized")
        bob = {"Authorization": "Bearer bob-token"}
        _assert_status(http.get("/metrics", headers=bob), 403, "Forbidden")
        alice = {"Authorization": "Bearer alice-token"}
        assert "lws_autoscaler_cycles_total" in http.get("/metrics", headers=alice).text
        _assert_status(http.get("/debug/decisions", headers=alice), 403, "Forbidden")
        # A path with a namespace but no metric is a non-resource path, not a metric read.
        one = "/debug/decisions/inference/llama-70b"
        _assert_status(http.get(one, headers=alice), 403, "Forbidden")
    assert _reviews(api, ACCESS_REVIEWS)[-1]["spec"]["nonResourceAttributes"] == {
        "path": one,
        "verb": "get",
    }


def test_an_access_review_answered_without_a_status_denies(
    secured: Running, kube: tuple[FakeApiServer, Path]
) -> None:
    api, _ = kube
    api.on_post(ACCESS_REVIEWS, lambda body, req: {"kind": "SubjectAccessReview", "spec": {}})
    with secured.client() as http:
        denied = _assert_status(
            http.get(REC, headers={"Authorization": "Bearer alice-token"}), 403, "Forbidden"
        )
    assert denied["message"].endswith(": empty SubjectAccessReview status")


def test_review_failures(secured: Running, kube: tuple[FakeApiServer, Path]) -> None:
    api, _ = kube
    api.on_post(ACCESS_REVIEWS, lambda body, req: (500, {"kind": "Status", "code": 500}))
    api.on_post(TOKEN_REVIEWS, lambda body, req: (503, {"kind": "Status", "code": 503}))
    with secured.client() as http:
        _assert_status(
            http.get(REC, headers={"Authorization": "Bearer carol"}), 401, "Unauthorized"
        )
        body = _assert_status(http.get(REC, headers={"X-Remote-User": "x"}), 401, "Unauthorized")
        assert "Traceback" not in json.dumps(body)


def test_sar_failure_is_a_generic_500(
    secured: Running, kube: tuple[FakeApiServer, Path], user_ca: TestPki
) -> None:
    api, _ = kube
    api.on_post(ACCESS_REVIEWS, lambda body, req: (500, {"kind": "Status", "code": 500}))
    with secured.client(user_ca.client("dave")) as http:
        body = _assert_status(http.get(REC), 500, "InternalError")
    assert "SubjectAccessReview" not in body["message"]


def _kubectl(config: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(config), "get", "--raw", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kubectl_get_raw_with_client_certificate_and_token(
    secured: Running,
    kube: tuple[FakeApiServer, Path],
    pki: TestPki,
    user_ca: TestPki,
    tmp_path: Path,
) -> None:
    api, _ = kube
    # kubectl speaks to *our* server: reuse the fake's kubeconfig writer with our URL.
    with_cert = api.write_kubeconfig(
        tmp_path / "alice-cert",
        client_cert=user_ca.client("alice", organization="team"),
        ca_file=pki.ca_file,
        server=secured.url,
    )
    done = _kubectl(with_cert, f"{REC}?labelSelector=leaderworkerset%3Dllama-70b")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["kind"] == "ExternalMetricValueList"
    assert [i["value"] for i in body["items"]] == ["8"]
    # kubectl also asks for /version, which this server does not serve: as on
    # kube-apiserver, that path is authorised (a non-resource review) before its 404.
    reviews = _reviews(api, ACCESS_REVIEWS)
    (review,) = [r for r in reviews if "resourceAttributes" in r["spec"]]
    assert [r["spec"]["nonResourceAttributes"]["path"] for r in reviews if r is not review] in (
        [],
        ["/version"],
    )
    assert (review["spec"]["user"], review["spec"]["groups"]) == (
        "alice",
        ["team", "system:authenticated"],
    )

    discovery = _kubectl(with_cert, "/apis/external.metrics.k8s.io/v1beta1")
    assert discovery.returncode != 0  # alice may not read discovery in this RBAC
    assert "Forbidden" in discovery.stderr or "forbidden" in discovery.stderr

    with_token = api.write_kubeconfig(
        tmp_path / "bob-token", token="bob-token", ca_file=pki.ca_file, server=secured.url
    )
    refused = _kubectl(with_token, REC)
    assert refused.returncode != 0
    assert 'cannot list resource "lws_recommended_replicas"' in refused.stderr


def test_tls_is_the_default_and_plain_http_is_refused(secured: Running) -> None:
    plain = secured.url.replace("https://", "http://")
    with httpx.Client(timeout=5) as http, pytest.raises(httpx.HTTPError):
        http.get(plain + "/healthz")
    context = ssl.create_default_context()  # the system store does not trust the test CA
    with httpx.Client(verify=context, timeout=30) as http, pytest.raises(httpx.ConnectError):
        http.get(secured.url + "/healthz")
