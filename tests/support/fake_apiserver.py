"""A small wire-level fake of the Kubernetes API server, for tests.

No kube-apiserver can be installed in this environment, so tests that need Kubernetes
API calls point the real clients (the ``kubernetes`` Python client, ``kubectl``, httpx)
at this fake instead. It speaks real HTTP(S) on 127.0.0.1 and answers with objects shaped
exactly like the real server's:

- ``put(obj)`` stores a real-shaped object (``apiVersion``, ``kind``, ``metadata``...);
  ``resourceVersion``, ``uid`` and ``creationTimestamp`` are filled in when absent.
- ``GET /api/v1/namespaces/{ns}/{plural}[/{name}]``, ``GET /api/v1/{plural}`` (all
  namespaces), ``GET /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]`` and
  ``GET /apis/{group}/{version}/{plural}`` return the object or a ``<Kind>List`` with
  ``metadata.resourceVersion``; ``?labelSelector=`` is applied (``=``, ``==``, ``!=``,
  ``in``, ``notin``, ``key``, ``!key``). A missing object is a ``Status`` 404 NotFound.
- ``PATCH`` on an object path with a merge patch (``application/merge-patch+json``) or a
  strategic merge patch (``application/strategic-merge-patch+json``; for maps such as
  ``metadata.labels`` the two merge alike, and a ``null`` value deletes the key) updates
  the stored object, bumps its ``resourceVersion`` and returns it; a missing object is
  a 404 ``Status``, any other patch type 415.
- ``POST`` on a collection path creates an object (201, or a 409 ``AlreadyExists``
  ``Status``), ``PUT`` on an object path replaces it (200; 404; a 409 ``Conflict`` when
  ``metadata.resourceVersion`` is not the stored one), as optimistic concurrency works
  on the real server; a create that sets ``resourceVersion`` is a 500 and a body in
  another namespace a 400, as there. A Lease's ``acquireTime``/``renewTime`` must be
  MicroTimes (six fractional digits), or the answer is the real server's 400; a Lease
  replaced without ``resourceVersion``, or with a duration under 1 or negative
  transitions, is its 422 ``Invalid``. An ``events.k8s.io/v1`` Event is validated at
  create as there (``fake_event_rules``): 400 or 422 ``Invalid``.
- ``on_post(path, handler)`` / ``on_get(path, handler)`` / ``on_patch`` answer other paths, e.g.
  TokenReview (``/apis/authentication.k8s.io/v1/tokenreviews``) and SubjectAccessReview
  (``/apis/authorization.k8s.io/v1/subjectaccessreviews``); see ``token_reviewer`` and
  ``access_reviewer`` for ready-made handlers. A handler gets the parsed JSON body and the
  recorded request and returns the response object (200) or ``(code, object)``.
- ``requests`` logs every request (method, path, query, headers, body) for assertions.
- ``write_kubeconfig(path, ...)`` writes a kubeconfig for kubectl and the Python client.

With ``tls=CertFiles`` it serves HTTPS; with ``client_ca`` it also asks for client
certificates (optional, as kube-apiserver does) and verifies them against that CA.

Use as a context manager::

    with FakeApiServer() as api:
        api.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", ...}})
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.support.background import serve_in_background, shut_down
from tests.support.certs import CertFiles
from tests.support.fake_event_rules import invalid_event

Json = dict[str, Any]
Handler = Callable[[Json, "RecordedRequest"], "Json | tuple[int, Json]"]

# Kinds whose plural is not simply lower-case + "s".
_IRREGULAR_PLURALS = {
    "Endpoints": "endpoints",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "PodSecurityPolicy": "podsecuritypolicies",
}


# The kind of an empty list's items, which cannot be read off an item.
_KINDS = {
    "leaderworkersets": "LeaderWorkerSet",
    "pods": "Pod",
    "configmaps": "ConfigMap",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    client_cert_subject: tuple[Any, ...] | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def plural_of(kind: str) -> str:
    """``LeaderWorkerSet`` -> ``leaderworkersets`` (the REST resource name)."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def status(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    """A ``metav1.Status`` failure object as kube-apiserver returns it."""
    body: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_.\-/]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<val>[A-Za-z0-9_.\-]*)|\s(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?\s*$"
)


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector matching, deliberately independent of the product code."""
    for part in re.split(r",(?![^()]*\))", selector):
        if not part.strip():
            continue
        m = _REQUIREMENT.match(part)
        if m is None:
            raise ValueError(f"unable to parse requirement: {part!r}")
        key = m["key"]
        if m["neg"]:
            ok = key not in labels
        elif m["op"] in ("=", "=="):
            ok = labels.get(key) == m["val"]
        elif m["op"] == "!=":
            ok = labels.get(key) != m["val"]
        elif m["setop"]:
            values = {v.strip() for v in m["set"].split(",")}
            ok = (
                (labels.get(key) in values)
                if m["setop"] == "in"
                else (labels.get(key) not in values)
            )
        else:
            ok = key in labels
        if not ok:
            return False
    return True


