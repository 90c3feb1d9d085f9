"""The serving certificate's expiry: exported on ``/metrics`` and logged when it becomes
near, past or not yet begun, once per change (not every refresh).

The server tests run real uvicorn over TLS on 127.0.0.1 with certificates from a real
CA (trustme); ``/metrics`` is read with httpx over HTTPS. The clock-driven cases build
:class:`ServingTls` on a test wall clock, as the server does with ``time.time``."""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoscaler.server.cert_expiry import (
    CertificateDates,
    Validity,
    describe,
    judge,
)
from autoscaler.server.telemetry import Telemetry
from autoscaler.server.tls_reload import ServingTls
from tests.server.conftest import Start
from tests.support.certs import CertFiles, TestPki

EXPIRY = "lws_autoscaler_serving_certificate_expiry_timestamp_seconds"
DAY = 86400.0
END = 1_000_000.0


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (0.0, Validity.NOT_YET_VALID),  # before notBefore (10)
        (10.0, Validity.VALID),
        # The warning starts under 7 days left (docs/security.md): 604,800 s.
        (END - 7 * DAY - 1, Validity.VALID),
        (END - 7 * DAY, Validity.VALID),  # exactly 7 days left: not under
        (END - 7 * DAY + 1, Validity.EXPIRING),
        (END, Validity.EXPIRING),  # the notAfter second is still valid, as in OpenSSL
        (END + 0.5, Validity.EXPIRED),
        (END + 30 * DAY, Validity.EXPIRED),
    ],
)
def test_judge(now: float, expected: Validity) -> None:
    assert judge(CertificateDates(not_before=10.0, not_after=END), now) is expected


def test_an_expiring_certificate_is_told_in_days_left() -> None:
    """2.5 days (216,000 s) before its end, the line says so with one decimal."""
    dates = CertificateDates(not_before=10.0, not_after=END)
    line = describe(Path("tls.crt"), dates, Validity.EXPIRING, END - 2.5 * DAY)
    assert line.startswith(
        "the serving certificate tls.crt expires at 1970-01-12 13:46:40Z, in 2.5 days;"
    )


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).replace(microsecond=0)


def _server_cert(pki: TestPki, not_before: float, not_after: float) -> CertFiles:
    return pki.server(not_before=_utc(not_before), not_after=_utc(not_after))


def _metric(url: str, ca: Path) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(verify=context, timeout=30) as http:
        answer = http.get(url + "/metrics")
    assert answer.status_code == 200
    return answer.text


