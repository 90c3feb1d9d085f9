"""``lws-autoscaler serve``'s printed lines and flag checks: URLs that reach the bound
address (IPv6 bracketed), a kubeconfig per port written only where it can work, an
``explain`` line that trusts the self-signed certificate (run for real against a served
HTTPS endpoint), and ``--replay-speed 0`` refused like a negative speed."""

from __future__ import annotations

import argparse
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

from autoscaler.cli.main import build_parser, main
from autoscaler.cli.serve import display_host, paste_kubeconfig, settings_from
from autoscaler.server.demo import usage_lines
from autoscaler.server.settings import ServerSetupError
from autoscaler.sources.recording import default_recording_path
from tests.server.helpers import make_policy
from tests.support.fake_apiserver import RecordedRequest
from tests.support.prometheus import free_port


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("::", "127.0.0.1"),
        ("::1", "[::1]"),
        ("0:0:0:0:0:0:0:1", "[::1]"),
        ("fd00::10", "[fd00::10]"),
        ("10.0.0.5", "10.0.0.5"),
        ("localhost", "localhost"),
    ],
)
def test_display_host_brackets_ipv6_literals(address: str, host: str) -> None:
    assert display_host(address) == host


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "inf", "fast"])
def test_replay_speed_must_be_positive(speed: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _args("--replay-speed", speed)
    assert "--replay-speed: must be a number above 0" in capsys.readouterr().err


def test_replay_speed_defaults_only_when_absent() -> None:
    assert settings_from(_args("--replay-speed", "0.5")).replay_speed == 0.5
    assert settings_from(_args()).replay_speed == 10  # the demo
    recording = ("--source", "recording", "--policies", ".")
    assert settings_from(_args(*recording)).replay_speed == 1


def test_kubeconfig_per_port_and_only_where_it_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = paste_kubeconfig(settings_from(_args()), "http://127.0.0.1:8080")
    second = paste_kubeconfig(
        settings_from(_args("--insecure-port", "8081")), "http://127.0.0.1:8081"
    )
    assert first is not None
    assert second is not None
    assert first != second
    servers = [
        yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"]
        for path in (first, second)
    ]
    assert servers == ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]
    # Auth on: an anonymous kubeconfig would only get 401s, so none is offered.
    with_auth = settings_from(_args("--insecure", "--source", "recording", "--policies", "."))
    assert paste_kubeconfig(with_auth, "http://127.0.0.1:8080") is None
    https = settings_from(_args("--source", "recording", "--policies", ".", "--disable-auth"))
    assert paste_kubeconfig(https, "https://127.0.0.1:6443") is None


def test_explain_line_names_the_certificate_when_given(tmp_path: Path) -> None:
    cert = tmp_path / "my certs" / "apiserver.crt"
    lines = usage_lines("https://[::1]:6443", None, [make_policy()], True, ca_file=cert)
    assert lines[-1] == (
        "  lws-autoscaler explain inference/llama-70b --server https://[::1]:6443"
        f" --certificate-authority '{cert}'"
    )


@pytest.mark.slow
@pytest.mark.skipif(not default_recording_path().exists(), reason="no built-in recording")
def test_printed_explain_line_works_over_self_signed_https(tmp_path: Path) -> None:
    port = free_port()
    command = [
        *(sys.executable, "-m", "autoscaler.cli.main", "serve", "--source", "recording"),
        *("--bind-address", "127.0.0.1", "--secure-port", str(port), "--disable-auth"),
        *("--cert-dir", "certs", "--replay-speed", "60", "--cycle", "5s"),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert process.stderr is not None
        lines: list[str] = []
        while not any(line.lstrip().startswith("lws-autoscaler explain") for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        explain = shlex.split(lines[-1])
        assert explain[-2:] == ["--certificate-authority", str(tmp_path / "certs/apiserver.crt")]
        assert not any("kubectl" in line for line in lines)  # HTTPS: no kubeconfig offered
        deadline = time.monotonic() + 30
        while main(explain[1:]) != 0:  # 404 until the first cycle is published
            assert time.monotonic() < deadline, "the printed explain line never worked"
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=60)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.slow
def test_serve_elects_on_a_lease_and_releases_it_on_sigterm(tmp_path: Path) -> None:
    """``serve --leader-elect`` end to end: the real process creates and renews the
    Lease through its kubeconfig, and gives it up on SIGTERM. No kube-apiserver can run
    here: the kubeconfig points at the wire-level fake (tests/support/fake_apiserver.py),
    which answers the scrape source's lists and the Lease calls as the real one."""
    from tests.server.helpers import write_policy
    from tests.support.fake_apiserver import FakeApiServer

    policies = tmp_path / "policies"
    policies.mkdir()
    write_policy(policies / "p.yaml")
    leases = "/apis/coordination.k8s.io/v1/namespaces/ops/leases"
    with FakeApiServer() as api:
        config = api.write_kubeconfig(tmp_path / "kubeconfig", token="sa")
        command = [
            *(sys.executable, "-m", "autoscaler.cli.main", "serve", "--source", "scrape"),
            *("--policies", str(policies), "--kubeconfig", str(config), "--disable-auth"),
            *("--insecure", "--insecure-port", str(free_port()), "--cycle", "1s"),
            *("--leader-elect", "--leader-elect-lease", "ops/lws-autoscaler"),
            *("--leader-elect-identity", "pod-0"),
        ]
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 30
            while not any(r.method == "PUT" for r in api.requests):  # created, then renewed
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "no Lease renewal within 30 s"
                time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=60)
            if process.stderr is not None:
                process.stderr.close()
        writes = [r for r in api.requests if r.method in ("POST", "PUT")]
    assert writes[0].method == "POST"
    assert writes[0].path == leases
    assert writes[0].json()["spec"]["holderIdentity"] == "pod-0"
    assert writes[0].json()["spec"]["leaseDurationSeconds"] == 3  # three 1 s cycles
    assert writes[0].headers["authorization"] == "Bearer sa"
    assert all(w.path == f"{leases}/lws-autoscaler" for w in writes[1:])
    # The last write is the release at SIGTERM: the other replica need not wait 3 s.
    assert writes[-1].json()["spec"]["holderIdentity"] == ""