def token_reviewer(
    tokens: Mapping[str, tuple[str, list[str]]],
    extras: Mapping[str, Mapping[str, list[str]]] | None = None,
) -> Handler:
    """A TokenReview handler: ``tokens`` maps a bearer token to (username, groups);
    ``extras`` gives some of them the user's ``extra`` (as a service account token's
    ``authentication.kubernetes.io/pod-name``)."""

    def handle(body: Json, _request: RecordedRequest) -> Json:
        token = body.get("spec", {}).get("token", "")
        known = tokens.get(token)
        result: Json = {"authenticated": False, "error": "invalid bearer token"}
        if known is not None:
            user: Json = {"username": known[0], "uid": f"uid-{known[0]}", "groups": known[1]}
            if extras and token in extras:
                user["extra"] = {key: list(values) for key, values in extras[token].items()}
            result = {"authenticated": True, "user": user}
        return {
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec", {}),
            "status": result,
        }

    return handle


def access_reviewer(allow: Callable[[Json], bool]) -> Handler:
    """A SubjectAccessReview handler: ``allow(spec)`` decides."""

    def handle(body: Json, _request: RecordedRequest) -> Json:
        spec = body.get("spec", {})
        allowed = bool(allow(spec))
        result: Json = {"allowed": allowed}
        if not allowed:
            result["reason"] = "denied by the test policy"
        return {
            "kind": "SubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": result,
        }

    return handle


