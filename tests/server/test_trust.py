"""Front-proxy and client CAs read from ConfigMap kube-system/extension-apiserver-
authentication, refreshed while the server runs, and the failure modes.

No kube-apiserver can run here: the ConfigMap, TokenReview and SubjectAccessReview are
served by the wire-level fake (tests/support/fake_apiserver.py) over HTTPS, reached with
the real ``kubernetes`` client through a kubeconfig, exactly as the server reaches the
real API. Requests to our server use real TLS with client certificates issued per test
(trustme), as the aggregator's front proxy and kubectl present them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autoscaler.server.auth_lookup import (
    AuthLookupError,
    ClusterAuthentication,
    LookupFailure,
    parse_configmap_data,
)
from tests.server.conftest import Running, Start
from tests.support.certs import TestPki
from tests.support.fake_apiserver import FakeApiServer, access_reviewer, status, token_reviewer

REC = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"
CONFIGMAP_PATH = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
PROXY_CN = "front-proxy-client"


def configmap(proxy_ca: TestPki | None, client_ca: TestPki | None = None) -> dict[str, Any]:
    """The ConfigMap as kube-apiserver writes it (list values are JSON arrays)."""
    data: dict[str, str] = {}
    if proxy_ca is not None:
        data.update(
            {
                "requestheader-client-ca-file": proxy_ca.ca_file.read_text(),
                "requestheader-allowed-names": json.dumps([PROXY_CN]),
                # Non-standard names prove the headers come from the ConfigMap.
                "requestheader-username-headers": json.dumps(["X-Proxy-User"]),
                "requestheader-group-headers": json.dumps(["X-Proxy-Group"]),
                "requestheader-extra-headers-prefix": json.dumps(["X-Proxy-Extra-"]),
            }
        )
    if client_ca is not None:
        data["client-ca-file"] = client_ca.ca_file.read_text()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
        "data": data,
    }


def _allow(spec: dict[str, Any]) -> bool:
    return spec.get("user") in (HPA_USER, "alice", "bearer-user")


@pytest.fixture
def kube(tmp_path: Path, pki: TestPki) -> Iterator[tuple[FakeApiServer, Path]]:
    with FakeApiServer(tls=pki.server()) as api:
        api.on_post(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            token_reviewer({"good-token": ("bearer-user", [])}),
        )
        api.on_post("/apis/authorization.k8s.io/v1/subjectaccessreviews", access_reviewer(_allow))
        config = api.write_kubeconfig(tmp_path / "kubeconfig", token="sa", ca_file=pki.ca_file)
        yield api, config


@pytest.fixture
def lookup_server(
    start_server: Start, kube: tuple[FakeApiServer, Path], pki: TestPki
) -> Callable[..., Any]:
    """A server with auth on and no CA flags: everything comes from the ConfigMap."""

    def start(**overrides: Any) -> Any:
        serving = pki.server()
        values: dict[str, Any] = {
            "trust": pki.ca_file,
            "tls_cert_file": serving.cert,
            "tls_private_key_file": serving.key,
            "kubeconfig": kube[1],
            "auth_cache_ttl": 0.0,
        }
        values.update(overrides)
        return start_server(**values)

    return start


def _proxy_headers(user: str = HPA_USER) -> dict[str, str]:
    return {"X-Proxy-User": user, "X-Proxy-Group": "system:serviceaccounts"}


def _get(running: Running, cert: Any = None, **kwargs: Any) -> httpx.Response:
    """A fresh connection each time: a rotated CA applies to new handshakes."""
    with running.client(cert) as http:
        return http.get(REC, **kwargs)


def _configmap_reads(api: FakeApiServer) -> int:
    return sum(1 for r in api.requests if r.path == CONFIGMAP_PATH)


def _eventually(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _metric(running: Running, name: str, labels: dict[str, str] | None = None) -> float | None:
    return running.process.telemetry.registry.get_sample_value(name, labels or {})


def test_front_proxy_and_client_cas_come_from_the_configmap(
    lookup_server: Callable[..., Any],
    kube: tuple[FakeApiServer, Path],
    proxy_ca: TestPki,
    user_ca: TestPki,
) -> None:
    api, _ = kube
    api.put(configmap(proxy_ca, user_ca))
    with lookup_server() as running:
        running.cycle()
        assert _configmap_reads(api) == 1
        proxy = proxy_ca.client(PROXY_CN)
        extras = {"X-Proxy-Extra-Scopes": "hpa", "X-Remote-Extra-Scopes": "standard"}
        headers = {**_proxy_headers(), **extras}
        assert _get(running, proxy, headers=headers).status_code == 200
        (review,) = [
            r.json()["spec"] for r in api.requests if r.path.endswith("subjectaccessreviews")
        ]
        assert (review["user"], review["groups"], review["extra"]) == (
            HPA_USER,
            ["system:serviceaccounts", "system:authenticated"],
            {"scopes": ["hpa"]},  # the ConfigMap's extra prefix, not the standard one
        )
        # The standard header is not the one this cluster configured: no user, 401.
        assert _get(running, proxy, headers={"X-Remote-User": HPA_USER}).status_code == 401
        # Allowed names from the ConfigMap apply.
        other = proxy_ca.client("not-the-proxy")
        assert _get(running, other, headers=_proxy_headers()).status_code == 401
        # client-ca-file: a kubectl-style certificate authenticates as its CN.
        assert _get(running, user_ca.client("alice", organization="team")).status_code == 200
        assert _metric(running, "lws_autoscaler_front_proxy_ca_loaded") == 1


def test_a_rotated_front_proxy_ca_is_trusted_without_a_restart(
    lookup_server: Callable[..., Any],
    kube: tuple[FakeApiServer, Path],
    proxy_ca: TestPki,
    tmp_path: Path,
) -> None:
    api, _ = kube
    api.put(configmap(proxy_ca))
    with lookup_server(cert_reload_interval=0.1) as running:
        running.cycle()
        old_cert = proxy_ca.client(PROXY_CN)
        assert _get(running, old_cert, headers=_proxy_headers()).status_code == 200

        rotated = TestPki(tmp_path / "rotated", name="front-proxy-ca-2")
        api.put(configmap(rotated))  # kube-apiserver publishes the new CA
        new_cert = rotated.client(PROXY_CN)

        def new_ca_works() -> bool:
            try:
                return _get(running, new_cert, headers=_proxy_headers()).status_code == 200
            except httpx.TransportError:  # handshake refused until the refresh
                return False

        _eventually(new_ca_works)  # the periodic refresh, no restart, no call from here
        # The old CA is gone from the TLS layer too: its certificate fails the handshake.
        with pytest.raises(httpx.TransportError):
            _get(running, old_cert, headers=_proxy_headers())
        assert _metric(running, "lws_autoscaler_tls_reloads_total", {"result": "ok"}) == 1


def test_missing_configmap_serves_tokens_then_recovers(
    lookup_server: Callable[..., Any],
    kube: tuple[FakeApiServer, Path],
    proxy_ca: TestPki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No ConfigMap (aggregation layer not configured): the server starts, says the
    aggregator's handshakes fail, serves bearer tokens, and trusts the CA once it appears."""
    api, _ = kube
    with caplog.at_level(logging.WARNING), lookup_server() as running:
        running.cycle()
        assert "ConfigMap kube-system/extension-apiserver-authentication does not exist" in (
            caplog.text
        )
        assert "front-proxy authentication is OFF" in caplog.text
        # The lookup may find a CA, so client certificates are asked for: the
        # aggregator's, unverifiable, fails the handshake (not 401, as it once said).
        assert "fail the TLS handshake" in caplog.text
        assert _get(running, headers={"Authorization": "Bearer good-token"}).status_code == 200
        assert _get(running, headers=_proxy_headers()).status_code == 401  # headers alone
        # No CA is trusted yet, so a client certificate fails the TLS handshake.
        with pytest.raises(httpx.TransportError):
            _get(running, proxy_ca.client(PROXY_CN), headers=_proxy_headers())
        assert _metric(running, "lws_autoscaler_front_proxy_ca_loaded") == 0
        failures = {"reason": "NotFound"}
        assert _metric(running, "lws_autoscaler_auth_lookup_errors_total", failures) == 1

        api.put(configmap(proxy_ca))
        running.process.refresh_trust()
        assert _get(running, proxy_ca.client(PROXY_CN), headers=_proxy_headers()).status_code == 200
        assert _metric(running, "lws_autoscaler_front_proxy_ca_loaded") == 1


