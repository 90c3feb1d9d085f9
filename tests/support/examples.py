"""How many examples the property tests draw.

Each property test states its usual count (the suite's ten minutes on two cores pay for
it); ``LWS_AUTOSCALER_EXAMPLES_SCALE=20`` multiplies it, for a deeper run by hand or at
night. Draws no run made before are what find a rare defect: thousands of extra runs of
the engine's tests found two on 2026-11-26 (a drain without group detail that left only
a crashed group, and a property that modelled a schedule's floor at zero wrongly).
"""

from __future__ import annotations

import os

SCALE_VARIABLE = "LWS_AUTOSCALER_EXAMPLES_SCALE"


def examples(usual: int) -> int:
    """``usual`` times the scale in the environment (1 when unset), at least 1."""
    raw = os.environ.get(SCALE_VARIABLE, "1")
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"{SCALE_VARIABLE}={raw!r}: expected a number, e.g. 20") from None
    return max(1, round(usual * scale))
