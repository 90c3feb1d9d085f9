"""The flags of ``lws-autoscaler serve``, in the groups ``--help`` shows.

Only the parsing of each flag lives here (types, defaults, help); what they mean
together, and which combinations are refused, is ``serve.settings_from``'s job.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autoscaler.cli.arg_types import http_url, positive_float, positive_int
from autoscaler.durations import parse_duration

# Longer than any sensible period, timeout or TTL, and far below what a thread's wait
# accepts: "99999999999999d" was taken and the control loop died at its first wait
# (OverflowError, a traceback, /livez failing) while the server kept listening.
MAX_DURATION = 7 * 86400.0


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if seconds > MAX_DURATION:
        raise argparse.ArgumentTypeError(f"must be at most 7d, got {text!r}")
    return seconds


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("policies and metrics")
    g.add_argument(
        "--policies",
        action="append",
        type=Path,
        metavar="PATH",
        help="policy file or folder (repeatable; a ConfigMap mount is watched)",
    )
    g.add_argument("--source", choices=("prometheus", "scrape", "recording"))
    # Checked now: "127.0.0.1:9090" or "ftp://..." was accepted and every cycle failed.
    g.add_argument(
        "--prometheus-url", type=http_url, default="http://prometheus-operated.monitoring.svc:9090"
    )
    g.add_argument(
        "--prometheus-timeout",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="whole answer to one Prometheus query (default 10s)",
    )
    g.add_argument(
        "--prometheus-lws-label",
        default="leaderworkerset_sigs_k8s_io_name",
        metavar="LABEL",
        help="series label holding the LWS name, as your scrape config writes it "
        "(default leaderworkerset_sigs_k8s_io_name, the PodMonitor's)",
    )
    g.add_argument(
        "--scrape-timeout",
        type=_duration,
        default=2.0,
        metavar="DURATION",
        help="scrape source: connecting to a leader and each wait for data; a cycle's "
        "scrapes end after twice this (default 2s)",
    )
    g.add_argument(
        "--scrape-concurrency",
        type=positive_int,
        default=16,
        metavar="N",
        help="scrape source: leaders scraped at once (default 16)",
    )
    g.add_argument("--recording", type=Path, help="recording file (default: built-in demo)")
    g.add_argument(
        "--replay-speed", type=positive_float, help="recording replay speed (default 1; demo: 10)"
    )
    g.add_argument(
        "--cycle",
        type=_duration,
        default=15.0,
        metavar="DURATION",
        help="control-loop period (default 15s; at most 7d, as every duration here)",
    )
    g.add_argument(
        "--max-decision-age",
        type=_duration,
        metavar="DURATION",
        help="older decisions are stale: 503 (default: 3 cycles; at least 2 cycles)",
    )
    s = p.add_argument_group("serving")
    s.add_argument("--bind-address", help="default 0.0.0.0 (HTTPS), 127.0.0.1 (plain HTTP)")
    s.add_argument("--secure-port", type=int, default=6443)
    s.add_argument("--insecure", action="store_true", help="plain HTTP (loopback only)")
    s.add_argument("--insecure-port", type=int, default=8080)
    s.add_argument(
        "--force-insecure-non-loopback",
        action="store_true",
        help="allow plain HTTP on a non-loopback address (never in production)",
    )
    s.add_argument("--tls-cert-file", type=Path)
    s.add_argument("--tls-private-key-file", type=Path)
    s.add_argument(
        "--cert-dir",
        type=Path,
        default=Path("apiserver.local.config/certificates"),
        help="where a self-signed certificate is written when none is given",
    )
    s.add_argument(
        "--tls-host",
        action="append",
        default=[],
        metavar="NAME",
        help="extra host name for the self-signed certificate (repeatable)",
    )
    s.add_argument(
        "--request-header-timeout",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="close a connection that has not sent a request's headers this long after "
        "its TLS handshake or previous response (default 30s)",
    )
    s.add_argument(
        "--max-connections",
        type=positive_int,
        default=1000,
        metavar="N",
        help="open connections (or requests in flight) above which requests get 503 (default 1000)",
    )
    a = p.add_argument_group("authentication and authorisation")
    a.add_argument(
        "--kubeconfig",
        type=Path,
        help="for TokenReview/SubjectAccessReview (default: in-cluster service account)",
    )
    a.add_argument(
        "--disable-auth",
        action="store_true",
        help="serve without authentication or authorisation (local use only)",
    )
    a.add_argument(
        "--client-ca-file",
        type=Path,
        help="CA of client certificates (user = CN, groups = O); default: the cluster's",
    )
    a.add_argument(
        "--requestheader-client-ca-file",
        type=Path,
        help="CA of the aggregator's front-proxy certificate, with the --requestheader-* "
        "flags below; default: all read from ConfigMap "
        "kube-system/extension-apiserver-authentication and kept current",
    )
    a.add_argument("--requestheader-allowed-names", type=_names, default=())
    a.add_argument("--requestheader-username-headers", type=_names, default=("X-Remote-User",))
    a.add_argument("--requestheader-group-headers", type=_names, default=("X-Remote-Group",))
    a.add_argument(
        "--requestheader-extra-headers-prefix", type=_names, default=("X-Remote-Extra-",)
    )
    a.add_argument("--auth-cache-ttl", type=_duration, default=10.0, metavar="DURATION")
    a.add_argument(
        "--authentication-skip-lookup",
        action="store_true",
        help="do not read ConfigMap kube-system/extension-apiserver-authentication for the "
        "CAs the flags leave out",
    )
    a.add_argument(
        "--cert-reload-interval",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="how often the serving certificate, CA files and that ConfigMap are re-read "
        "(default 1m)",
    )
    e = p.add_argument_group("leader election (several replicas)")
    e.add_argument(
        "--leader-elect",
        action="store_true",
        help="relabel draining leaders only while holding --leader-elect-lease; every "
        "replica still decides and serves",
    )
    e.add_argument(
        "--leader-elect-lease",
        default="",
        metavar="NAMESPACE/NAME",
        help="the coordination.k8s.io Lease the replicas share",
    )
    e.add_argument(
        "--leader-elect-identity",
        default="",
        metavar="NAME",
        help="this replica's name in the Lease, unique among them (default: the host name "
        "and a random suffix; the chart passes the pod name)",
    )
    e.add_argument(
        "--leader-elect-lease-duration",
        type=_duration,
        metavar="DURATION",
        help="a holder that stops renewing loses the lease after this (default three "
        "cycles; at least two)",
    )
    p.add_argument(
        "--events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write Kubernetes Events on each LeaderWorkerSet when its recommendation "
        "changes or a warning reason starts (SlowStart, FallbackReplicas, ...); needs "
        "create on events.k8s.io events (default on; the leader only)",
    )
    p.add_argument(
        "--hpa-audit-interval",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="how often to list the HorizontalPodAutoscalers of the targets' namespaces and "
        "warn when two target one LeaderWorkerSet or one cannot scale it; needs list on "
        "autoscaling horizontalpodautoscalers (default 60s; 0 turns it off)",
    )
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
