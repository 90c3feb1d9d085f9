"""Serving certificates: the generated self-signed one works for kubectl (Go's TLS stack)
and is reused while valid; plain HTTP stays on loopback."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from pydantic import ValidationError

from autoscaler.server.settings import ServeSettings
from autoscaler.server.tls import ensure_self_signed
from tests.server.conftest import Start
from tests.support.fake_apiserver import FakeApiServer

REC = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"


def test_self_signed_certificate_is_generated_and_reused(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, ["lws-autoscaler.kube-system.svc"])
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "localhost",
        "lws-autoscaler.kube-system.svc",
    }
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert parsed.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(
        days=300
    )
    assert key.stat().st_mode & 0o777 == 0o600
    before = cert.read_bytes()
    assert ensure_self_signed(tmp_path, ["lws-autoscaler.kube-system.svc"]) == (cert, key)
    assert cert.read_bytes() == before  # reused
    ensure_self_signed(tmp_path, ["another.name"])
    assert cert.read_bytes() != before  # a new name needs a new certificate


def test_kubectl_trusts_the_generated_certificate(start_server: Start, tmp_path: Path) -> None:
    with start_server(disable_auth=True) as running:
        running.cycle()
        assert running.ca_file is not None
        config = FakeApiServer().write_kubeconfig(
            tmp_path / "kubeconfig", token="unused", ca_file=running.ca_file, server=running.url
        )
        done = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(config),
                "get",
                "--raw",
                f"{REC}?labelSelector=leaderworkerset%3Ddev-8b",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["items"][0]["metricLabels"] == {"leaderworkerset": "dev-8b", "policy": "dev-8b"}
    # 5 waiting at 10 per group need 1 group, but a cold server never scales 4 down.
    assert body["items"][0]["value"] == "4"


def test_plain_http_serves_on_loopback(start_server: Start) -> None:
    with start_server(disable_auth=True, insecure=True) as running:
        running.cycle()
        assert running.url.startswith("http://127.0.0.1:")
        with running.client() as http:
            assert http.get(REC).status_code == 200


def test_plain_http_refuses_other_addresses() -> None:
    with pytest.raises(ValidationError, match=r"plain HTTP on 0\.0\.0\.0"):
        ServeSettings(insecure=True, bind_address="0.0.0.0")
    ServeSettings(insecure=True, bind_address="0.0.0.0", force_insecure_non_loopback=True)
    with pytest.raises(ValidationError, match="go together"):
        ServeSettings(tls_cert_file=Path("a.crt"))
