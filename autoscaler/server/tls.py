"""TLS: the serving certificate, and the client certificate made visible to the app.

- :func:`ensure_self_signed` writes (or reuses) a self-signed certificate for
  ``localhost``/``127.0.0.1`` and the given host names into ``--cert-dir`` when no
  ``--tls-cert-file`` is given, as the Kubernetes reference adapters do (the APIService
  then needs ``insecureSkipTLSVerify`` or the generated certificate as ``caBundle``).
- uvicorn does not put the peer certificate into the ASGI scope. :func:`peer_cert_protocol`
  subclasses uvicorn's HTTP/1.1 protocol so that, once the handshake is done, every
  request of the connection carries the ASGI TLS extension
  (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM strings). It relies on one
  uvicorn detail, the protocol's ``app`` attribute, and fails loudly if that changes;
  tests exercise it over real TLS.

Client certificates are *requested* (``CERT_OPTIONAL``) and verified by OpenSSL against
the request-header CA (and ``--client-ca-file``): a certificate from any other CA fails
the handshake; no certificate at all is fine (bearer tokens, kubelet probes).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)
_RENEW_BEFORE = datetime.timedelta(days=30)
CERT_NAME, KEY_NAME = "apiserver.crt", "apiserver.key"


def _covers(cert: x509.Certificate, hosts: Sequence[str], now: datetime.datetime) -> bool:
    if cert.not_valid_after_utc - _RENEW_BEFORE < now:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    names = set(san.get_values_for_type(x509.DNSName))
    names |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(hosts) <= names


def ensure_self_signed(cert_dir: Path, hosts: Sequence[str] = ()) -> tuple[Path, Path]:
    """(certificate, key) in ``cert_dir``; generated unless a valid pair for ``hosts`` exists."""
    wanted = list(dict.fromkeys(["localhost", "127.0.0.1", *hosts]))
    cert_path, key_path = cert_dir / CERT_NAME, cert_dir / KEY_NAME
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.is_file() and key_path.is_file():
        try:
            existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError:
            existing = None
        if existing is not None and _covers(existing, wanted, now):
            return cert_path, key_path
    cert_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"lws-autoscaler@{wanted[0]}")])
    alt_names: list[x509.GeneralName] = []
    for host in wanted:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        # Self-signed and usable as its own caBundle, as client-go and OpenSSL expect.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {"client_cert_chain": chain, "tls_version": None, "cipher_suite": None}


def peer_cert_protocol(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``base`` (a uvicorn HTTP protocol) that adds the ASGI TLS extension to each scope."""

    class PeerCertProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            tls = _tls_extension(transport)
            if tls is None:
                return
            if not hasattr(self, "app"):
                transport.close()
                raise RuntimeError("unsupported uvicorn version: HTTP protocol has no 'app'")
            inner: Any = self.app  # type: ignore[has-type]

            async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
                extensions = scope.get("extensions") or {}
                scope["extensions"] = {**extensions, "tls": tls}
                await inner(scope, receive, send)

            self.app = app

    PeerCertProtocol.__name__ = f"PeerCert{base.__name__}"
    return PeerCertProtocol


def default_http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol when installed (faster), else h11; with peer certs."""
    import importlib.util

    base: type[asyncio.Protocol]
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    return peer_cert_protocol(base)


def peer_certificate_pem(scope: dict[str, Any]) -> bytes | None:
    """The verified client certificate of the request's connection (PEM), if any."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls:
        return None
    chain = tls.get("client_cert_chain") or []
    return chain[0].encode() if chain else None