def test_forbidden_configmap_is_explained_once_and_tokens_still_work(
    lookup_server: Callable[..., Any],
    kube: tuple[FakeApiServer, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, _ = kube
    message = 'configmaps "extension-apiserver-authentication" is forbidden'
    api.on_get(CONFIGMAP_PATH, lambda _b, _r: (403, status(403, "Forbidden", message)))
    with caplog.at_level(logging.WARNING), lookup_server() as running:
        running.cycle()
        for _ in range(3):
            running.process.refresh_trust()
        forbidden = [r for r in caplog.records if "not allowed to read ConfigMap" in r.message]
        assert len(forbidden) == 1  # reported when it starts, not on every refresh
        assert forbidden[0].levelno == logging.ERROR
        assert "--role=extension-apiserver-authentication-reader" in forbidden[0].message
        assert "kubectl create rolebinding -n kube-system" in forbidden[0].message
        assert _configmap_reads(api) == 4
        labels = {"reason": "Forbidden"}
        assert _metric(running, "lws_autoscaler_auth_lookup_errors_total", labels) == 4
        assert _get(running, headers={"Authorization": "Bearer good-token"}).status_code == 200


def test_an_api_blip_keeps_the_last_good_ca(
    lookup_server: Callable[..., Any], kube: tuple[FakeApiServer, Path], proxy_ca: TestPki
) -> None:
    api, _ = kube
    api.put(configmap(proxy_ca))
    with lookup_server() as running:
        running.cycle()
        api.on_get(CONFIGMAP_PATH, lambda _b, _r: (503, status(503, "ServiceUnavailable", "x")))
        running.process.refresh_trust()
        api.on_get(CONFIGMAP_PATH, lambda _b, _r: (200, {"kind": "ConfigMap", "data": {}}))
        labels = {"reason": "Unavailable"}
        assert _metric(running, "lws_autoscaler_auth_lookup_errors_total", labels) == 1
        cert = proxy_ca.client(PROXY_CN)
        # Served from the copy read before the blip (the empty answer is not read yet).
        assert _get(running, cert, headers=_proxy_headers()).status_code == 200


def test_flags_win_and_skip_lookup_reads_nothing(
    lookup_server: Callable[..., Any],
    kube: tuple[FakeApiServer, Path],
    proxy_ca: TestPki,
    user_ca: TestPki,
) -> None:
    api, _ = kube
    api.put(configmap(TestPki(proxy_ca.directory / "decoy", name="decoy")))
    with lookup_server(
        requestheader_client_ca_file=proxy_ca.ca_file, client_ca_file=user_ca.ca_file
    ) as running:
        running.cycle()
        headers = {"X-Remote-User": HPA_USER}  # the flag defaults, not the ConfigMap's
        assert _get(running, proxy_ca.client(PROXY_CN), headers=headers).status_code == 200
    with lookup_server(authentication_skip_lookup=True) as running:
        running.process.refresh_trust()
        assert _metric(running, "lws_autoscaler_front_proxy_ca_loaded") == 0
    assert _configmap_reads(api) == 0


def test_a_rotated_ca_file_is_reloaded(
    lookup_server: Callable[..., Any], proxy_ca: TestPki, tmp_path: Path
) -> None:
    """--requestheader-client-ca-file (e.g. a mounted ConfigMap) is followed as well."""
    ca_file = tmp_path / "requestheader-ca.crt"
    ca_file.write_bytes(proxy_ca.ca_file.read_bytes())
    with lookup_server(requestheader_client_ca_file=ca_file) as running:
        running.cycle()
        headers = {"X-Remote-User": HPA_USER}
        assert _get(running, proxy_ca.client(PROXY_CN), headers=headers).status_code == 200
        rotated = TestPki(tmp_path / "rotated", name="front-proxy-ca-2")
        ca_file.write_bytes(rotated.ca_file.read_bytes() + proxy_ca.ca_file.read_bytes())
        running.process.refresh_trust()
        # Both CAs during the overlap, as kube-apiserver publishes a rotation.
        assert _get(running, rotated.client(PROXY_CN), headers=headers).status_code == 200
        assert _get(running, proxy_ca.client(PROXY_CN), headers=headers).status_code == 200
        ca_file.write_text("not a certificate")  # half-written: keep the last good bundle
        running.process.refresh_trust()
        assert _get(running, rotated.client(PROXY_CN), headers=headers).status_code == 200


PEM_FIELDS = ("requestheader-client-ca-file", "client-ca-file")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({}, ClusterAuthentication(), id="empty"),
        pytest.param(
            {
                "requestheader-allowed-names": '["front-proxy-client", "aggregator"]',
                "requestheader-username-headers": '["X-Remote-User"]',
                "requestheader-group-headers": '["X-Remote-Group"]',
                "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
            },
            ClusterAuthentication(
                allowed_names=("front-proxy-client", "aggregator"),
                username_headers=("X-Remote-User",),
                group_headers=("X-Remote-Group",),
                extra_headers_prefixes=("X-Remote-Extra-",),
            ),
            id="kube-apiserver-lists",
        ),
        pytest.param(
            {"requestheader-allowed-names": "", "requestheader-username-headers": "[]"},
            ClusterAuthentication(),
            id="empty-values-mean-none",
        ),
    ],
)
def test_configmap_data_is_parsed(data: dict[str, str], expected: ClusterAuthentication) -> None:
    assert parse_configmap_data(data) == expected


