"""values.yaml and values.schema.json: bad values fail at install time with a message
that names the key, the defaults satisfy the schema, the schema and values.yaml describe
the same keys, and every key is documented with a helm-docs ``# --`` comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from autoscaler.cli.main import build_parser
from autoscaler.cli.serve import settings_from
from autoscaler.cli.serve_args import MAX_DURATION
from autoscaler.durations import parse_duration
from tests.charts.chart_support import CHART_DIR, render, validation_errors
from tools.chart_k8s_schemas import (
    KUBERNETES_VERSION,
    VALUES_SCHEMA,
    generate,
    kubernetes_definitions,
    schema_root,
)

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
VALUES_TEXT = (CHART_DIR / "values.yaml").read_text()
DEFAULTS = yaml.safe_load(VALUES_TEXT)

# (id, values, the text the error must contain)
BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("replica-count-string", {"replicaCount": "two"}, "/replicaCount"),
    ("replica-count-zero", {"replicaCount": 0}, "/replicaCount"),
    ("unknown-top-level-key", {"replicas": 2}, "'replicas' not allowed"),
    ("unknown-nested-key", {"image": {"repo": "x"}}, "'repo' not allowed"),
    ("pull-policy", {"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ("source-type", {"source": {"type": "influx"}}, "/source/type"),
    (
        "prometheus-url",
        {"source": {"prometheus": {"url": "prometheus:9090"}}},
        "/source/prometheus/url",
    ),
    ("cycle-not-a-duration", {"cycle": 15}, "/cycle"),
    ("cycle-bad-unit", {"cycle": "15 seconds"}, "/cycle"),
    # Zero durations the server refuses at start-up (greater than 0), where the pattern
    # of any duration let them through to a crash loop.
    ("cycle-zero", {"cycle": "0s"}, "/cycle"),
    ("cycle-zero-units", {"cycle": "0m0.0s"}, "/cycle"),
    ("prometheus-timeout-zero", {"source": {"prometheus": {"timeout": "0ms"}}}, "/source"),
    ("scrape-timeout-zero", {"source": {"scrape": {"timeout": "0s"}}}, "/source"),
    ("max-age-zero", {"maxDecisionAge": "0s"}, "/maxDecisionAge"),
    ("lease-zero", {"leaderElection": {"leaseDuration": "0s"}}, "/leaderElection"),
    # The Prometheus Operator's CRDs take whole units only; "1.5m" failed at apply.
    ("monitor-fraction", {"serviceMonitor": {"interval": "1.5m"}}, "/serviceMonitor/interval"),
    ("pod-monitor-fraction", {"vllmPodMonitor": {"scrapeTimeout": "0.5m"}}, "/vllmPodMonitor"),
    ("tls-mode", {"tls": {"mode": "letsencrypt"}}, "/tls/mode"),
    # Seconds as an integer; 0 (the server's "off") is spelt hpaAudit.enabled: false.
    ("hpa-audit-zero", {"hpaAudit": {"intervalSeconds": 0}}, "/hpaAudit/intervalSeconds"),
    ("hpa-audit-duration", {"hpaAudit": {"intervalSeconds": "60s"}}, "/hpaAudit/intervalSeconds"),
    ("hpa-audit-fraction", {"hpaAudit": {"intervalSeconds": 1.5}}, "/hpaAudit/intervalSeconds"),
    ("hpa-audit-enabled", {"hpaAudit": {"enabled": "yes"}}, "/hpaAudit/enabled"),
    ("secret-mode-needs-secret", {"tls": {"mode": "secret"}}, "/tls/existingSecret"),
    (
        "ca-not-pem",
        {"tls": {"mode": "secret", "existingSecret": "s", "caBundle": "abc"}},
        "/tls/caBundle",
    ),
    ("monitor-switch", {"serviceMonitor": {"enabled": "yes"}}, "/serviceMonitor/enabled"),
    ("rule-switch", {"prometheusRule": {"enabled": "yes"}}, "/prometheusRule/enabled"),
    (
        "alert-label-name",
        {"prometheusRule": {"alertLabels": {"team-name": "ml"}}},
        "'team-name' does not match pattern",
    ),
    ("alert-label-value", {"prometheusRule": {"alertLabels": {"team": 7}}}, "/prometheusRule"),
    (
        "pod-monitor-label",
        {"vllmPodMonitor": {"lwsLabel": "leaderworkerset.sigs.k8s.io/name"}},
        "/vllmPodMonitor/lwsLabel",
    ),
    ("policy-key", {"policies": {"inline": {"Llama_70B": "x"}}}, "Llama_70B"),
    (
        "policy-kind",
        {
            "policies": {
                "inline": {
                    "p": {
                        "apiVersion": "lws-autoscaler.io/v1alpha1",
                        "kind": "Policy",
                        "metadata": {},
                        "spec": {},
                    }
                }
            }
        },
        "/policies/inline/p",
    ),
    (
        "hpa-window",
        {"hpa": {"scaleDown": {"stabilizationWindowSeconds": 7200}}},
        "/hpa/scaleDown/stabilizationWindowSeconds",
    ),
    ("hpa-tolerance", {"hpa": {"tolerance": "ten percent"}}, "/hpa/tolerance"),
    ("anti-affinity", {"podAntiAffinity": "strict"}, "/podAntiAffinity"),
    ("service-port", {"service": {"port": 70000}}, "/service/port"),
    # Kubernetes' label syntax: rendered as given, the API server refused the object.
    # (Helm names a bad key, not where it is: "at '': invalid propertyName".)
    ("label-key-space", {"commonLabels": {"team name": "ml"}}, "propertyName 'team name'"),
    ("label-value-long", {"podLabels": {"team": "x" * 64}}, "/podLabels/team"),
    ("label-value-end", {"serviceMonitor": {"labels": {"team": "ml-"}}}, "/serviceMonitor"),
    ("node-selector-key", {"nodeSelector": {"gpu/": "h100"}}, "'gpu/' does not match pattern"),
    # Passed through to the Deployment, checked against Kubernetes' own (strict) schemas:
    # the API server drops an unknown field with at most a warning, so a typo silently
    # lost the hardening.
    (
        "security-context-typo",
        {"securityContext": {"runAsNonroot": True}},
        "'runAsNonroot' not allowed",
    ),
    (
        "security-context-nested-typo",
        {"securityContext": {"capabilities": {"dorp": ["ALL"]}}},
        "'dorp' not allowed",
    ),
    (
        "security-context-type",
        {"securityContext": {"readOnlyRootFilesystem": "true"}},
        "/securityContext/readOnlyRootFilesystem",
    ),
    (
        "pod-security-context-type",
        {"podSecurityContext": {"runAsUser": "1000"}},
        "/podSecurityContext/runAsUser",
    ),
    (
        "pod-security-context-typo",
        {"podSecurityContext": {"seccompProfile": {"typ": "RuntimeDefault"}}},
        "'typ' not allowed",
    ),
    ("affinity-typo", {"affinity": {"nodeAfinity": {}}}, "'nodeAfinity' not allowed"),
    (
        "affinity-missing-field",
        {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "values": []}]}]
                    }
                }
            }
        },
        "missing property 'operator'",
    ),
    ("affinity-type", {"affinity": {"podAntiAffinity": []}}, "/affinity/podAntiAffinity"),
    # The OpenAPI schema says "string"; the API server takes only these two (the chart's
    # schema adds the enum).
    ("update-strategy-type", {"updateStrategy": {"type": "Rolling"}}, "/updateStrategy/type"),
    ("update-strategy-typo", {"updateStrategy": {"rollingUpdates": {}}}, "'rollingUpdates'"),
    (
        "update-strategy-surge-float",
        {"updateStrategy": {"rollingUpdate": {"maxSurge": 1.5}}},
        "/updateStrategy/rollingUpdate/maxSurge",
    ),
]


@pytest.mark.parametrize(
    ("values", "expected"), [pytest.param(v, e, id=i) for i, v, e in BAD_VALUES]
)
def test_schema_rejects_bad_values_at_install(values: dict[str, Any], expected: str) -> None:
    with helm.Chart.load(CHART_DIR) as chart, pytest.raises(helm.HelmValuesError) as caught:
        chart.validate_schema(values)
    assert expected in str(caught.value)
    # The install path (render) refuses them too, before any template runs.
    with pytest.raises(helm.HelmValuesError):
        render(values)


def test_cross_field_rules_fail_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmError, match="aggregator cannot use"):
        render({"server": {"insecure": True}})
    with pytest.raises(helm.HelmError, match="not both"):
        render({"policies": {"existingConfigMap": "x", "inline": {"p": "kind: ScalingPolicy"}}})
    with pytest.raises(helm.HelmError, match=r"hpa\.create needs the policies inline"):
        render({"policies": {"existingConfigMap": "x"}, "hpa": {"create": True}})


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("podLabels", "app.kubernetes.io/name"),
        ("podLabels", "app.kubernetes.io/instance"),
        ("commonLabels", "app.kubernetes.io/version"),
    ],
)
def test_the_charts_own_labels_cannot_be_set_again(field: str, key: str) -> None:
    """Rendered twice, a label is a duplicate YAML key; a pod with another name or
    instance than the selector's is a Deployment the API server refuses."""
    with pytest.raises(helm.HelmError, match=re.escape(f"{field}.{key}: the chart sets")):
        render({field: {key: "other"}})
    deployment = render({field: {"team": "inference"}}).one("Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "inference"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"maxDecisionAge": "20s"}, r"maxDecisionAge \(20s\) must be at least twice cycle \(15s\)"),
        (
            {"leaderElection": {"leaseDuration": "29.5s"}},
            r"leaderElection\.leaseDuration \(29\.5s\) must be at least twice cycle",
        ),
        ({"cycle": "1m", "maxDecisionAge": "1m59s"}, r"maxDecisionAge \(1m59s\)"),
        ({"cycle": "500ms", "maxDecisionAge": "999ms"}, r"maxDecisionAge \(999ms\)"),
    ],
)
def test_durations_shorter_than_two_cycles_fail_at_install(
    values: dict[str, Any], expected: str
) -> None:
    # The server refuses them at start-up, so the pod would crash-loop.
    with pytest.raises(helm.HelmError, match=expected):
        render(values)