@dataclass
class _Store:
    objects: dict[tuple[str, str, str, str], Json] = field(default_factory=dict)
    versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeApiServer:
    """Threaded HTTP(S) stand-in for kube-apiserver on 127.0.0.1 (free port)."""

    def __init__(self, tls: CertFiles | None = None, client_ca: Path | None = None) -> None:
        self._tls = tls
        self._client_ca = client_ca
        self._store = _Store()
        self._routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeApiServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._tls.cert, self._tls.key)
            if self._client_ca is not None:
                context.load_verify_locations(self._client_ca)
                context.verify_mode = ssl.CERT_OPTIONAL
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = serve_in_background(server)
        return self

    def stop(self) -> None:
        shut_down(self._server, self._thread)
        self._server = self._thread = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    # -- configuration --------------------------------------------------------------------
    def put(self, obj: Json, plural: str | None = None) -> Json:
        """Store (create or replace) an object; returns the stored copy."""
        stored: Json = json.loads(json.dumps(obj))
        meta = stored.setdefault("metadata", {})
        with self._store.lock:
            meta["resourceVersion"] = str(next(self._store.versions))
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            key = (
                stored["apiVersion"],
                plural or plural_of(stored["kind"]),
                meta.get("namespace", ""),
                meta["name"],
            )
            self._store.objects[key] = stored
        return stored

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        with self._store.lock:
            self._store.objects.pop((api_version, plural_of(kind), namespace, name), None)

    def on_post(self, path: str, handler: Handler) -> None:
        self._routes[("POST", path)] = handler

    def on_get(self, path: str, handler: Handler) -> None:
        self._routes[("GET", path)] = handler

    def remove_route(self, method: str, path: str) -> None:
        """Drop an ``on_*`` handler: ``path`` is served from the store again."""
        self._routes.pop((method, path), None)

    def on_patch(self, path: str, handler: Handler) -> None:
        """Answer PATCH on ``path`` with ``handler`` instead of patching the store."""
        self._routes[("PATCH", path)] = handler

    def write_kubeconfig(
        self,
        path: Path,
        token: str | None = None,
        client_cert: CertFiles | None = None,
        ca_file: Path | None = None,
        server: str | None = None,
    ) -> Path:
        """A kubeconfig pointing at this fake (or at ``server``), for kubectl or the client."""
        return write_kubeconfig(path, server or self.url, token, client_cert, ca_file)

    # -- request handling -----------------------------------------------------------------
    def _latest_version(self) -> str:
        with self._store.lock:
            versions = [int(o["metadata"]["resourceVersion"]) for o in self._store.objects.values()]
        return str(max(versions, default=1))

    def handle(self, request: RecordedRequest) -> tuple[int, Json]:
        self.requests.append(request)
        route = self._routes.get((request.method, request.path))
        if route is not None:
            try:
                body = request.json() or {}
            except ValueError:
                return 400, status(400, "BadRequest", "invalid JSON body")
            answer = route(body, request)
            return answer if isinstance(answer, tuple) else (200, answer)
        if request.method == "PATCH":
            return self._patch(request)
        if request.method in ("POST", "PUT"):
            return self._write(request)
        if request.method != "GET":
            return 405, status(
                405, "MethodNotAllowed", f"the server does not allow this method on {request.path}"
            )
        return self._get(request)

    def _get(self, request: RecordedRequest) -> tuple[int, Json]:
        where = _locate(request.path)
        if where is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        api_version, plural, namespace, name = where
        if name is None:
            return self._list(api_version, plural, namespace, request)
        with self._store.lock:
            obj = self._store.objects.get((api_version, plural, namespace, name))
        return (200, obj) if obj is not None else _not_found(api_version, plural, name)

    def _patch(self, request: RecordedRequest) -> tuple[int, Json]:
        where = _locate(request.path)
        name = where[3] if where is not None else None
        if where is None or name is None:
            return 405, status(405, "MethodNotAllowed", f"cannot patch {request.path}")
        api_version, plural, namespace, _ = where
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind not in _MERGE_PATCHES:
            return 415, status(
                415, "UnsupportedMediaType", f"the body of type {kind!r} is not supported"
            )
        try:
            patch = request.json()
        except ValueError:
            return 400, status(400, "BadRequest", "invalid JSON body")
        if not isinstance(patch, dict):
            return 400, status(400, "BadRequest", "a merge patch must be a JSON object")
        with self._store.lock:
            key = (api_version, plural, namespace, name)
            obj = self._store.objects.get(key)
            if obj is None:
                return _not_found(api_version, plural, name)
            patched = _merge_patch(obj, patch)
            patched["metadata"]["resourceVersion"] = str(next(self._store.versions))
            self._store.objects[key] = patched
        return 200, patched

    def _write(self, request: RecordedRequest) -> tuple[int, Json]:
        """POST on a collection creates (201; 409 AlreadyExists), PUT on an object
        replaces (200; 404; 409 Conflict at a stale ``metadata.resourceVersion``)."""
        where = _locate(request.path)
        creating = request.method == "POST"
        if where is None or (where[3] is None) != creating:
            return 405, status(405, "MethodNotAllowed", f"cannot {request.method} {request.path}")
        api_version, plural, namespace, path_name = where
        try:
            obj = request.json()
        except ValueError:
            return 400, status(400, "BadRequest", "invalid JSON body")
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or not isinstance(meta, dict):
            return 400, status(400, "BadRequest", "the body must be an object with metadata")
        name = meta.get("name")
        if not isinstance(name, str) or not name or (path_name not in (None, name)):
            return 400, status(400, "BadRequest", "metadata.name must match the path")
        if meta.get("namespace") not in (None, "", namespace):
            return 400, status(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        if creating and meta.get("resourceVersion"):
            return 500, status(
                500, "InternalError", "resourceVersion should not be set on objects to be created"
            )
        problem = _undecodable_times(obj, plural)
        is_event = api_version == "events.k8s.io/v1" and plural == "events"
        if problem is not None:
            return 400, status(400, "BadRequest", problem)
        event_problems = invalid_event(obj, namespace) if is_event and creating else []
        if event_problems:
            joined = ", ".join(event_problems)
            return 422, status(
                422, "Invalid", f'Event.events.k8s.io "{name}" is invalid: [{joined}]'
            )
        resource = _resource(api_version, plural)
        key = (api_version, plural, namespace, name)
        with self._store.lock:
            stored = self._store.objects.get(key)
            if creating and stored is not None:
                return 409, status(
                    409,
                    "AlreadyExists",
                    f'{resource} "{name}" already exists',
                    {"name": name, "group": _group(api_version), "kind": plural},
                )
            if not creating and stored is None:
                return _not_found(api_version, plural, name)
            invalid = _invalid_lease(obj, creating) if plural == "leases" else None
            if invalid is not None:  # validated against the stored object, as there
                kind = f'Lease.coordination.k8s.io "{name}"'
                return 422, status(422, "Invalid", f"{kind} is invalid: {invalid}")
            wanted = meta.get("resourceVersion")
            if stored is not None and wanted and wanted != stored["metadata"]["resourceVersion"]:
                return 409, status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource} "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try "
                    "again",
                    {"name": name, "group": _group(api_version), "kind": plural},
                )
            meta = dict(meta, namespace=namespace, resourceVersion=str(next(self._store.versions)))
            if stored is not None:
                meta["uid"] = stored["metadata"]["uid"]
                meta["creationTimestamp"] = stored["metadata"]["creationTimestamp"]
            else:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            saved = dict(obj, metadata=meta)
            self._store.objects[key] = saved
        return (201 if creating else 200), saved

    def _list(
        self, api_version: str, plural: str, namespace: str, request: RecordedRequest
    ) -> tuple[int, Json]:
        selector = request.query.get("labelSelector", [""])[0]
        with self._store.lock:
            candidates = [
                o
                for (v, p, ns, _), o in sorted(self._store.objects.items())
                if v == api_version and p == plural and (not namespace or ns == namespace)
            ]
        try:
            items = [
                o
                for o in candidates
                if selector_matches(selector, o["metadata"].get("labels") or {})
            ]
        except ValueError as exc:
            return 400, status(400, "BadRequest", str(exc))
        kind = items[0]["kind"] if items else _KINDS.get(plural, plural[:-1].capitalize())
        return 200, {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": self._latest_version()},
            "items": items,
        }


