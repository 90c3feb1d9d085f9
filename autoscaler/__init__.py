"""lws-autoscaler: LLM-aware autoscaling for LeaderWorkerSet inference groups.

The package is split by responsibility:

- ``policy``: the versioned policy schema, strict loading and the JSON Schema export;
- ``engine``: the pure decision function (policy, snapshot, state, now) -> decision;
- ``snapshot`` and ``signals``: the data the sources hand to the engine;
- ``cli``: the ``lws-autoscaler`` command.
"""

__version__ = "0.1.0"
