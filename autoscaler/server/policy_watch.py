"""Policies in force, reloaded when their files change (a ConfigMap mount update).

A ConfigMap volume shows each key as ``name.yaml -> ..data/name.yaml`` and swaps the
``..data`` symlink atomically on update. The watcher therefore compares, per policy
file, the *resolved* path, inode, size and mtime, and it skips every name starting with
``.`` when listing a folder (``..data`` and the timestamped ``..2026_...`` folder would
otherwise yield every policy twice).

Every file is judged on its own, at start-up and on reload alike: a file that is
invalid, or targets an LWS (or reuses a policy name) already claimed by another file, is
rejected: every issue is logged at ERROR, ``policy_reload_errors_total{file}`` counts
it, ``policy_file_rejected{file}`` is 1 until a version loads, and the file's last good
policies stay in force (none at start-up). The other files
load. A file that disappears takes its policies with it. A rejection is said once per
version of the file (an unreadable one, once until its error changes). A valid version
rejected only because another file claims its LWS or name waits: it is checked again
after every refresh's other files, so it comes into force once that file lets go.

Start-up deliberately does not fail on a bad or missing policy: one typo in one team's
policy must not crash-loop the server that answers every other team's HPAs, and a fresh
install with no policies yet must come up (and be ready) so the APIService stays
available. The one fatal case is a ``--policies`` path that does not exist at all: that
is a wrong flag or mount, not content, and it is reported with the path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autoscaler.errors import PolicyError, PolicyIssue
from autoscaler.policy.files import list_policy_files
from autoscaler.policy.loader import LoadedPolicy, load_policy_file
from autoscaler.policy.model import ScalingPolicy
from autoscaler.server.file_version import FileSignature, file_signature
from autoscaler.server.telemetry import Telemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _FileState:
    signature: FileSignature | None
    """Of the version last *looked at* (good or rejected), so a bad file is logged once."""
    policies: tuple[LoadedPolicy, ...]
    """In force: the file's last good version."""
    problems: tuple[str, ...] = ()
    """Why the version last looked at was rejected: the same rejection is said once."""
    waiting: tuple[LoadedPolicy, ...] = ()
    """A valid version rejected only because another file claims its LWS or name. It is
    checked again on every refresh, unchanged or not: when the other file lets go (it is
    deleted, or retargeted in the same ConfigMap update), this one comes into force."""


def _conflicts(loaded: Sequence[LoadedPolicy], others: Iterable[LoadedPolicy]) -> list[str]:
    by_key = {p.key: p for p in others}
    by_name = {p.policy.name: p for p in by_key.values()}
    problems = []
    for p in loaded:
        if p.key in by_key:
            other = by_key[p.key]
            problems.append(
                f"LWS {p.key} is already scaled by {other.policy.name!r} ({other.file})"
            )
        elif p.policy.name in by_name:
            problems.append(
                f"policy name {p.policy.name!r} is already used in {by_name[p.policy.name].file}"
            )
    return problems


