"""``lws-autoscaler serve``: the external metrics API server and its control loop.

Without ``--source`` and ``--policies`` it runs the built-in demo: the shipped recording
replayed 10x faster through the example policies, plain HTTP on 127.0.0.1:8080, auth
off, and it prints ready-to-paste ``kubectl``/``curl`` lines. Otherwise it is the
production server: HTTPS on :6443 (self-signed unless ``--tls-cert-file``), delegated
authentication and authorisation through the Kubernetes API.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from autoscaler.cli.serve_args import add_serve_arguments
from autoscaler.cli.serve_checks import preflight
from autoscaler.server.clock import Clock, ReplayClock, SystemClock
from autoscaler.server.settings import ServerSetupError, ServeSettings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the external metrics API server and control loop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_serve_arguments(p)
    p.set_defaults(func=run)


def is_demo(args: argparse.Namespace) -> bool:
    return args.source is None and not args.policies


def settings_from(args: argparse.Namespace) -> ServeSettings:
    from autoscaler.server.demo import DEMO_REPLAY_SPEED, builtin_policies_dir

    demo = is_demo(args)
    if args.policies and args.source is None:
        # Your policies against the built-in demo recording would answer for LWS names
        # the recording does not hold: say which source instead of guessing.
        raise ServerSetupError(
            "--source is required with --policies (prometheus, scrape or recording); "
            "with neither flag, serve runs the built-in demo"
        )
    if not args.policies and args.source in ("prometheus", "scrape"):
        # The example policies target example LWS names: never aim them at a cluster.
        raise ServerSetupError(
            f"--policies is required with --source {args.source} (a file or folder; "
            "an empty folder is fine, policies are picked up when they appear)"
        )
    insecure = args.insecure or demo
    values: dict[str, Any] = {
        "policies": tuple(args.policies or [builtin_policies_dir()]),
        "source": args.source or "recording",
        "prometheus_url": args.prometheus_url,
        "prometheus_timeout": args.prometheus_timeout,
        "prometheus_lws_label": args.prometheus_lws_label,
        "scrape_timeout": args.scrape_timeout,
        "scrape_concurrency": args.scrape_concurrency,
        "recording": args.recording,
        # ``is None``, not ``or``: an explicit 0 must be refused, not become the default.
        "replay_speed": (
            args.replay_speed
            if args.replay_speed is not None
            else (DEMO_REPLAY_SPEED if demo else 1.0)
        ),
        "cycle_seconds": args.cycle,
        "max_decision_age": args.max_decision_age,
        "bind_address": args.bind_address or ("127.0.0.1" if insecure else "0.0.0.0"),
        "secure_port": args.secure_port,
        "insecure": insecure,
        "insecure_port": args.insecure_port,
        "force_insecure_non_loopback": args.force_insecure_non_loopback,
        "request_header_timeout": args.request_header_timeout,
        "max_connections": args.max_connections,
        "tls_cert_file": args.tls_cert_file,
        "tls_private_key_file": args.tls_private_key_file,
        "cert_dir": args.cert_dir,
        "tls_host_names": tuple(args.tls_host),
        "disable_auth": args.disable_auth or demo,
        "kubeconfig": args.kubeconfig,
        "client_ca_file": args.client_ca_file,
        "requestheader_client_ca_file": args.requestheader_client_ca_file,
        "requestheader_allowed_names": args.requestheader_allowed_names,
        "requestheader_username_headers": args.requestheader_username_headers,
        "requestheader_group_headers": args.requestheader_group_headers,
        "requestheader_extra_headers_prefix": args.requestheader_extra_headers_prefix,
        "auth_cache_ttl": args.auth_cache_ttl,
        "authentication_skip_lookup": args.authentication_skip_lookup,
        "cert_reload_interval": args.cert_reload_interval,
        "log_level": args.log_level,
        "leader_elect": args.leader_elect,
        "events": args.events,
        "hpa_audit_interval": args.hpa_audit_interval,
        "leader_elect_lease": args.leader_elect_lease,
        "leader_elect_identity": args.leader_elect_identity,
        "leader_elect_lease_duration": args.leader_elect_lease_duration,
    }
    try:
        return ServeSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(_problem(e["loc"], e["msg"]) for e in exc.errors())
        raise ServerSetupError(problems) from None


# Settings whose flag is not the field's name with dashes.
_FLAG_OF = {"cycle_seconds": "--cycle", "tls_host_names": "--tls-host"}


def _problem(loc: tuple[int | str, ...], message: str) -> str:
    """``--scrape-timeout: Input should be greater than 0`` rather than the bare message
    (a check across fields has no location and says itself which flags it means)."""
    message = message.removeprefix("Value error, ")
    if not loc:
        return message
    field = str(loc[0])
    return f"{_FLAG_OF.get(field, '--' + field.replace('_', '-'))}: {message}"


def run(args: argparse.Namespace) -> int:
    from autoscaler.engine.horizon import policy_horizon
    from autoscaler.server import demo as demo_module
    from autoscaler.server.policy_watch import PolicyWatcher
    from autoscaler.server.runner import ServerProcess
    from autoscaler.server.sources_factory import (
        build_cordon,
        build_events,
        build_hpa_audit,
        build_leader_elector,
        build_source,
    )
    from autoscaler.server.telemetry import Telemetry

    settings = settings_from(args)
    # Before anything starts or is written (a certificate, the demo kubeconfig).
    preflight(settings)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    telemetry = Telemetry()
    watcher = PolicyWatcher(list(settings.policies), telemetry)
    watcher.load_initial()
    source = build_source(settings)
    clock: Clock = SystemClock()
    if settings.source == "recording":
        horizon = max((policy_horizon(p) for p in watcher.policies), default=0.0)
        start, end = getattr(source, "start", None), getattr(source, "end", None)
        if isinstance(start, float | int) and isinstance(end, float | int):
            begin = demo_module.demo_start(
                float(start), float(end), horizon + settings.cycle_seconds
            )
            clock = ReplayClock(begin, settings.replay_speed)
    process = ServerProcess(
        settings,
        source,
        clock,
        telemetry=telemetry,
        watcher=watcher,
        cordon=build_cordon(settings),
        leader=build_leader_elector(settings),
        events=build_events(settings, telemetry),
        hpa_audit=build_hpa_audit(settings, telemetry),
    )
    url = f"{settings.scheme}://{display_host(settings.bind_address)}:{settings.port}"
    kubeconfig = paste_kubeconfig(settings, url)
    ca_file = None
    if process.tls is not None and settings.tls_cert_file is None:
        # A generated certificate is trusted by nothing: explain must be pointed at it.
        ca_file = process.tls.cert_file.resolve()
    if is_demo(args):
        print(
            "lws-autoscaler demo: the built-in recording replayed "
            f"{settings.replay_speed:g}x through {len(process.watcher.policies)} example "
            "policies; plain HTTP on loopback, AUTHENTICATION OFF.",
            file=sys.stderr,
        )
    print(f"serving the external metrics API on {url}; try:", file=sys.stderr)
    for line in demo_module.usage_lines(
        url,
        kubeconfig,
        process.watcher.policies,
        insecure_tls=not settings.insecure,
        ca_file=ca_file,
        program=demo_module.program_name(sys.argv[0]),
        needs_token=not settings.disable_auth,
    ):
        print(line, file=sys.stderr)
    process.run()
    return 0


def paste_kubeconfig(settings: ServeSettings, url: str) -> Path | None:
    """The kubeconfig for the printed ``kubectl`` line, or None where it could not work:
    it has no credentials, so only plain HTTP with auth off."""
    from autoscaler.server.demo import write_kubeconfig

    if not (settings.insecure and settings.disable_auth):
        return None
    return write_kubeconfig(url, settings.port)


def display_host(address: str) -> str:
    """The host part of a URL that reaches ``address``: a wildcard becomes the IPv4
    loopback (Linux binds ``::`` dual-stack), an IPv6 literal is bracketed (RFC 3986)."""
    if address in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    try:
        literal = ipaddress.ip_address(address)
    except ValueError:
        return address  # a host name
    return f"[{literal.compressed}]" if literal.version == 6 else address
