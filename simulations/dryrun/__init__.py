"""Dry-run: what a policy would have done on recorded metrics, HPA and LWS included.

- :func:`replay_engine` / :class:`EngineDriver`: the engine on a manual clock (the
  server's code path);
- :func:`collect`: a recording (``MetricSource.history``) as arrays;
- :func:`simulate`: engine -> HPA emulation -> LWS model, step by step;
- :func:`summarize`, :func:`demand_groups`, :func:`regressions`: the figures and the
  ``--check`` gate.
"""

from simulations.dryrun.load import RecordedLoad, collect
from simulations.dryrun.loop import DryRunConfig, Timeline, simulate
from simulations.dryrun.replay import EngineDriver, replay_engine, snapshots_for
from simulations.dryrun.summary import Margins, Summary, demand_groups, regressions, summarize

__all__ = [
    "DryRunConfig",
    "EngineDriver",
    "Margins",
    "RecordedLoad",
    "Summary",
    "Timeline",
    "collect",
    "demand_groups",
    "regressions",
    "replay_engine",
    "simulate",
    "snapshots_for",
    "summarize",
]