class PolicyWatcher:
    """Holds the policies in force and refreshes them from ``paths``."""

    def __init__(self, paths: Sequence[Path], telemetry: Telemetry) -> None:
        self._paths = list(paths)
        self._telemetry = telemetry
        self._files: dict[str, _FileState] = {}
        self._published: set[str] = set()

    @property
    def policies(self) -> list[ScalingPolicy]:
        return [p.policy for state in self._files.values() for p in state.policies]

    def load_initial(self) -> list[ScalingPolicy]:
        """First load: the policies in force afterwards (possibly none).

        Raises PolicyError only when a ``--policies`` path does not exist. Invalid or
        conflicting files are rejected as on reload; no policy file at all is a warning.
        """
        files, unusable, missing = self._list()
        if missing:
            raise PolicyError(missing)
        if not files:
            log.warning(
                "no policy files (*.yaml, *.yml) in %s: serving no metrics until policies "
                "appear (looked for on every cycle)",
                ", ".join(str(p) for p in self._paths) or "(no --policies given)",
            )
        # At start-up every file is new, so _refresh_file is False only when it rejects.
        for file in files:
            self._refresh_file(file)
        self._admit_waiting(files)
        present = [*files, *unusable]
        rejected = [f for f in present if self._files.get(f, _FileState(None, ())).problems]
        self._telemetry.policies_loaded.set(len(self.policies))
        self._publish_rejections()
        if rejected:
            log.error(
                "%d of %d policy files rejected at start-up (see above): %s",
                len(rejected),
                len(present),
                ", ".join(rejected),
            )
        return self.policies

    def refresh(self) -> bool:
        """Reload changed files; True when the policies in force changed."""
        files, unusable, _ = self._list()
        changed = False
        for gone in set(self._files) - set(files) - set(unusable):
            log.info("policy file %s removed: its policies are no longer in force", gone)
            del self._files[gone]
            changed = True
        for file in files:
            changed |= self._refresh_file(file)
        changed |= self._admit_waiting(files)
        if changed:
            self._telemetry.policies_loaded.set(len(self.policies))
        self._publish_rejections()
        return changed

    def _publish_rejections(self) -> None:
        """``policy_file_rejected{file}``: 1 or 0 per file present, none for files gone."""
        gauge = self._telemetry.file_rejected
        for gone in self._published - set(self._files):
            gauge.remove(gone)
        for file, state in self._files.items():
            gauge.labels(file).set(1 if state.problems else 0)
        self._published = set(self._files)

    def _list(self) -> tuple[list[str], list[str], list[PolicyIssue]]:
        """(the policy files to read, the paths rejected while listing, the
        ``--policies`` paths that name nothing).

        Listed as ``validate`` lists them (``autoscaler.policy.files``). A path that
        looks like a policy file but cannot be one (a broken link, an upper-case suffix)
        or a folder that cannot be read is rejected here like an invalid file: logged
        once, counted, its last good policies kept, and not taken for a file removed.
        """
        listing = list_policy_files(self._paths)
        for issue in listing.unusable:
            previous = self._files.get(issue.file, _FileState(None, ()))
            self._reject(issue.file, previous, None, [issue.message])
        unusable = [issue.file for issue in listing.unusable]
        return [str(f) for f in listing.files], unusable, listing.missing

    def _in_force(self, except_file: str) -> list[LoadedPolicy]:
        return [p for f, s in self._files.items() if f != except_file for p in s.policies]

    def _refresh_file(self, file: str) -> bool:
        previous = self._files.get(file, _FileState(None, ()))
        try:
            signature = file_signature(file)
        except OSError as exc:
            self._reject(file, previous, None, [f"cannot read: {exc}"])
            return False
        if signature == previous.signature:
            return False  # a waiting version is checked again by _admit_waiting
        try:
            loaded = tuple(load_policy_file(file))
        except PolicyError as exc:
            self._reject(file, previous, signature, [str(i) for i in exc.issues])
            return False
        except Exception as exc:  # a loader bug must cost this file only, never the loop
            log.exception("policy file %s: unexpected error while loading", file)
            self._reject(file, previous, signature, [f"{file}:1: cannot load: {exc!r}"])
            return False
        return self._admit(file, previous, signature, loaded)

    def _admit(
        self,
        file: str,
        previous: _FileState,
        signature: FileSignature | None,
        loaded: tuple[LoadedPolicy, ...],
    ) -> bool:
        problems = _conflicts(loaded, self._in_force(except_file=file))
        if problems:
            self._reject(file, previous, signature, problems, waiting=loaded)
            return False
        verb = "loaded" if previous.signature is None and not previous.problems else "reloaded"
        log.info("policy file %s %s: %s", file, verb, ", ".join(p.policy.name for p in loaded))
        self._files[file] = _FileState(signature, loaded)
        return True

    def _admit_waiting(self, files: Sequence[str]) -> bool:
        """Check again the versions waiting on a conflict, after every file was looked at:
        one ConfigMap update that moves a policy from b.yaml to a.yaml reaches a.yaml
        first, while b.yaml still claims the LWS."""
        changed = False
        for file in files:
            state = self._files.get(file)
            if state is not None and state.waiting:
                changed |= self._admit(file, state, state.signature, state.waiting)
        return changed

    def _reject(
        self,
        file: str,
        previous: _FileState,
        signature: FileSignature | None,
        problems: list[str],
        waiting: tuple[LoadedPolicy, ...] = (),
    ) -> None:
        state = _FileState(signature, previous.policies, tuple(problems), waiting)
        if signature == previous.signature and state.problems == previous.problems:
            self._files[file] = state  # the same rejection of the same version: said once
            return
        kept = ", ".join(p.policy.name for p in previous.policies)
        outcome = (
            f"keeping its last good version ({kept})"
            if kept
            else "none of its policies are in force until it is fixed"
        )
        log.error("policy file %s rejected, %s:\n  %s", file, outcome, "\n  ".join(problems))
        self._telemetry.reload_errors.labels(file).inc()
        self._files[file] = state
