"""Serving certificates: the generated self-signed one works for kubectl (Go's TLS stack)
and is reused while valid; plain HTTP stays on loopback."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from autoscaler.server.settings import ServeSettings
from autoscaler.server.tls import CERT_NAME, KEY_NAME, ensure_self_signed
from tests.server.conftest import Start
from tests.support.certs import TestPki
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


def test_the_generated_certificate_is_its_own_ca_for_serving_only(tmp_path: Path) -> None:
    # The APIService's caBundle (and kubectl's certificate-authority) is this very
    # certificate: a CA that signs only itself, usable only to serve TLS.
    cert, _ = ensure_self_signed(tmp_path / "not" / "made" / "yet")
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    # Backdated 5 minutes, so a client whose clock is a little behind accepts it.
    backdated = now - parsed.not_valid_before_utc
    assert datetime.timedelta(minutes=5) <= backdated < datetime.timedelta(minutes=5, seconds=30)
    subject = parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert subject == "lws-autoscaler@localhost"
    assert parsed.issuer == parsed.subject
    extensions = {ext.oid: ext for ext in parsed.extensions}
    basic = extensions[x509.BasicConstraints.oid]
    assert basic.critical
    assert basic.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = extensions[x509.KeyUsage.oid]
    assert usage.critical
    assert usage.value == x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    purposes = extensions[x509.ExtendedKeyUsage.oid]
    assert not purposes.critical
    assert list(purposes.value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not extensions[x509.SubjectAlternativeName.oid].critical


def write_pair(cert_dir: Path, days_left: float, with_names: bool) -> None:
    """A certificate (and key) already in ``cert_dir``, valid ``days_left`` more days; for
    localhost and 127.0.0.1, or ``with_names`` False: a CA's, which names no host."""
    pki = TestPki(cert_dir / "pki")
    now = datetime.datetime.now(datetime.UTC)
    issued = pki.server(
        not_before=now - datetime.timedelta(days=400),
        not_after=now + datetime.timedelta(days=days_left),
    )
    (cert_dir / CERT_NAME).write_bytes((issued.cert if with_names else pki.ca_file).read_bytes())
    (cert_dir / KEY_NAME).write_bytes(issued.key.read_bytes())


@pytest.mark.parametrize(
    ("days_left", "with_names", "damage", "reused"),
    [
        pytest.param(31, True, None, True, id="31-days-left-is-kept"),
        # Renewed 30 days before it ends, so a pod that runs a month never serves an
        # expired certificate.
        pytest.param(29, True, None, False, id="29-days-left-is-renewed"),
        pytest.param(-1, True, None, False, id="expired-is-renewed"),
        pytest.param(200, False, None, False, id="no-names-is-renewed"),
        pytest.param(200, True, "no-key", False, id="a-missing-key-means-a-new-pair"),
        pytest.param(200, True, "not-pem", False, id="an-unreadable-certificate-is-replaced"),
    ],
)
def test_an_existing_certificate_is_reused_only_while_valid_for_a_month_more(
    tmp_path: Path, days_left: float, with_names: bool, damage: str | None, reused: bool
) -> None:
    write_pair(tmp_path, days_left, with_names)
    if damage == "no-key":
        (tmp_path / KEY_NAME).unlink()
    elif damage == "not-pem":
        (tmp_path / CERT_NAME).write_text("not a certificate\n")
    before = (tmp_path / CERT_NAME).read_bytes()
    cert, key = ensure_self_signed(tmp_path)
    assert (cert.read_bytes() == before) is reused
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    left = parsed.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    if reused:
        assert left < datetime.timedelta(days=days_left)
    else:  # a new one, valid a year, and its key is the one written beside it
        assert datetime.timedelta(days=364.99) < left <= datetime.timedelta(days=365)
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        assert private.public_key() == parsed.public_key()


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
    for loopback in ("localhost", "127.0.0.2", "::1"):
        assert ServeSettings(insecure=True, bind_address=loopback).bind_address == loopback
    with pytest.raises(ValidationError, match=r"plain HTTP on node-1\.example"):
        ServeSettings(insecure=True, bind_address="node-1.example")
    with pytest.raises(ValidationError, match="go together"):
        ServeSettings(tls_cert_file=Path("a.crt"))
