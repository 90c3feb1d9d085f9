"""``lws-autoscaler explain`` and ``serve`` reject unusable local files with a one-line
error naming the file and the flag, before any connection is tried (the request would
otherwise blame the network). The decision output itself is tested against a real
server in tests/server/test_cli.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from autoscaler.cli.explain import hpa_lines
from autoscaler.cli.main import main
from tests.support.raw_server import RawServer

# A port nothing listens on is never reached: the file checks come first.
SERVER = "https://127.0.0.1:9"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("not a certificate\n", "not a PEM CA certificate"),
    ],
    ids=["missing", "not-pem"],
)
def test_explain_names_an_unusable_certificate_authority(
    tmp_path: Path, content: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    authority = tmp_path / "ca.crt"
    if content is not None:
        authority.write_text(content)
    args = ["explain", "inference/llama-70b", "--server", SERVER]
    assert main([*args, "--certificate-authority", str(authority)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"lws-autoscaler explain: --certificate-authority {authority}: ")
    assert message in error
    assert "cannot reach" not in error


def test_serve_reports_a_malformed_kubeconfig_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nclusters: [\n")
    policies = Path(__file__).resolve().parents[2] / "policies"
    args = ["serve", "--source", "prometheus", "--kubeconfig", str(kubeconfig)]
    assert main([*args, "--policies", str(policies)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(
        f"lws-autoscaler serve: cannot configure Kubernetes API access from {kubeconfig}: "
        "not valid YAML: "
    )
    assert "(line 3)" in error


def test_the_scrape_source_says_it_needs_the_api_not_disable_auth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside a cluster: no service account, so the in-cluster configuration fails.
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    policies = Path(__file__).resolve().parents[2] / "policies"
    args = ["serve", "--source", "scrape", "--disable-auth", "--policies", str(policies)]
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the scrape source lists leader pods through the Kubernetes API" in error
    assert "--disable-auth" not in error


def _answering(status: int, body: bytes, seen: list[bytes] | None = None) -> RawServer:
    """A plain HTTP server on 127.0.0.1 that answers every request with ``body``, keeping
    each request's head in ``seen`` when given."""

    def answer(conn: socket.socket) -> None:
        with conn:
            request = conn.recv(65536)
            if seen is not None:
                seen.append(request)
            head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close"
            conn.sendall(f"{head}\r\n\r\n".encode() + body)

    return RawServer(answer)


DECISION = {"explanation": "inference/llama-70b: hold 4", "decidedAt": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("status", "body", "what"),
    [
        (404, b"[1, 2]", "answered 404 with a JSON list"),
        (500, b'"internal error"', "answered 500 with a JSON string"),
        (200, json.dumps({**DECISION, "ageSeconds": None}).encode(), "'ageSeconds' null"),
        (200, json.dumps({"explanation": "x", "ageSeconds": 1}).encode(), "without 'decidedAt'"),
        (
            200,
            b"<html>\n<body>hello</body>\n</html>\n",
            "answered 200 with a body that is not JSON",
        ),
        (200, b"[]", "answered 200 with a JSON list"),
        # Deeper than the JSON parser's stack: a RecursionError traceback before.
        (200, b"[" * 100_000 + b"]" * 100_000, "answered 200 with a body that is not JSON"),
    ],
    ids=["404-list", "500-string", "age-null", "no-decidedAt", "html", "200-list", "deep"],
)
@pytest.mark.parametrize("output", ["text", "json"])
def test_an_answer_that_is_not_a_decision_is_one_line_and_nothing_printed(
    status: int, body: bytes, what: str, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _answering(status, body)
    url = f"http://127.0.0.1:{server.port}"
    try:
        assert main(["explain", "inference/llama-70b", "--server", url, "-o", output]) == 1
    finally:
        server.close()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"lws-autoscaler explain: the server at {url} answered ")
    assert what in captured.err
    assert ", not a decision" in captured.err
    assert len(captured.err.splitlines()) == 1


def test_a_well_formed_decision_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    server = _answering(200, json.dumps({**DECISION, "ageSeconds": 12.4}).encode())
    try:
        assert (
            main(["explain", "inference/llama-70b", "--server", f"http://127.0.0.1:{server.port}"])
            == 0
        )
    finally:
        server.close()
    out = capsys.readouterr().out
    assert out == "inference/llama-70b: hold 4\n  decided at 2026-01-01T00:00:00Z, 12s ago\n"


