"""How the server tells that a watched file changed: one signature for policy files,
the serving certificate and key, and CA bundles."""

from __future__ import annotations

import os

FileSignature = tuple[str, int, int, int]
"""(resolved path, inode, size, mtime in ns) of the file a path points at now."""


def file_signature(path: str | os.PathLike[str]) -> FileSignature:
    """The signature of ``path``'s target; raises ``OSError`` when it cannot be read.

    The link is resolved first because ConfigMap and Secret mounts are symlinks that the
    kubelet swaps atomically (through ``..data``): a new version is a new target, while
    the stat of the link itself would not change.
    """
    resolved = os.path.realpath(path)
    info = os.stat(resolved)
    return (resolved, info.st_ino, info.st_size, info.st_mtime_ns)


def signature_or_none(path: str | os.PathLike[str]) -> FileSignature | None:
    """:func:`file_signature`, or None while the file is missing or unreadable."""
    try:
        return file_signature(path)
    except OSError:
        return None
