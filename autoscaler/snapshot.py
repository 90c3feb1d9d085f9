"""What a metric source hands the engine each cycle: one :class:`LwsSnapshot` per target.

A snapshot is plain data with timestamps. It says what the cluster looked like
(``spec.replicas``, created and ready groups, when each group started) and what each
group's leader reported, signal by signal, each value with the time of its newest
sample. A signal that is absent from a leader's mapping was not observed: absence means
"no data", never zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from autoscaler.signals import Signal


@dataclass(frozen=True, order=True)
class LwsKey:
    """Identifies one LeaderWorkerSet."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> LwsKey:
        """``"ns/name"`` -> LwsKey; ValueError on anything else."""
        namespace, sep, name = text.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise ValueError(f"expected NAMESPACE/NAME, got {text!r}")
        return cls(namespace, name)


@dataclass(frozen=True)
class Sample:
    """One observed value and the Unix time (seconds) of the newest data behind it."""

    value: float
    timestamp: float


@dataclass(frozen=True)
class GroupStatus:
    """One LWS group (replica): its index, when it was created, and when it became ready.

    ``ready_at`` is None while the group is still starting (pulling weights, NCCL init).
    """

    index: int
    created_at: float
    ready_at: float | None = None


# ``kubectl annotate leaderworkerset NAME lws-autoscaler.io/paused-replicas=4`` pauses
# autoscaling at 4 groups; ``... lws-autoscaler.io/paused-replicas-`` resumes it (as
# KEDA's ``autoscaling.keda.sh/paused-replicas`` on a ScaledObject).
PAUSED_REPLICAS_ANNOTATION = "lws-autoscaler.io/paused-replicas"


@dataclass(frozen=True)
class Pause:
    """An operator's pause of autoscaling, from the LWS annotation
    ``lws-autoscaler.io/paused-replicas`` (:func:`autoscaler.sources.cluster.read_pause`).

    ``value`` is the annotation's text (shortened for messages); ``replicas`` the group
    count it asks for, or None when the text is not one (``"four"``, ``"-1"``): the
    engine then keeps the current size, since the operator asked for a pause.
    """

    value: str
    replicas: int | None


def _frozen(
    mapping: Mapping[str, Mapping[Signal, Sample]],
) -> Mapping[str, Mapping[Signal, Sample]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in mapping.items()})


@dataclass(frozen=True)
class LwsSnapshot:
    """Everything the engine knows about one LWS at ``observed_at``.

    - ``spec_replicas``: groups the LWS is asked to run (what the HPA last set);
    - ``status_replicas``: groups created; ``ready_replicas``: groups whose leader is ready;
    - ``groups``: per-group detail when the source knows it (may be empty);
    - ``leaders``: per leader (keyed by group index as a string, or pod name), the
      samples of each per-group signal;
    - ``aggregates``: LWS-wide samples that are not sums of leaders (the TTFT and
      queue-wait quantiles over all leaders' histograms, the activation signal);
    - ``pause``: the operator's pause of autoscaling on the LWS, if any (known only from
      the cluster state: None from a source without it).
    """

    key: LwsKey
    observed_at: float
    spec_replicas: int
    status_replicas: int
    ready_replicas: int
    groups: tuple[GroupStatus, ...] = ()
    leaders: Mapping[str, Mapping[Signal, Sample]] = field(default_factory=dict)
    aggregates: Mapping[Signal, Sample] = field(default_factory=dict)
    pause: Pause | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaders", _frozen(self.leaders))
        object.__setattr__(self, "aggregates", MappingProxyType(dict(self.aggregates)))

    @property
    def starting_replicas(self) -> int:
        """Groups created but not ready yet."""
        return max(0, self.status_replicas - self.ready_replicas)


def leader_pod_name(lws_name: str, index: int) -> str:
    """The leader pod of group ``index``: LWS names it ``<lws>-<index>``."""
    return f"{lws_name}-{index}"


def group_leader(snapshot: LwsSnapshot, index: int) -> Mapping[Signal, Sample]:
    """The samples of group ``index``'s leader, under either key a source uses (``"3"``
    or ``"<lws>-3"``); empty when that leader did not report."""
    samples = snapshot.leaders.get(str(index))
    if samples is None:
        samples = snapshot.leaders.get(leader_pod_name(snapshot.key.name, index))
    return samples if samples is not None else _NO_SAMPLES


_NO_SAMPLES: Mapping[Signal, Sample] = MappingProxyType({})


def group_index(leader: str, lws_name: str) -> int | None:
    """The group index of a snapshot leader key: ``"3"`` or ``"<lws>-3"`` -> 3.

    Worker pods (``<lws>-3-1``) and foreign names give None.
    """
    text = leader.removeprefix(f"{lws_name}-")
    # isdigit() alone is True for "²", which int() rejects; pod names are ASCII anyway.
    return int(text) if text.isascii() and text.isdigit() else None
