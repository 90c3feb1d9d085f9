"""Kubernetes names: the policy's name and the namespace are RFC 1123 labels, the LWS name
an RFC 1035 label (LWS names its headless Service after it). The loader and the JSON
Schema agree on every value, and a bad name is reported at its line."""

from __future__ import annotations

from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from autoscaler.policy.loader import collect_policies
from autoscaler.policy.schema import policy_json_schema

POLICY = """\
apiVersion: lws-autoscaler.io/v1alpha1
kind: ScalingPolicy
metadata:
  name: {name}
spec:
  target:
    namespace: {namespace}
    name: {lws}
  replicas: {{max: 2}}
  signals: [{{type: queueDepth, targetPerGroup: 8}}]
"""
GOOD = {"name": "test", "namespace": "inference", "lws": "model"}
FIELDS = {
    "name": (4, "metadata.name"),
    "namespace": (7, "spec.target.namespace"),
    "lws": (8, "spec.target.name"),
}

# (field, value, valid): each row is checked by the loader and by the JSON Schema.
NAMES = [
    ("name", "llama-70b", True),
    ("name", "a" * 63, True),
    ("name", "a" * 64, False),  # a label value: the chart and the metrics label by it
    ("name", "llama.70b", False),
    ("name", "70b", True),
    ("name", "Llama", False),
    ("name", "llama-", False),
    ("namespace", "my.namespace.with.dots", False),
    ("namespace", "n" * 63, True),
    ("namespace", "n" * 64, False),
    ("namespace", "-inference", False),
    ("namespace", "0-team", True),
    ("lws", "llama-70b", True),
    ("lws", "l" * 63, True),
    ("lws", "l" * 64, False),
    ("lws", "70b-model", False),  # RFC 1035: starts with a letter
    ("lws", "llama.70b", False),
]
NAME_ROWS = [pytest.param(*row, id=f"{row[0]}-{row[1][:12]}-{len(row[1])}") for row in NAMES]


def _document(field: str, value: str) -> str:
    # Quoted so that YAML reads every value as a string (``0-team``, ``70b``).
    return POLICY.format(**{**GOOD, field: f'"{value}"'})


@pytest.mark.parametrize(("field", "value", "valid"), NAME_ROWS)
def test_the_loader_checks_names(tmp_path: Path, field: str, value: str, valid: bool) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(_document(field, value), encoding="utf-8")
    _, issues = collect_policies([path])
    if valid:
        assert issues == []
        return
    line, name = FIELDS[field]
    assert [(i.line, i.field) for i in issues] == [(line, name)]
    assert f"{value!r} is not a valid Kubernetes name: at most 63" in issues[0].message


@pytest.mark.parametrize(("field", "value", "valid"), NAME_ROWS)
def test_the_json_schema_checks_names_like_the_loader(field: str, value: str, valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(policy_json_schema())
    errors = list(validator.iter_errors(yaml.safe_load(_document(field, value))))
    assert (errors == []) is valid
