"""Metric sources: one small adapter per backend behind :class:`MetricSource`."""

from autoscaler.sources.base import MetricSource, SourceResult, Target

__all__ = ["MetricSource", "SourceResult", "Target"]
