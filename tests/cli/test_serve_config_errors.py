"""``lws-autoscaler serve`` with bad configuration: one line naming the flag and what is
wrong, exit 2, no traceback, nothing started, listening or written.

Each case was accepted before (or failed late, unclearly): a huge ``--cycle`` killed the
control loop with an OverflowError traceback while the server kept listening,
``--prometheus-url 127.0.0.1:9090`` failed every cycle,
a port in use was uvicorn's exit 3 after the loop had started, a missing key file was
reported as the certificate, and CA files were silently ignored.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli.main import build_parser
from autoscaler.cli.serve import settings_from
from autoscaler.cli.serve_checks import preflight
from autoscaler.server.demo import builtin_policies_dir
from autoscaler.server.settings import ServerSetupError

RECORDING = ("--source", "recording", "--policies", str(builtin_policies_dir()))
LOCAL = (*RECORDING, "--insecure", "--disable-auth")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--cycle", "99999999999999d"), "argument --cycle: must be at most 7d"),
        (("--cycle", "8d"), "argument --cycle: must be at most 7d"),
        (("--max-decision-age", "9999999999d"), "--max-decision-age: must be at most 7d"),
        (("--request-header-timeout", "30d"), "--request-header-timeout: must be at most"),
        (("--cert-reload-interval", "1000000000"), "--cert-reload-interval: must be at most"),
        (("--leader-elect-lease-duration", "99d"), "--leader-elect-lease-duration: must be"),
        (("--prometheus-url", "127.0.0.1:9090"), "--prometheus-url: '127.0.0.1:9090' is not"),
        (("--prometheus-url", "ftp://p:9090"), "--prometheus-url: 'ftp://p:9090' is not"),
        (("--prometheus-url", "not a url"), "--prometheus-url: 'not a url' is not"),
    ],
)
def test_bad_values_are_usage_errors(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", *LOCAL, *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_bounds_still_accept_sensible_values() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            *LOCAL,
            "--cycle",
            "1s",
            "--max-decision-age",
            "7d",
            "--prometheus-url",
            "https://p",
        ]
    )
    settings = settings_from(args)
    assert (settings.cycle_seconds, settings.max_decision_age) == (1.0, 7 * 86400.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--bind-address", "not an address"), "--bind-address: 'not an address' is not an IP"),
        (("--bind-address", "a_b"), "--bind-address: 'a_b' is not an IP address or host name"),
        (("--client-ca-file", "ca.pem"), "--client-ca-file cannot be used with --disable-auth"),
        (
            ("--requestheader-client-ca-file", "ca.pem"),
            "--requestheader-client-ca-file cannot be used with --disable-auth",
        ),
    ],
)
def test_contradictory_settings_are_refused(argv: tuple[str, ...], message: str) -> None:
    args = build_parser().parse_args(["serve", *LOCAL, *argv])
    with pytest.raises(ServerSetupError, match="^" + message.replace("(", r"\(")):
        settings_from(args)


def test_client_ca_needs_https() -> None:
    args = build_parser().parse_args(["serve", *RECORDING, "--insecure", "--client-ca-file", "c"])
    with pytest.raises(ServerSetupError, match="--client-ca-file needs HTTPS"):
        settings_from(args)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--tls-private-key-file", "--tls-private-key-file {missing}: no such file"),
        ("--tls-cert-file", "--tls-cert-file {missing}: no such file"),
        ("--kubeconfig", "--kubeconfig {missing}: no such file"),
        ("--recording", "--recording {missing}: no such file"),
        ("--policies", "--policies {missing}: no such file or folder"),
    ],
)
def test_missing_files_name_their_flag(tmp_path: Path, flag: str, message: str) -> None:
    present = tmp_path / "present.pem"
    present.write_text("x")
    missing = tmp_path / "missing"
    tls = {"--tls-cert-file": present, "--tls-private-key-file": present}
    tls[flag] = missing
    argv = ["serve", *RECORDING, "--cert-dir", str(tmp_path / "certs")]
    if flag.startswith("--tls"):
        argv += [f"{name}={path}" for name, path in tls.items()]
    else:
        argv += [flag, str(missing)]
    with pytest.raises(ServerSetupError) as raised:
        preflight(settings_from(build_parser().parse_args(argv)))
    assert str(raised.value) == message.format(missing=missing)


def test_a_folder_given_as_a_file_is_named(tmp_path: Path) -> None:
    args = build_parser().parse_args(["serve", *LOCAL, "--kubeconfig", str(tmp_path)])
    with pytest.raises(ServerSetupError, match=r"--kubeconfig .*: is a folder, not a file"):
        preflight(settings_from(args))


def test_an_unresolvable_bind_address_is_named() -> None:
    args = build_parser().parse_args(
        ["serve", *LOCAL, "--bind-address", "nohost.invalid", "--force-insecure-non-loopback"]
    )
    # Then the resolver's words, without Python's "[Errno -2]" in front of them.
    resolver_words = r"--bind-address nohost\.invalid: cannot resolve it \([^\[]"
    with pytest.raises(ServerSetupError, match=resolver_words):
        preflight(settings_from(args))


def test_a_port_in_use_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    """End to end: exit 2, one line, no certificate written, the port still only ours."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        certs = tmp_path / "certs"
        command = [
            *(sys.executable, "-m", "autoscaler.cli.main", "serve", *RECORDING),
            *("--disable-auth", "--bind-address", "127.0.0.1", "--secure-port", str(port)),
            *("--cert-dir", str(certs)),
        ]
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"lws-autoscaler serve: cannot listen on --bind-address 127.0.0.1 --secure-port "
        f"{port}: Address already in use"
    ]
    assert not certs.exists()
