"""``load_hpa_spec``: a user's HPA file, read as the API server would decode it, with
every problem located at its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.hpa.chart import HpaSpecError, load_hpa_spec

MANIFEST = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: llama-70b
spec:
  scaleTargetRef:
    apiVersion: leaderworkerset.x-k8s.io/v1
    kind: LeaderWorkerSet
    name: llama-70b
  minReplicas: 1
  maxReplicas: 8
  metrics:
    - type: External
      external:
        metric:
          name: lws_recommended_replicas
        target:
          type: AverageValue
          averageValue: "1"
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 120
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hpa.yaml"
    path.write_text(text)
    return path


def test_a_manifest_and_its_bare_spec_load_the_same(tmp_path: Path) -> None:
    whole = load_hpa_spec(_write(tmp_path, MANIFEST))
    spec_only = "\n".join(line[2:] for line in MANIFEST.splitlines()[5:])
    bare = tmp_path / "bare.yaml"
    bare.write_text(spec_only)
    assert load_hpa_spec(bare) == whole
    assert (whole.min_replicas, whole.max_replicas) == (1, 8)
    assert whole.behavior is not None
    assert whole.behavior.scale_down is not None
    assert whole.behavior.scale_down.stabilization_window_seconds == 120
    assert whole.metrics[0].external.target.amount == 1000  # milli-units


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        # JSON "8" is no int32: the API server refuses it, and so does the simulator.
        (
            "maxReplicas: 8",
            'maxReplicas: "8"',
            "spec.maxReplicas",
            "Input should be a valid integer",
        ),
        (
            "stabilizationWindowSeconds: 120",
            "stabilizationWindowSeconds: 90.5",
            "spec.behavior.scaleDown.stabilizationWindowSeconds",
            "Input should be a valid integer",
        ),
        # The API has camelCase names only; a Python name is an unknown field.
        ("maxReplicas: 8", "max_replicas: 8", "spec.max_replicas", "unknown field"),
        (
            "type: AverageValue",
            "type: Utilization",
            "spec.metrics[0].external.target.type",
            "Input should be 'Value' or 'AverageValue'",
        ),
    ],
)
def test_a_bad_field_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    text = MANIFEST.replace(old, new, 1)
    path = _write(tmp_path, text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip() == new.strip())
    with pytest.raises(HpaSpecError) as exc:
        load_hpa_spec(path)
    wanted = f"{path}:{line}: {field}: {message}"
    assert any(got.startswith(wanted) for got in str(exc.value).splitlines()), str(exc.value)


def test_bounds_name_max_replicas_and_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, MANIFEST.replace("minReplicas: 1", "minReplicas: 9"))
    with pytest.raises(HpaSpecError) as exc:
        load_hpa_spec(path)
    assert str(exc.value) == f"{path}:11: spec.maxReplicas: minReplicas 9 > maxReplicas 8"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = MANIFEST.replace("minReplicas: 1", "minReplicas: -1").replace(
        'averageValue: "1"', "averageValue: lots"
    )
    with pytest.raises(HpaSpecError) as exc:
        load_hpa_spec(_write(tmp_path, text))
    fields = [line.split(": ")[1] for line in str(exc.value).splitlines()]
    assert fields == ["spec.minReplicas", "spec.metrics[0].external.target.averageValue"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "kind: HorizontalPodAutoscaler\nspec: 3\n",
            ":2: spec: expected an HPA manifest or its spec",
        ),
        ("- maxReplicas: 3\n", "expected an HPA manifest or its spec"),
        ("maxReplicas: 3\nmaxReplicas: 4\nmetrics: []\n", "maxReplicas: duplicate key"),
    ],
)
def test_documents_that_are_no_hpa_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HpaSpecError, match=message):
        load_hpa_spec(_write(tmp_path, text))
