"""Typed, validated settings of one ``lws-autoscaler serve`` process.

The CLI turns flags into :class:`ServeSettings`; everything downstream takes these
values, never ``argparse`` namespaces. Validation enforces the security rules: plain
HTTP only on a loopback address unless explicitly forced, certificate and key given
together, and an explicit ``--disable-auth`` to run without authentication.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autoscaler.errors import AutoscalerError

SourceKind = Literal["prometheus", "scrape", "recording"]


class ServerSetupError(AutoscalerError):
    """The server cannot start with the given settings (bad flag combination, files)."""


# RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: tuple[Path, ...] = ()
    source: SourceKind = "prometheus"
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    prometheus_timeout: float = Field(default=10.0, gt=0)
    """Seconds for the whole answer to one Prometheus query."""
    prometheus_lws_label: str = "leaderworkerset_sigs_k8s_io_name"
    """The series label holding the LWS name (a Prometheus label name, not a scrape label;
    checked with :class:`~autoscaler.sources.promql.LabelNames`)."""

    @field_validator("prometheus_lws_label")
    @classmethod
    def _leader_label(cls, value: str) -> str:
        from autoscaler.sources.promql import LabelNames

        LabelNames(lws=value)  # its ValueError names the problem
        return value

    scrape_timeout: float = Field(default=2.0, gt=0)
    """Scrape source: seconds for connecting and for each wait for data; a cycle's
    scrapes end after twice this."""
    scrape_concurrency: int = Field(default=16, ge=1)
    recording: Path | None = None
    replay_speed: float = Field(default=1.0, gt=0)
    cycle_seconds: float = Field(default=15.0, gt=0)
    max_decision_age: float | None = Field(default=None, gt=0)
    """Seconds after which a decision is stale; default three cycles, at least two."""

    bind_address: str = "0.0.0.0"

    @field_validator("bind_address")
    @classmethod
    def _address(cls, value: str) -> str:
        # "not an address" was read as a non-loopback host (a misleading plain-HTTP
        # error) or reached uvicorn, which logged "Name or service not known", exit 3.
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if len(value) > 253 or not _HOST_NAME.fullmatch(value):
                raise ValueError(f"{value!r} is not an IP address or host name") from None
        return value

    secure_port: int = Field(default=6443, ge=0, le=65535)
    insecure: bool = False
    insecure_port: int = Field(default=8080, ge=0, le=65535)
    force_insecure_non_loopback: bool = False
    request_header_timeout: float = Field(default=30.0, gt=0)
    """Seconds a connection may take to deliver a request's headers (from the TLS
    handshake, or from the end of the previous response); then it is closed."""
    max_connections: int = Field(default=1000, ge=1)
    """Open connections (or requests in flight) above which requests get 503."""

    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    cert_dir: Path = Path("apiserver.local.config/certificates")
    tls_host_names: tuple[str, ...] = ()

    disable_auth: bool = False
    kubeconfig: Path | None = None
    client_ca_file: Path | None = None
    requestheader_client_ca_file: Path | None = None
    requestheader_allowed_names: tuple[str, ...] = ()
    requestheader_username_headers: tuple[str, ...] = ("X-Remote-User",)
    requestheader_group_headers: tuple[str, ...] = ("X-Remote-Group",)
    requestheader_extra_headers_prefix: tuple[str, ...] = ("X-Remote-Extra-",)
    auth_cache_ttl: float = Field(default=10.0, ge=0)
    authentication_skip_lookup: bool = False
    """Never read kube-system/extension-apiserver-authentication for missing CAs."""
    cert_reload_interval: float = Field(default=60.0, gt=0)
    """Seconds between re-reads of the serving certificate, CA files and the ConfigMap."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    events: bool = True
    """Write Kubernetes Events on the LWSes (with a cluster to write to)."""
    hpa_audit_interval: float = Field(default=60.0, ge=0)
    """Seconds between audits of the HPAs that target the LWSes; 0: none."""

    leader_elect: bool = False
    leader_elect_lease: str = ""
    """``NAMESPACE/NAME`` of the Lease; required with ``leader_elect``."""
    leader_elect_identity: str = ""
    """This replica in the Lease; empty: the host name and a random suffix."""
    leader_elect_lease_duration: float | None = Field(default=None, gt=0)
    """Seconds a holder that stops renewing keeps the lease; default three cycles."""

    @model_validator(mode="after")
    def _consistent(self) -> ServeSettings:
        if (self.tls_cert_file is None) != (self.tls_private_key_file is None):
            raise ValueError("--tls-cert-file and --tls-private-key-file go together")
        age = self.max_decision_age
        if age is not None and age < 2 * self.cycle_seconds:
            # A decision is at most one cycle old when the next one replaces it, plus
            # the cycle's own run time: a max age under two cycles marks every decision
            # stale for part of every cycle, and the API and /readyz flap.
            raise ValueError(
                f"--max-decision-age ({age:g}s) must be at least twice --cycle "
                f"({self.cycle_seconds:g}s), i.e. {2 * self.cycle_seconds:g}s or more"
            )
        if self.leader_elect:
            self._check_lease()
        self._check_auth_flags()
        exposed = not is_loopback(self.bind_address)
        if self.insecure and exposed and not self.force_insecure_non_loopback:
            raise ValueError(
                f"plain HTTP on {self.bind_address} would expose the API unencrypted; "
                "bind to 127.0.0.1, or pass --force-insecure-non-loopback"
            )
        return self

    def _check_auth_flags(self) -> None:
        """CA files that would be silently ignored: the operator believes a check is on."""
        if self.disable_auth:
            given = [
                flag
                for flag, value in (
                    ("--client-ca-file", self.client_ca_file),
                    ("--requestheader-client-ca-file", self.requestheader_client_ca_file),
                )
                if value is not None
            ]
            if given:
                raise ValueError(f"{' and '.join(given)} cannot be used with --disable-auth")
        elif self.insecure and self.client_ca_file is not None:
            # Client certificates are presented in the TLS handshake: plain HTTP has none.
            raise ValueError("--client-ca-file needs HTTPS: it cannot be used with --insecure")

    def _check_lease(self) -> None:
        namespace, _, name = self.leader_elect_lease.partition("/")
        if not namespace or not name or "/" in name:
            raise ValueError(
                f"--leader-elect-lease {self.leader_elect_lease!r}: expected NAMESPACE/NAME"
            )
        duration = self.leader_elect_lease_duration
        if duration is not None and duration < 2 * self.cycle_seconds:
            # The holder renews once a cycle; a lease shorter than two cycles lapses
            # whenever one cycle runs late, and another replica takes it mid-drain.
            raise ValueError(
                f"--leader-elect-lease-duration ({duration:g}s) must be at least twice "
                f"--cycle ({self.cycle_seconds:g}s)"
            )

    @property
    def port(self) -> int:
        return self.insecure_port if self.insecure else self.secure_port

    @property
    def lease_seconds(self) -> float:
        return self.leader_elect_lease_duration or 3 * self.cycle_seconds

    @property
    def decision_max_age(self) -> float:
        return self.max_decision_age or 3 * self.cycle_seconds

    @property
    def scheme(self) -> str:
        return "http" if self.insecure else "https"
