"""The shipped scrape configuration is valid Prometheus configuration (its relabelling is
checked by the real ``promtool``) and produces the labels the Prometheus source selects on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from autoscaler.sources.promql import DEFAULT_LWS_LABEL, LabelNames

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_scrape_config_passes_promtool(tmp_path: Path) -> None:
    jobs = yaml.safe_load((DEPLOY / "scrape-config.yaml").read_text())
    # Debian's Prometheus build has no Kubernetes discovery; the relabelling (what this
    # file adds) is checked on a static target standing in for the discovered pod.
    for job in jobs:
        job.pop("kubernetes_sd_configs")
        job["static_configs"] = [{"targets": ["127.0.0.1:8000"]}]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": jobs}))
    result = subprocess.run(
        ["promtool", "check", "config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shipped_configs_produce_the_source_labels() -> None:
    labels = LabelNames()
    jobs = yaml.safe_load((DEPLOY / "scrape-config.yaml").read_text())
    targets = {r.get("target_label") for r in jobs[0]["relabel_configs"]}
    assert {labels.namespace, labels.pod, labels.lws} <= targets
    monitor = yaml.safe_load((DEPLOY / "podmonitor.yaml").read_text())
    # The operator sanitises podTargetLabels: every character outside [a-zA-Z0-9_] -> "_".
    sanitised = {
        "".join(c if c.isalnum() or c == "_" else "_" for c in name)
        for name in monitor["spec"]["podTargetLabels"]
    }
    assert DEFAULT_LWS_LABEL in sanitised
    worker = monitor["spec"]["selector"]["matchExpressions"][1]
    assert worker == {
        "key": "leaderworkerset.sigs.k8s.io/worker-index",
        "operator": "In",
        "values": ["0"],
    }
