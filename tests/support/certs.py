"""Throw-away PKI for tests: a CA, server certificates and client certificates on disk.

Built on ``trustme`` so every test gets fresh keys; nothing here is used outside tests.
Client certificates carry the user in the CN and groups in O, as Kubernetes reads them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class CertFiles:
    """A PEM certificate chain and its private key."""

    cert: Path
    key: Path


class TestPki:
    """One certificate authority writing its files under ``directory``."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "test-ca") -> None:
        self.directory = directory
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name=name)
        self.ca_file = directory / f"{name}.crt"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._count = 0

    def _write(self, leaf: trustme.LeafCert, stem: str) -> CertFiles:
        self._count += 1
        cert = self.directory / f"{self.name}-{stem}-{self._count}.crt"
        key = self.directory / f"{self.name}-{stem}-{self._count}.key"
        leaf.private_key_pem.write_to_path(str(key))
        # Leaf first, then the chain, as TLS stacks expect.
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        return CertFiles(cert=cert, key=key)

    def server(
        self,
        *hosts: str,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> CertFiles:
        """A serving certificate for ``hosts`` (default 127.0.0.1 and localhost), valid
        from ``not_before`` to ``not_after`` (trustme's defaults: now to 2031)."""
        leaf = self.ca.issue_cert(
            *(hosts or ("127.0.0.1", "localhost")), not_before=not_before, not_after=not_after
        )
        return self._write(leaf, "server")

    def client(self, common_name: str, organization: str | None = None) -> CertFiles:
        """A client certificate whose CN is ``common_name``."""
        leaf = self.ca.issue_cert(
            f"{common_name.replace(':', '-')}.client.invalid",
            common_name=common_name,
            organization_name=organization,
        )
        return self._write(leaf, "client")