def test_an_expiring_certificate_is_served_exported_and_warned_once(
    start_server: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = TestPki(tmp_path / "pki")
    now = time.time()
    not_after = float(int(now + 3 * DAY))
    files = _server_cert(pki, now - DAY, not_after)
    with (
        caplog.at_level(logging.WARNING, logger="autoscaler.server.cert_expiry"),
        start_server(
            disable_auth=True, tls_cert_file=files.cert, tls_private_key_file=files.key
        ) as running,
    ):
        running.process.refresh_trust()  # the periodic refresh: judged again, same news
        running.process.refresh_trust()
        exposition = _metric(running.url, pki.ca_file)
    # Served over real TLS, and the gauge holds the leaf's notAfter (not the CA's).
    samples = [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == EXPIRY
    ]
    assert samples == [({"file": str(files.cert)}, not_after)]
    warnings = [r for r in caplog.records if "serving certificate" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert warnings[0].levelno == logging.WARNING
    assert "in 3.0 days" in warnings[0].getMessage()
    assert str(files.cert) in warnings[0].getMessage()


def test_a_healthy_certificate_says_nothing(
    start_server: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = TestPki(tmp_path / "pki")
    files = _server_cert(pki, time.time() - DAY, time.time() + 90 * DAY)
    with (
        caplog.at_level(logging.WARNING, logger="autoscaler.server.cert_expiry"),
        start_server(
            disable_auth=True, tls_cert_file=files.cert, tls_private_key_file=files.key
        ) as running,
    ):
        running.process.refresh_trust()
        assert EXPIRY in _metric(running.url, pki.ca_file)
    assert [r for r in caplog.records if r.name == "autoscaler.server.cert_expiry"] == []


def test_plain_http_exports_no_expiry(start_server: Start) -> None:
    with start_server(disable_auth=True, insecure=True) as running:
        answer = httpx.get(running.url + "/metrics", timeout=30)
    assert answer.status_code == 200
    # No series at all (not a 0, which an alert on "expires soon" would read as 1970).
    assert f"{EXPIRY}{{" not in answer.text


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _tls(files: CertFiles, wall: Wall, telemetry: Telemetry) -> ServingTls:
    return ServingTls(
        files.cert,
        files.key,
        lambda: b"",
        request_client_certificates=False,
        telemetry=telemetry,
        wall=wall,
    )


def _swap_in(files: CertFiles, into: CertFiles) -> None:
    """Put ``files``' certificate and key in place of ``into``'s: the paths a Secret
    volume keeps while their contents change. Each is a new file renamed over the old
    (a new inode, as the volume's swap gives): a rewrite in place may keep the size and,
    on kernels with coarse file times, the mtime too, and the change would go unseen."""
    for source, target in ((files.cert, into.cert), (files.key, into.key)):
        staged = target.with_name(target.name + ".new")
        staged.write_bytes(source.read_bytes())
        os.replace(staged, target)


def test_each_change_of_judgement_is_logged_once_and_a_renewal_resets_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = TestPki(tmp_path / "pki")
    start = float(int(time.time()))
    first = _server_cert(pki, start, start + 30 * DAY)
    served = CertFiles(cert=tmp_path / "tls.crt", key=tmp_path / "tls.key")
    _swap_in(first, served)
    cert = served.cert
    wall, telemetry = Wall(start - 60), Telemetry()
    expiry = telemetry.registry

    def messages() -> list[tuple[int, str]]:
        return [(r.levelno, r.getMessage()) for r in caplog.records]

    with caplog.at_level(logging.WARNING, logger="autoscaler.server.cert_expiry"):
        tls = _tls(served, wall, telemetry)
        assert expiry.get_sample_value(EXPIRY, {"file": str(cert)}) == start + 30 * DAY
        # A minute before notBefore (an issuer's clock ahead of ours).
        ((level, text),) = messages()
        assert level == logging.ERROR
        assert "is not valid before" in text

        caplog.clear()
        for now in (start + DAY, start + 2 * DAY, start + 22 * DAY):
            wall.now = now
            assert tls.refresh() is False  # files unchanged: judged, not rebuilt
        assert messages() == []  # valid again: nothing to say, and said nothing

        for now in (start + 24 * DAY, start + 25 * DAY, start + 29 * DAY):
            wall.now = now
            tls.refresh()
        ((level, text),) = messages()
        assert level == logging.WARNING
        assert "in 6.0 days" in text

        caplog.clear()
        for now in (start + 30 * DAY + 1, start + 31 * DAY):
            wall.now = now
            tls.refresh()
        ((level, text),) = messages()
        assert level == logging.ERROR
        assert "expired at" in text
        assert tls.expiry.check(wall.now) is Validity.EXPIRED

        # cert-manager renews: the new certificate is in force, exported and judged.
        caplog.clear()
        _swap_in(_server_cert(pki, start + 30 * DAY, start + 120 * DAY), served)
        assert tls.refresh() is True
        assert messages() == []
        assert tls.expiry.check(wall.now) is Validity.VALID
        assert expiry.get_sample_value(EXPIRY, {"file": str(cert)}) == start + 120 * DAY


def test_a_failed_reload_keeps_judging_the_certificate_in_force(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = TestPki(tmp_path / "pki")
    start = float(int(time.time()))
    served = CertFiles(cert=tmp_path / "tls.crt", key=tmp_path / "tls.key")
    _swap_in(_server_cert(pki, start, start + 10 * DAY), served)
    cert = served.cert
    wall, telemetry = Wall(start), Telemetry()
    tls = _tls(served, wall, telemetry)
    # A renewed certificate whose key has not arrived yet: refused, the old one serves.
    cert.write_bytes(_server_cert(pki, start, start + 90 * DAY).cert.read_bytes())
    with caplog.at_level(logging.WARNING):
        assert tls.refresh() is False
        wall.now = start + 5 * DAY
        tls.refresh()
    assert telemetry.registry.get_sample_value(EXPIRY, {"file": str(cert)}) == start + 10 * DAY
    assert "cannot load the new TLS material" in caplog.text
    assert "in 5.0 days" in caplog.text  # the old certificate's end, still in force