_MERGE_PATCHES = frozenset(
    {"application/merge-patch+json", "application/strategic-merge-patch+json"}
)


def _locate(path: str) -> tuple[str, str, str, str | None] | None:
    """(apiVersion, plural, namespace, name or None for a list) of a REST path."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        api_version, rest = "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if len(rest) == 1:
        return api_version, rest[0], namespace, None
    if len(rest) == 2:
        return api_version, rest[0], namespace, rest[1]
    return None


def _group(api_version: str) -> str:
    return api_version.split("/", maxsplit=1)[0] if "/" in api_version else ""


def _resource(api_version: str, plural: str) -> str:
    """``leases.coordination.k8s.io``, or ``pods`` for the core group."""
    group = _group(api_version)
    return f"{plural}.{group}" if group else plural


def _not_found(api_version: str, plural: str, name: str) -> tuple[int, Json]:
    return 404, status(
        404,
        "NotFound",
        f'{_resource(api_version, plural)} "{name}" not found',
        {"name": name, "group": _group(api_version), "kind": plural},
    )


# metav1.MicroTime parses with RFC3339Micro: exactly six fractional digits.
_MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")


def _invalid_lease(lease: Json, creating: bool) -> str | None:
    """What the Lease strategy's validation refuses: a Lease is never updated
    unconditionally, and its counts are positive (duration) or not negative."""
    if not creating and not lease["metadata"].get("resourceVersion"):
        return "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        return f"spec.leaseDurationSeconds: Invalid value: {duration}: must be greater than 0"
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        return (
            f"spec.leaseTransitions: Invalid value: {transitions}: must be greater than or "
            "equal to 0"
        )
    return None


# The MicroTime fields of the kinds the fake decodes: kind, then each field's path.
_MICRO_TIME_FIELDS = {
    "leases": ("Lease", (("spec", "acquireTime"), ("spec", "renewTime"))),
    "events": ("Event", (("eventTime",),)),
}


def _undecodable_times(obj: Json, plural: str) -> str | None:
    """The decoding error kube-apiserver gives an object whose MicroTimes are not."""
    kind, paths = _MICRO_TIME_FIELDS.get(plural, ("", ()))
    for path in paths:
        value: Any = obj
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and not (isinstance(value, str) and _MICRO_TIME.match(value)):
            return (
                f'{kind} in version "v1" cannot be handled as a {kind}: parsing time '
                f'{value!r} as "2006-01-02T15:04:05.000000Z07:00": cannot parse'
            )
    return None


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return json.loads(json.dumps(patch))
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged


def _make_handler(fake: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            peer = (
                self.connection.getpeercert()
                if isinstance(self.connection, ssl.SSLSocket)
                else None
            )
            request = RecordedRequest(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client_cert_subject=tuple(peer["subject"]) if peer else None,
            )
            code, answer = fake.handle(request)
            payload = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # silence stderr
            return

    return _Handler


def write_kubeconfig(
    path: Path,
    server: str,
    token: str | None = None,
    client_cert: CertFiles | None = None,
    ca_file: Path | None = None,
) -> Path:
    """A kubeconfig for the API server at ``server`` (the fake, or a peer that plays a
    broken one), for kubectl or the client."""
    cluster: Json = {"server": server}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    user: Json = {}
    if token is not None:
        user["token"] = token
    if client_cert is not None:
        user["client-certificate"] = str(client_cert.cert)
        user["client-key"] = str(client_cert.key)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": cluster}],
        "users": [{"name": "fake", "user": user}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path
