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
from pydantic import ValidationError

from autoscaler.policy.loader import policy_from_document
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


def _property_names(node: Any, defs: dict[str, Any], seen: frozenset[str]) -> set[str]:
    """Every property name the schema node allows, following ``$ref`` once per path."""
    names: set[str] = set()
    if isinstance(node, list):
        for item in node:
            names |= _property_names(item, defs, seen)
        return names
    if not isinstance(node, dict):
        return names
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = ref.rsplit("/", 1)[-1]
        if target not in seen:
            names |= _property_names(defs[target], defs, seen | {target})
    for name, sub in node.get("properties", {}).items():
        names.add(name)
        names |= _property_names(sub, defs, seen)
    for key in ("anyOf", "oneOf", "allOf", "items", "additionalProperties"):
        names |= _property_names(node.get(key), defs, seen)
    return names


def test_every_field_is_in_the_policy_reference() -> None:
    # The reference is how operators learn a field exists: a field added to the model
    # but not to docs/policy-reference.md fails here, named.
    schema = policy_json_schema()
    names = _property_names(schema, schema.get("$defs", {}), frozenset())
    assert {"apiVersion", "holdWhileStarting", "isolatedBurst", "spareGroups"} <= names
    reference = (REPO / "docs" / "policy-reference.md").read_text(encoding="utf-8")
    # Named in code font, alone or as a segment of a dotted path (`scaleDown.drain.timeout`).
    documented = {
        segment
        for code in re.findall(r"`([\w.\[\]]+)`", reference)
        for segment in re.split(r"[.\[\]]+", code)
    }
    assert sorted(names - documented) == []


@pytest.mark.parametrize(
    ("path", "value", "valid"),
    [
        (["scaleUp", "maxStep", "period"], "0s", False),
        (["scaleUp", "maxStep", "period"], "0", False),
        (["scaleUp", "maxStep", "period"], "0.0ms", False),
        (["scaleUp", "maxStep", "period"], "0m0s", False),
        (["scaleUp", "maxStep", "period"], "0.5s", True),
        (["scaleUp", "maxStep", "period"], "0h10m", True),
        (["metrics", "scrape", "port"], "8000", False),
        (["metrics", "scrape", "port"], "a--b", False),
        (["metrics", "scrape", "port"], "-ab", False),
        (["metrics", "scrape", "port"], "http-2", True),
        (["metrics", "scrape", "port"], "h2", True),
        (["metrics", "scrape", "path"], "/a/../b", False),
        (["metrics", "scrape", "path"], "/a/./b", False),
        (["metrics", "scrape", "path"], "/a/..", False),
        (["metrics", "scrape", "path"], "/a/..b/.c", True),
        (["metrics", "scrape", "path"], "/" + "a" * 1024, False),
    ],
)
def test_schema_and_loader_agree_on_values(
    path: list[str], value: Any, valid: bool, validator: jsonschema.Draft202012Validator
) -> None:
    doc: dict[str, Any] = copy.deepcopy(
        yaml.safe_load((REPO / "policies/llama-70b.yaml").read_text())
    )
    node = doc["spec"]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    if path[0] == "scaleUp":
        node.setdefault("groups", 1)
    schema_ok = not list(validator.iter_errors(doc))
    try:
        policy_from_document(doc)
        loader_ok = True
    except ValidationError:
        loader_ok = False
    assert (schema_ok, loader_ok) == (valid, valid)
