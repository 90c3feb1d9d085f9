"""The policies ConfigMap holds one file per policy, byte-for-byte what the user gave (or
the same document when given as a mapping), and the files pass the real validator,
``lws-autoscaler validate``, run as a subprocess on the rendered files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.charts.chart_support import FULLNAME, POLICIES_DIR, policy_values, render

EXAMPLE_POLICIES = ("llama-70b", "llama-405b", "dev-8b")


def _write_policy_files(values: dict[str, Any], directory: Path) -> dict[str, str]:
    data: dict[str, str] = render(values).one("ConfigMap", f"{FULLNAME}-policies")["data"]
    for key, text in data.items():
        (directory / key).write_text(text, encoding="utf-8")
    return data


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoscaler.cli.main", "validate", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.mark.parametrize("as_text", [False, True], ids=["mapping", "yaml-string"])
def test_rendered_policies_pass_the_validator(tmp_path: Path, as_text: bool) -> None:
    data = _write_policy_files(policy_values(*EXAMPLE_POLICIES, as_text=as_text), tmp_path)
    assert set(data) == {f"{name}.yaml" for name in EXAMPLE_POLICIES}

    result = _validate(tmp_path)
    assert result.returncode == 0, result.stderr
    for name in EXAMPLE_POLICIES:
        source = yaml.safe_load((POLICIES_DIR / f"{name}.yaml").read_text())
        target = source["spec"]["target"]
        assert f"ok: {name} -> LWS {target['namespace']}/{target['name']}" in result.stdout


def test_policies_given_as_text_are_stored_verbatim(tmp_path: Path) -> None:
    data = _write_policy_files(policy_values(*EXAMPLE_POLICIES, as_text=True), tmp_path)
    for name in EXAMPLE_POLICIES:
        source = (POLICIES_DIR / f"{name}.yaml").read_text()
        # Comments survive; only trailing whitespace may differ.
        assert data[f"{name}.yaml"].rstrip() == source.rstrip()


def test_policies_given_as_mappings_keep_every_value(tmp_path: Path) -> None:
    data = _write_policy_files(policy_values(*EXAMPLE_POLICIES), tmp_path)
    for name in EXAMPLE_POLICIES:
        source = yaml.safe_load((POLICIES_DIR / f"{name}.yaml").read_text())
        assert yaml.safe_load(data[f"{name}.yaml"]) == source


def test_large_numbers_survive_the_helm_values_round_trip(tmp_path: Path) -> None:
    """Go's YAML writer prints big floats as 1e+06, which YAML 1.1 reads as a string."""
    policy = yaml.safe_load((POLICIES_DIR / "llama-70b.yaml").read_text())
    throughput = next(s for s in policy["spec"]["signals"] if s["type"] == "tokenThroughput")
    throughput["capacityPerGroup"] = 2_500_000
    _write_policy_files({"policies": {"inline": {"big": policy}}}, tmp_path)
    stored = yaml.safe_load((tmp_path / "big.yaml").read_text())
    stored_signal = next(s for s in stored["spec"]["signals"] if s["type"] == "tokenThroughput")
    assert stored_signal["capacityPerGroup"] == 2_500_000
    assert _validate(tmp_path).returncode == 0


def test_an_invalid_policy_is_caught_by_the_validator(tmp_path: Path) -> None:
    policy = yaml.safe_load((POLICIES_DIR / "dev-8b.yaml").read_text())
    policy["spec"]["replicas"] = {"min": 5, "max": 2}
    _write_policy_files({"policies": {"inline": {"dev-8b": policy}}}, tmp_path)
    result = _validate(tmp_path)
    assert result.returncode == 1
    assert "dev-8b.yaml" in result.stderr
    assert "spec.replicas.max" in result.stderr


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {
                "apiVersion": "lws-autoscaler.io/v1alpha1",
                "kind": "ScalingPolicy",
                "metadata": {"name": "x"},
                "spec": {"replicas": {"max": 2}},
            },
            "needs spec.target.namespace and spec.target.name",
        ),
        (
            "apiVersion: lws-autoscaler.io/v1alpha1\nkind: ScalingPolicy\nspec: [unclosed",
            "is not valid YAML",
        ),
    ],
    ids=["no-target", "broken-yaml"],
)
def test_policies_the_chart_cannot_use_fail_the_install(policy: Any, message: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        render({"policies": {"inline": {"bad": policy}}, "hpa": {"create": True}})
    assert message in str(caught.value)
    assert "policies.inline.bad" in str(caught.value)


def test_two_inline_policies_for_one_lws_fail_the_install() -> None:
    # The server would refuse the second (tests/policy/test_loader.py), and with
    # hpa.create the chart would render two HPAs of one name.
    first = yaml.safe_load((POLICIES_DIR / "llama-70b.yaml").read_text())
    second = {**first, "metadata": {"name": "llama-70b-copy"}}
    with pytest.raises(helm.HelmError) as caught:
        render({"policies": {"inline": {"a": first, "b": second}}})
    assert "policies.inline.a and policies.inline.b both target LWS inference/llama-70b" in str(
        caught.value
    )
    # Another LWS for the second: both install, with an HPA each on its own target.
    other = {**second, "spec": {**first["spec"], "target": {"namespace": "x", "name": "y"}}}
    rendered = render({"policies": {"inline": {"a": first, "b": other}}, "hpa": {"create": True}})
    hpas = rendered.all("HorizontalPodAutoscaler")
    assert sorted(
        (h["metadata"]["namespace"], h["metadata"]["name"], h["spec"]["scaleTargetRef"]["name"])
        for h in hpas
    ) == [("inference", "llama-70b", "llama-70b"), ("x", "y", "y")]


def _kubelet_configmap_layout(directory: Path, files: dict[str, str]) -> None:
    """Lay files out the way the kubelet mounts a ConfigMap volume: the data lives in a
    timestamped ``..<timestamp>`` directory, ``..data`` links to it, and each key is a
    symlink ``<key> -> ..data/<key>``. An update swaps ``..data`` atomically."""
    snapshot = directory / "..2026_01_01_00_00_00.000000001"
    snapshot.mkdir()
    for key, text in files.items():
        (snapshot / key).write_text(text, encoding="utf-8")
    (directory / "..data").symlink_to(snapshot.name)
    for key in files:
        (directory / key).symlink_to(Path("..data") / key)


def test_validator_reads_a_real_configmap_mount(tmp_path: Path) -> None:
    data = render(policy_values("llama-70b")).one("ConfigMap", f"{FULLNAME}-policies")["data"]
    _kubelet_configmap_layout(tmp_path, data)
    result = _validate(tmp_path)
    assert result.returncode == 0, result.stderr
    # Read once, and named by the key's own path (the one an operator sees in the pod),
    # not by the timestamped folder the link resolves to.
    assert result.stdout == (
        f"{tmp_path / 'llama-70b.yaml'}:1: ok: llama-70b -> LWS inference/llama-70b\n"
    )
