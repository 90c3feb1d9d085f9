"""Writing a figure to a PNG, headless: the one place the simulations' plots choose
matplotlib's backend, resolution and clean-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_png(build: Callable[[], Figure], path: Path) -> Path:
    """Draw ``build()`` into ``path`` on the Agg backend (no display needed), trimmed to
    what was drawn, and free the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = build()
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
