"""The objects the chart renders are wired to each other the way the aggregator, the HPA
controller and Prometheus need: APIService -> Service -> container port, serving
certificate <-> caBundle, container flags <-> values, RBAC, HPA shape, monitors.

Expected values are derived from the inputs (values, policies, the external metrics
contract), never copied from rendered output.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import helm_python as helm
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from autoscaler.cli.main import build_parser
from autoscaler.cli.serve import is_demo, settings_from
from autoscaler.durations import parse_duration
from autoscaler.policy.loader import policy_from_document
from autoscaler.server.hpa_findings import PolicyBounds, standing_of
from autoscaler.sources.promql import DEFAULT_LWS_LABEL
from tests.charts.chart_support import (
    FULLNAME,
    MONITORING_APIS,
    NAMESPACE,
    OLDEST_KUBE,
    POLICIES_DIR,
    Rendered,
    policy_values,
    render,
    validation_errors,
)

SERVICE_DNS = f"{FULLNAME}.{NAMESPACE}.svc"


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _secret_data(rendered: Rendered, name: str) -> dict[str, bytes]:
    return {k: _b64(v) for k, v in rendered.one("Secret", name)["data"].items()}


# --- APIService -> Service -> container -------------------------------------------------


@pytest.mark.parametrize("service_port", [443, 8443])
def test_apiservice_points_at_the_service_port_that_reaches_the_server(service_port: int) -> None:
    rendered = render({"service": {"port": service_port}, "server": {"securePort": 7443}})
    api = rendered.one("APIService")
    assert api["metadata"]["name"] == "v1beta1.external.metrics.k8s.io"
    assert (api["spec"]["group"], api["spec"]["version"]) == ("external.metrics.k8s.io", "v1beta1")

    ref = api["spec"]["service"]
    service = rendered.one("Service", ref["name"])
    assert ref["namespace"] == service["metadata"]["namespace"] == NAMESPACE
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == ref["port"]]
    assert ref["port"] == service_port

    container = rendered.container()
    (target,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    assert target["containerPort"] == 7443
    assert "--secure-port=7443" in container["args"]

    # The Service selects exactly the Deployment's pods.
    deployment = rendered.one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_helm_mode_certificate_is_signed_by_the_ca_in_the_apiservice() -> None:
    rendered = render({"tls": {"validityDays": 30}})
    api = rendered.one("APIService")
    assert "insecureSkipTLSVerify" not in api["spec"]
    ca = x509.load_pem_x509_certificate(_b64(api["spec"]["caBundle"]))

    data = _secret_data(rendered, f"{FULLNAME}-tls")
    assert data["ca.crt"] == ca.public_bytes(serialization.Encoding.PEM)
    leaf = x509.load_pem_x509_certificate(data["tls.crt"])
    leaf.verify_directly_issued_by(ca)  # raises if the signature does not match
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert SERVICE_DNS in sans.get_values_for_type(x509.DNSName)

    key = serialization.load_pem_private_key(data["tls.key"], password=None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()  # type: ignore[union-attr]

    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 29 <= lifetime.days <= 31

    # A new certificate restarts the pods: the server would reload it, but only after the
    # kubelet syncs the Secret, while the APIService caBundle changes at once.
    annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/tls"] == hashlib.sha256(data["tls.crt"]).hexdigest()

    # The Deployment mounts that Secret and hands the files to the server.
    container = rendered.container()
    mount = next(m for m in container["volumeMounts"] if m["name"] == "serving-cert")
    volume = next(
        v
        for v in rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "serving-cert"
    )
    assert volume["secret"]["secretName"] == f"{FULLNAME}-tls"
    assert f"--tls-cert-file={mount['mountPath']}/tls.crt" in container["args"]
    assert f"--tls-private-key-file={mount['mountPath']}/tls.key" in container["args"]


def test_cert_manager_mode_injects_the_ca_of_the_serving_certificate() -> None:
    rendered = render({"tls": {"mode": "certManager"}})
    api = rendered.one("APIService")
    assert "caBundle" not in api["spec"]
    assert "insecureSkipTLSVerify" not in api["spec"]
    inject = api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    cert_namespace, cert_name = inject.split("/")
    certificate = rendered.one("Certificate", cert_name)
    assert cert_namespace == certificate["metadata"]["namespace"] == NAMESPACE
    assert SERVICE_DNS in certificate["spec"]["dnsNames"]

    # Chain: serving cert <- CA Issuer <- CA Certificate <- self-signed Issuer.
    ca_issuer = rendered.one("Issuer", certificate["spec"]["issuerRef"]["name"])
    ca_certificate = rendered.one("Certificate", f"{FULLNAME}-ca")
    assert ca_certificate["spec"]["isCA"] is True
    assert ca_issuer["spec"]["ca"]["secretName"] == ca_certificate["spec"]["secretName"]
    root = rendered.one("Issuer", ca_certificate["spec"]["issuerRef"]["name"])
    assert root["spec"] == {"selfSigned": {}}

    volume = next(
        v
        for v in rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "serving-cert"
    )
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]


def test_own_secret_mode_uses_the_given_secret_and_ca() -> None:
    ca_pem = "-----BEGIN CERTIFICATE-----\nTUlJQ2VydA==\n-----END CERTIFICATE-----\n"
    rendered = render({"tls": {"mode": "secret", "existingSecret": "corp-tls", "caBundle": ca_pem}})
    assert _b64(rendered.one("APIService")["spec"]["caBundle"]).decode() == ca_pem.strip()
    volumes = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "serving-cert",
        "secret": {"secretName": "corp-tls", "defaultMode": 0o440},
    } in volumes


@pytest.mark.parametrize(
    ("values", "skip_verify"),
    [
        ({"tls": {"mode": "selfSigned"}}, True),
        ({"apiService": {"insecureSkipTLSVerify": True}}, True),
        ({}, False),
    ],
)
def test_insecure_skip_tls_verify_only_when_nothing_can_be_verified(
    values: dict[str, Any], skip_verify: bool
) -> None:
    rendered = render(values)
    spec = rendered.one("APIService")["spec"]
    assert spec.get("insecureSkipTLSVerify", False) is skip_verify
    assert ("caBundle" in spec) is not skip_verify
    assert ("skips TLS verification" in rendered.notes) is skip_verify


# --- container flags ----------------------------------------------------------------------


FLAG_CASES: list[tuple[str, dict[str, Any], list[str], list[str]]] = [
    (
        "defaults",
        {},
        [
            "--policies=/etc/lws-autoscaler/policies",
            "--source=prometheus",
            "--prometheus-url=http://prometheus-operated.monitoring.svc:9090",
            "--prometheus-timeout=10s",
            "--prometheus-lws-label=leaderworkerset_sigs_k8s_io_name",
            "--cycle=15s",
            "--bind-address=0.0.0.0",
            "--secure-port=6443",
            "--hpa-audit-interval=60s",
            "--log-level=info",
        ],
        [
            "--insecure",
            "--disable-auth",
            "--tls-host",
            "--recording",
            "--replay-speed",
            "--max-decision-age",
            "--scrape-",
        ],
    ),
    (
        "prometheus-url-and-cycle",
        {
            "source": {"prometheus": {"url": "https://thanos.obs:9091", "timeout": "4s"}},
            "cycle": "30s",
            "logLevel": "debug",
        },
        [
            "--prometheus-url=https://thanos.obs:9091",
            "--prometheus-timeout=4s",
            "--cycle=30s",
            "--log-level=debug",
        ],
        [],
    ),
    (
        # The label the PodMonitor writes is the one the server reads: changed in one
        # place, the source used to query the default and find nothing.
        "lws-label",
        {"vllmPodMonitor": {"lwsLabel": "lws_name"}},
        ["--prometheus-lws-label=lws_name"],
        [],
    ),
    (
        "scrape-source",
        {"source": {"type": "scrape"}},
        ["--source=scrape", "--scrape-timeout=2s", "--scrape-concurrency=16"],
        ["--prometheus-", "--recording"],
    ),
    (
        "scrape-source-bounds",
        {"source": {"type": "scrape", "scrape": {"timeout": "500ms", "concurrency": 64}}},
        ["--scrape-timeout=500ms", "--scrape-concurrency=64"],
        ["--prometheus-"],
    ),
    (
        "recording-source",
        {
            "source": {
                "type": "recording",
                "recording": {"file": "/rec/a.json.gz", "replaySpeed": 20},
            }
        },
        ["--source=recording", "--recording=/rec/a.json.gz", "--replay-speed=20"],
        ["--prometheus-url"],
    ),
    (
        "self-signed",
        {"tls": {"mode": "selfSigned"}},
        ["--cert-dir=/var/run/lws-autoscaler/cert-dir", f"--tls-host={SERVICE_DNS}"],
        ["--tls-cert-file", "--tls-private-key-file"],
    ),
    ("max-decision-age", {"maxDecisionAge": "2m"}, ["--max-decision-age=2m"], []),
    (
        "hpa-audit-interval",
        {"hpaAudit": {"intervalSeconds": 300}},
        ["--hpa-audit-interval=300s"],
        [],
    ),
    # Off is an explicit 0, whatever the interval: without the flag the server would
    # still audit every 60 s, and with no RBAC for it every list would be refused.
    (
        "hpa-audit-off",
        {"hpaAudit": {"enabled": False, "intervalSeconds": 300}},
        ["--hpa-audit-interval=0"],
        [],
    ),
    (
        "plain-http",
        {"server": {"insecure": True, "insecurePort": 8081}, "apiService": {"enabled": False}},
        ["--insecure", "--insecure-port=8081", "--force-insecure-non-loopback"],
        ["--tls-cert-file", "--cert-dir", "--tls-host"],
    ),
    (
        "plain-http-on-loopback",
        {
            "server": {"insecure": True, "bindAddress": "127.0.0.1"},
            "apiService": {"enabled": False},
        },
        ["--insecure", "--bind-address=127.0.0.1"],
        ["--force-insecure-non-loopback"],
    ),
    ("auth-disabled", {"auth": {"disable": True}}, ["--disable-auth"], ["--requestheader"]),
    (
        "no-cluster-lookup",
        {"auth": {"requestheader": {"fromCluster": False}}},
        ["--authentication-skip-lookup"],
        ["--requestheader", "--disable-auth"],
    ),
    (
        "requestheader",
        {
            "auth": {
                "requestheader": {
                    "clientCA": "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n",
                    "allowedNames": ["front-proxy-client", "aggregator"],
                    "usernameHeaders": "X-User",
                    "groupHeaders": "X-Groups",
                    "extraHeadersPrefix": "X-Extra-",
                }
            }
        },
        [
            "--requestheader-client-ca-file=/var/run/lws-autoscaler/requestheader-ca/ca.crt",
            "--requestheader-allowed-names=front-proxy-client,aggregator",
            "--requestheader-username-headers=X-User",
            "--requestheader-group-headers=X-Groups",
            "--requestheader-extra-headers-prefix=X-Extra-",
        ],
        ["--disable-auth"],
    ),
    (
        "custom-mount-and-extra-args",
        {"policies": {"mountPath": "/policies"}, "server": {"extraArgs": ["--foo=bar baz"]}},
        ["--policies=/policies", "--foo=bar baz"],
        [],
    ),
]


@pytest.mark.parametrize(
    ("values", "present", "absent"),
    [pytest.param(v, p, a, id=i) for i, v, p, a in FLAG_CASES],
)
def test_container_flags_follow_values(
    values: dict[str, Any], present: list[str], absent: list[str]
) -> None:
    args = render(values).args()
    for flag in present:
        assert flag in args, f"{flag} missing from {args}"
    for prefix in absent:
        assert not any(a.startswith(prefix) for a in args), f"{prefix} unexpected in {args}"
    # Every single-valued flag is given once: argparse would silently keep the last one.
    names = [a.split("=", 1)[0] for a in args if a.startswith("--")]
    single = [n for n in names if n not in REPEATABLE_FLAGS]
    assert len(single) == len(set(single)), args


REPEATABLE_FLAGS = {"--policies", "--tls-host"}


@pytest.mark.parametrize(
    "values",
    [pytest.param(v, id=i) for i, v, _, _ in FLAG_CASES if i != "custom-mount-and-extra-args"],
)
def test_the_real_serve_command_accepts_the_rendered_flags(values: dict[str, Any]) -> None:
    """Parse the container's args with the real ``lws-autoscaler serve`` parser and turn
    them into validated settings, as the server does at start-up."""
    container = render(values).container()
    assert container["command"] == ["lws-autoscaler", "serve"]
    args = build_parser().parse_args(["serve", *container["args"]])
    settings = settings_from(args)
    assert not is_demo(args)
    (port,) = container["ports"]
    assert settings.port == port["containerPort"]
    assert settings.scheme.upper() == container["readinessProbe"]["httpGet"]["scheme"]
    assert settings.cycle_seconds == parse_duration(values.get("cycle", "15s"))
    assert settings.disable_auth is values.get("auth", {}).get("disable", False)
    source = values.get("source", {})
    assert settings.prometheus_timeout == parse_duration(
        source.get("prometheus", {}).get("timeout", "10s")
    )
    assert settings.scrape_timeout == parse_duration(source.get("scrape", {}).get("timeout", "2s"))
    assert settings.scrape_concurrency == source.get("scrape", {}).get("concurrency", 16)
    audit = values.get("hpaAudit", {})
    audit_interval = audit.get("intervalSeconds", 60) if audit.get("enabled", True) else 0
    assert settings.hpa_audit_interval == audit_interval


def test_requestheader_ca_is_mounted_where_the_flag_points() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----"
    rendered = render({"auth": {"requestheader": {"clientCA": pem}}})
    container = rendered.container()
    flag = next(a for a in container["args"] if a.startswith("--requestheader-client-ca-file="))
    path = flag.split("=", 1)[1]
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(
        v
        for v in rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == mount["name"]
    )
    configmap = rendered.one("ConfigMap", volume["configMap"]["name"])
    assert configmap["data"][path.rsplit("/", 1)[1]].strip() == pem


def test_image_reference() -> None:
    assert render().container()["image"] == "ghcr.io/lws-autoscaler/lws-autoscaler:0.1.0"
    assert render({"image": {"tag": "v9"}}).container()["image"].endswith(":v9")
    digest = "sha256:" + "b" * 64
    assert render({"image": {"digest": digest}}).container()["image"].endswith("@" + digest)


# --- pod hardening and probes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "scheme", "port_name", "port"),
    [
        ({}, "HTTPS", "https", 6443),
        ({"server": {"insecure": True}, "apiService": {"enabled": False}}, "HTTP", "http", 8080),
    ],
)
def test_probes_hit_livez_and_readyz_on_the_serving_port(
    values: dict[str, Any], scheme: str, port_name: str, port: int
) -> None:
    container = render(values).container()
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [(port_name, port)]
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"], get["scheme"]) == (path, port_name, scheme)


def test_pod_runs_non_root_with_a_read_only_root_filesystem() -> None:
    rendered = render()
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    container = rendered.container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    # With a read-only root, Python needs a writable /tmp and no bytecode writes.
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])
    assert {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"} in container["env"]


def test_two_replicas_with_a_pdb_and_no_unavailable_pod_during_rollouts() -> None:
    rendered = render()
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    ("max_unavailable", "expected"),
    [
        ("", {"minAvailable": 1}),  # the default: empty, so minAvailable applies
        (None, {"minAvailable": 1}),  # null removes the key: same as unset
        # 0 is falsy in Go templates, but a real setting: no voluntary eviction at all.
        (0, {"maxUnavailable": 0}),
        (1, {"maxUnavailable": 1}),
        ("50%", {"maxUnavailable": "50%"}),
    ],
)
def test_pdb_max_unavailable_wins_over_min_available_when_set(
    max_unavailable: Any, expected: dict[str, Any]
) -> None:
    rendered = render({"podDisruptionBudget": {"maxUnavailable": max_unavailable}})
    spec = dict(rendered.one("PodDisruptionBudget")["spec"])
    spec.pop("selector")
    # Exactly one of the two: the API server rejects a PDB that sets both.
    assert spec == expected
    assert list(validation_errors(rendered)) == []


def test_policies_are_mounted_as_a_directory_for_hot_reload() -> None:
    rendered = render(policy_values("llama-70b"))
    container = rendered.container()
    mount = next(m for m in container["volumeMounts"] if m["name"] == "policies")
    # A subPath mount would never see ConfigMap updates.
    assert "subPath" not in mount
    assert f"--policies={mount['mountPath']}" in container["args"]
    volume = next(
        v
        for v in rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "policies"
    )
    assert volume["configMap"]["name"] == f"{FULLNAME}-policies"
    rendered.one("ConfigMap", f"{FULLNAME}-policies")
    # Policy edits must not restart the pods (that would defeat hot reload).
    annotations = (
        rendered.one("Deployment")["spec"]["template"]["metadata"].get("annotations") or {}
    )
    assert not any("polic" in key for key in annotations)


# --- RBAC -----------------------------------------------------------------------------------


def _subjects_are_the_server(binding: dict[str, Any]) -> bool:
    server = {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    return bool(binding["subjects"] == [server])


# What the HPA audit lists (autoscaling/v2 HPAs in the targets' namespaces).
HPA_RULE = {
    "apiGroups": ["autoscaling"],
    "resources": ["horizontalpodautoscalers"],
    "verbs": ["list"],
}


def _hpa_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if "horizontalpodautoscalers" in r["resources"]]


def test_rbac_grants_exactly_what_the_server_and_the_hpa_controller_need() -> None:
    rendered = render()
    rendered.one("ServiceAccount", FULLNAME)

    reader = rendered.one("ClusterRole", FULLNAME)
    rules = {
        (tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in reader["rules"]
    }
    # Lists only (autoscaler/sources/kube.py; events.py reads an LWS's uid with a list
    # too), patch: the serving label of draining leaders (autoscaler/server/cordon.py),
    # create on events (autoscaler/server/events.py), and list on HPAs (the HPA audit).
    # No get or watch: nothing uses them.
    assert rules == {
        (("leaderworkerset.x-k8s.io",), ("leaderworkersets",)): {"list"},
        (("",), ("pods",)): {"list", "patch"},
        (("events.k8s.io",), ("events",)): {"create"},
        (("autoscaling",), ("horizontalpodautoscalers",)): {"list"},
    }
    no_drain = render({"rbac": {"relabelPods": False}}).one("ClusterRole", FULLNAME)
    assert {tuple(r["resources"]): r["verbs"] for r in no_drain["rules"]}[("pods",)] == ["list"]
    quiet = render({"events": {"enabled": False}})
    assert "--no-events" in quiet.container()["args"]
    assert "--no-events" not in rendered.container()["args"]
    quiet_rules = quiet.one("ClusterRole", FULLNAME)["rules"]
    assert ["events"] not in [r["resources"] for r in quiet_rules]
    # Without the audit its list right goes, and only it.
    unaudited = render({"hpaAudit": {"enabled": False}}).one("ClusterRole", FULLNAME)["rules"]
    assert _hpa_rules(reader["rules"]) == [HPA_RULE]
    assert unaudited == [r for r in reader["rules"] if r != HPA_RULE]
    binding = rendered.one("ClusterRoleBinding", FULLNAME)
    assert binding["roleRef"]["name"] == FULLNAME
    assert _subjects_are_the_server(binding)

    delegator = rendered.one("ClusterRoleBinding", f"{FULLNAME}:system:auth-delegator")
    assert delegator["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert _subjects_are_the_server(delegator)

    auth_reader = rendered.one("RoleBinding", f"{FULLNAME}-auth-reader")
    assert auth_reader["metadata"]["namespace"] == "kube-system"
    assert auth_reader["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "extension-apiserver-authentication-reader",
    }
    assert _subjects_are_the_server(auth_reader)

    metrics_role = rendered.one("ClusterRole", f"{FULLNAME}-external-metrics-reader")
    assert metrics_role["rules"] == [
        {"apiGroups": ["external.metrics.k8s.io"], "resources": ["*"], "verbs": ["get", "list"]}
    ]
    hpa_binding = rendered.one("ClusterRoleBinding", f"{FULLNAME}-hpa-external-metrics")
    assert hpa_binding["roleRef"]["name"] == metrics_role["metadata"]["name"]
    assert hpa_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}
    ]

    # The Deployment runs as that ServiceAccount.
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == FULLNAME

    # With authentication off the server makes no review and reads no ConfigMap, so its
    # token gets neither right (a leaked one could otherwise check any other token).
    bindings = render({"auth": {"disable": True}}).all("ClusterRoleBinding")
    names = {b["metadata"]["name"] for b in bindings}
    assert f"{FULLNAME}:system:auth-delegator" not in names
    assert FULLNAME in names
    role_bindings = render({"auth": {"disable": True}}).all("RoleBinding")
    assert {b["metadata"]["name"] for b in role_bindings} == {f"{FULLNAME}-leader-election"}


def test_rbac_namespaces_grant_the_same_rules_only_where_the_policies_point() -> None:
    """``rbac.namespaces``: a Role and RoleBinding per namespace, with the ClusterRole's
    rules, and no cluster-wide read of pods or LeaderWorkerSets."""
    cluster_rules = render().one("ClusterRole", FULLNAME)["rules"]
    policy = yaml.safe_load((POLICIES_DIR / "llama-70b.yaml").read_text())
    values = {
        "policies": {"inline": {"llama": policy}},
        "rbac": {"namespaces": ["inference", "batch"]},
    }
    rendered = render(values)
    names = {r["metadata"]["name"] for r in rendered.all("ClusterRole")}
    assert FULLNAME not in names
    assert _hpa_rules(cluster_rules) == [HPA_RULE]
    assert FULLNAME not in {b["metadata"]["name"] for b in rendered.all("ClusterRoleBinding")}
    roles = [r for r in rendered.all("Role") if r["metadata"]["name"] == FULLNAME]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["batch", "inference"]
    assert all(r["rules"] == cluster_rules for r in roles)
    bindings = [b for b in rendered.all("RoleBinding") if b["metadata"]["name"] == FULLNAME]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["batch", "inference"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": FULLNAME,
        }
        assert _subjects_are_the_server(binding)
    assert not list(validation_errors(rendered))
    # Without the audit no Role lists HPAs; the other rules stay.
    unaudited = render({**values, "hpaAudit": {"enabled": False}})
    unaudited_roles = [r for r in unaudited.all("Role") if r["metadata"]["name"] == FULLNAME]
    assert len(unaudited_roles) == len(roles)
    for role in unaudited_roles:
        assert role["rules"] == [r for r in cluster_rules if r != HPA_RULE]
    # A policy whose namespace is left out could never be read: refused at install.
    left_out = {**values, "rbac": {"namespaces": ["batch"]}}
    with pytest.raises(
        helm.HelmError,
        match=r"policies\.inline\.llama targets namespace "
        r"inference, which rbac\.namespaces \(batch\) leaves out",
    ):
        render(left_out)
    # Without the chart's RBAC (an admin applies it) the list restricts nothing here.
    unmanaged = render({**left_out, "rbac": {"create": False, "namespaces": ["batch"]}})
    assert not [r for r in unmanaged.all("Role") if r["metadata"]["name"] == FULLNAME]


def test_replicas_elect_one_relabeller_on_a_lease_of_their_own() -> None:
    rendered = render()  # two replicas by default
    container = rendered.container()
    args = container["args"]
    assert "--leader-elect" in args
    assert f"--leader-elect-lease={NAMESPACE}/{FULLNAME}" in args
    # Kubernetes expands $(POD_NAME) from the env var the downward API fills in.
    assert "--leader-elect-identity=$(POD_NAME)" in args
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        container["env"]
    )
    assert not any(a.startswith("--leader-elect-lease-duration") for a in args)
    settings = settings_from(build_parser().parse_args(["serve", *args]))
    assert (settings.leader_elect, settings.lease_seconds) == (True, 45.0)

    role = rendered.one("Role", f"{FULLNAME}-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    # create cannot be limited by name; get and update only on this one Lease.
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [FULLNAME],
            "verbs": ["get", "update"],
        },
    ]
    binding = rendered.one("RoleBinding", f"{FULLNAME}-leader-election")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert _subjects_are_the_server(binding)

    longer = render({"leaderElection": {"leaseDuration": "2m"}}).args()
    assert "--leader-elect-lease-duration=2m" in longer
    # One replica still elects: a rolling update (maxSurge 1) runs two pods for a while.
    assert "--leader-elect" in render({"replicaCount": 1}).args()
    off = render({"leaderElection": {"enabled": False}})
    assert not any(a.startswith("--leader-elect") for a in off.args())
    assert not off.all("Role")
    assert all(e["name"] != "POD_NAME" for e in off.container()["env"])


def test_metrics_reader_role_allows_only_get_on_metrics() -> None:
    role = render({"rbac": {"metricsReader": True}}).one(
        "ClusterRole", f"{FULLNAME}-metrics-reader"
    )
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]


# --- HPA --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", ["v1.35.0", OLDEST_KUBE])
def test_one_hpa_per_policy_follows_lws_recommended_replicas(kube_version: str) -> None:
    names = ("llama-70b", "llama-405b", "dev-8b")
    rendered = render(
        {**policy_values(*names), "hpa": {"create": True, "namePrefix": "lws-"}},
        kube_version=kube_version,
    )
    hpas = {h["metadata"]["name"]: h for h in rendered.all("HorizontalPodAutoscaler")}
    assert len(hpas) == len(names)
    for name in names:
        policy = yaml.safe_load((POLICIES_DIR / f"{name}.yaml").read_text())
        target, bounds = policy["spec"]["target"], policy["spec"]["replicas"]
        hpa = hpas[f"lws-{target['name']}"]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["metadata"]["namespace"] == target["namespace"]
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "name": target["name"],
        }
        # Scale-to-zero policies need minReplicas 0, or the HPA would hold one group.
        scales_to_zero = policy["spec"].get("scaleToZero", {}).get("enabled", False)
        expected_min = 0 if scales_to_zero else bounds.get("min", 1)
        assert (spec["minReplicas"], spec["maxReplicas"]) == (expected_min, bounds["max"])
        assert spec["metrics"] == [
            {
                "type": "External",
                "external": {
                    "metric": {
                        "name": "lws_recommended_replicas",
                        "selector": {
                            "matchLabels": {
                                "leaderworkerset": target["name"],
                                "policy": policy["metadata"]["name"],
                            }
                        },
                    },
                    "target": {"type": "AverageValue", "averageValue": "1"},
                },
            }
        ]
        # The engine owns stabilisation: the HPA adds no window of its own.
        behavior = spec["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleDown"]["policies"][0] == {
            "type": "Percent",
            "value": 100,
            "periodSeconds": 15,
        }
        # A Pods rule lets the HPA leave 0 groups (a percentage of 0 is 0).
        assert {"type": "Pods", "value": 100, "periodSeconds": 15} in behavior["scaleUp"][
            "policies"
        ]
        # tolerance exists from Kubernetes 1.33; older API servers would reject the field.
        has_tolerance = kube_version != OLDEST_KUBE
        assert ("tolerance" in behavior["scaleUp"]) is has_tolerance
        assert ("tolerance" in behavior["scaleDown"]) is has_tolerance


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("llama-70b", {}),
        ("llama-405b", {}),
        ("dev-8b", {}),
        ("dev-8b", {"replicas": {"min": 2, "max": 5}}),  # scale-to-zero above a min of 2
        ("dev-8b", {"scaleToZero": {"enabled": False}}),
        ("llama-70b", {"replicas": {"max": 6}}),  # the min left to its default
    ],
)
def test_the_servers_hpa_audit_finds_the_charts_hpa_within_the_policys_bounds(
    name: str, change: dict[str, Any]
) -> None:
    """The audit warns of an HPA whose bounds cut the policy's (HPABoundsNarrower); the
    chart's HPA copies them, so it must never be the one warned of."""
    document = yaml.safe_load((POLICIES_DIR / f"{name}.yaml").read_text())
    for field, value in change.items():
        if isinstance(value, dict) and field == "replicas":
            document["spec"][field] = value
        else:
            document["spec"][field] = {**document["spec"].get(field, {}), **value}
    policy = policy_from_document(document)
    rendered = render({"policies": {"inline": {name: document}}, "hpa": {"create": True}})
    (hpa,) = rendered.all("HorizontalPodAutoscaler")
    standing = standing_of(hpa, PolicyBounds.of(policy))
    assert standing.follows
    assert standing.narrower is None, standing.narrower
    # And a hand-made HPA one group short of the policy's max is warned of.
    short = {**hpa, "spec": {**hpa["spec"], "maxReplicas": policy.spec.replicas.max - 1}}
    assert standing_of(short, PolicyBounds.of(policy)).narrower is not None


