"""The serving certificate is reloaded when its files change (cert-manager renewing the
Secret in place), without a restart; a broken pair never replaces a working one.

The certificate files are laid out as a Secret volume is (``tls.crt -> ..data/tls.crt``,
``..data`` a symlink swapped atomically); the server is real uvicorn over TLS on
127.0.0.1, checked with real TLS clients that trust only one CA each."""

from __future__ import annotations

import logging
import os
import ssl
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import Start
from tests.support.certs import CertFiles, TestPki

TLS_RELOADS = "lws_autoscaler_tls_reloads_total"


class SecretVolume:
    """A folder laid out like a mounted kubernetes.io/tls Secret."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0
        root.mkdir()

    def publish(self, cert: bytes, key: bytes) -> None:
        self.version += 1
        stamp = self.root / f"..2026_01_01_00_00_{self.version:02d}"
        stamp.mkdir()
        (stamp / "tls.crt").write_bytes(cert)
        (stamp / "tls.key").write_bytes(key)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(stamp.name)
        os.replace(tmp, self.root / "..data")  # the atomic swap kubelet does
        for name in ("tls.crt", "tls.key"):
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")

    def publish_files(self, files: CertFiles) -> None:
        self.publish(files.cert.read_bytes(), files.key.read_bytes())

    @property
    def cert(self) -> Path:
        return self.root / "tls.crt"

    @property
    def key(self) -> Path:
        return self.root / "tls.key"


def _handshake_ok(url: str, ca_file: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with httpx.Client(verify=context, timeout=30) as http:
            return http.get(url + "/healthz").status_code == 200
    except httpx.ConnectError:
        return False


def test_a_renewed_certificate_is_served_without_a_restart(
    start_server: Start, tmp_path: Path
) -> None:
    old_ca = TestPki(tmp_path / "old", name="issuer-1")
    new_ca = TestPki(tmp_path / "new", name="issuer-2")
    volume = SecretVolume(tmp_path / "serving-cert")
    volume.publish_files(old_ca.server())
    with start_server(
        disable_auth=True,
        tls_cert_file=volume.cert,
        tls_private_key_file=volume.key,
        cert_reload_interval=0.1,
    ) as running:
        assert _handshake_ok(running.url, old_ca.ca_file)
        assert not _handshake_ok(running.url, new_ca.ca_file)
        kept_open = httpx.Client(
            base_url=running.url,
            verify=ssl.create_default_context(cafile=str(old_ca.ca_file)),
            timeout=30,
        )
        assert kept_open.get("/healthz").status_code == 200

        volume.publish_files(new_ca.server())  # cert-manager renews the Secret
        deadline = time.monotonic() + 60
        while not _handshake_ok(running.url, new_ca.ca_file):
            assert time.monotonic() < deadline, "the new certificate was never served"
            # Kept busy: an idle connection is closed after uvicorn's 5 s keep-alive.
            assert kept_open.get("/healthz").status_code == 200
            time.sleep(0.05)
        assert not _handshake_ok(running.url, old_ca.ca_file)
        # A connection opened before the renewal keeps working until it closes.
        assert kept_open.get("/healthz").status_code == 200
        kept_open.close()
        registry = running.process.telemetry.registry
        # Once, or twice when a refresh stat'ed the files mid-swap (the old
        # certificate's stamp with the new key's): the next one loads the pair again.
        assert registry.get_sample_value(TLS_RELOADS, {"result": "ok"}) in (1.0, 2.0)


def test_a_broken_pair_keeps_the_working_certificate(
    start_server: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = TestPki(tmp_path / "pki")
    volume = SecretVolume(tmp_path / "serving-cert")
    first = pki.server()
    volume.publish_files(first)
    with start_server(
        disable_auth=True,
        trust=pki.ca_file,
        tls_cert_file=volume.cert,
        tls_private_key_file=volume.key,
    ) as running:
        other = TestPki(tmp_path / "other", name="other-ca").server()
        # A certificate with somebody else's key: OpenSSL refuses the pair.
        volume.publish(other.cert.read_bytes(), first.key.read_bytes())
        with caplog.at_level(logging.ERROR):
            assert running.process.tls is not None
            assert running.process.tls.refresh() is False
            assert running.process.tls.refresh() is False  # the same files: not retried
        assert caplog.text.count("cannot load the new TLS material") == 1
        assert "still serving the previous one" in caplog.text
        assert _handshake_ok(running.url, pki.ca_file)
        registry = running.process.telemetry.registry
        assert registry.get_sample_value(TLS_RELOADS, {"result": "error"}) == 1

        volume.publish_files(other)  # the matching key arrives
        assert running.process.tls.refresh() is True
        assert _handshake_ok(running.url, tmp_path / "other" / "other-ca.crt")
