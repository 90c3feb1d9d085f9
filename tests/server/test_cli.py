"""``lws-autoscaler serve`` flags -> settings, and ``lws-autoscaler explain`` against a real
running server."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli.main import build_parser, main
from autoscaler.cli.serve import settings_from
from autoscaler.policy.loader import load_policies
from autoscaler.server.demo import builtin_policies_dir, metric_path, program_name, usage_lines
from tests.server.conftest import Start
from tests.server.helpers import make_policy


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_no_arguments_is_the_local_demo() -> None:
    settings = settings_from(_args())
    assert settings.source == "recording"
    assert (settings.insecure, settings.bind_address, settings.port) == (True, "127.0.0.1", 8080)
    assert settings.disable_auth
    assert settings.replay_speed == 10
    assert settings.policies == (builtin_policies_dir(),)
    names = sorted(p.policy.name for p in load_policies([builtin_policies_dir()]))
    assert names == ["dev-8b", "llama-405b", "llama-70b"]


def test_production_defaults_are_secure(tmp_path: Path) -> None:
    settings = settings_from(_args("--source", "prometheus", "--policies", str(tmp_path)))
    assert (settings.insecure, settings.bind_address, settings.port) == (False, "0.0.0.0", 6443)
    assert not settings.disable_auth
    assert settings.scheme == "https"
    custom = settings_from(
        _args(
            "--source",
            "prometheus",
            "--policies",
            str(tmp_path),
            "--cycle",
            "30s",
            "--requestheader-allowed-names",
            "front-proxy-client, aggregator",
            "--requestheader-username-headers",
            "X-Remote-User,X-User",
        )
    )
    assert custom.cycle_seconds == 30
    assert custom.decision_max_age == 90
    assert custom.requestheader_allowed_names == ("front-proxy-client", "aggregator")
    assert custom.requestheader_username_headers == ("X-Remote-User", "X-User")


def test_source_bounds_are_flags_with_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = settings_from(_args("--source", "scrape", "--policies", str(tmp_path)))
    assert (default.scrape_timeout, default.scrape_concurrency) == (2.0, 16)
    assert default.prometheus_timeout == 10.0
    chosen = settings_from(
        _args(
            *("--source", "scrape", "--policies", str(tmp_path)),
            *("--scrape-timeout", "500ms", "--scrape-concurrency", "64"),
            *("--prometheus-timeout", "1m"),
        )
    )
    assert (chosen.scrape_timeout, chosen.scrape_concurrency) == (0.5, 64)
    assert chosen.prometheus_timeout == 60.0
    for flag, value, message in (
        ("--scrape-concurrency", "0", "must be at least 1"),
        ("--scrape-timeout", "soon", "is not a duration"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(["serve", "--source", "scrape", "--policies", str(tmp_path), flag, value])
        assert exited.value.code == 2
        assert message in capsys.readouterr().err
    assert (
        main(["serve", "--source", "scrape", "--policies", str(tmp_path), "--scrape-timeout", "0"])
        == 2
    )
    assert "--scrape-timeout: Input should be greater than 0" in capsys.readouterr().err
    assert main(["serve", "--cycle", "0"]) == 2
    assert "--cycle: Input should be greater than 0" in capsys.readouterr().err


def test_leader_election_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--source", "prometheus", "--policies", str(tmp_path))
    off = settings_from(_args(*base))
    assert not off.leader_elect
    on = settings_from(
        _args(
            *base,
            *("--leader-elect", "--leader-elect-lease", "lws/lws-autoscaler"),
            *("--leader-elect-identity", "pod-0", "--leader-elect-lease-duration", "1m"),
        )
    )
    assert (on.leader_elect, on.leader_elect_lease) == (True, "lws/lws-autoscaler")
    assert (on.leader_elect_identity, on.leader_elect_lease_duration) == ("pod-0", 60.0)
    for extra, message in (
        (("--leader-elect",), "--leader-elect-lease '': expected NAMESPACE/NAME"),
        (("--leader-elect", "--leader-elect-lease", "a/b/c"), "expected NAMESPACE/NAME"),
        (("--leader-elect", "--leader-elect-lease", "lws-autoscaler"), "expected NAMESPACE/NAME"),
        (("--leader-elect", "--leader-elect-lease", "/lws-autoscaler"), "expected NAMESPACE/NAME"),
        (("--leader-elect", "--leader-elect-lease", "lws/"), "expected NAMESPACE/NAME"),
        (
            (
                "--leader-elect",
                "--leader-elect-lease",
                "a/b",
                "--leader-elect-lease-duration",
                "20s",
            ),
            "--leader-elect-lease-duration (20s) must be at least twice --cycle (15s)",
        ),
    ):
        assert main(["serve", *base, *extra]) == 2
        assert message in capsys.readouterr().err


def test_leader_election_is_built_on_the_kubeconfig(tmp_path: Path) -> None:
    from autoscaler.server.sources_factory import build_leader_elector
    from tests.support.fake_apiserver import FakeApiServer

    with FakeApiServer() as api:
        config = api.write_kubeconfig(tmp_path / "kubeconfig", token="sa")
        settings = settings_from(
            _args(
                *("--source", "prometheus", "--policies", str(tmp_path)),
                *("--kubeconfig", str(config), "--leader-elect"),
                *("--leader-elect-lease", "lws/lws-autoscaler", "--leader-elect-identity", "pod-0"),
            )
        )
        elector = build_leader_elector(settings)
        assert elector is not None
        assert elector.leads(1_000_000.0)
        (create,) = [r for r in api.requests if r.method == "POST"]
    assert create.path == "/apis/coordination.k8s.io/v1/namespaces/lws/leases"
    assert create.headers["authorization"] == "Bearer sa"
    assert create.json()["spec"]["holderIdentity"] == "pod-0"
    assert create.json()["spec"]["leaseDurationSeconds"] == 45
    plain = settings_from(_args("--source", "prometheus", "--policies", str(tmp_path)))
    assert build_leader_elector(plain) is None


def test_events_are_built_on_the_kubeconfig_unless_off_or_replaying(tmp_path: Path) -> None:
    from autoscaler.engine import Decision
    from autoscaler.server.sources_factory import build_events
    from autoscaler.server.telemetry import Telemetry
    from autoscaler.snapshot import LwsKey
    from tests.support.fake_apiserver import FakeApiServer

    with FakeApiServer() as api:
        config = api.write_kubeconfig(tmp_path / "kubeconfig", token="sa")
        cluster = ("--source", "prometheus", "--policies", str(tmp_path), "--kubeconfig")
        on = settings_from(_args(*cluster, str(config), "--leader-elect-identity", "pod-0"))
        assert on.events
        recorder = build_events(on, Telemetry())
        assert recorder is not None
        key = LwsKey("inference", "llama")
        for replicas in (2, 3):
            decision = Decision(key, "llama", 0.0, replicas, 2, None, (), ())
            recorder.record([decision], 1_000_000.0, write=True)
        assert recorder.flush(30)
        recorder.close()
        (post,) = [r for r in api.requests if r.method == "POST"]
        off = settings_from(_args(*cluster, str(config), "--no-events"))
        assert build_events(off, Telemetry()) is None
    assert post.path == "/apis/events.k8s.io/v1/namespaces/inference/events"
    assert post.headers["authorization"] == "Bearer sa"
    assert post.json()["reportingInstance"] == "pod-0"  # the chart's pod name
    assert build_events(settings_from(_args()), Telemetry()) is None  # the demo: no cluster


def test_bad_flag_combinations_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "serve",
            "--insecure",
            "--bind-address",
            "10.0.0.1",
            "--source",
            "recording",
            "--policies",
            str(tmp_path),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "plain HTTP on 10.0.0.1" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["serve", "--cycle", "fast"])
    assert "is not a duration" in capsys.readouterr().err
    # The example policies are for recordings only, never for a live cluster.
    assert main(["serve", "--source", "prometheus"]) == 2
    assert "--policies is required with --source prometheus" in capsys.readouterr().err
    # Your own policies never silently replay the built-in demo recording.
    assert main(["serve", "--policies", str(tmp_path)]) == 2
    assert "--source is required with --policies" in capsys.readouterr().err


def test_usage_lines_are_ready_to_paste(tmp_path: Path) -> None:
    policy = make_policy()
    assert metric_path(policy) == (
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"
        "?labelSelector=leaderworkerset%3Dllama-70b"
    )
    lines = usage_lines("http://127.0.0.1:8080", tmp_path / "kc", [policy], insecure_tls=False)
    assert lines[0].startswith(f"  kubectl --kubeconfig {tmp_path / 'kc'} get --raw '/apis/")
    assert lines[1].startswith("  curl -s 'http://127.0.0.1:8080/apis/")
    assert lines[2] == "  lws-autoscaler explain inference/llama-70b --server http://127.0.0.1:8080"
    # Of several policies, the one with the widest range is shown: the built-in
    # examples' llama-70b (1-12 groups), not dev-8b (1-2) nor llama-405b (1-6).
    builtin = [loaded.policy for loaded in load_policies([builtin_policies_dir()])]
    assert sorted(p.spec.replicas.max for p in builtin) == [2, 6, 12]
    shown = usage_lines("http://127.0.0.1:8080", None, builtin, insecure_tls=False)
    assert shown[-1].startswith("  lws-autoscaler explain inference/llama-70b ")


@pytest.mark.parametrize(
    ("argv0", "program"),
    [
        (".venv/bin/lws-autoscaler", ".venv/bin/lws-autoscaler"),  # the README's Quick start
        ("/opt/my venv/bin/lws-autoscaler", "'/opt/my venv/bin/lws-autoscaler'"),
        ("lws-autoscaler", "lws-autoscaler"),  # found on PATH
        ("/src/autoscaler/cli/main.py", "lws-autoscaler"),  # python -m autoscaler.cli.main
    ],
)
def test_the_explain_line_names_the_program_as_it_was_started(argv0: str, program: str) -> None:
    # The Quick start never activates the venv: a bare `lws-autoscaler explain` pasted
    # from its output was "command not found".
    assert program_name(argv0) == program
    lines = usage_lines("http://127.0.0.1:8080", None, [make_policy()], False, program=program)
    assert lines[-1].startswith(f"  {program} explain inference/llama-70b ")


def test_with_authentication_on_the_lines_send_a_token() -> None:
    # Without it, both lines got 401 from the server that printed them.
    lines = usage_lines("https://127.0.0.1:6443", None, [make_policy()], True, needs_token=True)
    assert lines[0].startswith("  # authentication is on: set TOKEN to a bearer token")
    assert lines[1].startswith('  curl -s -k -H "Authorization: Bearer $TOKEN" ')
    assert lines[2].endswith(' --token "$TOKEN"')


def test_explain_prints_the_last_decision(
    start_server: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    with start_server(disable_auth=True) as running:
        running.cycle()
        assert running.ca_file is not None
        tls = ["--server", running.url, "--certificate-authority", str(running.ca_file)]
        assert main(["explain", "inference/llama-70b", *tls]) == 0
        out = capsys.readouterr().out
        assert out.startswith("inference/llama-70b (policy llama-70b): recommend 8 (current 4)")
        assert "signal queueDepth: ok value=16 target=8" in out
        assert "decided at 2026-01-01T00:00:00Z, 0s ago" in out
        assert "STALE" not in out
        running.clock.advance(120)  # past the 45 s max age: the loop is behind
        assert main(["explain", "inference/llama-70b", *tls]) == 0
        behind = capsys.readouterr().out
        assert "decided at 2026-01-01T00:00:00Z, 120s ago (STALE: the control loop is behind)" in (
            behind
        )
        running.cycle()

        assert main(["explain", "inference/llama-70b", "-o", "json", *tls]) == 0
        assert '"replicas": 8' in capsys.readouterr().out

        assert main(["explain", "inference/nobody", *tls]) == 1
        assert "404: no decision for inference/nobody" in capsys.readouterr().err

        assert main(["explain", "inference/llama-70b", "--server", running.url]) == 1
        assert "cannot reach" in capsys.readouterr().err  # the test CA is not trusted

    assert main(["explain", "not-a-key"]) == 2
    assert main(["explain", "a/b", "--server", "http://127.0.0.1:9"]) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_an_unwritable_cert_dir_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a FileExistsError traceback from deep in the TLS set-up."""
    taken = tmp_path / "taken"
    taken.write_text("")
    argv = ["serve", "--source", "recording", "--policies", str(builtin_policies_dir())]
    assert main([*argv, "--disable-auth", "--cert-dir", str(taken / "certs")]) == 2
    err = capsys.readouterr().err
    assert f"--cert-dir {taken / 'certs'}: cannot write the self-signed certificate" in err
    assert "Traceback" not in err


