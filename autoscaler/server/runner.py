"""Assembly of one server process: policies, loop thread, security, uvicorn.

:class:`ServerProcess` takes validated settings plus the parts that vary (the metric
source, the clock, optionally a Kubernetes reviewer) and wires them; ``run()`` blocks
serving until interrupted, ``background()`` serves from a thread (tests, benchmarks).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from autoscaler.server.app import Security, ServerContext, asgi
from autoscaler.server.authn import Authenticator, RequestHeaderConfig
from autoscaler.server.authz import Authorizer
from autoscaler.server.clock import Clock
from autoscaler.server.kube_reviews import KubeReviewer, Reviewer, api_client
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.settings import ServerSetupError, ServeSettings
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.server.tls import default_http_protocol, ensure_self_signed
from autoscaler.sources.base import MetricSource

log = logging.getLogger(__name__)


def _security(settings: ServeSettings, reviewer: Reviewer | None) -> Security | None:
    if settings.disable_auth:
        log.warning(
            "AUTHENTICATION AND AUTHORISATION ARE DISABLED (--disable-auth): anyone who "
            "can reach %s:%d can read every recommendation. Use only for local testing.",
            settings.bind_address,
            settings.port,
        )
        return None
    if reviewer is None:
        reviewer = KubeReviewer(api_client(settings.kubeconfig))
    request_header = None
    if settings.requestheader_client_ca_file is not None:
        request_header = RequestHeaderConfig(
            client_ca_file=settings.requestheader_client_ca_file,
            allowed_names=settings.requestheader_allowed_names,
            username_headers=settings.requestheader_username_headers,
            group_headers=settings.requestheader_group_headers,
            extra_headers_prefixes=settings.requestheader_extra_headers_prefix,
        )
    try:
        authenticator = Authenticator(
            reviewer,
            time.monotonic,
            request_header=request_header,
            client_ca_file=settings.client_ca_file,
            success_ttl=settings.auth_cache_ttl,
            failure_ttl=settings.auth_cache_ttl,
        )
    except ValueError as exc:
        raise ServerSetupError(str(exc)) from exc
    authorizer = Authorizer(
        reviewer, time.monotonic, settings.auth_cache_ttl, settings.auth_cache_ttl
    )
    return Security(authenticator, authorizer)


def _client_ca_bundle(settings: ServeSettings) -> Path | None:
    """The CAs the TLS layer accepts client certificates from, as one file."""
    files = [f for f in (settings.requestheader_client_ca_file, settings.client_ca_file) if f]
    if settings.disable_auth or not files:
        return None
    if len(files) == 1:
        return files[0]
    settings.cert_dir.mkdir(parents=True, exist_ok=True)
    bundle = settings.cert_dir / "client-ca-bundle.crt"
    bundle.write_bytes(b"\n".join(f.read_bytes().strip() for f in files) + b"\n")
    return bundle


class ServerProcess:
    """The loop thread and the HTTP server of one ``serve``."""

    def __init__(
        self,
        settings: ServeSettings,
        source: MetricSource,
        clock: Clock,
        reviewer: Reviewer | None = None,
    ) -> None:
        self.settings = settings
        self.telemetry = Telemetry()
        self.watcher = PolicyWatcher(list(settings.policies), self.telemetry)
        self.watcher.load_initial()  # strict: PolicyError lists every problem
        self.store = DecisionStore(settings.decision_max_age)
        self.loop = ControlLoop(
            source, self.watcher, self.store, self.telemetry, clock, settings.cycle_seconds
        )
        self._stop = threading.Event()
        self._loop_thread = threading.Thread(
            target=self._run_loop, name="control-loop", daemon=True
        )
        self._cycles_driven_by_caller = False
        self.context = ServerContext(
            store=self.store,
            telemetry=self.telemetry,
            clock=clock.now,
            security=_security(settings, reviewer),
            loop_alive=self._loop_alive,
        )

    def _loop_alive(self) -> bool:
        return self._cycles_driven_by_caller or self._loop_thread.is_alive()

    def _run_loop(self) -> None:
        try:
            self.loop.run(self._stop)
        except Exception:  # the loop contains its own failures; this is a last resort
            log.exception("control loop died; /livez now fails so the pod restarts")

    def uvicorn_config(self) -> uvicorn.Config:
        s = self.settings
        options: dict[str, object] = {}
        if not s.insecure:
            cert, key = s.tls_cert_file, s.tls_private_key_file
            if cert is None or key is None:
                cert, key = ensure_self_signed(s.cert_dir, s.tls_host_names)
                log.info("serving with a self-signed certificate %s", cert)
            options.update(ssl_certfile=str(cert), ssl_keyfile=str(key))
            client_ca = _client_ca_bundle(s)
            if client_ca is not None:
                options.update(ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=str(client_ca))
        return uvicorn.Config(
            asgi(self.context),
            host=s.bind_address,
            port=s.port,
            http=default_http_protocol(),
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            **options,  # type: ignore[arg-type]
        )

    def start_loop(self) -> None:
        self._loop_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._loop_thread.is_alive():
            self._loop_thread.join(timeout=10)
        self.loop.source.close()

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM."""
        self.start_loop()
        try:
            uvicorn.Server(self.uvicorn_config()).run()
        finally:
            self.stop()

    @contextlib.contextmanager
    def background(self, start_loop: bool = True) -> Iterator[uvicorn.Server]:
        """Serve from a thread until the block exits; yields the started server. With
        ``start_loop=False`` the caller runs cycles itself (``self.loop.run_cycle``)."""
        server = uvicorn.Server(self.uvicorn_config())
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        if start_loop:
            self.start_loop()
        else:
            self._cycles_driven_by_caller = True
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise ServerSetupError("the HTTP server did not start")
                time.sleep(0.01)
            yield server
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            self.stop()


def bound_port(server: uvicorn.Server) -> int:
    """The port actually bound (useful with port 0)."""
    for s in server.servers:
        for sock in s.sockets:
            return int(sock.getsockname()[1])
    raise ServerSetupError("server has no listening socket")
