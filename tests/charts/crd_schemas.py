"""Structural JSON Schemas for the custom resources the chart may render.

``kubernetes-validate`` ships the schemas of built-in kinds only. The chart also renders
Prometheus Operator (``monitoring.coreos.com/v1`` ServiceMonitor, PodMonitor,
PrometheusRule) and cert-manager (``cert-manager.io/v1`` Issuer, Certificate) objects.
These schemas are
written from the published CRDs' field lists and cover the fields the chart uses, with
``additionalProperties: false`` so a misspelt or misplaced field fails, plus the value
constraints the CRDs enforce on them (duration pattern, scheme and action enums, label
name pattern). They are deliberately a strict subset: a field the chart starts using has
to be added here first.
"""

from __future__ import annotations

from typing import Any

# Prometheus Operator's Duration type: "30s", "1m30s", "0".
_PROM_DURATION = {
    "type": "string",
    "pattern": (
        r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
        r"(([0-9]+)ms)?)$"
    ),
}
_LABEL_NAME = {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_RELABEL_ACTIONS = [
    spelling
    for action in (
        "replace",
        "keep",
        "drop",
        "hashmod",
        "labelmap",
        "labeldrop",
        "labelkeep",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    )
    for spelling in (action, action[0].upper() + action[1:])
]


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    return schema


_METADATA = _closed(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "namespace": {"type": "string", "minLength": 1, "maxLength": 63},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
    ["name", "namespace"],
)

_LABEL_SELECTOR = _closed(
    {
        "matchLabels": _STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": _closed(
                {
                    "key": {"type": "string", "minLength": 1},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
                ["key", "operator"],
            ),
        },
    }
)

_NAMESPACE_SELECTOR = _closed(
    {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}}
)

_RELABEL = _closed(
    {
        "sourceLabels": {"type": "array", "items": _LABEL_NAME},
        "separator": {"type": "string"},
        "targetLabel": {"type": "string", "minLength": 1},
        "regex": {"type": "string"},
        "modulus": {"type": "integer", "minimum": 0},
        "replacement": {"type": "string"},
        "action": {"enum": _RELABEL_ACTIONS},
    }
)

_SECRET_KEY = _closed(
    {
        "name": {"type": "string", "minLength": 1},
        "key": {"type": "string", "minLength": 1},
        "optional": {"type": "boolean"},
    },
    ["key"],
)

_TLS_CONFIG = _closed(
    {
        "ca": _closed({"secret": _SECRET_KEY, "configMap": _SECRET_KEY}),
        "cert": _closed({"secret": _SECRET_KEY, "configMap": _SECRET_KEY}),
        "keySecret": _SECRET_KEY,
        "caFile": {"type": "string"},
        "certFile": {"type": "string"},
        "keyFile": {"type": "string"},
        "serverName": {"type": "string"},
        "insecureSkipVerify": {"type": "boolean"},
    }
)

_SCRAPE_ENDPOINT_COMMON: dict[str, Any] = {
    "port": {"type": "string", "minLength": 1},
    "path": {"type": "string", "pattern": "^/"},
    "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
    "interval": _PROM_DURATION,
    "scrapeTimeout": _PROM_DURATION,
    "tlsConfig": _TLS_CONFIG,
    "honorLabels": {"type": "boolean"},
    "relabelings": {"type": "array", "items": _RELABEL},
    "metricRelabelings": {"type": "array", "items": _RELABEL},
}

SERVICE_MONITOR = _closed(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": _NAMESPACE_SELECTOR,
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": _closed(
                        {**_SCRAPE_ENDPOINT_COMMON, "bearerTokenFile": {"type": "string"}}
                    ),
                },
            },
            ["selector", "endpoints"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

POD_MONITOR = _closed(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": _NAMESPACE_SELECTOR,
                "jobLabel": {"type": "string"},
                "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                "podMetricsEndpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": _closed(_SCRAPE_ENDPOINT_COMMON),
                },
            },
            ["selector", "podMetricsEndpoints"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

# cert-manager's duration fields are Go durations ("2160h", "90m").
_GO_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
_ISSUER_REF = _closed(
    {
        "name": {"type": "string", "minLength": 1},
        "kind": {"type": "string"},
        "group": {"type": "string"},
    },
    ["name"],
)

CERTIFICATE = _closed(
    {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Certificate"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "secretName": {"type": "string", "minLength": 1},
                "issuerRef": _ISSUER_REF,
                "isCA": {"type": "boolean"},
                "commonName": {"type": "string", "maxLength": 64},
                "dnsNames": {"type": "array", "items": {"type": "string"}},
                "duration": _GO_DURATION,
                "renewBefore": _GO_DURATION,
                "usages": {
                    "type": "array",
                    "items": {
                        "enum": [
                            "digital signature",
                            "key encipherment",
                            "server auth",
                            "client auth",
                            "cert sign",
                        ]
                    },
                },
                "privateKey": _closed(
                    {
                        "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                        "size": {"type": "integer"},
                        "rotationPolicy": {"enum": ["Never", "Always"]},
                        "encoding": {"enum": ["PKCS1", "PKCS8"]},
                    }
                ),
            },
            ["secretName", "issuerRef"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

ISSUER = _closed(
    {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Issuer"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "selfSigned": _closed({}),
                "ca": _closed({"secretName": {"type": "string", "minLength": 1}}, ["secretName"]),
            },
            # An Issuer is exactly one kind of issuer.
            "minProperties": 1,
            "maxProperties": 1,
        },
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

# PrometheusRule (monitoring.coreos.com/v1): groups of alerting rules. The CRD types
# ``expr`` as int-or-string; the chart only writes strings, and ``for`` is a Duration.
_ALERTING_RULE = _closed(
    {
        "alert": {"type": "string", "minLength": 1},
        "expr": {"type": "string", "minLength": 1},
        "for": _PROM_DURATION,
        "labels": {
            "type": "object",
            "propertyNames": _LABEL_NAME,
            "additionalProperties": {"type": "string"},
        },
        "annotations": _STRING_MAP,
    },
    ["alert", "expr"],
)
PROMETHEUS_RULE = _closed(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": _closed(
                        {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _PROM_DURATION,
                            "rules": {"type": "array", "items": _ALERTING_RULE},
                        },
                        ["name", "rules"],
                    ),
                }
            },
            ["groups"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
    ("cert-manager.io/v1", "Issuer"): ISSUER,
}