def test_no_command_prints_the_commands_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: lws-autoscaler")
    assert all(name in out for name in ("serve", "validate", "simulate", "benchmark"))


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    """``lws-autoscaler ... | head``: the reader leaves, the command exits 141 (as a shell
    reports SIGPIPE) without a BrokenPipeError traceback."""
    script = (
        "import sys\n"
        "from autoscaler.cli import main, schema\n"
        "def gone(args):\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "schema.run = gone\n"
        "sys.exit(main.main(['schema']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 141
    assert "Traceback" not in done.stderr


def test_a_replay_builds_no_cluster_writer_even_with_a_kubeconfig(tmp_path: Path) -> None:
    """A recording is no cluster: with ``--kubeconfig`` given too, nothing is built that
    would relabel leaders, write Events or list HPAs; with a cluster source, all three are,
    and the audit lists for a quarter of a cycle (3.75 s of a 15 s cycle)."""
    from autoscaler.server.sources_factory import build_cordon, build_events, build_hpa_audit
    from autoscaler.server.telemetry import Telemetry
    from tests.support.fake_apiserver import FakeApiServer

    with FakeApiServer() as api:
        config = str(api.write_kubeconfig(tmp_path / "kubeconfig", token="sa"))
        replay = settings_from(_args("--kubeconfig", config))
        assert replay.source == "recording"
        assert build_cordon(replay) is None
        assert build_events(replay, Telemetry()) is None
        assert build_hpa_audit(replay, Telemetry()) is None
        cluster = settings_from(
            _args("--source", "prometheus", "--policies", str(tmp_path), "--kubeconfig", config)
        )
        assert build_cordon(cluster) is not None
        recorder = build_events(cluster, Telemetry())
        assert recorder is not None
        recorder.close()
        audit = build_hpa_audit(cluster, Telemetry())
        assert audit is not None
        assert audit.budget == 3.75
        assert api.requests == []  # building asks the API server nothing


def test_the_served_replay_loops_over_the_recording() -> None:
    """``serve`` replays its recording over and over (the demo runs for as long as it is
    left running): one recording's length later, the same values come back."""
    from autoscaler.server.sources_factory import build_source
    from autoscaler.sources.recording import RecordingSource
    from tests.sources.factories import only, target, values

    source = build_source(settings_from(_args()))
    assert isinstance(source, RecordingSource)
    key = source.keys[0]
    targets = [target(key.namespace, key.name)]
    period = source.end - source.start + source.step
    at = source.start + 3 * source.step
    first = only(source.fetch(targets, at), key.namespace, key.name)
    again = only(source.fetch(targets, at + 2 * period), key.namespace, key.name)
    assert values(first)
    assert values(again) == values(first)
