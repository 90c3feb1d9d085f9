"""From ``serve`` flags to the authenticator, the authoriser and the trust they rest on.

The reviewer and the ConfigMap reader are in-process stand-ins here: what is under test
is which of them ``build_security`` consults, never the Kubernetes API (the wire-level
fake covers those calls in test_auth and test_trust).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from autoscaler.server.auth_lookup import ClusterAuthentication
from autoscaler.server.identity import Attributes, UserInfo
from autoscaler.server.security_setup import build_security
from autoscaler.server.settings import ServerSetupError, ServeSettings
from autoscaler.server.telemetry import Telemetry
from tests.support.certs import TestPki


class _Reviewer:
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def review_token(self, token: str) -> UserInfo | None:
        self.tokens.append(token)
        return UserInfo.build("alice") if token == "abc" else None

    def review_access(self, user: UserInfo, attributes: Attributes) -> tuple[bool, str]:
        raise AssertionError("not reached in these tests")


class _ConfigMap:
    """The extension-apiserver-authentication ConfigMap, counting its reads."""

    def __init__(self, found: ClusterAuthentication) -> None:
        self.found = found
        self.reads = 0

    def read(self) -> ClusterAuthentication:
        self.reads += 1
        return self.found


@pytest.fixture
def proxy(tmp_path: Path) -> TestPki:
    return TestPki(tmp_path / "front-proxy", name="front-proxy-ca")


def test_disabled_auth_builds_nothing_consults_nothing_and_says_so_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = _ConfigMap(ClusterAuthentication())
    with caplog.at_level(logging.WARNING):
        security, trust = build_security(
            ServeSettings(disable_auth=True), _Reviewer(), cluster, Telemetry()
        )
    assert (security, trust) == (None, None)
    assert cluster.reads == 0
    assert "AUTHENTICATION AND AUTHORISATION ARE DISABLED" in caplog.text


def test_the_front_proxy_ca_comes_from_the_configmap_when_no_file_names_it(
    proxy: TestPki,
) -> None:
    found = ClusterAuthentication(
        requestheader_ca=proxy.ca_file.read_bytes(), allowed_names=("front-proxy-client",)
    )
    cluster = _ConfigMap(found)
    security, trust = build_security(ServeSettings(), _Reviewer(), cluster, Telemetry())
    assert security is not None
    assert trust is not None
    assert cluster.reads == 1
    request_header = trust.current.request_header
    assert request_header is not None
    assert request_header.names.allowed_names == ("front-proxy-client",)
    assert "extension-apiserver-authentication" in request_header.origin


def test_skipping_the_lookup_never_reads_the_configmap(proxy: TestPki) -> None:
    cluster = _ConfigMap(ClusterAuthentication(requestheader_ca=proxy.ca_file.read_bytes()))
    settings = ServeSettings(authentication_skip_lookup=True)
    _, trust = build_security(settings, _Reviewer(), cluster, Telemetry())
    assert trust is not None
    assert cluster.reads == 0
    assert trust.current.request_header is None
    assert not trust.may_have_cas


def test_both_ca_files_leave_nothing_for_the_configmap(proxy: TestPki, tmp_path: Path) -> None:
    users = TestPki(tmp_path / "users", name="client-ca")
    cluster = _ConfigMap(ClusterAuthentication())
    settings = ServeSettings(
        requestheader_client_ca_file=proxy.ca_file, client_ca_file=users.ca_file
    )
    _, trust = build_security(settings, _Reviewer(), cluster, Telemetry())
    assert trust is not None
    assert cluster.reads == 0
    assert trust.current.request_header is not None
    assert str(proxy.ca_file) in trust.current.request_header.origin
    assert len(trust.current.client_authorities) == 1


def test_one_ca_file_still_takes_the_front_proxy_ca_from_the_configmap(
    proxy: TestPki, tmp_path: Path
) -> None:
    users = TestPki(tmp_path / "users", name="client-ca")
    cluster = _ConfigMap(ClusterAuthentication(requestheader_ca=proxy.ca_file.read_bytes()))
    _, trust = build_security(
        ServeSettings(client_ca_file=users.ca_file), _Reviewer(), cluster, Telemetry()
    )
    assert trust is not None
    assert cluster.reads == 1
    request_header = trust.current.request_header
    assert request_header is not None
    assert "extension-apiserver-authentication" in request_header.origin


def test_header_names_without_the_requestheader_ca_file_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = ServeSettings(
        requestheader_allowed_names=("aggregator",), authentication_skip_lookup=True
    )
    with caplog.at_level(logging.WARNING):
        build_security(settings, _Reviewer(), _ConfigMap(ClusterAuthentication()), Telemetry())
    assert "apply only with --requestheader-client-ca-file" in caplog.text


@pytest.mark.parametrize("with_names", [True, False])
def test_header_names_with_the_requestheader_ca_file_or_none_at_all_are_not_warned_about(
    proxy: TestPki, caplog: pytest.LogCaptureFixture, with_names: bool
) -> None:
    if with_names:
        settings = ServeSettings(
            requestheader_client_ca_file=proxy.ca_file,
            requestheader_allowed_names=("aggregator",),
            authentication_skip_lookup=True,
        )
    else:
        settings = ServeSettings(authentication_skip_lookup=True)
    with caplog.at_level(logging.WARNING):
        build_security(settings, _Reviewer(), _ConfigMap(ClusterAuthentication()), Telemetry())
    assert "apply only with" not in caplog.text


def test_an_unreadable_ca_file_is_a_setup_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "ca.crt"
    bad.write_text("not a certificate\n")
    settings = ServeSettings(client_ca_file=bad, authentication_skip_lookup=True)
    with pytest.raises(ServerSetupError, match=r"ca\.crt"):
        build_security(settings, _Reviewer(), None, Telemetry())


@pytest.mark.parametrize(("ttl", "reviews"), [(10.0, 1), (0.0, 2)])
def test_the_authenticator_asks_the_reviewer_given_and_caches_for_the_ttl(
    ttl: float, reviews: int
) -> None:
    reviewer = _Reviewer()
    settings = ServeSettings(authentication_skip_lookup=True, auth_cache_ttl=ttl)
    security, _ = build_security(settings, reviewer, None, Telemetry())
    assert security is not None
    scope = {"type": "http", "headers": [(b"authorization", b"Bearer abc")]}
    for _ in range(2):
        user = asyncio.run(security.authenticator.authenticate(scope))
        assert user.username == "alice"
    assert reviewer.tokens == ["abc"] * reviews
