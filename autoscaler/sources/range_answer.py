"""What ``record`` accepts from a range query: a matrix of series, each an object of
string labels with ``[time, "value"]`` samples. Anything else (a vector, a scalar, a
sample that is no number) is a ``SourceUnavailableError`` naming the query, not a
``ValueError`` halfway through a recording."""

from __future__ import annotations

import math
from typing import Any

from autoscaler.errors import SourceUnavailableError, one_line


def matrix_item(
    item: Any, n: int, name: str, promql: str, url: str
) -> tuple[dict[str, str], list[tuple[float, float]]]:
    """Item ``n`` of a range query's matrix as (labels, points), or a SourceError naming
    the query (``name``, ``promql``). :meth:`PrometheusQueryClient.range` keeps only
    ``data.result``, so the ``resultType`` is told by the items' shape: a vector's items
    carry ``value`` (one sample), a scalar's or string's result is ``[time, "value"]``
    itself."""

    def bad(problem: str) -> SourceUnavailableError:
        return SourceUnavailableError(
            f"Prometheus at {url} sent an unreadable answer to the range query for "
            f"{name}: item #{n} {problem}; query: {one_line(promql)}"
        )

    if not isinstance(item, dict):
        raise bad(
            f"is {one_line(repr(item), 60)}, not a series: the result is not a matrix "
            "(resultType scalar or string?)"
        )
    if "values" not in item:
        if "value" in item:
            raise bad("has one 'value', not 'values': the result is a vector, not a matrix")
        raise bad("has no 'values'")
    metric = item.get("metric", {})
    if metric is None:
        metric = {}
    if not isinstance(metric, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metric.items()
    ):
        raise bad(f"has 'metric' {one_line(repr(metric), 60)}, not an object of string labels")
    values = item["values"]
    if not isinstance(values, list):
        raise bad(f"has 'values' {one_line(repr(values), 60)}, not a list of [time, value]")
    points = []
    for pair in values:
        try:
            if not isinstance(pair, list) or len(pair) != 2:
                raise TypeError
            t, v = pair
            if isinstance(t, bool) or isinstance(v, bool) or not isinstance(v, str | int | float):
                raise TypeError
            point = (float(t), float(v))
            if not math.isfinite(point[0]):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise bad(
                f'has the sample {one_line(repr(pair), 60)}, not [time, "value"] with a '
                "number for each"
            ) from None
        points.append(point)
    return dict(metric), points