def test_configmap_pems_are_kept(proxy_ca: TestPki, user_ca: TestPki) -> None:
    found = parse_configmap_data(
        {
            "requestheader-client-ca-file": proxy_ca.ca_file.read_text(),
            "client-ca-file": user_ca.ca_file.read_text(),
        }
    )
    assert found.requestheader_ca is not None
    assert found.client_ca is not None
    assert found.requestheader_ca.strip() == proxy_ca.ca_file.read_bytes().strip()
    assert found.client_ca.strip() == user_ca.ca_file.read_bytes().strip()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"requestheader-allowed-names": "front-proxy-client"}, "is not a JSON array"),
        ({"requestheader-username-headers": '{"a": 1}'}, "not a JSON array of strings"),
        ({"requestheader-group-headers": "[1, 2]"}, "not a JSON array of strings"),
        ({"client-ca-file": "-----BEGIN CERTIFICATE-----\nQQ==\n"}, "no valid PEM"),
    ],
)
def test_invalid_configmap_data_is_refused(data: dict[str, str], fragment: str) -> None:
    with pytest.raises(AuthLookupError, match=fragment) as raised:
        parse_configmap_data(data)
    assert raised.value.failure is LookupFailure.INVALID


def test_without_any_ca_the_warning_says_401(caplog: pytest.LogCaptureFixture) -> None:
    """No CA flag and no cluster lookup: no client certificate is asked for, so the
    aggregator's requests arrive and identify nobody: 401, not a failed handshake."""
    from autoscaler.server.telemetry import Telemetry
    from autoscaler.server.trust import TrustSource

    with caplog.at_level(logging.WARNING):
        source = TrustSource(Telemetry())
    assert not source.may_have_cas
    assert "every HPA read, get 401" in caplog.text
    assert "TLS handshake" not in caplog.text


