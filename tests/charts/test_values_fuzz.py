"""Fuzz the chart's values: start from values.yaml, mutate values at random paths, render.

The property, for any values: ``helm template`` either fails with an error that names
the offending value (a schema violation, or a template ``fail``/``required``), or every
rendered manifest is parseable YAML, passes ``kubernetes-validate`` (strict) for the
Kubernetes version the tests use, and shows the documented values where they are
documented to go (replica count, image, resources, labels, annotations, ...). Never
broken YAML, a value of the wrong type, or a user's setting silently dropped.

Rendering costs a few tenths of a second, so the fuzzer is derandomized and small; the
defects it found are pinned by the table-driven tests below it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import helm_python as helm
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.charts.chart_support import (
    CHART_DIR,
    MONITORING_APIS,
    Rendered,
    render,
    validation_errors,
)

DEFAULTS: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
PROMETHEUS_RULE_API = "monitoring.coreos.com/v1/PrometheusRule"

POLICY = {
    "apiVersion": "lws-autoscaler.io/v1alpha1",
    "kind": "ScalingPolicy",
    "metadata": {"name": "llama"},
    "spec": {
        "target": {"namespace": "inference", "name": "llama"},
        "replicas": {"min": 1, "max": 4},
        "signals": [{"type": "queueDepth", "targetPerGroup": 8}],
    },
}


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path in values.yaml, mappings included."""
    out: list[tuple[str, ...]] = []
    if isinstance(node, dict):
        for key, child in node.items():
            out.append((*prefix, key))
            out.extend(_paths(child, (*prefix, key)))
    return out


# Kubernetes objects the chart passes through with toYaml. The schema checks their
# fields and types with the API's own schemas (tools/chart_k8s_schemas.py), but their
# rules across fields are the API server's (maxSurge and maxUnavailable both 0), so a
# mutation can render an object the API refuses; the fuzzer does not chase those.
FREE_FORM = {"podSecurityContext", "securityContext", "updateStrategy", "affinity"}
PATHS = [p for p in _paths(DEFAULTS) if p[0] not in FREE_FORM]


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


MAPPING_PATHS = [p for p in PATHS if isinstance(_lookup(DEFAULTS, p), dict)]
# Paths whose default is a string or an integer: mutating them with a value of the same
# type gets past the schema's type checks, to the templates.
STRING_PATHS = [p for p in PATHS if isinstance(_lookup(DEFAULTS, p), str)]
INT_PATHS = [
    p
    for p in PATHS
    if isinstance(_lookup(DEFAULTS, p), int) and not isinstance(_lookup(DEFAULTS, p), bool)
]
BIG_INTS = [-1, 0, 1, 65535, 65536, 10**6, 10**8, 2**31 - 1, 2**31, 2**53]
# Maps of strings the chart copies onto objects as labels or annotations.
STRING_MAPS = [
    ("commonLabels",),
    ("podLabels",),
    ("podAnnotations",),
    ("apiService", "annotations"),
    ("service", "annotations"),
    ("serviceAccount", "annotations"),
    ("serviceMonitor", "labels"),
    ("vllmPodMonitor", "labels"),
    ("prometheusRule", "labels"),
    ("hpa", "annotations"),
    ("nodeSelector",),
]

ODD_STRINGS = [
    "",
    " ",
    "a: b",
    'say "hi"',
    "it's",
    "line\nbreak",
    "trailing\n",
    "{{ .Release.Name }}",
    "{{",
    "# comment",
    "x #y",
    "- item",
    "true",
    "null",
    "yes",
    "123",
    "1e3",
    "0x1F",
    "@at",
    "*star",
    "&anchor",
    "!tag",
    "%pct",
    "ünïcode",
    "1.5Gi",
    "bogus",
    "100m",
    "15s",
    "-5s",
    "0s",
    "10%",
    "x" * 300,
]
ODD_VALUES: list[Any] = [
    None,
    -1,
    0,
    1,
    2,
    10**8,
    2**31,
    2**53,
    1.5,
    -0.5,
    True,
    False,
    [],
    ["x"],
    [{"name": "x"}],
    {},
    {"unknownKey": 1},
    *ODD_STRINGS,
]
ODD_KEYS = [
    "a",
    "a b",
    "a: b",
    "example.com/key",
    "Example.COM/Key_1",
    "-leading",
    "trailing-",
    "x" * 70,
    "{{ x }}",
    "line\nbreak",
    "123",
    "true",
]