def test_hpa_names_that_read_as_numbers_or_booleans_stay_strings() -> None:
    # Valid Kubernetes names, and valid policies; unquoted in the template they rendered
    # as 123, 2024 and true, which the API server refuses in names and labels.
    policy = yaml.safe_load((POLICIES_DIR / "dev-8b.yaml").read_text())
    policy["metadata"]["name"] = "123"
    policy["spec"]["target"] = {"namespace": "2024", "name": "on"}
    rendered = render({"policies": {"inline": {"odd": policy}}, "hpa": {"create": True}})
    hpa = rendered.one("HorizontalPodAutoscaler")
    assert (hpa["metadata"]["name"], hpa["metadata"]["namespace"]) == ("on", "2024")
    assert hpa["metadata"]["labels"]["lws-autoscaler.io/policy"] == "123"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "on"
    selector = hpa["spec"]["metrics"][0]["external"]["metric"]["selector"]
    assert selector == {"matchLabels": {"leaderworkerset": "on", "policy": "123"}}
    assert list(validation_errors(rendered)) == []


def test_no_hpa_unless_asked() -> None:
    assert render(policy_values("llama-70b")).all("HorizontalPodAutoscaler") == []


# --- monitors -----------------------------------------------------------------------------


SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
TOKEN = {"serviceMonitor": {"bearerTokenFile": SA_TOKEN}}


