"""Checks ``lws-autoscaler serve`` runs before it starts anything (the control loop, a
generated certificate, the listener): each names the flag and value at fault.

Without them a missing ``--tls-private-key-file`` was reported as the *certificate*
that could not be loaded, and a port in use or an unresolvable ``--bind-address`` was
only noticed by uvicorn after the loop had started: its own log line, exit 3.
"""

from __future__ import annotations

import socket
from pathlib import Path

from autoscaler.server.settings import ServerSetupError, ServeSettings


def preflight(settings: ServeSettings) -> None:
    check_files(settings)
    port_flag = "--insecure-port" if settings.insecure else "--secure-port"
    check_listen_address(settings.bind_address, settings.port, port_flag)


def check_files(settings: ServeSettings) -> None:
    files = {
        "--tls-cert-file": settings.tls_cert_file,
        "--tls-private-key-file": settings.tls_private_key_file,
        "--client-ca-file": settings.client_ca_file,
        "--requestheader-client-ca-file": settings.requestheader_client_ca_file,
        "--kubeconfig": settings.kubeconfig,
        "--recording": settings.recording,
    }
    for flag, path in files.items():
        if path is not None:
            _must_be_file(flag, path)
    for path in settings.policies:
        # Per docs/api.md the one fatal policy case: a wrong flag or mount.
        if not path.exists():
            raise ServerSetupError(f"--policies {path}: no such file or folder")


def _must_be_file(flag: str, path: Path) -> None:
    if not path.exists():
        raise ServerSetupError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise ServerSetupError(f"{flag} {path}: is a folder, not a file")


def check_listen_address(address: str, port: int, port_flag: str) -> None:
    """Bind (and release) what uvicorn will bind, with the same SO_REUSEADDR, so that a
    taken port or an address that is not this host's fails here, as one line."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise ServerSetupError(
            f"--bind-address {address}: cannot resolve it ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise ServerSetupError(
                f"cannot listen on --bind-address {address} {port_flag} {port}: "
                f"{exc.strerror or exc}"
            ) from None
