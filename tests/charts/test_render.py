"""The chart renders with the real Helm engine, for the defaults and every option, into
manifests that validate against Kubernetes' own schemas (CRDs: structural schemas), and
``helm lint`` finds nothing to warn about.

Each scenario lists the exact set of kinds it must produce, so an option that silently
stops rendering its object (or renders one it should not) fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from tests.charts.chart_support import (
    CHART_DIR,
    LATEST_KUBE,
    MONITORING_APIS,
    NAMESPACE,
    OLDEST_KUBE,
    ci_values_files,
    load_values_file,
    policy_values,
    render,
    validation_errors,
)

# Kinds every default install creates.
CORE = {
    "Deployment",
    "Service",
    "ServiceAccount",
    "ConfigMap",
    "APIService",
    "ClusterRole",
    "ClusterRoleBinding",
    "RoleBinding",
    "Role",  # the leader-election Lease (two replicas by default)
    "Secret",
    "PodDisruptionBudget",
}

TEST_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBdzCCAR2gAwIBAgIUQ2hhcnQtdGVzdC1vbmx5MAoGCCqGSM49BAMCMBExDzAN\n"
    "-----END CERTIFICATE-----\n"
)

# (id, values, served API versions, Kubernetes version, expected kinds)
# The token a Prometheus pod sends as itself (the ServiceMonitor's bearerTokenFile).
SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

SCENARIOS: list[tuple[str, dict[str, Any], tuple[str, ...], str, set[str]]] = [
    ("defaults", {}, (), LATEST_KUBE, CORE),
    ("defaults-oldest-kube", {}, (), OLDEST_KUBE, CORE),
    (
        "policies-and-hpa",
        {**policy_values("llama-70b", "dev-8b"), "hpa": {"create": True}},
        (),
        LATEST_KUBE,
        CORE | {"HorizontalPodAutoscaler"},
    ),
    (
        "hpa-on-oldest-kube",
        {**policy_values("llama-405b"), "hpa": {"create": True}},
        (),
        OLDEST_KUBE,
        CORE | {"HorizontalPodAutoscaler"},
    ),
    (
        "policies-as-text",
        policy_values("llama-70b", "dev-8b", "llama-405b", as_text=True),
        (),
        LATEST_KUBE,
        CORE,
    ),
    (
        "cert-manager",
        {"tls": {"mode": "certManager"}},
        (),
        LATEST_KUBE,
        (CORE - {"Secret"}) | {"Certificate", "Issuer"},
    ),
    (
        "cert-manager-own-issuer",
        {
            "tls": {
                "mode": "certManager",
                "certManager": {
                    "issuerRef": {
                        "name": "cluster-ca",
                        "kind": "ClusterIssuer",
                        "group": "cert-manager.io",
                    }
                },
            }
        },
        (),
        LATEST_KUBE,
        (CORE - {"Secret"}) | {"Certificate"},
    ),
    (
        "own-secret",
        {"tls": {"mode": "secret", "existingSecret": "my-tls", "caBundle": TEST_CA_PEM}},
        (),
        LATEST_KUBE,
        CORE - {"Secret"},
    ),
    ("self-signed", {"tls": {"mode": "selfSigned"}}, (), LATEST_KUBE, CORE - {"Secret"}),
    (
        "plain-http-without-apiservice",
        {"server": {"insecure": True}, "apiService": {"enabled": False}},
        (),
        LATEST_KUBE,
        CORE - {"Secret", "APIService"},
    ),
    # auto: the CRD is there, but a scrape without a token would get 401: no ServiceMonitor.
    ("monitoring-auto-without-token", {}, MONITORING_APIS, LATEST_KUBE, CORE),
    (
        "monitoring-auto-with-crds",
        {"serviceMonitor": {"bearerTokenFile": SA_TOKEN}},
        MONITORING_APIS,
        LATEST_KUBE,
        CORE | {"ServiceMonitor"},
    ),
    (
        "monitoring-auto-both",
        {
            **policy_values("llama-70b"),
            "vllmPodMonitor": {"enabled": "auto"},
            "serviceMonitor": {"bearerTokenFile": SA_TOKEN},
        },
        MONITORING_APIS,
        LATEST_KUBE,
        CORE | {"ServiceMonitor", "PodMonitor"},
    ),
    (
        "monitoring-forced-without-crds",
        {"serviceMonitor": {"enabled": True}, "vllmPodMonitor": {"enabled": True}},
        (),
        LATEST_KUBE,
        CORE | {"ServiceMonitor", "PodMonitor"},
    ),
    (
        "monitoring-off-with-crds",
        {"serviceMonitor": {"enabled": False}},
        MONITORING_APIS,
        LATEST_KUBE,
        CORE,
    ),
    # One replica: no PDB (the Lease stays: a rollout runs two pods).
    ("single-replica-no-pdb", {"replicaCount": 1}, (), LATEST_KUBE, CORE - {"PodDisruptionBudget"}),
    (
        "pdb-max-unavailable",
        {"podDisruptionBudget": {"maxUnavailable": "50%"}},
        (),
        LATEST_KUBE,
        CORE,
    ),
    (
        "no-rbac-existing-sa",
        {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "autoscaler"}},
        (),
        LATEST_KUBE,
        CORE - {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding", "Role"},
    ),
    ("metrics-reader-role", {"rbac": {"metricsReader": True}}, (), LATEST_KUBE, CORE),
    # No lookup of the cluster's authentication ConfigMap: only the leader election's
    # RoleBinding is left (test_wiring checks which).
    ("auth-disabled", {"auth": {"disable": True}}, (), LATEST_KUBE, CORE),
    (
        "requestheader-ca",
        {"auth": {"requestheader": {"clientCA": TEST_CA_PEM, "allowedNames": ["front-proxy"]}}},
        (),
        LATEST_KUBE,
        CORE,
    ),
    (
        "existing-policies-configmap",
        {"policies": {"existingConfigMap": "gitops-policies"}},
        (),
        LATEST_KUBE,
        CORE - {"ConfigMap"},
    ),
    ("scrape-source", {"source": {"type": "scrape"}}, (), LATEST_KUBE, CORE),
    (
        "recording-source",
        {
            "source": {
                "type": "recording",
                "recording": {"file": "/data/rec.json.gz", "replaySpeed": 10},
            }
        },
        (),
        LATEST_KUBE,
        CORE,
    ),
    (
        "hard-anti-affinity-and-scheduling",
        {
            "podAntiAffinity": "hard",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "critical", "operator": "Exists", "effect": "NoSchedule"}],
            "priorityClassName": "system-cluster-critical",
            "imagePullSecrets": [{"name": "regcred"}],
            "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
            "extraVolumes": [{"name": "extra", "emptyDir": {}}],
            "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
            "image": {"digest": "sha256:" + "a" * 64},
        },
        (),
        LATEST_KUBE,
        CORE,
    ),
    (
        "extra-objects",
        {
            "extraObjects": [
                {
                    "apiVersion": "v1",
                    "kind": "LimitRange",
                    "metadata": {
                        "name": "{{ .Release.Name }}-limits",
                        "namespace": "{{ .Release.Namespace }}",
                    },
                    "spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]},
                },
            ]
        },
        (),
        LATEST_KUBE,
        CORE | {"LimitRange"},
    ),
]


@pytest.mark.parametrize(
    ("values", "api_versions", "kube_version", "expected_kinds"),
    [pytest.param(v, a, k, e, id=i) for i, v, a, k, e in SCENARIOS],
)
def test_scenario_renders_valid_manifests(
    values: dict[str, Any],
    api_versions: tuple[str, ...],
    kube_version: str,
    expected_kinds: set[str],
) -> None:
    rendered = render(values, api_versions=api_versions, kube_version=kube_version)
    assert rendered.kinds() == expected_kinds
    assert list(validation_errors(rendered)) == []
    # Namespaced objects land in the release namespace, except the two that must not:
    # the auth-reader RoleBinding (control plane namespace) and HPAs (the LWS namespace).
    for manifest in rendered.manifests:
        if manifest.kind == "HorizontalPodAutoscaler" or manifest.doc["metadata"]["name"].endswith(
            "-auth-reader"
        ):
            continue
        namespace = manifest.doc["metadata"].get("namespace")
        assert namespace in (None, NAMESPACE), f"{manifest.kind} in {namespace}"


@pytest.mark.parametrize("values_file", ci_values_files(), ids=lambda p: p.name)
def test_ci_scenarios_render_lint_and_validate(values_file: Path) -> None:
    values = load_values_file(values_file)
    rendered = render(values, api_versions=MONITORING_APIS)
    assert list(validation_errors(rendered)) == []
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems
    assert report["errors"] == []
    # A scenario that scrapes the server with authentication on must send credentials:
    # the monitoring scenario had none, and every scrape would have got 401.
    auth_on = not values.get("auth", {}).get("disable", False)
    for manifest in rendered.manifests:
        if manifest.kind == "ServiceMonitor" and auth_on:
            endpoint = manifest.doc["spec"]["endpoints"][0]
            assert "bearerTokenFile" in endpoint or "authorization" in endpoint, values_file


def test_validation_catches_a_broken_manifest() -> None:
    """The validator itself must reject what the API server would reject."""
    wrong_type = render()
    wrong_type.one("Deployment")["spec"]["replicas"] = "two"
    assert any("spec.replicas" in e for e in validation_errors(wrong_type))

    unknown_field = render()
    container = unknown_field.container_ref()
    container["imagePullPolicy2"] = "x"
    assert any("imagePullPolicy2" in e for e in validation_errors(unknown_field))

    bad_crd = render({"serviceMonitor": {"enabled": True}})
    bad_crd.one("ServiceMonitor")["spec"]["endpoints"][0]["interval"] = "30 seconds"
    assert any("interval" in e for e in validation_errors(bad_crd))


def test_validation_refuses_unknown_kinds_instead_of_skipping() -> None:
    rendered = render(
        {
            "extraObjects": [
                {
                    "apiVersion": "example.com/v1",
                    "kind": "Widget",
                    "metadata": {"name": "w", "namespace": NAMESPACE},
                }
            ]
        }
    )
    assert any("Widget" in e and "no schema" in e for e in validation_errors(rendered))


def test_lint_oldest_supported_kubernetes() -> None:
    report = helm.lint(CHART_DIR, strict=True, namespace=NAMESPACE, kube_version=OLDEST_KUBE)
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
