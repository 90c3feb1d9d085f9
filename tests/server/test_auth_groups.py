"""Every authenticated caller is in ``system:authenticated``, as k8s.io/apiserver's
delegating authenticator makes it (``group.NewAuthenticatedGroupAdder`` around its union
of front proxy, client certificate and token): RBAC bound to that group then means the
same here as on kube-apiserver.

Over real TLS with real clients (kubectl, httpx); the SubjectAccessReviews go to the
wire-level fake of the API server (no kube-apiserver can run here), whose policy models
the bootstrap ``system:discovery`` binding: the group ``system:authenticated`` may
``get`` the discovery paths, nobody else.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.server.identity import UserInfo
from tests.server.conftest import Running, Start
from tests.support.certs import TestPki
from tests.support.fake_apiserver import FakeApiServer, access_reviewer, token_reviewer

DISCOVERY = "/apis/external.metrics.k8s.io/v1beta1"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def _system_discovery(spec: dict[str, Any]) -> bool:
    """ClusterRoleBinding system:discovery: group system:authenticated, get on /apis*."""
    path = spec.get("nonResourceAttributes", {}).get("path", "")
    return "system:authenticated" in (spec.get("groups") or []) and (
        path == "/apis" or path.startswith("/apis/")
    )


@pytest.fixture
def served(
    start_server: Start, tmp_path: Path, pki: TestPki, proxy_ca: TestPki, user_ca: TestPki
) -> Iterator[tuple[Running, FakeApiServer]]:
    with FakeApiServer(tls=pki.server()) as api:
        api.on_post(ACCESS_REVIEWS, access_reviewer(_system_discovery))
        # A TokenReview answer without the group: the server adds it, not the reviewer.
        api.on_post(TOKEN_REVIEWS, token_reviewer({"erin-token": ("erin", ["team"])}))
        kubeconfig = api.write_kubeconfig(tmp_path / "sa", token="sa", ca_file=pki.ca_file)
        serving = pki.server()
        with start_server(
            trust=pki.ca_file,
            tls_cert_file=serving.cert,
            tls_private_key_file=serving.key,
            kubeconfig=kubeconfig,
            requestheader_client_ca_file=proxy_ca.ca_file,
            requestheader_allowed_names=("front-proxy-client",),
            client_ca_file=user_ca.ca_file,
        ) as running:
            yield running, api


def _groups_asked(api: FakeApiServer) -> list[list[str]]:
    return [r.json()["spec"].get("groups") or [] for r in api.requests if r.path == ACCESS_REVIEWS]


def test_kubectl_with_a_client_certificate_reads_discovery(
    served: tuple[Running, FakeApiServer], pki: TestPki, user_ca: TestPki, tmp_path: Path
) -> None:
    """A certificate user reads discovery, as kube-apiserver's bootstrap RBAC lets every
    authenticated user; its groups used to be its O fields alone, so the review asked
    about someone outside system:authenticated and it got 403."""
    running, api = served
    config = api.write_kubeconfig(
        tmp_path / "dave",
        client_cert=user_ca.client("dave", organization="team"),
        ca_file=pki.ca_file,
        server=running.url,
    )
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(config), "get", "--raw", DISCOVERY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "APIResourceList"
    assert ["team", "system:authenticated"] in _groups_asked(api)


def test_tokens_and_front_proxy_users_are_in_the_group_once(
    served: tuple[Running, FakeApiServer], proxy_ca: TestPki
) -> None:
    running, api = served
    with running.client() as http:
        erin = http.get(DISCOVERY, headers={"Authorization": "Bearer erin-token"})
    # The aggregator forwards the group kube-apiserver already added: not added twice.
    proxied = {"X-Remote-User": "frank", "X-Remote-Group": "system:authenticated"}
    with running.client(proxy_ca.client("front-proxy-client")) as http:
        frank = http.get(DISCOVERY, headers=proxied)
    assert (erin.status_code, frank.status_code) == (200, 200)
    assert _groups_asked(api) == [["team", "system:authenticated"], ["system:authenticated"]]


@pytest.mark.parametrize(
    ("groups", "username", "expected"),
    [
        ((), "dave", ("system:authenticated",)),
        (("team",), "dave", ("team", "system:authenticated")),
        (("system:authenticated", "team"), "dave", ("system:authenticated", "team")),
        # The adder's exceptions: the anonymous user, and the unauthenticated group.
        (("system:unauthenticated",), "system:anonymous", ("system:unauthenticated",)),
        (("system:unauthenticated",), "x", ("system:unauthenticated",)),
        ((), "system:anonymous", ()),
    ],
)
def test_the_group_is_added_as_the_authenticated_group_adder_does(
    groups: tuple[str, ...], username: str, expected: tuple[str, ...]
) -> None:
    assert UserInfo.build(username, groups=groups).authenticated().groups == expected
