"""The published JSON Schema: committed copy up to date, accepts the examples, rejects
bad documents (checked with the ``jsonschema`` validator editors' tooling also uses)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from autoscaler.policy.schema import SCHEMA_ID, policy_json_schema, policy_json_schema_text

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "policies" / "schema" / "scalingpolicy-v1alpha1.json"
EXAMPLES = sorted((REPO / "policies").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = policy_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == policy_json_schema_text(), (
        "regenerate with: lws-autoscaler schema -o policies/schema/scalingpolicy-v1alpha1.json"
    )


def test_schema_identity() -> None:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA_ID
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"apiVersion", "kind", "metadata", "spec"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_pass_the_schema_and_point_editors_at_it(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    text = path.read_text(encoding="utf-8")
    header = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
    assert header is not None
    assert (path.parent / header.group(1)).resolve() == COMMITTED.resolve()
    assert list(validator.iter_errors(yaml.safe_load(text))) == []


def _bad(change: str) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(
        yaml.safe_load((REPO / "policies/llama-70b.yaml").read_text())
    )
    spec = doc["spec"]
    if change == "unknown-field":
        spec["replicas"]["maxx"] = 3
    elif change == "string-for-int":
        spec["replicas"]["min"] = "3"
    elif change == "bad-duration":
        spec["scaleDown"]["stabilizationWindow"] = "10 minutes"
    elif change == "negative-duration":
        spec["coldStart"]["expected"] = -5
    elif change == "empty-signals":
        spec["signals"] = []
    elif change == "unknown-signal":
        spec["signals"][0] = {"type": "latency", "target": 1}
    elif change == "kv-target-above-1":
        spec["signals"][1]["target"] = 75
    elif change == "api-version":
        doc["apiVersion"] = "lws-autoscaler.io/v2"
    elif change == "missing-target":
        del spec["target"]
    elif change == "empty-override":
        spec.setdefault("metrics", {})["overrides"] = {"queueDepth": ""}
    elif change == "long-policy-name":
        doc["metadata"]["name"] = "a" * 64
    elif change == "dotted-namespace":
        spec["target"]["namespace"] = "my.namespace.with.dots"
    return doc


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ("unknown-field", ["spec", "replicas"]),
        ("string-for-int", ["spec", "replicas", "min"]),
        ("bad-duration", ["spec", "scaleDown", "stabilizationWindow"]),
        ("negative-duration", ["spec", "coldStart", "expected"]),
        ("empty-signals", ["spec", "signals"]),
        ("unknown-signal", ["spec", "signals", 0]),
        ("kv-target-above-1", ["spec", "signals", 1]),
        ("api-version", ["apiVersion"]),
        ("missing-target", ["spec"]),
        ("empty-override", ["spec", "metrics", "overrides", "queueDepth"]),
        ("long-policy-name", ["metadata", "name"]),
        ("dotted-namespace", ["spec", "target", "namespace"]),
    ],
)
def test_schema_rejects_bad_documents(
    change: str, path: list[str | int], validator: jsonschema.Draft202012Validator
) -> None:
    errors = list(validator.iter_errors(_bad(change)))
    assert errors
    assert any(list(e.absolute_path)[: len(path)] == path for e in errors)