@pytest.mark.parametrize(
    "values",
    [
        {"maxDecisionAge": "30s"},
        {"leaderElection": {"leaseDuration": "1m"}},
        {"cycle": "1m", "maxDecisionAge": "2m"},
        {"cycle": "500ms", "maxDecisionAge": "1s", "leaderElection": {"leaseDuration": "1s"}},
        {"cycle": "1m30s", "maxDecisionAge": "3m"},
    ],
)
def test_durations_of_two_cycles_or_more_render(values: dict[str, Any]) -> None:
    # Passed to the server as given, which accepts them (it applies the same rule).
    args = render(values).args()
    settings = settings_from(build_parser().parse_args(["serve", *args]))
    assert settings.cycle_seconds == parse_duration(values.get("cycle", "15s"))
    age = values.get("maxDecisionAge")
    lease = values.get("leaderElection", {}).get("leaseDuration")
    assert settings.max_decision_age == (None if age is None else parse_duration(age))
    assert settings.leader_elect_lease_duration == (
        None if lease is None else parse_duration(lease)
    )


def test_the_hpa_audit_interval_schema_stops_where_the_server_does() -> None:
    """The longest interval the server takes renders and parses; a second more, which
    ``serve`` would refuse (a crash loop), fails at install naming the key."""
    longest = int(MAX_DURATION)
    args = render({"hpaAudit": {"intervalSeconds": longest}}).args()
    settings = settings_from(build_parser().parse_args(["serve", *args]))
    assert settings.hpa_audit_interval == longest
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", f"--hpa-audit-interval={longest + 1}s"])
    with pytest.raises(helm.HelmValuesError, match="/hpaAudit/intervalSeconds"):
        render({"hpaAudit": {"intervalSeconds": longest + 1}})


