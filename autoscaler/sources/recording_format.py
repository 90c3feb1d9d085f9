"""The recording file: a versioned JSON document (gzip when the name ends in ``.gz``).

Version 1 (documented in ``docs/recording-format.md``)::

    {"format": "lws-autoscaler-recording", "version": 1,
     "createdAt": "2026-01-01T00:00:00Z", "source": {"prometheusUrl": "..."},
     "start": 1767225600.0, "end": 1767229200.0, "step": 15.0,
     "labels": {"namespace": "namespace", "lws": "leaderworkerset_sigs_k8s_io_name",
                "pod": "pod"},
     "targets": [{"namespace": "inference", "name": "llama-70b", "engine": "vllm",
                  "modelName": null}],
     "series": [{"metric": {"__name__": "vllm:num_requests_waiting", "namespace": ...,
                            "leaderworkerset_sigs_k8s_io_name": ..., "pod": ...},
                 "values": [[1767225600, "3"], ...]}]}

``series`` items have exactly the shape of a Prometheus ``matrix`` result, so the reader
also accepts a plain ``/api/v1/query_range`` response saved with curl
(``{"status": "success", "data": {"resultType": "matrix", "result": [...]}}``); its step
is inferred from the timestamps and its targets from the policies at replay time.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoscaler.errors import RecordingError
from autoscaler.output_files import replacing
from autoscaler.signals import ServingEngine
from autoscaler.snapshot import LwsKey
from autoscaler.sources.promql import LabelNames
from autoscaler.sources.recording_header import (
    check_grid,
    header_labels,
    header_number,
    header_source,
    header_targets,
    json_kind,
)
from autoscaler.sources.recording_points import PointArrays, parse_with_arrays

FORMAT = "lws-autoscaler-recording"
VERSION = 1
REPLICA_SERIES = {
    "spec": "lws:spec_replicas",
    "status": "lws:status_replicas",
    "ready": "lws:ready_replicas",
}
"""Names of the replica-count series (labels: namespace and the LWS label)."""
ACTIVATION_SERIES = "lws:activation"
"""The value of a policy's scale-to-zero activation query, recorded as it was evaluated."""

Json = dict[str, Any]


@dataclass(frozen=True)
class RecordedTarget:
    key: LwsKey
    engine: ServingEngine = ServingEngine.VLLM
    model_name: str | None = None


@dataclass(frozen=True)
class Series:
    """One series: its labels (``__name__`` included) and its ``(time, value)`` points
    (a list, or :class:`PointArrays` when read from a file)."""

    metric: dict[str, str]
    points: Sequence[tuple[float, float]]


@dataclass
class Recording:
    start: float
    end: float
    step: float
    labels: LabelNames = field(default_factory=LabelNames)
    targets: tuple[RecordedTarget, ...] = ()
    series: list[Series] = field(default_factory=list)
    source: Json = field(default_factory=dict)
    created_at: str = ""

    def to_json(self) -> Json:
        return {
            "format": FORMAT,
            "version": VERSION,
            "createdAt": self.created_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "step": self.step,
            "labels": {
                "namespace": self.labels.namespace,
                "lws": self.labels.lws,
                "pod": self.labels.pod,
            },
            "targets": [
                {
                    "namespace": t.key.namespace,
                    "name": t.key.name,
                    "engine": t.engine.value,
                    "modelName": t.model_name,
                }
                for t in self.targets
            ],
            "series": [
                {"metric": s.metric, "values": [[t, _number(v)] for t, v in s.points]}
                for s in self.series
            ],
        }


def _number(value: float) -> str:
    # Prometheus writes sample values as strings ("NaN", "+Inf", "1.5"); so do we.
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def save_recording(recording: Recording, path: Path | str) -> Path:
    """Write ``recording`` whole or not at all: through a temporary file renamed over
    ``path`` (a full disk leaves no truncated file under the final name); a failure is an
    :class:`~autoscaler.output_files.OutputError` naming ``path``."""
    path = Path(path)
    text = json.dumps(recording.to_json(), separators=(",", ":"))
    with replacing(path) as temporary, temporary.open("wb") as raw:
        if path.name.endswith(".gz"):
            # mtime=0 and the final name in the header (not the temporary one): the same
            # recording gives the same bytes (reproducible demo file).
            with gzip.GzipFile(str(path), mode="wb", fileobj=raw, mtime=0) as out:
                out.write(text.encode())
        else:
            raw.write(text.encode())
    return path


