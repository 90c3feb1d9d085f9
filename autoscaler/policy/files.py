"""Which files are policy files, for ``validate`` and for the server's watcher alike.

Each file is read once, however it is named: twice on the command line, as a file and
through its folder, or through a ConfigMap's ``..data`` link. Otherwise a valid policy
would clash with itself ("policy name already used") and fail CI. Files are therefore
keyed by their resolved path; the first name given is the one reported.

A folder is walked recursively, following symlinked subfolders (a shared team folder
linked in) but entering each real folder once, so a link to an ancestor cannot loop.
Nothing is skipped silently: a broken link, a folder that cannot be read, a policy-like
file with an upper-case suffix or a special file are errors at their path. Names
starting with ``.`` are skipped on purpose: a mounted ConfigMap keeps a second copy of
every file under ``..data`` and ``..2024_01_01...``, and editors' lock files are hidden.

:func:`list_policy_files` is the listing; the watcher runs it every cycle and rejects
each unusable path like an invalid file. :func:`expand` is ``validate``'s view of it:
every problem in one list.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from autoscaler.errors import PolicyIssue

POLICY_SUFFIXES = (".yaml", ".yml")
"""Suffixes of policy files in a folder, matched in exact case: a ``p.YAML`` is an
unusable path, which ``validate`` reports and the server rejects, rather than loaded."""

NO_FILES = "no policy files (*.yaml, *.yml) found"


def _issue(path: Path | str, message: str) -> PolicyIssue:
    return PolicyIssue(str(path), 1, "", message)


def _not_a_file(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"broken symbolic link (to {os.readlink(path)}): no such file"
    if path.exists():
        return "not a regular file (a pipe or device cannot be validated; save it to a file)"
    return "no such file or directory"


@dataclass
class PolicyFiles:
    """The policy files under some paths, each once, and what stands in the way."""

    files: list[Path] = field(default_factory=list)
    missing: list[PolicyIssue] = field(default_factory=list)
    """Arguments that name nothing usable (no such path, an empty string)."""
    unusable: list[PolicyIssue] = field(default_factory=list)
    """Paths found in folders that look like policy files but cannot be read as one (a
    broken link, a special file, an upper-case suffix), and folders that cannot be read."""
    empty_folders: list[Path] = field(default_factory=list)
    _seen_files: set[str] = field(default_factory=set)
    _seen_folders: set[str] = field(default_factory=set)

    def add_file(self, path: Path) -> None:
        real = os.path.realpath(path)
        if real not in self._seen_files:
            self._seen_files.add(real)
            self.files.append(path)

    def walked(self, folder: Path) -> bool:
        """Whether ``folder`` (by its real path) was listed already."""
        return os.path.realpath(folder) in self._seen_folders

    def walk(self, folder: Path) -> int:
        """Add the policy files under ``folder``; return how many it holds (seen or not)."""
        real = os.path.realpath(folder)
        if real in self._seen_folders:
            return 0
        self._seen_folders.add(real)
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            self.unusable.append(_issue(folder, f"cannot read folder: {exc.strerror}"))
            return 0
        found = 0
        for name in names:
            if name.startswith("."):
                continue
            path = folder / name
            if path.is_dir():
                found += self.walk(path)
                continue
            suffix = path.suffix
            if suffix.lower() not in POLICY_SUFFIXES:
                continue
            if not path.is_file():
                self.unusable.append(_issue(path, _not_a_file(path)))
            elif suffix not in POLICY_SUFFIXES:
                self.unusable.append(
                    _issue(
                        path,
                        "not loaded: a policy file's suffix is .yaml or .yml, in lower "
                        "case (the server rejects this file too); rename it",
                    )
                )
            else:
                found += 1
                self.add_file(path)
        return found


def list_policy_files(paths: Iterable[Path | str]) -> PolicyFiles:
    """The files named by ``paths`` (files and folders), each once, and the problems."""
    listing = PolicyFiles()
    for raw in paths:
        if isinstance(raw, str) and not raw:
            # Path("") is ".": an unset variable in a CI script would validate the cwd.
            listing.missing.append(
                _issue("<arguments>", "an empty path names no file (write '.' for this folder)")
            )
            continue
        path = Path(raw)
        if path.is_dir():
            if listing.walked(path):
                continue  # named twice, or inside a folder named before: listed once
            if not listing.walk(path):
                listing.empty_folders.append(path)
        elif path.is_file():
            listing.add_file(path)
        else:
            listing.missing.append(_issue(path, _not_a_file(path)))
    return listing


def expand(paths: Iterable[Path | str]) -> tuple[list[Path], list[PolicyIssue]]:
    """``validate``'s view: the files, and every problem (also "no policy files" for
    folders that held none, when nothing else was found)."""
    listing = list_policy_files(paths)
    issues = [*listing.missing, *listing.unusable]
    if not listing.files and not issues:
        issues = [_issue(folder, NO_FILES) for folder in listing.empty_folders]
    return listing.files, issues
