"""The cluster side of a snapshot: what each LeaderWorkerSet looks like right now.

Metric adapters say what the leaders *report*; a :class:`ClusterStateReader` says what
the LWS *is*: ``spec.replicas``, ``status.replicas`` (groups created),
``status.readyReplicas``, and each group's leader pod with its creation and ready times.
The two are merged by :mod:`autoscaler.sources.assemble`.

The production reader talks to the Kubernetes API (:mod:`autoscaler.sources.kube`);
:class:`StaticClusterReader` serves fixed states (tests, replays).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.snapshot import PAUSED_REPLICAS_ANNOTATION, GroupStatus, LwsKey, Pause

# Labels the LWS controller puts on every pod (kubernetes-sigs/lws,
# api/leaderworkerset/v1/leaderworkerset_types.go).
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
GROUP_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_VERSION = "v1"
LWS_PLURAL = "leaderworkersets"
# A count beyond any LWS's bounds is read as this one (the engine clamps it to
# ``replicas.max``): int() of a pasted 5,000-digit number would cost time for nothing.
_PAUSE_HUGE = 10**18
# The text of a value is cut in messages, where a pasted manifest would fill every reason.
_PAUSE_SHOWN = 40


def read_pause(annotations: Mapping[str, object] | None) -> Pause | None:
    """The pause an LWS's annotations ask for: ``"4"`` (spaces around it and leading
    zeros allowed) is 4 groups; any other text is a pause at the current size
    (``replicas`` None); no annotation is no pause."""
    if not annotations or PAUSED_REPLICAS_ANNOTATION not in annotations:
        return None
    text = str(annotations[PAUSED_REPLICAS_ANNOTATION])
    shown = text if len(text) <= _PAUSE_SHOWN else text[: _PAUSE_SHOWN - 3] + "..."
    digits = text.strip()
    # isdigit() alone admits a superscript two and other digits int() reads or refuses.
    if not (digits.isascii() and digits.isdigit()):
        return Pause(shown, None)
    significant = digits.lstrip("0") or "0"
    return Pause(shown, int(significant) if len(significant) <= 18 else _PAUSE_HUGE)


@dataclass(frozen=True)
class LeaderPod:
    """The leader (``worker-index`` 0) of one group: the pod that exports the metrics."""

    name: str
    group_index: int
    ip: str | None = None
    ready: bool = False
    ports: tuple[tuple[str, int], ...] = ()
    """Named container ports, ``(("http", 8000),)``: a policy may name its scrape port."""

    def port_named(self, name: str) -> int | None:
        return next((number for port, number in self.ports if port == name), None)


def ready_among_created(ready: int, created: int) -> int:
    """Ready groups are among the groups created: ``readyReplicas`` capped at ``replicas``.

    Older LWS controllers set ``status.replicas`` from the leader StatefulSet's spec at
    once, but count ``readyReplicas`` over the leader pods that still exist, a
    terminating leader still Running and Ready: after a scale-down from 6 to 2 the
    status can say 6 ready of 2 until the 4 leaders are gone. The engine would read 4
    silent ready groups and scale the 2 reporting groups' queue up 3-fold (5 groups
    instead of 2). A recording of the status (kube-state-metrics) has the same lag.
    """
    return min(ready, created)


@dataclass(frozen=True)
class LwsState:
    """One LWS as the API server describes it."""

    key: LwsKey
    spec_replicas: int
    status_replicas: int
    ready_replicas: int
    groups: tuple[GroupStatus, ...] = ()
    leaders: tuple[LeaderPod, ...] = field(default_factory=tuple)
    pause: Pause | None = None

    @property
    def leader_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.leaders)


class ClusterStates(dict[LwsKey, LwsState]):
    """What a :class:`ClusterStateReader` read: the states of the LWS that exist, and in
    ``errors`` a message for each LWS that could not be read (its namespace refused the
    list calls, say), which then fails that target only. A key in neither has no LWS."""

    def __init__(
        self,
        states: Mapping[LwsKey, LwsState] | None = None,
        errors: Mapping[LwsKey, str] | None = None,
    ) -> None:
        super().__init__(states or {})
        self.errors: dict[LwsKey, str] = dict(errors or {})


class ClusterStateReader(Protocol):
    """Reads the current state of several LWS in as few API calls as it can."""

    def read(self, keys: Sequence[LwsKey]) -> ClusterStates:
        """States of the LWS that exist; a key missing from the answer (and from its
        ``errors``) has no LWS. Problems of some LWS only go into ``errors``; raises a
        SourceError when nothing could be read (the API server cannot be reached)."""
        ...


class StaticClusterReader:
    """A reader answering fixed states; ``states`` and ``errors`` may be replaced between
    calls."""

    def __init__(
        self,
        states: Mapping[LwsKey, LwsState] | None = None,
        errors: Mapping[LwsKey, str] | None = None,
    ) -> None:
        self.states: dict[LwsKey, LwsState] = dict(states or {})
        self.errors: dict[LwsKey, str] = dict(errors or {})

    def read(self, keys: Sequence[LwsKey]) -> ClusterStates:
        return ClusterStates(
            {k: self.states[k] for k in keys if k in self.states},
            {k: self.errors[k] for k in keys if k in self.errors},
        )
