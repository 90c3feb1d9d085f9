"""Render the lws-autoscaler chart with the real Helm engine and validate what comes out.

Rendering goes through ``helm-python-sdk``, which embeds Helm's Go SDK (the same engine
``helm install`` uses, schema validation included). Its public ``Chart.render`` does not
expose the Kubernetes version or the served API versions, which the chart reads from
``.Capabilities``; the native ``helm_render`` call it wraps accepts both, so ``render``
calls it directly with those options.

Every rendered manifest is validated: built-in kinds with ``kubernetes-validate``
(strict: unknown fields fail) against the Kubernetes version the chart was rendered
for, custom resources with the structural schemas in ``crd_schemas``. A kind neither
knows is an error, never a silent skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import yaml
from helm_python import _native

from tests.charts.crd_schemas import CRD_SCHEMAS

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "lws-autoscaler"
POLICIES_DIR = REPO_ROOT / "policies"

RELEASE = "demo"
NAMESPACE = "autoscaling"
FULLNAME = f"{RELEASE}-lws-autoscaler"
# The newest Kubernetes minor kubernetes-validate knows, and the oldest the chart supports.
LATEST_KUBE = f"v{kubernetes_validate.latest_version()}"
OLDEST_KUBE = "v1.27.0"

MONITORING_APIS = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PodMonitor",
)


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template it came from."""

    template: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])


@dataclass(frozen=True)
class Rendered:
    manifests: list[Manifest]
    notes: str
    kube_version: str

    def kinds(self) -> set[str]:
        return {m.kind for m in self.manifests}

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [m.doc for m in self.manifests if m.kind == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def container_ref(self) -> dict[str, Any]:
        """The server container of the Deployment (the object itself, not a copy)."""
        containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        container: dict[str, Any] = containers[0]
        return container

    def container(self) -> dict[str, Any]:
        return dict(self.container_ref())

    def args(self) -> list[str]:
        return list(self.container()["args"])


def render(
    values: dict[str, Any] | None = None,
    *,
    api_versions: Sequence[str] = (),
    kube_version: str = LATEST_KUBE,
    release: str = RELEASE,
) -> Rendered:
    """Render the chart as ``helm install demo -n autoscaling`` would (offline)."""
    options = {
        "name": release,
        "namespace": NAMESPACE,
        "is_install": True,
        "kube_version": kube_version,
        "api_versions": list(api_versions),
    }
    with helm.Chart.load(CHART_DIR) as chart:
        raw = _native.call_string(
            "helm_render", chart._raw(), json.dumps(values or {}), json.dumps(options)
        )
    outputs: dict[str, str] = json.loads(raw)
    manifests: list[Manifest] = []
    notes = ""
    for template, text in sorted(outputs.items()):
        if template.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                manifests.append(Manifest(template, doc))
    return Rendered(manifests, notes, kube_version)


def validation_errors(rendered: Rendered) -> Iterator[str]:
    """Every schema violation in the rendered manifests, as readable lines."""
    for manifest in rendered.manifests:
        doc = manifest.doc
        where = f"{manifest.template}: {manifest.kind}/{manifest.name}"
        crd_schema = CRD_SCHEMAS.get((doc.get("apiVersion", ""), manifest.kind))
        if crd_schema is not None:
            for error in jsonschema.Draft7Validator(crd_schema).iter_errors(doc):
                path = ".".join(str(p) for p in error.absolute_path)
                yield f"{where}: {path}: {error.message}"
            continue
        try:
            kubernetes_validate.validate(doc, rendered.kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            yield f"{where}: {path}: {error.message}"
        except kubernetes_validate.SchemaNotFoundError as error:
            yield f"{where}: no schema to validate against ({error.message})"


def ci_values_files() -> list[Path]:
    return sorted((CHART_DIR / "ci").glob("*-values.yaml"))


def load_values_file(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dict(loaded or {})


def policy_values(*names: str, as_text: bool = False) -> dict[str, Any]:
    """``policies.inline`` holding the repository's example policies, by file stem."""
    inline: dict[str, Any] = {}
    for name in names:
        text = (POLICIES_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        inline[name] = text if as_text else yaml.safe_load(text)
    return {"policies": {"inline": inline}}