def test_schema_is_valid_draft7_and_accepts_the_defaults() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(DEFAULTS)
    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema({})
        assert chart.values == DEFAULTS


def test_values_schema_is_what_the_generator_writes() -> None:
    """The Kubernetes definitions in values.schema.json are generated: edit the rest of
    the file by hand, then run the script, never the other way round."""
    current = VALUES_SCHEMA.read_text(encoding="utf-8")
    assert VALUES_SCHEMA == CHART_DIR / "values.schema.json"
    assert current == generate(current), (
        "values.schema.json is not what tools/chart_k8s_schemas.py generates: run "
        "`.venv/bin/python tools/chart_k8s_schemas.py` and commit the result"
    )
    version, definitions = kubernetes_definitions()
    assert SCHEMA["definitions"] == definitions
    # The pinned version is one the installed kubernetes-validate ships.
    assert (schema_root() / KUBERNETES_VERSION / "_definitions.json").is_file()
    assert version == KUBERNETES_VERSION
    # Draft-07: the references point at "definitions", and every one resolves.
    text = json.dumps(SCHEMA)
    refs = set(re.findall(r'"\$ref": "#/definitions/([^"]+)"', text))
    assert refs == definitions.keys()
    assert "$defs" not in text
    assert "x-kubernetes-" not in text
    # The chart README names the version checked against.
    readme = (CHART_DIR / "README.md").read_text(encoding="utf-8")
    assert f"({version.removesuffix('-local-strict')}, from `kubernetes-validate`)" in readme


