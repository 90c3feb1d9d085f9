"""``lws-autoscaler explain`` and ``serve`` reject unusable local files with a one-line
error naming the file and the flag, before any connection is tried (the request would
otherwise blame the network). The decision output itself is tested against a real
server in tests/server/test_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.cli.main import main

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
