"""Writing a figure to a PNG, headless: the one place the simulations' plots choose
matplotlib's backend, resolution and clean-up. The PNG is drawn into a temporary file
and renamed (:mod:`autoscaler.output_files`): a full disk used to leave a 0-byte
``timeline.png`` under the final name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from autoscaler.output_files import write_with

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_png(build: Callable[[], Figure], path: Path) -> Path:
    """Draw ``build()`` into ``path`` on the Agg backend (no display needed), trimmed to
    what was drawn, and free the figure; whole or not at all (OutputError naming it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = build()
    try:
        write_with(path, lambda temporary: fig.savefig(temporary, dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path
