"""Clearing the previous run's outputs from ``--out`` before a new run writes its own.

A run cut short (Ctrl-C, a full disk, a crash) into a folder that held an earlier run
left a mix: the new ``results.json`` beside the old run's PNGs, which read as one
result. ``benchmark``, ``tune`` and ``simulate`` therefore remove, at the start of a
run, the files of the names they write (and the hidden temporaries of
:mod:`autoscaler.output_files` a killed run may have left), and nothing else: a file of
any other name in ``--out`` is the user's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

from autoscaler.output_files import OutputError


def _candidates(out: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` and the temporaries written for them (``.NAME.*``)."""
    folder, _, name = pattern.rpartition("/")
    hidden = f"{folder}/.{name}.*" if folder else f".{name}.*"
    return sorted({*out.glob(pattern), *out.glob(hidden)})


def remove_previous(out: Path, patterns: Iterable[str]) -> list[Path]:
    """Remove the files under ``out`` matching ``patterns`` (glob, at most one folder
    level: ``seed-[0-9]*/results.json``); a sub-folder left empty goes too. Returns the
    files removed; OutputError (one line, naming the file) when one cannot be."""
    removed: list[Path] = []
    folders: set[Path] = set()
    for pattern in patterns:
        for path in _candidates(out, pattern):
            if path.is_dir() and not path.is_symlink():
                continue  # only files: a folder of that name is not ours to empty
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise OutputError(
                    f"--out {out}: cannot remove the previous run's {path}: {exc.strerror or exc}"
                ) from None
            removed.append(path)
            if path.parent != out:
                folders.add(path.parent)
    for folder in sorted(folders):
        with contextlib.suppress(OSError):  # not empty: it holds files of other names
            folder.rmdir()
    return removed
