"""Assembly of one server process: policies, loop thread, security, uvicorn.

:class:`ServerProcess` takes validated settings plus the parts that vary (the metric
source, the clock, optionally a Kubernetes reviewer, a reader of the cluster's
authentication ConfigMap, an already loaded policy watcher) and wires them; ``run()``
blocks serving until interrupted, ``background()`` serves from a thread (tests,
benchmarks). Besides the control loop, a second thread re-reads the trust material
(serving certificate, CA files, ConfigMap) every ``--cert-reload-interval``.

Connections are bounded by :mod:`~autoscaler.server.connections` (a request-header
deadline, a connection limit and the listen backlog).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from autoscaler.server.app import ServerContext, asgi
from autoscaler.server.auth_lookup import ClusterAuthReader
from autoscaler.server.clock import Clock
from autoscaler.server.connections import LISTEN_BACKLOG, bounded_protocol
from autoscaler.server.cordon import Cordon
from autoscaler.server.event_writer import EventRecorder
from autoscaler.server.hpa_audit import HpaAudit
from autoscaler.server.hpa_findings import HpaStanding
from autoscaler.server.kube_reviews import Reviewer
from autoscaler.server.leader import LeaderElector
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.security_setup import build_security
from autoscaler.server.settings import ServerSetupError, ServeSettings
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.server.tls import default_http_protocol, ensure_self_signed
from autoscaler.server.tls_reload import ServingTls
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import MetricSource

log = logging.getLogger(__name__)


def stuck_after(cycle_seconds: float, max_age: float) -> float:
    """Seconds without progress after which the loop counts as stuck (``/livez`` fails).

    A cycle is bounded: a fetch ends within about three query timeouts (30 s at the
    default 10 s), the decisions take milliseconds, and the loop waits at most a cycle
    between two. So no healthy loop is quiet for 10 cycles (150 s at 15 s) nor for 5 min;
    the larger of those, and of 4 max ages, leaves room for the start-up replay and a
    Kubernetes API call that runs into its own timeout, and restarts a loop that hangs
    (a call without a timeout, a deadlock) a few minutes after its values went stale.
    """
    return max(10 * cycle_seconds, 4 * max_age, 300.0)


class _Config(uvicorn.Config):
    """uvicorn's Config, serving with our listening SSLContext (see tls_reload.py)."""

    def __init__(self, app: Any, ssl_context: ssl.SSLContext | None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._ssl_context = ssl_context

    def load(self) -> None:
        super().load()
        if self._ssl_context is not None:
            self.ssl = self._ssl_context


class ServerProcess:
    """The loop thread, the trust-refresh thread and the HTTP server of one ``serve``."""

    def __init__(
        self,
        settings: ServeSettings,
        source: MetricSource,
        clock: Clock,
        reviewer: Reviewer | None = None,
        *,
        telemetry: Telemetry | None = None,
        watcher: PolicyWatcher | None = None,
        cluster_auth: ClusterAuthReader | None = None,
        cordon: Cordon | None = None,
        leader: LeaderElector | None = None,
        events: EventRecorder | None = None,
        hpa_audit: HpaAudit | None = None,
    ) -> None:
        """``watcher``: already loaded (with ``telemetry``); else loaded here.
        ``cluster_auth``: reads the authentication ConfigMap (default: through the
        Kubernetes API, unless ``--authentication-skip-lookup``). ``cordon``: relabels
        draining leaders (None: drains show in the decisions only); ``events``: writes
        Events on the LWSes; ``hpa_audit``: checks the HPAs that target them (built
        on ``telemetry``); ``leader``: only the Lease holder among the replicas
        relabels and writes events (None: this process always does)."""
        self.settings = settings
        self.telemetry = telemetry or Telemetry()
        if watcher is None:
            watcher = PolicyWatcher(list(settings.policies), self.telemetry)
            watcher.load_initial()  # fails only for a --policies path that does not exist
        self.watcher = watcher
        self.store = DecisionStore(settings.decision_max_age)
        self.loop = ControlLoop(
            source,
            self.watcher,
            self.store,
            self.telemetry,
            clock,
            settings.cycle_seconds,
            cordon=cordon,
            leader=leader,
            events=events,
            hpa_audit=hpa_audit,
        )
        self._stop = threading.Event()
        self._loop_thread = threading.Thread(
            target=self._run_loop, name="control-loop", daemon=True
        )
        self._refresh_thread = threading.Thread(
            target=self._refresh_trust_periodically, name="trust-refresh", daemon=True
        )
        self._refresh_lock = threading.Lock()
        self._cycles_driven_by_caller = False
        security, self.trust = build_security(settings, reviewer, cluster_auth, self.telemetry)
        self.tls = self._serving_tls()
        self.context = ServerContext(
            store=self.store,
            telemetry=self.telemetry,
            clock=clock.now,
            security=security,
            loop_problem=self._loop_problem,
            hpas=self._hpas_of,
        )

    def _hpas_of(self, key: LwsKey) -> tuple[HpaStanding, ...] | None:
        """What the loop's last HPA audit found for ``key`` (its findings are replaced
        whole by each audit, never changed in place: safe to read from here)."""
        audit = self.loop.hpa_audit
        return None if audit is None else audit.found.get(key)

    def _serving_tls(self) -> ServingTls | None:
        s = self.settings
        if s.insecure:
            return None
        cert, key = s.tls_cert_file, s.tls_private_key_file
        if cert is None or key is None:
            try:
                cert, key = ensure_self_signed(s.cert_dir, s.tls_host_names)
            except OSError as exc:
                raise ServerSetupError(
                    f"--cert-dir {s.cert_dir}: cannot write the self-signed certificate "
                    f"there ({exc.strerror or exc}); give --tls-cert-file and "
                    "--tls-private-key-file, or a writable --cert-dir"
                ) from None
            log.info("serving with a self-signed certificate %s", cert)
        trust = self.trust
        try:
            return ServingTls(
                cert,
                key,
                trust.tls_bundle if trust else (lambda: b""),
                request_client_certificates=trust is not None and trust.may_have_cas,
                telemetry=self.telemetry,
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ServerSetupError(f"cannot load the serving certificate {cert}: {exc}") from exc

    def refresh_trust(self) -> None:
        """Re-read the CA files, the ConfigMap and the serving certificate now."""
        with self._refresh_lock:  # the refresher thread, or a caller (tests, signals)
            if self.trust is not None:
                self.trust.refresh()
            if self.tls is not None:
                self.tls.refresh()

    def _refresh_trust_periodically(self) -> None:
        while not self._stop.wait(self.settings.cert_reload_interval):
            try:
                self.refresh_trust()
            except Exception:  # never let a refresh bug end the refreshes
                log.exception("refreshing certificates and CAs failed; retrying")

    def _loop_problem(self) -> str | None:
        """Why the loop does not run, or None: its thread died, or it made no progress
        (no cycle finished, nor the start-up replay) for :func:`stuck_after` seconds."""
        if self._cycles_driven_by_caller:
            return None
        if not self._loop_thread.is_alive():
            return "control loop is not running"
        quiet = time.monotonic() - self.loop.progressed_at
        # In wall seconds: a recording replayed at 0.1x runs a 15 s cycle in 150 s.
        wall = self.loop.clock.wall_seconds
        limit = stuck_after(wall(self.settings.cycle_seconds), wall(self.store.max_age))
        if quiet > limit:
            return f"control loop stuck: no cycle finished for {quiet:.0f}s (limit {limit:.0f}s)"
        return None

    def _run_loop(self) -> None:
        try:
            self.loop.run(self._stop)
        except Exception:  # the loop contains its own failures; this is a last resort
            log.exception("control loop died; /livez now fails so the pod restarts")

    def uvicorn_config(self) -> uvicorn.Config:
        s = self.settings
        options: dict[str, Any] = {}
        if self.tls is not None:
            # Passed so that uvicorn reports https; the context it would build is replaced.
            options.update(ssl_certfile=str(self.tls.cert_file), ssl_keyfile=str(self.tls.key_file))
        return _Config(
            asgi(self.context),
            self.tls.listening if self.tls is not None else None,
            host=s.bind_address,
            port=s.port,
            http=bounded_protocol(
                default_http_protocol(), s.request_header_timeout, s.max_connections
            ),
            ws="none",  # no WebSocket routes; an upgrade request is served as plain HTTP
            backlog=LISTEN_BACKLOG,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            **options,
        )

    def start_loop(self) -> None:
        self._loop_thread.start()

    def _start_refresher(self) -> None:
        if (self.trust is not None or self.tls is not None) and not self._refresh_thread.ident:
            self._refresh_thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in (self._loop_thread, self._refresh_thread):
            if thread.is_alive():
                thread.join(timeout=10)
        self.loop.source.close()
        log.info("control loop stopped, metric source closed")

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM, then stop the loop and close the source.

        uvicorn handles both signals while it serves, then puts back the handlers it
        found and raises the signal again. With Python's default SIGTERM handler (the
        signal Kubernetes sends) that ended the process before ``finally`` could run, so
        the loop was never stopped nor the source closed: SIGTERM exits through
        ``SystemExit(143)`` here instead, as SIGINT does through KeyboardInterrupt.
        """
        self.start_loop()
        self._start_refresher()
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main else None
        try:
            uvicorn.Server(self.uvicorn_config()).run()
        finally:
            self.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

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
        self._start_refresher()
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


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
