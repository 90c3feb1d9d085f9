"""Writing a command's output files whole or not at all.

A results file cut short by a full disk, or left from an earlier run beside the new
ones, reads as a finished result. Every output file is therefore written to a hidden
temporary file in its folder and renamed over the final name (``os.replace`` is atomic
within one file system), and any failure is one :class:`OutputError` naming the file,
which the CLI prints as one line (exit 2). The temporary file never outlives a failure.

The result is what writing the file in place would have given, not a 0600 temporary
file: it gets the mode the old file had, or 0666 less the umask for a new one (a CI
artifact uploader or another user reads it); a symlink keeps pointing where it did and
its target is replaced; a name that is not a regular file (``/dev/stdout``, a FIFO) is
refused, since a rename would replace the device link itself. The data and the rename
are flushed to disk, so a power loss leaves the old file or the new, never an empty one.
"""

from __future__ import annotations

import contextlib
import os
import stat
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
    named = Path(path)
    # Through symlinks: ``out.json -> results/today.json`` replaces today.json.
    path = Path(os.path.realpath(named))
    try:
        mode = _mode_for(path)
        descriptor, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent
        )
        os.fchmod(descriptor, mode)
        os.close(descriptor)
    except OSError as exc:
        raise OutputError(f"cannot write {named}: {exc.strerror or exc}") from None
    temporary = Path(name)
    try:
        yield temporary
        _flush(temporary)
        os.replace(temporary, path)
        _flush(path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {named}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _mode_for(path: Path) -> int:
    """The mode the written file gets: the old file's, or 0666 less the umask."""
    try:
        status = path.stat()
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
    if not stat.S_ISREG(status.st_mode):
        raise OSError(0, "not a regular file (give the path of a file to write)")
    return stat.S_IMODE(status.st_mode)


def _flush(path: Path) -> None:
    """fsync ``path`` (a file's data, or a folder's entries after a rename)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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