def test_service_monitor_scrapes_the_server_over_verified_https() -> None:
    # `auto` without a token: every scrape would get 401 from the server's authorisation.
    assert render(api_versions=MONITORING_APIS).all("ServiceMonitor") == []
    assert render({"serviceMonitor": {"enabled": True}}).all("ServiceMonitor") != []
    assert render({"auth": {"disable": True}}, api_versions=MONITORING_APIS).all("ServiceMonitor")

    rendered = render(TOKEN, api_versions=MONITORING_APIS)
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert (endpoint["path"], endpoint["scheme"]) == ("/metrics", "https")
    tls = endpoint["tlsConfig"]
    assert tls["serverName"] == SERVICE_DNS
    assert tls["ca"]["secret"] == {"name": f"{FULLNAME}-tls", "key": "ca.crt"}
    rendered.one("Secret", f"{FULLNAME}-tls")  # the secret it verifies against exists

    assert endpoint["bearerTokenFile"] == TOKEN["serviceMonitor"]["bearerTokenFile"]
    self_signed = render({"tls": {"mode": "selfSigned"}, **TOKEN}, api_versions=MONITORING_APIS)
    (endpoint,) = self_signed.one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}


def test_vllm_pod_monitor_scrapes_leaders_of_policy_targets_only() -> None:
    rendered = render({**policy_values("llama-70b", "dev-8b"), "vllmPodMonitor": {"enabled": True}})
    spec = rendered.one("PodMonitor")["spec"]
    assert spec["selector"]["matchLabels"] == {"leaderworkerset.sigs.k8s.io/worker-index": "0"}
    assert spec["selector"]["matchExpressions"] == [
        {
            "key": "leaderworkerset.sigs.k8s.io/name",
            "operator": "In",
            "values": ["llama-70b", "llama-8b-dev"],
        }
    ]
    assert spec["namespaceSelector"] == {"matchNames": ["dev", "inference"]}
    (endpoint,) = spec["podMetricsEndpoints"]
    relabel = endpoint["relabelings"][0]
    assert relabel["sourceLabels"] == [
        "__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_name"
    ]
    # The label the Prometheus source groups by by default.
    assert relabel["targetLabel"] == DEFAULT_LWS_LABEL


