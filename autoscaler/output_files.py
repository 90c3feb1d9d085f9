"""Writing a command's output files whole or not at all.

A results file cut short by a full disk, or left from an earlier run beside the new
ones, reads as a finished result. Every output file is therefore written to a hidden
temporary file in its folder and renamed over the final name (``os.replace`` is atomic
within one file system), and any failure is one :class:`OutputError` naming the file,
which the CLI prints as one line (exit 2). The temporary file never outlives a failure.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from autoscaler.errors import AutoscalerError


class OutputError(AutoscalerError):
    """An output file could not be written; nothing was left under its name."""


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` on success.

    The temporary name keeps ``path``'s suffix (matplotlib picks the format from it).
    """
    path = Path(path)
    try:
        descriptor, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent
        )
        os.close(descriptor)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_text(path: Path, text: str) -> Path:
    """``path.write_text(text)`` (UTF-8), whole or not at all."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_with(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(temporary)`` then the rename: for writers that take a path (a figure)."""
    with replacing(path) as temporary:
        write(temporary)
    return Path(path)
