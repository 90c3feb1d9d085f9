"""The Containerfile agrees with what the chart expects of the image.

No container runtime runs here, so the image itself is not built in CI. What is checked
is what would break a deployment silently: the user the chart runs as, the command it
starts, the environment a read-only root filesystem needs, and that every path the
build copies exists (the package's install from those files is what ``.ci/run`` does).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from tests.charts.chart_support import render

REPO = Path(__file__).resolve().parents[1]
CONTAINERFILE = (REPO / "Containerfile").read_text(encoding="utf-8")


def _instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", CONTAINERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", joined, re.M)]


def test_the_image_runs_as_the_user_the_chart_sets() -> None:
    values = yaml.safe_load((REPO / "charts/lws-autoscaler/values.yaml").read_text())
    pod = values["podSecurityContext"]
    assert _instructions("USER") == [f"{pod['runAsUser']}:{pod['runAsGroup']}"]


def test_the_chart_command_is_the_installed_console_script() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    deployment = render({}).one("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][0] in scripts
    assert _instructions("ENTRYPOINT") == [f'["{container["command"][0]}"]']


def test_home_and_caches_point_at_the_writable_tmp() -> None:
    # The chart mounts an emptyDir at /tmp under a read-only root filesystem.
    deployment = render({}).one("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
    (env,) = _instructions("ENV")
    assert "HOME=/tmp" in env
    assert "MPLCONFIGDIR=/tmp/" in env


def test_every_copied_path_exists_and_holds_the_packages() -> None:
    copied = [
        part
        for args in _instructions("COPY")
        if not args.startswith("--from")
        for part in args.split()[:-1]
    ]
    assert copied, "the build stage copies the sources"
    for part in copied:
        assert (REPO / part).exists(), part
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    included = {p.rstrip("*") for p in packages["packages"]["find"]["include"]}
    assert included <= set(copied)
    assert {"pyproject.toml", "README.md"} <= set(copied)  # the build reads the readme
