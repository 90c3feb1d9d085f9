"""Embed Kubernetes' own schemas in the chart's values.schema.json.

The chart passes ``podSecurityContext``, ``securityContext``, ``updateStrategy`` and
``affinity`` through to the Deployment as given. So that a typo in them
(``runAsNonroot``) or a wrong type fails at install time instead of being dropped by
the API server, values.schema.json checks them against the Kubernetes API's strict
JSON schemas, as bundled with the ``kubernetes-validate`` package (the version pinned in
``KUBERNETES_VERSION``): the four definitions and everything they reference are copied under the
schema's top-level ``definitions`` (draft-07, which values.schema.json declares), with
their ``$ref``\\ s pointing there.

Run it from the repository root after moving ``KUBERNETES_VERSION`` (pinned, so that a
new release of ``kubernetes-validate`` does not change the chart by itself)::

    .venv/bin/python tools/chart_k8s_schemas.py

It rewrites charts/lws-autoscaler/values.schema.json in place; the rest of the file is
kept as it is (two-space indented JSON, key order preserved). ``--check`` only reports
whether the file is up to date (exit status 1 when not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

REPO_ROOT = Path(__file__).resolve().parents[1]
VALUES_SCHEMA = REPO_ROOT / "charts" / "lws-autoscaler" / "values.schema.json"

# values key -> (Kubernetes definition, description kept in values.schema.json)
VALUES: dict[str, tuple[str, str]] = {
    "podSecurityContext": ("io.k8s.api.core.v1.PodSecurityContext", "pod securityContext"),
    "securityContext": ("io.k8s.api.core.v1.SecurityContext", "container securityContext"),
    "updateStrategy": ("io.k8s.api.apps.v1.DeploymentStrategy", "Deployment strategy"),
    "affinity": ("io.k8s.api.core.v1.Affinity", "affinity"),
}

# Closed sets the API server enforces but the OpenAPI schema only states in prose
# ("Can be \"Recreate\" or \"RollingUpdate\""): checked on top of the definition.
ENUMS: dict[str, dict[str, list[str | None]]] = {
    # null: a values file may unset the field, as it may every field of the bundle.
    "updateStrategy": {"type": ["Recreate", "RollingUpdate", None]},
}
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"

SOURCE_REF = "#/$defs/"
TARGET_REF = "#/definitions/"
# Draft-07 (what values.schema.json declares) keeps definitions here; Helm resolves
# "#/definitions/NAME" against the root of values.schema.json.
DEFINITIONS_KEY = "definitions"

STRICT_SUFFIX = "-local-strict"
KUBERNETES_VERSION = "v1.37.0" + STRICT_SUFFIX
"""The schemas embedded; pyproject.toml requires a kubernetes-validate that ships them."""


def schema_root() -> Path:
    """The folder of kubernetes-validate's bundled schemas."""
    return Path(kubernetes_validate.__file__).resolve().parent / "kubernetes-json-schema"


def _strip(node: Any) -> Any:
    """A copy without the ``x-kubernetes-*`` annotations and with local ``$ref``\\ s
    rewritten to point into values.schema.json."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key.startswith("x-kubernetes-"):
                continue
            if key == "$ref":
                if not (isinstance(value, str) and value.startswith(SOURCE_REF)):
                    raise ValueError(f"unexpected $ref {value!r}")
                out[key] = TARGET_REF + value[len(SOURCE_REF) :]
            else:
                out[key] = _strip(value)
        return out
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _refs(node: Any) -> set[str]:
    """The names of the definitions a schema fragment references."""
    if isinstance(node, dict):
        found: set[str] = set()
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SOURCE_REF):
                found.add(value[len(SOURCE_REF) :])
            else:
                found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def closure(all_defs: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """The named definitions with everything they reference, transitively, by name."""
    picked: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in picked:
            continue
        if name not in all_defs:
            raise KeyError(f"definition {name} not in the bundled schemas")
        picked[name] = all_defs[name]
        pending.extend(sorted(_refs(all_defs[name]) - picked.keys()))
    stripped = {name: _strip(picked[name]) for name in sorted(picked)}
    if INT_OR_STRING in stripped:
        # The bundle's oneOf of [string, null] and [integer, null] refuses null (it
        # matches both), which Helm hides by dropping nulls but an editor validating a
        # values file reports: one type list says the same without that flaw.
        stripped[INT_OR_STRING] = {"type": ["string", "integer", "null"]}
    return stripped


def kubernetes_definitions(version: str | None = None) -> tuple[str, dict[str, Any]]:
    """(the schema version used, the definitions to embed)."""
    version = version or KUBERNETES_VERSION
    path = schema_root() / version / "_definitions.json"
    bundled = json.loads(path.read_text(encoding="utf-8"))
    roots = [definition for definition, _ in VALUES.values()]
    return version, closure(bundled["$defs"], roots)


def dump(schema: dict[str, Any]) -> str:
    """values.schema.json's formatting: two-space indent, UTF-8, final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generate(current_text: str, version: str | None = None) -> str:
    """values.schema.json with the Kubernetes definitions embedded, from its current text."""
    schema: dict[str, Any] = json.loads(current_text)
    version, definitions = kubernetes_definitions(version)
    properties: dict[str, Any] = schema["properties"]
    for key, (definition, description) in VALUES.items():
        if key not in properties:
            raise KeyError(f"values.schema.json has no property {key}")
        kube = version.removesuffix(STRICT_SUFFIX)
        prop: dict[str, Any] = {
            "description": f"{description} (Kubernetes {kube}: {definition})",
            "$ref": TARGET_REF + definition,
        }
        if key in ENUMS:
            # Draft-07 ignores the siblings of a $ref: the extra rule goes in an allOf.
            extra = {"properties": {f: {"enum": e} for f, e in ENUMS[key].items()}}
            prop = {"description": prop["description"], "allOf": [{"$ref": prop["$ref"]}, extra]}
        properties[key] = prop
    schema.pop(DEFINITIONS_KEY, None)
    schema[DEFINITIONS_KEY] = definitions
    return dump(schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="only check that values.schema.json is current"
    )
    args = parser.parse_args(argv)
    current = VALUES_SCHEMA.read_text(encoding="utf-8")
    wanted = generate(current)
    version, definitions = kubernetes_definitions()
    if args.check:
        if wanted != current:
            print(f"{VALUES_SCHEMA} is out of date: run tools/chart_k8s_schemas.py")
            return 1
        return 0
    if wanted != current:
        VALUES_SCHEMA.write_text(wanted, encoding="utf-8")
    print(f"{VALUES_SCHEMA}: {len(definitions)} definitions from Kubernetes {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