@pytest.mark.slow
def test_serve_writes_an_event_on_the_lws_when_its_recommendation_changes(
    tmp_path: Path,
) -> None:
    """``serve`` end to end: the real process scrapes a leader on 127.0.0.1, lists the
    LWS and its pods, and when the leader's queue grows, writes a ScaleUpRecommended
    Event on the LWS through its kubeconfig. No kube-apiserver can run here: the
    kubeconfig points at the wire-level fake (tests/support/fake_apiserver.py), which
    validates Events at create as kube-apiserver does."""
    from tests.cli.served_lws import EVENTS, LISTS, served_lws
    from tests.support.exporter import FakeLeader

    leader = FakeLeader("inference", "llama", "llama-0", waiting=5)
    with served_lws(tmp_path, leader, free_port()) as served:
        api = served.api
        # A few cycles decided on 5 waiting (one group), then the queue grows.
        served.wait(lambda: sum(r.path == LISTS for r in api.requests) >= 3, "no cycles")
        leader.waiting = 50
        # The scale-up's Event, by its reason: a first cycle that found no leader yet
        # would write a RecommendationResumed before it.

        def scale_ups() -> list[RecordedRequest]:
            posts = [r for r in api.requests if r.method == "POST" and r.path == EVENTS]
            return [r for r in posts if r.json()["reason"] == "ScaleUpRecommended"]

        served.wait(lambda: bool(scale_ups()), "no ScaleUpRecommended Event")
        served.stop()
        (post,) = scale_ups()
        # Stored: the fake's Event rules (kube-apiserver's) did not refuse it.
        name = post.json()["metadata"]["name"]
        assert httpx.get(f"{api.url}{EVENTS}/{name}", timeout=30).status_code == 200
    lws = served.lws
    event = post.json()
    assert post.headers["authorization"] == "Bearer sa"
    assert (event["type"], event["reason"]) == ("Normal", "ScaleUpRecommended")
    assert event["note"].startswith("recommended 5 groups (was 1; current 1): ")
    assert event["regarding"]["uid"] == lws["metadata"]["uid"]
    assert event["reportingInstance"] == socket.gethostname()


def test_the_lws_label_flag_reaches_the_prometheus_queries(tmp_path: Path) -> None:
    # The chart passes vllmPodMonitor.lwsLabel here: the label the PodMonitor writes must
    # be the one the queries group by, or every LWS reads as having no leader.
    from autoscaler.server.sources_factory import build_source
    from autoscaler.sources.base import Target
    from autoscaler.sources.prometheus import EmptyResultError
    from tests.sources.fake_prometheus import FakePrometheus, http, vector

    prometheus = FakePrometheus(lambda _query: http(200, vector([])))
    missing_kubeconfig = tmp_path / "absent-kubeconfig"
    try:
        settings = settings_from(
            _args(
                "--source",
                "prometheus",
                "--policies",
                str(tmp_path),
                "--prometheus-url",
                prometheus.url,
                "--prometheus-lws-label",
                "lws_name",
                "--kubeconfig",
                str(missing_kubeconfig),
            )
        )
        source = build_source(settings)
        policy = make_policy(lws="llama")
        # No series: the error names the labels the queries expect.
        with pytest.raises(EmptyResultError, match="'namespace, lws_name, pod'"):
            source.fetch([Target(policy)], 1_800_000_000.0)
        source.close()
    finally:
        prometheus.close()
    assert prometheus.queries
    for query in prometheus.queries:
        assert 'lws_name=~"llama"' in query
        assert "leaderworkerset_sigs_k8s_io_name" not in query


# A scrape label (``service``, ``job``...) is collapsed before the sum, so it cannot name
# the LWS: the values would lose it and match no target.
@pytest.mark.parametrize(
    "label", ["leaderworkerset.sigs.k8s.io/name", "1lws", "", "service", "job", "instance"]
)
def test_a_bad_lws_label_names_the_flag(label: str) -> None:
    with pytest.raises(ServerSetupError, match="--prometheus-lws-label"):
        settings_from(
            _args("--source", "prometheus", "--policies", ".", "--prometheus-lws-label", label)
        )