# Realistic settings of the four pass-through values, each a valid Kubernetes object.
RESTRICTED_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}
RESTRICTED_POD_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "fsGroupChangePolicy": "OnRootMismatch",
    "supplementalGroups": [10002],
    "seccompProfile": {"type": "RuntimeDefault"},
    "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
}
AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "node-role.kubernetes.io/gpu", "operator": "DoesNotExist"},
                    ]
                }
            ]
        }
    },
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 50,
                "podAffinityTerm": {
                    "topologyKey": "topology.kubernetes.io/zone",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "lws-autoscaler"}},
                },
            }
        ]
    },
}
ROLLING_UPDATE = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


@pytest.mark.parametrize(
    ("values", "where"),
    [
        pytest.param(
            {"securityContext": RESTRICTED_SECURITY_CONTEXT},
            ("spec", "template", "spec", "containers", 0, "securityContext"),
            id="restricted-security-context",
        ),
        pytest.param(
            {"podSecurityContext": RESTRICTED_POD_SECURITY_CONTEXT},
            ("spec", "template", "spec", "securityContext"),
            id="restricted-pod-security-context",
        ),
        pytest.param(
            {"affinity": AFFINITY}, ("spec", "template", "spec", "affinity"), id="affinity"
        ),
        pytest.param({"updateStrategy": ROLLING_UPDATE}, ("spec", "strategy"), id="rolling-update"),
        pytest.param(
            {"updateStrategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "10%"}}},
            ("spec", "strategy"),
            id="int-or-string-percentages",
        ),
    ],
)
def test_valid_kubernetes_values_render_as_given(
    values: dict[str, Any], where: tuple[str | int, ...]
) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(values)
    rendered = render(values)
    assert list(validation_errors(rendered)) == []
    node: Any = rendered.one("Deployment")
    for step in where:
        node = node[step]
    given = next(iter(values.values()))
    # Helm merges a map with the default (the strategy's rollingUpdate): the given
    # fields are all there, as given.
    assert _merged_into(given, node), f"{given} not in {node}"


@pytest.mark.parametrize(
    "strategy",
    [{"type": "Recreate"}, {"type": "Recreate", "rollingUpdate": None}],
)
def test_recreate_strategy_drops_the_default_rolling_update(strategy: dict[str, Any]) -> None:
    # The default's rollingUpdate is merged into the values; the API server refuses a
    # Recreate strategy with rollingUpdate, so the template leaves it out.
    rendered = render({"updateStrategy": strategy})
    assert list(validation_errors(rendered)) == []
    assert rendered.one("Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def _merged_into(given: Any, rendered: Any) -> bool:
    if isinstance(given, dict):
        return isinstance(rendered, dict) and all(
            k in rendered and _merged_into(v, rendered[k]) for k, v in given.items()
        )
    return bool(given == rendered)


def _value_paths(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from _value_paths(child, path)


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(path, whether the schema spells out the children) for every declared property."""
    for key, child in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path, "properties" in child
        yield from _schema_paths(child, path)


def test_schema_and_values_declare_the_same_keys() -> None:
    declared = dict(_schema_paths(SCHEMA))
    in_values = set(_value_paths(DEFAULTS))
    # Keys under a free-form object (resources, securityContext, ...) are Kubernetes
    # fields the schema leaves to the API server.
    free_form = {p for p, closed in declared.items() if not closed}
    structural = {p for p in in_values if not any(p.startswith(f + ".") for f in free_form)}
    assert structural - declared.keys() == set(), "values.yaml keys missing from the schema"
    # Every declared key has a default, except the fields of an optional object whose
    # default is empty (tls.certManager.issuerRef: {}).
    empty_objects = {p for p in in_values if _lookup(DEFAULTS, p) == {}}
    missing = {
        p
        for p in declared.keys() - in_values
        if not any(p.startswith(e + ".") for e in empty_objects)
    }
    assert missing == set(), "schema keys without a default in values.yaml"


def _lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def _documented_paths(text: str) -> tuple[set[str], set[str]]:
    """(all key paths, key paths with a `# --` comment right above them) in values.yaml."""
    key_line = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):")
    stack: list[tuple[int, str]] = []
    all_paths: set[str] = set()
    documented: set[str] = set()
    comment_block: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment_block.append(stripped)
            continue
        match = key_line.match(line)
        if not match:
            if not stripped:
                comment_block = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), match["key"]])
        stack.append((indent, match["key"]))
        all_paths.add(path)
        if any(c.startswith("# --") for c in comment_block):
            documented.add(path)
        comment_block = []
    return all_paths, documented


def test_documentation_check_sees_missing_comments() -> None:
    all_paths, documented = _documented_paths("a:\n  # -- doc\n  b: 1\n# plain\nc: 2\n")
    assert all_paths == {"a", "a.b", "c"}
    assert documented == {"a.b"}


def test_every_value_is_documented() -> None:
    all_paths, documented = _documented_paths(VALUES_TEXT)
    # A key is covered by its own `# --` comment or by one on an ancestor (e.g. the
    # defaults inside `podSecurityContext`). Grouping keys (`image:`, `tls:`) need none
    # as long as every leaf below them is covered.
    leaves = {p for p in all_paths if not any(q.startswith(p + ".") for q in all_paths)}
    undocumented = {
        leaf
        for leaf in leaves
        if not any(leaf == d or leaf.startswith(d + ".") for d in documented)
    }
    assert undocumented == set()
    assert leaves >= {"replicaCount", "tls.mode", "hpa.create", "vllmPodMonitor.lwsLabel"}


def test_the_schema_itself_takes_nulls_in_the_kubernetes_objects() -> None:
    """Helm drops null keys before it validates, but an editor or a CI step validating a
    values file against values.schema.json does not: a null int-or-string (the bundle's
    oneOf matched it twice) and a null strategy type must pass there too."""
    validator = jsonschema.Draft7Validator(SCHEMA)
    unset = {"updateStrategy": {"type": None, "rollingUpdate": {"maxSurge": None}}}
    assert list(validator.iter_errors(unset)) == []
    assert (
        list(validator.iter_errors({"updateStrategy": {"rollingUpdate": {"maxSurge": "25%"}}}))
        == []
    )
    assert list(validator.iter_errors({"updateStrategy": {"rollingUpdate": {"maxSurge": 1.5}}}))
