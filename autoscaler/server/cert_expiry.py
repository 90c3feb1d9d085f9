"""When the serving certificate in force expires, and saying so before clients refuse it.

An expired serving certificate does not stop the server: OpenSSL serves it, and the
aggregator (which verifies the APIService's CA bundle) then fails every handshake, so
every HPA on our metrics holds its size. That is how cert-manager looks when its renewal
is broken (an issuer gone, a quota hit): nothing fails until the day the certificate
expires. So the leaf certificate's ``notAfter`` is exported as a gauge (the chart's
alerts read it) and judged against the wall clock at start and at every TLS refresh
(``--cert-reload-interval``), with a log line each time the judgement changes:

- valid for more than :data:`EXPIRY_WARNING_SECONDS`: nothing to say;
- valid for less: WARNING. cert-manager renews well ahead (by default at two thirds of
  a certificate's life; the chart's certificates 15 days before they expire), so a week
  left means renewals have failed for days;
- expired (or not valid yet): ERROR.

The judgement is a pure function of ``(not_before, not_after, now)``; only
:class:`ExpiryWatch` keeps the last one, to log changes once rather than every minute.
"""

from __future__ import annotations

import datetime
import enum
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

log = logging.getLogger(__name__)

EXPIRY_WARNING_SECONDS = 7 * 86400.0
"""Time left under which a warning is logged (and the chart's warning alert fires)."""


class Validity(enum.Enum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"


@dataclass(frozen=True)
class CertificateDates:
    """The leaf certificate's validity period, in Unix seconds."""

    not_before: float
    not_after: float


def read_dates(cert_file: Path) -> CertificateDates | None:
    """The first certificate of the PEM chain in ``cert_file`` (the leaf, as served), or
    None when it cannot be read: the TLS loader reports unreadable files itself."""
    try:
        leaf = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return None
    return CertificateDates(
        leaf.not_valid_before_utc.timestamp(), leaf.not_valid_after_utc.timestamp()
    )


def judge(dates: CertificateDates, now: float) -> Validity:
    """Worked example: a certificate ending at t=1,000,000 is EXPIRING after
    t=395,200 (1,000,000 - 604,800), still at t=1,000,000 (as in OpenSSL, the
    ``notAfter`` second itself is valid), and EXPIRED a moment past it."""
    if now < dates.not_before:
        return Validity.NOT_YET_VALID
    if now > dates.not_after:
        return Validity.EXPIRED
    if dates.not_after - now < EXPIRY_WARNING_SECONDS:
        return Validity.EXPIRING
    return Validity.VALID


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def describe(cert_file: Path, dates: CertificateDates, validity: Validity, now: float) -> str:
    """One log line for a judgement other than VALID."""
    if validity is Validity.NOT_YET_VALID:
        return (
            f"the serving certificate {cert_file} is not valid before "
            f"{_utc(dates.not_before)}: TLS clients that check dates (the aggregator, "
            "kubectl) refuse it until then; check the issuer's and this node's clocks"
        )
    if validity is Validity.EXPIRED:
        return (
            f"the serving certificate {cert_file} expired at {_utc(dates.not_after)}: the "
            "aggregator refuses it, so every HPA read of these metrics fails; renew it "
            "(cert-manager: kubectl describe certificate) and the server picks it up "
            "without a restart"
        )
    days = (dates.not_after - now) / 86400
    return (
        f"the serving certificate {cert_file} expires at {_utc(dates.not_after)}, in "
        f"{days:.1f} days; it was not renewed in time (cert-manager renews days to weeks "
        "ahead): check its Certificate and issuer"
    )


class ExpiryWatch:
    """The last judgement of the certificate in force, so that each change logs once."""

    def __init__(self, cert_file: Path) -> None:
        self.cert_file = cert_file
        self.dates: CertificateDates | None = None
        self._said: Validity | None = None

    def loaded(self, dates: CertificateDates | None, now: float) -> None:
        """A certificate came into force (start-up or a reload): judge it afresh."""
        self.dates, self._said = dates, None
        self.check(now)

    def check(self, now: float) -> Validity | None:
        """Judge the certificate in force at ``now``; log if the judgement changed."""
        if self.dates is None:
            return None
        validity = judge(self.dates, now)
        if validity is not self._said:
            self._said = validity
            if validity is Validity.EXPIRING:
                log.warning(describe(self.cert_file, self.dates, validity, now))
            elif validity is not Validity.VALID:
                log.error(describe(self.cert_file, self.dates, validity, now))
        return validity
