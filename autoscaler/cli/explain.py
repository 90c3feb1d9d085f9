"""``lws-autoscaler explain NAMESPACE/LWS``: the last decision for one LWS, with its reasons,
and which HPA acts on it (from the server's HPA audit: a warning when none can).

Reads ``/debug/decisions/{namespace}/{name}`` from a running server (the same
authentication as the metrics API: a bearer token, or none on a local demo server).
The answer's shape is checked before anything is printed: a server that answers with
something else (a proxy's HTML page, another service's JSON) is one line naming it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from autoscaler.cli.arg_types import http_url
from autoscaler.errors import AutoscalerError, one_line
from autoscaler.snapshot import LwsKey

_TIMEOUT_SECONDS = 10
_EXCERPT_CHARS = 80
"""How much of a body that is not JSON a message quotes: enough to recognise a proxy's
HTML page by its title, one line."""
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The largest answer read: a decision with its reasons is a few KB; 16 MiB is far past
any real one, and bounds what a wrong server can make this command hold."""


class BadAnswerError(AutoscalerError):
    """The server answered, but not with a decision (nor a JSON error message)."""


class RedirectError(AutoscalerError):
    """The server answered a redirect, which ``explain`` does not follow."""


class RefusedError(AutoscalerError):
    """The server answered an error status with its own JSON ``message`` (404: no
    decision for that LWS; 401 or 403: the token)."""


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
        type=http_url,
        help="base URL (http:// or https://) of a running serve (default: the demo)",
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


def fetch(args: argparse.Namespace, key: LwsKey) -> tuple[int, bytes]:
    """The HTTP status and the raw body (an error status is an answer too)."""
    url = (
        f"{args.server.rstrip('/')}/debug/decisions/"
        f"{quote(key.namespace, safe='')}/{quote(key.name, safe='')}"
    )
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    # No redirects: urllib would copy the bearer token to whatever host one names.
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=_context(args))
    )
    try:
        with opener.open(request, timeout=_TIMEOUT_SECONDS) as r:
            return r.status, r.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location", "")
            raise RedirectError(
                f"{args.server} answered {exc.code}, redirecting to {one_line(where, 200)!r}; "
                "the token is not sent on: point --server at the server itself"
            ) from None
        return exc.code, exc.read(MAX_ANSWER_BYTES)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back as an HTTPError


def _sendable(token: str) -> bool:
    """Whether ``token`` can be a header value: Latin-1 without control characters."""
    return all(" " <= c <= "\xff" and c != "\x7f" for c in token)


def _kind(value: object) -> str:
    """How an unexpected JSON value reads in a message: ``a JSON list``, ``null``."""
    if value is None:
        return "null"
    names = {bool: "boolean", str: "string", list: "list", dict: "object"}
    return f"a JSON {names.get(type(value), 'number')}"


def decision(code: int, raw: bytes) -> dict[str, Any]:
    """The decision in a 200 answer. Otherwise RefusedError (an error status with the
    server's JSON ``message``) or BadAnswerError (``answered <code> with <what>``)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # also UnicodeDecodeError; JSON nested too deep
        shown = one_line(raw[: _EXCERPT_CHARS * 4].decode("utf-8", "replace"), _EXCERPT_CHARS)
        raise BadAnswerError(f"answered {code} with a body that is not JSON ({shown!r})") from None
    if code != 200:
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            raise RefusedError(f"{code}: {one_line(body['message'], 300)}")
        raise BadAnswerError(f"answered {code} with {_kind(body)}")
    if not isinstance(body, dict):
        raise BadAnswerError(f"answered 200 with {_kind(body)}")
    for field, types in (("explanation", str), ("decidedAt", str), ("ageSeconds", (int, float))):
        value = body.get(field)
        if field not in body:
            raise BadAnswerError(f"answered 200 with an object without {field!r}")
        if not isinstance(value, types) or isinstance(value, bool):
            raise BadAnswerError(f"answered 200 with {field!r} {_kind(value)}")
    if not math.isfinite(body["ageSeconds"]):
        raise BadAnswerError("answered 200 with a non-finite 'ageSeconds'")
    return body


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
    if args.token and not _sendable(args.token):
        # Said without the token: it is a secret, and may be pasted with its line break.
        print(
            "lws-autoscaler explain: --token holds a control character or a character "
            "outside Latin-1 (a pasted line break?), which no HTTP header can carry",
            file=sys.stderr,
        )
        return 2
    try:
        code, raw = fetch(args, key)
    except RedirectError as exc:
        print(f"lws-autoscaler explain: {exc}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"lws-autoscaler explain: cannot reach {args.server}: {reason}", file=sys.stderr)
        return 1
    try:
        body = decision(code, raw)
    except RefusedError as exc:
        print(f"lws-autoscaler explain: {exc}", file=sys.stderr)
        return 1
    except BadAnswerError as exc:
        print(
            f"lws-autoscaler explain: the server at {args.server} {exc}, not a decision "
            "(is it an lws-autoscaler server's URL?)",
            file=sys.stderr,
        )
        return 1
    if args.output == "json":
        print(json.dumps(body, indent=2))
        return 0
    print(body["explanation"])
    stale = " (STALE: the control loop is behind)" if body.get("stale") else ""
    print(f"  decided at {body['decidedAt']}, {body['ageSeconds']:.0f}s ago{stale}")
    for line in hpa_lines(body.get("hpas")):
        print(f"  {line}")
    return 0


def hpa_lines(hpas: object) -> list[str]:
    """Who acts on the recommendation, from the server's HPA audit (``hpas`` of the
    decision; null, absent or unreadable: not audited, nothing to say). The
    recommendation scales the LWS only through exactly one HPA that can scale it."""
    if not isinstance(hpas, list):
        return []
    found = [h for h in hpas if isinstance(h, dict) and isinstance(h.get("name"), str)]
    if len(found) != len(hpas):
        return []  # not the shape this command knows: say nothing rather than wrong
    if not found:
        return ["no HorizontalPodAutoscaler targets this LWS: no HPA scales it from this"]
    names = ", ".join(h["name"] for h in found)
    if len(found) > 1:
        return [
            f"WARNING: {len(found)} HorizontalPodAutoscalers target this LWS ({names}): the "
            "HPA controller scales it with none of them (AmbiguousSelector)"
        ]
    (hpa,) = found
    if hpa.get("follows") is False:
        return [
            f"WARNING: HorizontalPodAutoscaler {hpa['name']} targets this LWS but reads "
            "none of this server's metrics: this recommendation does not reach it"
        ]
    if hpa.get("scaling") is not False:
        cut = hpa.get("narrower")
        if isinstance(cut, str) and cut:
            return [
                f"WARNING: HorizontalPodAutoscaler {hpa['name']} follows this recommendation "
                f"within narrower bounds than the policy's: {one_line(cut, 300)}"
            ]
        return [f"followed by HorizontalPodAutoscaler {hpa['name']}"]
    condition, reason = hpa.get("condition"), hpa.get("reason")
    why = f"{condition} is False" if isinstance(condition, str) else "a condition is False"
    if isinstance(reason, str):
        why += f" ({reason})"
    message = hpa.get("message")
    if isinstance(message, str) and message:
        why += f": {one_line(message, 300)}"
    return [f"WARNING: HorizontalPodAutoscaler {hpa['name']} does not scale this LWS: {why}"]
