"""The decision engine: a pure function of (policy, snapshot, state, now).

``decide`` is the only entry point. It performs no I/O and reads no clock: the control
loop and the simulators pass ``now`` and keep the returned state for the next call.
"""

from autoscaler.engine.decide import decide
from autoscaler.engine.decision import Decision, Reason, ReasonCode, SignalProposal, SignalStatus
from autoscaler.engine.state import EngineState

__all__ = [
    "Decision",
    "EngineState",
    "Reason",
    "ReasonCode",
    "SignalProposal",
    "SignalStatus",
    "decide",
]