def test_the_hpa_audits_finding_is_printed_under_the_decision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hpas = [
        {"name": "keda-hpa-llama-70b", "scaling": False},
        {"name": "llama-70b", "scaling": False},
    ]
    body = {**DECISION, "ageSeconds": 3, "hpas": hpas}
    server = _answering(200, json.dumps(body).encode())
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert main(["explain", "inference/llama-70b", "--server", url]) == 0
    finally:
        server.close()
    assert capsys.readouterr().out.splitlines()[2] == (
        "  WARNING: 2 HorizontalPodAutoscalers target this LWS (keda-hpa-llama-70b, "
        "llama-70b): the HPA controller scales it with none of them (AmbiguousSelector)"
    )


@pytest.mark.parametrize(
    ("hpas", "lines"),
    [
        pytest.param(None, [], id="not-audited"),
        pytest.param("junk", [], id="not-a-list"),
        pytest.param([{"name": 3}], [], id="an-unknown-shape-says-nothing"),
        pytest.param(
            [],
            ["no HorizontalPodAutoscaler targets this LWS: no HPA scales it from this"],
            id="none",
        ),
        pytest.param(
            [{"name": "h", "scaling": False}],
            ["WARNING: HorizontalPodAutoscaler h does not scale this LWS: a condition is False"],
            id="not-scaling-without-the-why",
        ),
        pytest.param(
            [{"name": "llama-70b", "scaling": True, "follows": True}],
            ["followed by HorizontalPodAutoscaler llama-70b"],
            id="one-that-scales",
        ),
        pytest.param(
            [{"name": "h", "scaling": True, "follows": True, "narrower": "its maxReplicas 4"}],
            [
                "WARNING: HorizontalPodAutoscaler h follows this recommendation within "
                "narrower bounds than the policy's: its maxReplicas 4"
            ],
            id="one-with-narrower-bounds",
        ),
        pytest.param(
            [{"name": "cpu-recipe", "scaling": True, "follows": False}],
            [
                "WARNING: HorizontalPodAutoscaler cpu-recipe targets this LWS but reads none "
                "of this server's metrics: this recommendation does not reach it"
            ],
            id="one-on-other-metrics",
        ),
        pytest.param(
            [
                {
                    "name": "llama-70b",
                    "scaling": False,
                    "condition": "ScalingActive",
                    "reason": "FailedGetExternalMetric",
                    "message": "unable to get external metric\nlws_recommended_replicas",
                }
            ],
            [
                "WARNING: HorizontalPodAutoscaler llama-70b does not scale this LWS: "
                "ScalingActive is False (FailedGetExternalMetric): unable to get external "
                "metric lws_recommended_replicas"
            ],
            id="one-that-cannot",
        ),
        pytest.param(
            [{"name": "a", "scaling": True}, {"name": "b", "scaling": True}],
            [
                "WARNING: 2 HorizontalPodAutoscalers target this LWS (a, b): the HPA "
                "controller scales it with none of them (AmbiguousSelector)"
            ],
            id="two",
        ),
    ],
)
def test_hpa_lines(hpas: object, lines: list[str]) -> None:
    assert hpa_lines(hpas) == lines