class ScriptedReader:
    """A ``ClusterAuthReader`` that answers each read with the next scripted outcome
    (the last one repeats): the ConfigMap's parsed settings, or a lookup failure."""

    def __init__(self, *outcomes: ClusterAuthentication | AuthLookupError) -> None:
        self.outcomes = list(outcomes)

    def read(self) -> ClusterAuthentication:
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, AuthLookupError):
            raise outcome
        return outcome


def _not_found() -> AuthLookupError:
    return AuthLookupError(LookupFailure.NOT_FOUND, "no ConfigMap")


@pytest.mark.parametrize(
    ("with_cluster", "answer", "why"),
    [
        (False, None, "no --requestheader-client-ca-file, and the cluster lookup is off"),
        (True, "missing", "kube-system/extension-apiserver-authentication unavailable: NotFound"),
        (True, "answered", "kube-system/extension-apiserver-authentication holds no requestheader"),
    ],
)
def test_the_warning_says_why_front_proxy_authentication_is_off(
    with_cluster: bool,
    answer: str | None,
    why: str,
    user_ca: TestPki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from autoscaler.server.telemetry import Telemetry
    from autoscaler.server.trust import TrustSource

    found = ClusterAuthentication(client_ca=user_ca.ca_file.read_bytes())
    reader = ScriptedReader(_not_found() if answer == "missing" else found)
    with caplog.at_level(logging.WARNING):
        source = TrustSource(
            Telemetry(), client_ca_file=user_ca.ca_file, cluster=reader if with_cluster else None
        )
    assert source.current.request_header is None
    assert f"front-proxy authentication is OFF: no requestheader CA ({why}" in caplog.text


def test_a_client_ca_flag_still_takes_the_front_proxy_ca_from_the_cluster(
    proxy_ca: TestPki, user_ca: TestPki
) -> None:
    """Only the parts the flags leave open are looked up: here the requestheader CA."""
    from autoscaler.server.telemetry import Telemetry
    from autoscaler.server.trust import TrustSource

    reader = ScriptedReader(ClusterAuthentication(requestheader_ca=proxy_ca.ca_file.read_bytes()))
    source = TrustSource(Telemetry(), client_ca_file=user_ca.ca_file, cluster=reader)
    front = source.current.request_header
    assert front is not None
    assert front.origin == "ConfigMap kube-system/extension-apiserver-authentication"
    assert len(source.current.client_authorities) == 1  # the flag's


def test_changes_of_trust_and_a_recovered_lookup_are_logged_once(
    proxy_ca: TestPki, user_ca: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    from autoscaler.server.telemetry import Telemetry
    from autoscaler.server.trust import TrustSource

    first = ClusterAuthentication(requestheader_ca=proxy_ca.ca_file.read_bytes())
    second = ClusterAuthentication(requestheader_ca=user_ca.ca_file.read_bytes())
    reader = ScriptedReader(first, _not_found(), first, first, second)
    with caplog.at_level(logging.INFO, logger="autoscaler.server.trust"):
        source = TrustSource(Telemetry(), cluster=reader)  # the first load: not a change
        assert "client trust changed" not in caplog.text
        assert "again" not in caplog.text  # nor a recovery
        assert source.refresh() is False  # a failure keeps the CA read before
        assert source.refresh() is False  # read again, the same CA
        assert caplog.text.count("read kube-system/extension-apiserver-authentication again") == 1
        assert source.refresh() is False
        assert "client trust changed" not in caplog.text
        assert source.refresh() is True  # a rotated CA
    assert caplog.text.count("client trust changed (front proxy from ConfigMap") == 1
    assert caplog.text.count("again") == 1
