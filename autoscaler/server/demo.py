"""The built-in demo of ``lws-autoscaler serve`` (no arguments) and its ready-to-paste lines.

The demo replays the shipped recording through the example policies (copies in
``autoscaler/data/policies``), accelerated, on plain HTTP at 127.0.0.1 with auth off.
The clock starts one policy horizon into the recording, so the restart replay warms
every window at once and recommendations move from the first cycles.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

import yaml

from autoscaler.policy.model import ScalingPolicy
from autoscaler.server.series import LWS_LABEL, RECOMMENDED_REPLICAS

DEMO_REPLAY_SPEED = 10.0


def builtin_policies_dir() -> Path:
    """The example policies shipped in the package (``autoscaler/data/policies``)."""
    return Path(str(files("autoscaler") / "data" / "policies"))


def demo_start(recording_start: float, recording_end: float, warm_seconds: float) -> float:
    """Recording time the demo clock starts at: warm, but well before the end."""
    return min(recording_start + warm_seconds, (recording_start + recording_end) / 2)


def write_kubeconfig(url: str, port: int, directory: Path | None = None) -> Path:
    """A kubeconfig whose cluster is ``url`` (plain HTTP on loopback: no credentials).

    Named after the port (``kubeconfig-8080``), so that a second server on another port
    does not redirect the first one's printed kubectl line to itself.
    """
    folder = directory or Path(tempfile.gettempdir()) / "lws-autoscaler-demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kubeconfig-{port}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "lws-autoscaler-demo",
        "clusters": [{"name": "lws-autoscaler-demo", "cluster": {"server": url}}],
        "users": [{"name": "anonymous", "user": {}}],
        "contexts": [
            {
                "name": "lws-autoscaler-demo",
                "context": {"cluster": "lws-autoscaler-demo", "user": "anonymous"},
            }
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def metric_path(policy: ScalingPolicy, metric: str = RECOMMENDED_REPLICAS) -> str:
    target = policy.spec.target
    selector = quote(f"{LWS_LABEL}={target.name}", safe="")
    return (
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{target.namespace}/{metric}"
        f"?labelSelector={selector}"
    )


def program_name(argv0: str) -> str:
    """The command to print for this program: the path it was started by when that is
    the installed script (``.venv/bin/lws-autoscaler``, not on PATH before the venv is
    activated), else ``lws-autoscaler`` (``python -m autoscaler.cli.main``)."""
    if Path(argv0).name == "lws-autoscaler" and "/" in argv0:
        return shlex.quote(argv0)
    return "lws-autoscaler"


def usage_lines(
    url: str,
    kubeconfig: Path | None,
    policies: Sequence[ScalingPolicy],
    insecure_tls: bool,
    ca_file: Path | None = None,
    *,
    program: str = "lws-autoscaler",
    needs_token: bool = False,
) -> list[str]:
    """What to paste to read the recommendation of the policy with the widest range.

    ``ca_file``: the self-signed serving certificate, which ``explain`` must be told to
    trust (it verifies TLS; the ``curl`` line uses ``-k`` instead). ``needs_token``:
    authentication is on, so the lines send ``$TOKEN`` (a first line says what it is).
    """
    if not policies:
        return []
    policy = max(policies, key=lambda p: (p.spec.replicas.max, p.name))
    path = metric_path(policy)
    target = policy.spec.target
    curl = "curl -s" + (" -k" if insecure_tls else "")
    if needs_token:
        curl += ' -H "Authorization: Bearer $TOKEN"'
    lines = [f"  {curl} {shlex.quote(url + path)}"]
    if kubeconfig is not None:
        lines.insert(
            0,
            f"  kubectl --kubeconfig {shlex.quote(str(kubeconfig))} get --raw {shlex.quote(path)}",
        )
    explain = f"  {program} explain {target.namespace}/{target.name} --server {url}"
    if ca_file is not None:
        explain += f" --certificate-authority {shlex.quote(str(ca_file))}"
    if needs_token:
        explain += ' --token "$TOKEN"'
        lines.insert(
            0,
            "  # authentication is on: set TOKEN to a bearer token allowed to read external "
            "metrics, e.g. TOKEN=$(kubectl create token SERVICE-ACCOUNT)",
        )
    lines.append(explain)
    return lines