@pytest.mark.parametrize("server", ["127.0.0.1:1", "ftp://127.0.0.1/", "file:///etc/hostname"])
def test_a_server_url_without_http_is_a_usage_error(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["explain", "inference/llama-70b", "--server", server])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"lws-autoscaler explain: error: argument --server: {server!r} is not an http:// or "
        "https:// URL (e.g. http://127.0.0.1:8080)"
    )


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """urllib follows redirects and copies the Authorization header to any host."""
    seen: list[bytes] = []

    def elsewhere(conn: socket.socket) -> None:
        with conn:
            seen.append(conn.recv(65536))
            body = json.dumps({**DECISION, "ageSeconds": 1}).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close"
            conn.sendall(f"{head}\r\n\r\n".encode() + body)

    other = RawServer(elsewhere)

    def redirect(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            where = f"http://127.0.0.1:{other.port}/debug/decisions/inference/llama-70b"
            head = f"HTTP/1.1 302 Found\r\nLocation: {where}\r\nContent-Length: 0"
            conn.sendall(f"{head}\r\nConnection: close\r\n\r\n".encode())

    first = RawServer(redirect)
    url, other_port = f"http://127.0.0.1:{first.port}", other.port
    try:
        args = ["explain", "inference/llama-70b", "--server", url, "--token", "SECRET"]
        assert main(args) == 1
    finally:
        first.close()
        other.close()
    err = capsys.readouterr().err
    assert f"{url} answered 302, redirecting to 'http://127.0.0.1:{other_port}/" in err
    assert "SECRET" not in err
    assert seen == []


def test_a_token_no_header_can_carry_is_a_usage_error_that_does_not_echo_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["explain", "inference/llama-70b", "--server", "http://127.0.0.1:9"]
    assert main([*args, "--token", "eyJsecret\r"]) == 2
    err = capsys.readouterr().err
    assert "--token holds a control character" in err
    assert "eyJsecret" not in err
    assert "cannot reach" not in err


@pytest.mark.parametrize("token", ["abc.def", None])
def test_the_token_goes_as_a_bearer_header_only_when_given(
    token: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bytes] = []
    server = _answering(200, json.dumps({**DECISION, "ageSeconds": 1}).encode(), seen)
    args = ["explain", "inference/llama-70b", "--server", f"http://127.0.0.1:{server.port}"]
    try:
        assert main(args + (["--token", token] if token else [])) == 0
    finally:
        server.close()
    (request,) = seen
    assert request.startswith(b"GET /debug/decisions/inference/llama-70b HTTP/1.1\r\n")
    headers = request.decode("latin-1").lower()
    if token:
        assert f"\r\nauthorization: bearer {token}\r\n" in headers
    else:
        assert "authorization" not in headers
    capsys.readouterr()


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        # 300 is a redirect (Multiple Choices) and is not followed either.
        (300, b"", "answered 300, redirecting to ''"),
        # 400 is the first error: the server's own message, one line, cut at 300.
        (400, json.dumps({"message": "bad\nrequest"}).encode(), "explain: 400: bad request"),
        (403, json.dumps({"message": "m" * 400}).encode(), "explain: 403: " + "m" * 297 + "..."),
        # Not JSON: 80 characters of it are quoted, enough to tell a proxy's page.
        (502, b"y" * 1000, "with a body that is not JSON ('" + "y" * 77 + "...')"),
    ],
    ids=["300", "400", "long-message", "not-json"],
)
def test_each_error_answer_is_one_line_with_its_words(
    status: int, body: bytes, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _answering(status, body)
    try:
        assert main(["explain", "a/b", "--server", f"http://127.0.0.1:{server.port}"]) == 1
    finally:
        server.close()
    err = capsys.readouterr().err
    assert said in err
    assert len(err.splitlines()) == 1


def test_json_output_is_the_decision_indented(capsys: pytest.CaptureFixture[str]) -> None:
    body = {**DECISION, "ageSeconds": 2}
    server = _answering(200, json.dumps(body).encode())
    url = f"http://127.0.0.1:{server.port}"
    try:
        assert main(["explain", "inference/llama-70b", "--server", url, "-o", "json"]) == 0
    finally:
        server.close()
    out = capsys.readouterr().out
    assert json.loads(out) == body
    assert out.splitlines()[1].startswith('  "explanation"')  # two spaces an indent


@pytest.mark.parametrize(
    ("token", "sendable"),
    [
        ("a b", True),  # a space is a header value's character
        ("caf\xe9\xff", True),  # Latin-1, to its last character
        ("a\x7f", False),  # DEL
        ("a\x1f", False),
        ("a\u0100", False),  # past Latin-1
    ],
)
def test_a_token_is_sendable_in_latin_1_without_control_characters(
    token: str, sendable: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    # Against a port nothing listens on: a sendable token gets as far as connecting.
    code = main(["explain", "a/b", "--server", "http://127.0.0.1:9", "--token", token])
    err = capsys.readouterr().err
    assert (code, "--token holds" not in err) == ((1, True) if sendable else (2, False))


@pytest.mark.parametrize(
    ("hpa", "line"),
    [
        (
            {"name": "h", "scaling": False, "condition": "AbleToScale", "message": ""},
            "WARNING: HorizontalPodAutoscaler h does not scale this LWS: AbleToScale is False",
        ),
        ({"name": "h", "scaling": True, "narrower": ""}, "followed by HorizontalPodAutoscaler h"),
    ],
    ids=["empty-message", "empty-narrower"],
)
def test_empty_words_from_the_audit_add_nothing(hpa: dict[str, object], line: str) -> None:
    assert hpa_lines([hpa]) == [line]