def test_vllm_pod_monitor_without_policies_watches_every_lws() -> None:
    spec = render({"vllmPodMonitor": {"enabled": True}}).one("PodMonitor")["spec"]
    assert spec["namespaceSelector"] == {"any": True}
    assert spec["selector"]["matchExpressions"] == [
        {"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}
    ]


# --- NOTES ----------------------------------------------------------------------------------


FRONT_PROXY_CA = "-----BEGIN CERTIFICATE-----\nRlBDQQ==\n-----END CERTIFICATE-----"


def test_notes_say_how_to_check_the_install() -> None:
    rendered = render(
        {**policy_values("llama-70b"), "auth": {"requestheader": {"clientCA": FRONT_PROXY_CA}}}
    )
    assert "kubectl get apiservice v1beta1.external.metrics.k8s.io" in rendered.notes
    assert "kubectl get --raw /apis/external.metrics.k8s.io/v1beta1" in rendered.notes
    assert (
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"
        "?labelSelector=leaderworkerset%3Dllama-70b"
    ) in rendered.notes
    assert "only one server per cluster" in rendered.notes
    assert "WARNING" not in rendered.notes

    # With the chart's HPAs, the audit that checks there is only one.
    with_hpas = render({**policy_values("llama-70b"), "hpa": {"create": True}})
    assert "Each LeaderWorkerSet must have exactly one HPA" in with_hpas.notes
    assert "every 60s and warns in lws-autoscaler explain" in with_hpas.notes
    assert "CompetingAutoscalers Event" in with_hpas.notes
    quiet = render(
        {**policy_values("llama-70b"), "hpa": {"create": True}, "events": {"enabled": False}}
    )
    assert "CompetingAutoscalers Event" not in quiet.notes  # no Events are written
    unaudited = render(
        {**policy_values("llama-70b"), "hpa": {"create": True}, "hpaAudit": {"enabled": False}}
    )
    assert "exactly one HPA" not in unaudited.notes

    warned = render({"auth": {"disable": True}})
    assert "authentication and authorisation are OFF" in warned.notes
    assert "no policies are configured" in warned.notes
    assert "picks them up without a restart" in " ".join(warned.notes.split())


def test_front_proxy_ca_is_left_to_the_server_unless_given() -> None:
    """No Helm ``lookup``: without ``clientCA`` the server reads (and follows) ConfigMap
    kube-system/extension-apiserver-authentication itself, so offline renders work the
    same. Turning that off without a CA would lock the aggregator out: the notes say so."""
    default = render()
    assert not any(a.startswith("--requestheader") for a in default.args())
    assert "--authentication-skip-lookup" not in default.args()
    assert "front-proxy" not in default.notes
    assert default.all("ConfigMap") == [default.one("ConfigMap", f"{FULLNAME}-policies")]
    reader = default.one("RoleBinding", f"{FULLNAME}-auth-reader")
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["roleRef"]["name"] == "extension-apiserver-authentication-reader"

    no_lookup = render({"auth": {"requestheader": {"fromCluster": False}}})
    assert "--authentication-skip-lookup" in no_lookup.args()
    assert "refuses its requests with 401" in no_lookup.notes
    assert "auth.requestheader.clientCA" in no_lookup.notes

    # Nothing to read in kube-system (the other RoleBinding is the leader election's).
    assert [b["metadata"]["namespace"] for b in no_lookup.all("RoleBinding")] == [NAMESPACE]

    # A CA given and the lookup off: the server must not read kube-system at all (it
    # would for the client CA), and nothing there is granted.
    given = render({"auth": {"requestheader": {"clientCA": FRONT_PROXY_CA, "fromCluster": False}}})
    assert "--authentication-skip-lookup" in given.args()
    assert [b["metadata"]["namespace"] for b in given.all("RoleBinding")] == [NAMESPACE]
    assert "refuses its requests with 401" not in given.notes
    # Auth off: nothing to trust, nothing to warn about (another warning covers it).
    off = render({"auth": {"disable": True, "requestheader": {"fromCluster": False}}})
    assert "refuses its requests with 401" not in off.notes
    assert "--authentication-skip-lookup" not in off.args()


def test_header_flags_are_only_passed_with_the_ca() -> None:
    """Without the CA file the server takes names and headers from the cluster, with the
    CA; passing the flags alone would be ignored (and warned about)."""
    names = {"allowedNames": ["front-proxy-client"], "usernameHeaders": "X-User"}
    args = render({"auth": {"requestheader": names}}).args()
    assert not any(a.startswith("--requestheader") for a in args)


def test_templated_arguments_stay_strings_whatever_the_value() -> None:
    """``- --bind-address=::`` is YAML for a mapping (a key ending in ":"), which the API
    server rejects for ``args``; every templated argument is quoted."""
    ipv6 = render({"server": {"bindAddress": "::"}})
    assert "--bind-address=::" in ipv6.args()
    assert all(isinstance(a, str) for a in ipv6.args())


def test_cert_manager_names_fit_with_a_long_release_name() -> None:
    """cert-manager refuses a commonName over 64 characters; ``<fullname>-ca`` reaches 66
    with a 63-character full name."""
    release = "r" * 53
    rendered = render({"tls": {"mode": "certManager"}}, release=release)
    specs = [c["spec"] for c in rendered.all("Certificate")]
    names = [spec["commonName"] for spec in specs if "commonName" in spec]
    assert names
    assert all(len(n) <= 64 for n in names)
