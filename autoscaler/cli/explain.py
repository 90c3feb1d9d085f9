"""``lws-autoscaler explain NAMESPACE/LWS``: the last decision for one LWS, with its reasons.

Reads ``/debug/decisions/{namespace}/{name}`` from a running server (the same
authentication as the metrics API: a bearer token, or none on a local demo server).
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from autoscaler.snapshot import LwsKey

_TIMEOUT_SECONDS = 10


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explain",
        help="print the last decision for one LWS with its reasons",
        description=__doc__,
    )
    p.add_argument("lws", metavar="NAMESPACE/LWS")
    p.add_argument(
        "--server",
        default="http://127.0.0.1:8080",
        help="base URL of a running lws-autoscaler serve (default: the demo)",
    )
    p.add_argument("--token", help="bearer token (e.g. $(kubectl create token ...))")
    p.add_argument("--certificate-authority", type=Path, help="CA file for the server")
    p.add_argument("--insecure-skip-tls-verify", action="store_true")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def _context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.server.startswith("https://"):
        return None
    if args.insecure_skip_tls_verify:
        return ssl._create_unverified_context()  # the user asked for it explicitly
    cafile = str(args.certificate_authority) if args.certificate_authority else None
    return ssl.create_default_context(cafile=cafile)


def fetch(args: argparse.Namespace, key: LwsKey) -> tuple[int, dict[str, Any]]:
    url = (
        f"{args.server.rstrip('/')}/debug/decisions/"
        f"{quote(key.namespace, safe='')}/{quote(key.name, safe='')}"
    )
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS, context=_context(args)) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = {"message": exc.reason}
        return exc.code, body


def run(args: argparse.Namespace) -> int:
    try:
        key = LwsKey.parse(args.lws)
    except ValueError as exc:
        print(f"lws-autoscaler explain: {exc}", file=sys.stderr)
        return 2
    authority = args.certificate_authority
    if authority is not None and not authority.is_file():
        print(
            f"lws-autoscaler explain: --certificate-authority {authority}: no such file",
            file=sys.stderr,
        )
        return 2
    try:
        _context(args)
    except (ssl.SSLError, ValueError) as exc:
        print(
            f"lws-autoscaler explain: --certificate-authority {authority}: not a PEM "
            f"CA certificate ({exc})",
            file=sys.stderr,
        )
        return 2
    try:
        code, body = fetch(args, key)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"lws-autoscaler explain: cannot reach {args.server}: {reason}", file=sys.stderr)
        return 1
    if code != 200:
        print(f"lws-autoscaler explain: {code}: {body.get('message', body)}", file=sys.stderr)
        return 1
    if not isinstance(body, dict) or not isinstance(body.get("explanation"), str):
        print(
            f"lws-autoscaler explain: {args.server} answered, but not with an lws-autoscaler "
            "decision (is it the server's URL?)",
            file=sys.stderr,
        )
        return 1
    if args.output == "json":
        print(json.dumps(body, indent=2))
        return 0
    print(body["explanation"])
    age = body.get("ageSeconds")
    stale = " (STALE: the control loop is behind)" if body.get("stale") else ""
    print(f"  decided at {body['decidedAt']}, {age:.0f}s ago{stale}")
    return 0