# Whole features switched on or off (deep-merged over the defaults).
FEATURES: list[dict[str, Any]] = [
    {"replicaCount": 1},
    {"replicaCount": 5},
    {"source": {"type": "scrape"}},
    {"source": {"type": "recording", "recording": {"file": "/data/rec.jsonl"}}},
    {"leaderElection": {"enabled": False}},
    {"leaderElection": {"leaseDuration": "1m"}},
    {"maxDecisionAge": "45s"},
    {"policies": {"inline": {"llama": POLICY}}},
    {"policies": {"inline": {"llama": POLICY}}, "hpa": {"create": True}},
    {"policies": {"existingConfigMap": "my-policies"}},
    {"server": {"insecure": True}, "apiService": {"enabled": False}},
    {"server": {"extraArgs": ["--foo=bar"]}},
    {"auth": {"disable": True}},
    {"auth": {"requestheader": {"fromCluster": False}}},
    {
        "auth": {
            "requestheader": {
                "clientCA": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                "allowedNames": ["front-proxy-client"],
                "usernameHeaders": "X-Remote-User",
            }
        }
    },
    {"tls": {"mode": "certManager"}},
    {"tls": {"mode": "certManager", "certManager": {"issuerRef": {"name": "ca"}}}},
    {
        "tls": {
            "mode": "secret",
            "existingSecret": "my-tls",
            "caBundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        }
    },
    {"tls": {"mode": "selfSigned"}},
    {"apiService": {"enabled": False}},
    {"apiService": {"insecureSkipTLSVerify": True}},
    {"service": {"type": "NodePort"}},
    {"serviceAccount": {"create": False, "name": "existing-sa"}},
    {"rbac": {"create": False}},
    {"rbac": {"relabelPods": False, "metricsReader": True}},
    {"rbac": {"namespaces": ["inference"]}},
    {"hpaAudit": {"enabled": False}},
    {"hpaAudit": {"intervalSeconds": 600}, "rbac": {"namespaces": ["inference"]}},
    {"podAntiAffinity": "hard"},
    {"podAntiAffinity": "none"},
    {"affinity": {"nodeAffinity": {}}},
    {"tolerations": [{"key": "k", "operator": "Exists"}]},
    {"priorityClassName": "system-cluster-critical"},
    {"imagePullSecrets": [{"name": "regcred"}]},
    {"image": {"digest": "sha256:" + "a" * 64}},
    {"image": {"tag": "v9.9.9"}},
    {"extraEnv": [{"name": "EXTRA", "value": "1"}]},
    {
        "extraVolumes": [{"name": "extra", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
    },
    {"podDisruptionBudget": {"enabled": False}},
    {"podDisruptionBudget": {"maxUnavailable": "50%"}},
    {"podDisruptionBudget": {"maxUnavailable": 0}},
    {"serviceMonitor": {"enabled": True}},
    {"serviceMonitor": {"enabled": False}},
    {"serviceMonitor": {"bearerTokenFile": "/var/run/secrets/token"}},
    {"prometheusRule": {"enabled": True}},
    {"prometheusRule": {"enabled": "auto", "alertLabels": {"team": "ml"}}},
    {"vllmPodMonitor": {"enabled": True}},
    {"vllmPodMonitor": {"enabled": "auto", "namespaces": ["inference"]}},
    {"extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}]},
]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = values
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


@st.composite
def mutated_values(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    """values.yaml with a few features toggled and a few values mutated; the mutated paths."""
    values = copy.deepcopy(DEFAULTS)
    mutated: list[tuple[str, ...]] = []
    for feature in draw(st.lists(st.sampled_from(FEATURES), max_size=3)):
        _merge(values, feature)
        # A cross-field `fail` may name a feature's keys rather than a mutated one.
        mutated.extend(p for p in _paths(feature) if not isinstance(_lookup(feature, p), dict))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(
            st.sampled_from(
                ["value", "string", "string", "int", "unknown-key", "string-map", "extra"]
            )
        )
        if kind == "string":
            path = draw(st.sampled_from(STRING_PATHS))
            _set(values, path, draw(st.sampled_from(ODD_STRINGS)))
        elif kind == "int":
            path = draw(st.sampled_from(INT_PATHS))
            _set(values, path, draw(st.sampled_from(BIG_INTS)))
        elif kind == "value":
            path = draw(st.sampled_from(PATHS))
            _set(values, path, copy.deepcopy(draw(st.sampled_from(ODD_VALUES))))
        elif kind == "unknown-key":
            parent = draw(st.sampled_from([(), *MAPPING_PATHS]))
            path = (*parent, draw(st.sampled_from(["unknownKey", "replicas", "Image"])))
            _set(values, path, draw(st.sampled_from(["x", 1, {}])))
        elif kind == "string-map":
            parent = draw(st.sampled_from(STRING_MAPS))
            key = draw(st.sampled_from(ODD_KEYS))
            path = (*parent, key)
            _set(values, path, draw(st.sampled_from([*ODD_STRINGS, 1, True, None])))
        else:
            which = draw(st.sampled_from(["extraEnv", "extraVolumes", "extraVolumeMounts"]))
            item = {
                "extraEnv": {"name": "ODD", "value": draw(st.sampled_from([*ODD_STRINGS, 1]))},
                "extraVolumes": {"name": draw(st.sampled_from(["v", "V_1", ""])), "emptyDir": {}},
                "extraVolumeMounts": {
                    "name": "v",
                    "mountPath": draw(st.sampled_from(["/v", "rel", "/a: b"])),
                },
            }[which]
            path = (which,)
            values[which] = [*values.get(which, []), item]
        mutated.append(path)
    return values, mutated


def _names_the_offence(message: str, mutated: list[tuple[str, ...]]) -> bool:
    """Whether an error message names one of the mutated paths (or a key in it)."""
    for path in mutated:
        for key in path:
            if key and (key in message or f"/{key}" in message):
                return True
    return False


def _check_documented_placement(values: dict[str, Any], rendered: Rendered) -> None:
    """Set values appear where the chart documents them."""
    deployment = rendered.one("Deployment")
    pod = deployment["spec"]["template"]
    container = rendered.container()
    assert deployment["spec"].get("replicas") == values.get("replicaCount")
    image = values["image"]
    if image.get("digest"):
        assert container["image"] == f"{image['repository']}@{image['digest']}"
    elif image.get("tag"):
        assert container["image"] == f"{image['repository']}:{image['tag']}"
    if values.get("resources") is not None:
        assert container.get("resources") == values["resources"]
    for key, value in (values.get("commonLabels") or {}).items():
        for manifest in rendered.manifests:
            assert manifest.doc["metadata"]["labels"][key] == value, manifest.template
    for key, value in (values.get("podLabels") or {}).items():
        assert pod["metadata"]["labels"][key] == value
    for key, value in (values.get("podAnnotations") or {}).items():
        assert pod["metadata"]["annotations"][key] == value
    if values.get("priorityClassName"):
        assert pod["spec"]["priorityClassName"] == values["priorityClassName"]
    if values.get("terminationGracePeriodSeconds") is not None:
        assert (
            pod["spec"]["terminationGracePeriodSeconds"]
            == (values["terminationGracePeriodSeconds"])
        )
    env = container.get("env", [])
    for item in values.get("extraEnv") or []:
        assert item in env
    for item in values.get("extraVolumes") or []:
        assert item in pod["spec"]["volumes"]
    for item in values.get("extraVolumeMounts") or []:
        assert item in container["volumeMounts"]
    mount_path = (values.get("policies") or {}).get("mountPath")
    if mount_path:
        assert f"--policies={mount_path}" in container["args"]
        assert {"name": "policies", "mountPath": mount_path, "readOnly": True} in container[
            "volumeMounts"
        ]
    for arg in (values.get("server") or {}).get("extraArgs") or []:
        assert arg in container["args"]
    for service in rendered.all("Service"):
        for key, value in (values.get("service", {}).get("annotations") or {}).items():
            assert service["metadata"]["annotations"][key] == value


def _without_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    return node


def check_values(values: dict[str, Any], mutated: list[tuple[str, ...]]) -> None:
    """The fuzz property for one set of values."""
    apis = (*MONITORING_APIS, PROMETHEUS_RULE_API)
    try:
        rendered = render(values, api_versions=apis)
    except helm.HelmError as error:
        message = str(error)
        assert _names_the_offence(message, mutated), message
        return
    # (render parses every manifest with yaml.safe_load_all: broken YAML raises above as
    # a yaml.YAMLError, which fails the test.)
    assert list(validation_errors(rendered)) == []
    # Values the schema accepted show up as documented. (A null deletes the key, as in
    # any Helm chart: the default, or nothing, applies.)
    effective = _without_nulls(values)
    jsonschema.Draft7Validator(SCHEMA).validate(effective)
    _check_documented_placement(effective, rendered)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(mutated_values())
def test_fuzzed_values_fail_clearly_or_render_valid_manifests(
    case: tuple[dict[str, Any], list[tuple[str, ...]]],
) -> None:
    values, mutated = case
    check_values(values, mutated)


def _with(override: dict[str, Any]) -> dict[str, Any]:
    values = copy.deepcopy(DEFAULTS)
    _merge(values, override)
    return values


# Defects the fuzzer found: each rendered broken YAML, an object of the wrong type, or a
# setting the API server would refuse. (id, override, path)
FOUND: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("priority-class-colon", {"priorityClassName": "a: b"}, ("priorityClassName",)),
    ("priority-class-bool", {"priorityClassName": "true"}, ("priorityClassName",)),
    ("priority-class-number", {"priorityClassName": "123"}, ("priorityClassName",)),
    ("mount-path-colon", {"policies": {"mountPath": "/a: b"}}, ("policies", "mountPath")),
    (
        "existing-config-map-bool",
        {"policies": {"existingConfigMap": "true"}},
        ("policies", "existingConfigMap"),
    ),
    ("service-account-bool", {"serviceAccount": {"name": "true"}}, ("serviceAccount", "name")),
    ("service-account-colon", {"serviceAccount": {"name": "a: b"}}, ("serviceAccount", "name")),
    ("fullname-number", {"fullnameOverride": "123"}, ("fullnameOverride",)),
    ("fullname-colon", {"fullnameOverride": "a: b"}, ("fullnameOverride",)),
    ("name-number", {"nameOverride": "123"}, ("nameOverride",)),
    ("replicas-huge", {"replicaCount": 10**8}, ("replicaCount",)),
    (
        "grace-period-huge",
        {"terminationGracePeriodSeconds": 10**8},
        ("terminationGracePeriodSeconds",),
    ),
    (
        "pdb-min-available-colon",
        {"podDisruptionBudget": {"minAvailable": "a: b"}},
        ("podDisruptionBudget", "minAvailable"),
    ),
    (
        "bearer-token-file-colon",
        {"serviceMonitor": {"enabled": True, "bearerTokenFile": "a: b"}},
        ("serviceMonitor", "bearerTokenFile"),
    ),
    ("extra-env-value-int", {"extraEnv": [{"name": "X", "value": 1}]}, ("extraEnv",)),
    (
        "resources-not-a-map",
        {"resources": {"requests": ["x"]}},
        ("resources", "requests"),
    ),
    (
        "resources-bogus-quantity",
        {"resources": {"requests": {"cpu": "bogus"}}},
        ("resources", "requests"),
    ),
]


@pytest.mark.parametrize(("override", "path"), [pytest.param(o, p, id=i) for i, o, p in FOUND])
def test_found_defects_fail_clearly_or_render_valid_manifests(
    override: dict[str, Any], path: tuple[str, ...]
) -> None:
    check_values(_with(override), [path])
