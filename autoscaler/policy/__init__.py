"""Scaling policies: the versioned schema, strict loading with file:line errors, JSON Schema."""

from autoscaler.policy.loader import LoadedPolicy, load_policies, load_policy_file
from autoscaler.policy.model import API_VERSION, KIND, ScalingPolicy

__all__ = [
    "API_VERSION",
    "KIND",
    "LoadedPolicy",
    "ScalingPolicy",
    "load_policies",
    "load_policy_file",
]