def _read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"cannot read recording {path}: {exc}") from exc
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        fast = parse_with_arrays(raw)
        return fast if fast is not None else json.loads(raw)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        # gzip.BadGzipFile is an OSError; a corrupt deflate stream raises zlib.error, a
        # truncated one EOFError.
        raise RecordingError(f"{path} is not a JSON (or gzipped JSON) recording: {exc}") from exc
    except RecursionError:
        # json.loads recurses once per nested array or object: '[' * 200000 exhausts the
        # stack. No recording nests deeper than four levels.
        raise RecordingError(
            f"{path} is not a JSON (or gzipped JSON) recording: it is nested too deeply"
        ) from None


def _series(items: Any, path: Path) -> list[Series]:
    if not isinstance(items, list):
        raise RecordingError(f"{path}: 'series' must be a list of matrix items")
    result = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise RecordingError(
                f"{path}: series #{n} must be an object with 'metric' and 'values', "
                f"got {json_kind(item)}"
            )
        if not isinstance(item.get("metric"), dict):
            raise RecordingError(
                f"{path}: series #{n}: 'metric' must be an object of labels, "
                f"got {json_kind(item.get('metric'))}"
            )
        if not isinstance(item.get("values"), list | PointArrays):
            raise RecordingError(
                f"{path}: series #{n}: 'values' must be a list of [time, value] pairs, "
                f"got {json_kind(item.get('values'))}"
            )
        try:
            metric = {str(k): str(v) for k, v in item["metric"].items()}
            values = item["values"]
            points: Sequence[tuple[float, float]] = (
                values
                if isinstance(values, PointArrays)
                else [(float(t), float(v)) for t, v in values]
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            # OverflowError: an integer of 400 digits (JSON has no limit) as a time or value.
            raise RecordingError(f"{path}: series #{n} is malformed: {exc!r}") from exc
        result.append(Series(metric, points))
    return result


def _times(points: Sequence[tuple[float, float]]) -> list[float]:
    if isinstance(points, PointArrays):
        times: list[float] = points.times.tolist()
        return times
    return [t for t, _ in points]


def _inferred_step(series: Sequence[Series]) -> float:
    gaps: Counter[float] = Counter()
    for s in series:
        times = _times(s.points)
        gaps.update(round(b - a, 3) for a, b in itertools.pairwise(times))
    return gaps.most_common(1)[0][0] if gaps else 15.0


def _from_query_range(body: Json, path: Path, labels: LabelNames) -> Recording:
    data = body.get("data")
    if not isinstance(data, dict):
        raise RecordingError(
            f"{path}: 'data' must be an object (the 'data' of an /api/v1/query_range "
            f"answer), got {json_kind(data)}"
        )
    if body.get("status") != "success" or data.get("resultType") != "matrix":
        raise RecordingError(
            f"{path}: a Prometheus response must have status 'success' and resultType "
            f"'matrix' (an /api/v1/query_range answer), got {body.get('status')!r} / "
            f"{data.get('resultType')!r}"
        )
    series = _series(data.get("result"), path)
    times = [t for s in series for t in _times(s.points)]
    if not times:
        raise RecordingError(f"{path}: the query_range response holds no samples")
    step = _inferred_step(series)
    if not step > 0:  # NaN too
        # The file has no step: "needs step > 0" would name a field it does not have.
        raise RecordingError(
            f"{path}: the timestamps of a query_range response must increase within each "
            f"series (its most common gap between two is {step:g} s)"
        )
    recording = Recording(min(times), max(times), step, labels, (), series)
    check_grid(recording.start, recording.end, recording.step, path)
    return recording


def load_recording(path: Path | str, labels: LabelNames | None = None) -> Recording:
    """Read a recording (any supported version) or a saved query_range response.

    ``labels`` names the series labels of a query_range response (a recording says them).
    """
    path = Path(path)
    body = _read_json(path)
    if not isinstance(body, dict):
        raise RecordingError(f"{path}: expected a JSON object")
    if "data" in body and "format" not in body:
        return _from_query_range(body, path, labels or LabelNames())
    if body.get("format") != FORMAT:
        raise RecordingError(f"{path}: not an lws-autoscaler recording (no 'format': '{FORMAT}')")
    version = body.get("version")
    if isinstance(version, bool) or version != VERSION:  # true == 1 in Python
        raise RecordingError(
            f"{path}: recording version {version!r} is not supported (this build reads "
            f"version {VERSION}); re-record it or upgrade lws-autoscaler"
        )
    recording = Recording(
        start=header_number(body, "start", path),
        end=header_number(body, "end", path),
        step=header_number(body, "step", path),
        labels=header_labels(body.get("labels"), path),
        targets=tuple(RecordedTarget(*t) for t in header_targets(body.get("targets"), path)),
        series=_series(body.get("series", []), path),
        source=header_source(body.get("source"), path),
        created_at=str(body.get("createdAt", "")),
    )
    check_grid(recording.start, recording.end, recording.step, path)
    return recording
