"""Start-up with missing or bad policies: the server comes up, reports every bad file,
serves the good ones, and picks up fixes and new files by hot reload.

The server-level test runs the real server (uvicorn on 127.0.0.1, plain HTTP, auth off)
and drives cycles by hand with a manual clock."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from autoscaler.errors import PolicyError
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.telemetry import Telemetry
from tests.server.conftest import LLAMA, Start
from tests.server.helpers import policy_document, write_policy

REC = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"
RELOAD_ERRORS = "lws_autoscaler_policy_reload_errors_total"
REJECTED = "lws_autoscaler_policy_file_rejected"


def _bad_policy_text() -> str:
    document = policy_document(name="bad", lws="bad-lws")
    document["spec"]["signals"][0]["targetPerGroup"] = -1
    return yaml.safe_dump(document, sort_keys=False)


def test_start_up_rejects_bad_files_loudly_and_loads_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "bad.yaml").write_text(_bad_policy_text())
    write_policy(tmp_path / "a.yaml", name="a", lws="same")
    write_policy(tmp_path / "b.yaml", name="b", lws="same")  # claims a's LWS
    write_policy(tmp_path / "c.yaml", name="c", lws="other")
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path], telemetry)
    with caplog.at_level(logging.ERROR):
        loaded = watcher.load_initial()
    assert sorted(p.name for p in loaded) == ["a", "c"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = "\n".join(r.getMessage() for r in errors)
    assert f"policy file {tmp_path / 'bad.yaml'} rejected" in text
    assert "targetPerGroup" in text  # every issue is in the log, not just "invalid"
    assert "already scaled by 'a'" in text
    assert "2 of 4 policy files rejected at start-up" in text
    assert "none of its policies are in force until it is fixed" in text
    for name in ("bad.yaml", "b.yaml"):
        labels = {"file": str(tmp_path / name)}
        assert telemetry.registry.get_sample_value(RELOAD_ERRORS, labels) == 1
    assert telemetry.registry.get_sample_value("lws_autoscaler_policies_loaded") == 2

    # The same bad versions are not reported again on every cycle...
    caplog.clear()
    assert watcher.refresh() is False
    assert caplog.records == []
    # ...and a fixed file is picked up like any hot reload.
    write_policy(tmp_path / "bad.yaml", name="bad", lws="bad-lws")
    assert watcher.refresh() is True
    assert sorted(p.name for p in watcher.policies) == ["a", "bad", "c"]


def test_start_up_with_no_policy_files_warns_and_continues(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "policies"
    empty.mkdir()
    (empty / "README.txt").write_text("not a policy")
    watcher = PolicyWatcher([empty], Telemetry())
    with caplog.at_level(logging.WARNING):
        assert watcher.load_initial() == []
    assert f"no policy files (*.yaml, *.yml) in {empty}: serving no metrics" in caplog.text
    write_policy(empty / "llama.yaml")
    assert watcher.refresh() is True
    assert [p.name for p in watcher.policies] == ["llama-70b"]


def test_a_policies_path_that_does_not_exist_is_fatal(tmp_path: Path) -> None:
    """A wrong flag or mount, not content: reported with the path, no silent start."""
    write_policy(tmp_path / "llama.yaml")
    watcher = PolicyWatcher([tmp_path, tmp_path / "absent"], Telemetry())
    with pytest.raises(PolicyError, match=r"absent.*no such file or directory"):
        watcher.load_initial()


def test_server_with_no_policies_is_ready_and_picks_policies_up(
    start_server: Start, tmp_path: Path
) -> None:
    """Ready after the first cycle even with nothing to scale: an unready server would
    make the APIService unavailable, which disturbs discovery for the whole cluster."""
    empty = tmp_path / "fresh-install"
    empty.mkdir()
    server = start_server(disable_auth=True, insecure=True, policies=(empty,))
    with server as running, running.client() as http:
        assert http.get("/readyz").status_code == 503  # no cycle yet
        running.cycle()
        assert http.get("/readyz").status_code == 200
        missing = http.get(REC)
        assert missing.status_code == 404
        assert missing.json()["reason"] == "NotFound"

        write_policy(empty / "llama.yaml")  # e.g. `helm upgrade` adding a policy
        running.clock.advance(15)
        running.cycle()
        found = http.get(REC, params={"labelSelector": f"leaderworkerset={LLAMA.name}"})
        assert found.status_code == 200
        (item,) = found.json()["items"]
        assert item["metricLabels"]["policy"] == "llama-70b"
        assert item["value"] == "8"  # 64 waiting at 8 per group


def test_server_starts_with_a_bad_policy_and_serves_the_good_one(
    start_server: Start, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_policy(folder / "llama.yaml")
    (folder / "broken.yaml").write_text("apiVersion: lws-autoscaler.io/v1alpha1\nkind: [oops\n")
    with start_server(disable_auth=True, insecure=True, policies=(folder,)) as running:
        assert [p.name for p in running.process.watcher.policies] == ["llama-70b"]
        running.cycle()
        with running.client() as http:
            assert http.get("/readyz").status_code == 200
            assert http.get(REC).json()["items"][0]["value"] == "8"


def test_a_value_yaml_cannot_build_costs_its_file_only_on_hot_reload(
    start_server: Start, tmp_path: Path
) -> None:
    """A value YAML cannot build (an unknown tag here; an impossible YAML 1.1 date
    before dates became strings) used to escape the loader as a ValueError, killing
    the control loop (readyz 500, then a crash loop on restart)."""
    folder = tmp_path / "teams"
    folder.mkdir()
    write_policy(folder / "llama.yaml")
    team = write_policy(folder / "team-b.yaml", name="team-b", lws="team-b")
    with start_server(disable_auth=True, insecure=True, policies=(folder,)) as running:
        running.cycle()
        text = team.read_text().replace(
            "metadata:\n", "metadata:\n  annotations: {at: !custom x}\n"
        )
        team.write_text(text)
        running.clock.advance(15)
        running.cycle()  # raised ValueError before the loader marked such values
        watcher = running.process.watcher
        assert sorted(p.name for p in watcher.policies) == ["llama-70b", "team-b"]  # last good
        errors = running.process.telemetry.registry.get_sample_value(
            RELOAD_ERRORS, {"file": str(team)}
        )
        assert errors == 1
        with running.client() as http:
            assert http.get("/readyz").status_code == 200
            assert http.get(REC).status_code == 200


def test_an_unexpected_loader_failure_rejects_that_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: whatever the loader raises is one rejected file, not a dead loop."""
    from autoscaler.policy import loader
    from autoscaler.server import policy_watch

    good = write_policy(tmp_path / "a.yaml", name="a", lws="a")
    odd = write_policy(tmp_path / "b.yaml", name="b", lws="b")
    real = loader.load_policy_file

    def flaky(path: Path | str) -> object:
        if str(path) == str(odd):
            raise RuntimeError("loader bug")
        return real(path)

    monkeypatch.setattr(policy_watch, "load_policy_file", flaky)
    watcher = PolicyWatcher([tmp_path], Telemetry())
    with caplog.at_level(logging.ERROR):
        loaded = watcher.load_initial()
    assert [p.name for p in loaded] == ["a"]
    assert f"{odd}:1: cannot load: RuntimeError('loader bug')" in caplog.text
    assert str(good) not in caplog.text
    write_policy(odd, name="b", lws="b", target_per_group=16.0)  # a new version, same bug
    assert watcher.refresh() is False
    assert [p.name for p in watcher.policies] == ["a"]


def _targets(watcher: PolicyWatcher) -> dict[str, str]:
    return {p.name: p.spec.target.name for p in watcher.policies}


def test_a_file_waiting_on_a_conflict_comes_in_when_the_other_lets_go(tmp_path: Path) -> None:
    # b.yaml claims a's LWS and is rejected. Its bytes never change again, and it used
    # to stay out for good, even after a.yaml was deleted.
    write_policy(tmp_path / "a.yaml", name="a", lws="same")
    write_policy(tmp_path / "b.yaml", name="b", lws="same")
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path], telemetry)
    watcher.load_initial()
    assert _targets(watcher) == {"a": "same"}
    assert watcher.refresh() is False  # still claimed: nothing changes, nothing is logged
    errors = {"file": str(tmp_path / "b.yaml")}
    assert telemetry.registry.get_sample_value(RELOAD_ERRORS, errors) == 1
    (tmp_path / "a.yaml").unlink()
    assert watcher.refresh() is True
    assert _targets(watcher) == {"b": "same"}


def test_one_configmap_update_that_moves_a_policy_between_keys(tmp_path: Path) -> None:
    # The kubelet swaps ..data at once: a.yaml now claims x, which b.yaml held, and b.yaml
    # moves to zb. a.yaml is read first, while b.yaml's old version still holds x.
    mount = tmp_path / "policies"
    mount.mkdir()

    def publish(version: int, files: dict[str, str]) -> None:
        stamp = mount / f"..2026_01_01_00_00_{version:02d}"
        stamp.mkdir()
        for name, lws in files.items():
            write_policy(stamp / name, name=name.removesuffix(".yaml"), lws=lws)
        (mount / "..data_tmp").symlink_to(stamp.name)
        (mount / "..data_tmp").replace(mount / "..data")
        for name in files:
            if not (mount / name).is_symlink():
                (mount / name).symlink_to(f"..data/{name}")

    publish(1, {"a.yaml": "za", "b.yaml": "x"})
    watcher = PolicyWatcher([mount], Telemetry())
    watcher.load_initial()
    assert _targets(watcher) == {"a": "za", "b": "x"}
    publish(2, {"a.yaml": "x", "b.yaml": "zb"})
    assert watcher.refresh() is True
    # In the same refresh: x is scaled by a, and za is no longer (it was left in force).
    assert _targets(watcher) == {"a": "x", "b": "zb"}


def test_an_unreadable_file_is_reported_once_not_every_cycle(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_policy(tmp_path / "a.yaml", name="a", lws="x")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "gone.yaml")  # dangling
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path], telemetry)
    with caplog.at_level(logging.ERROR):
        watcher.load_initial()
        for _ in range(5):
            assert watcher.refresh() is False  # a.yaml stays in force, unchanged
    rejected = [r for r in caplog.records if "b.yaml rejected" in r.getMessage()]
    assert len(rejected) == 1
    errors = {"file": str(tmp_path / "b.yaml")}
    assert telemetry.registry.get_sample_value(RELOAD_ERRORS, errors) == 1


def test_the_rejected_gauge_follows_each_file_and_leaves_with_it(tmp_path: Path) -> None:
    # The PolicyRejected alert reads this gauge: 1 while the file's current version is
    # rejected, from its first appearance on (a counter's first increment shows no
    # increase()), 0 once a version loads, no series once the file is gone.
    (tmp_path / "bad.yaml").write_text(_bad_policy_text())
    write_policy(tmp_path / "good.yaml", name="good", lws="x")
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path], telemetry)
    watcher.load_initial()

    def rejected(name: str) -> float | None:
        return telemetry.registry.get_sample_value(REJECTED, {"file": str(tmp_path / name)})

    assert (rejected("bad.yaml"), rejected("good.yaml")) == (1.0, 0.0)
    (tmp_path / "late.yaml").write_text(_bad_policy_text().replace("bad-lws", "late-lws"))
    watcher.refresh()
    assert rejected("late.yaml") == 1.0
    write_policy(tmp_path / "bad.yaml", name="bad", lws="bad-lws")
    watcher.refresh()
    assert rejected("bad.yaml") == 0.0
    (tmp_path / "late.yaml").unlink()
    watcher.refresh()
    assert rejected("late.yaml") is None
    assert rejected("good.yaml") == 0.0


def test_symlinked_folders_are_followed_once_and_a_file_named_twice_loads_once(
    tmp_path: Path,
) -> None:
    # As `validate` lists them: a team folder linked in is read, a link back to an
    # ancestor does not loop, and a file reached by two names does not clash with itself.
    shared = tmp_path / "shared"
    shared.mkdir()
    write_policy(shared / "team.yaml", name="team", lws="team")
    root = tmp_path / "policies"
    root.mkdir()
    write_policy(root / "own.yaml", name="own", lws="own")
    (root / "linked").symlink_to(shared)
    (shared / "loop").symlink_to(root)
    watcher = PolicyWatcher([root, root / "own.yaml"], Telemetry())
    assert sorted(p.name for p in watcher.load_initial()) == ["own", "team"]
    assert watcher.refresh() is False


def test_what_validate_refuses_in_a_folder_the_server_rejects_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # One listing for both: a policy-like file the server cannot load (an upper-case
    # suffix) is rejected, logged once and counted, not skipped without a word.
    write_policy(tmp_path / "a.yaml", name="a", lws="x")
    write_policy(tmp_path / "b.YAML", name="b", lws="y")
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path], telemetry)
    with caplog.at_level(logging.ERROR):
        assert [p.name for p in watcher.load_initial()] == ["a"]
        for _ in range(3):
            watcher.refresh()
    upper = str(tmp_path / "b.YAML")
    assert len([r for r in caplog.records if "b.YAML rejected" in r.getMessage()]) == 1
    assert "rename it" in caplog.text
    assert telemetry.registry.get_sample_value(REJECTED, {"file": upper}) == 1
    (tmp_path / "b.YAML").rename(tmp_path / "b.yaml")
    watcher.refresh()
    assert sorted(p.name for p in watcher.policies) == ["a", "b"]
    assert telemetry.registry.get_sample_value(REJECTED, {"file": upper}) is None


def test_a_file_added_changed_and_removed_each_change_what_is_in_force(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path], telemetry)
    watcher.load_initial()
    loaded = "lws_autoscaler_policies_loaded"
    path = tmp_path / "a.yaml"
    with caplog.at_level(logging.INFO, logger="autoscaler.server.policy_watch"):
        write_policy(path, name="a", lws="one")
        assert watcher.refresh() is True
        assert f"policy file {path} loaded: a" in caplog.text
        write_policy(path, name="a", lws="one", target_per_group=16.0)  # a new size
        assert watcher.refresh() is True
        assert f"policy file {path} reloaded: a" in caplog.text
        assert telemetry.registry.get_sample_value(loaded) == 1
        path.write_text(_bad_policy_text())  # rejected: the last good version stays
        assert watcher.refresh() is False
        assert [p.spec.target.name for p in watcher.policies] == ["one"]
        path.unlink()
        assert watcher.refresh() is True  # the last policy gone is a change too
    assert watcher.policies == []
    assert telemetry.registry.get_sample_value(loaded) == 0


def test_start_up_without_any_policies_path_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert PolicyWatcher([], Telemetry()).load_initial() == []
    assert "no policy files (*.yaml, *.yml) in (no --policies given)" in caplog.text


def test_a_file_gone_between_the_listing_and_its_read_keeps_its_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of a ConfigMap swap: listed, then unreadable when its signature is taken."""
    from autoscaler.server import policy_watch

    path = write_policy(tmp_path / "a.yaml", name="a", lws="one")
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path], telemetry)
    watcher.load_initial()

    def vanished(_path: object) -> object:
        raise FileNotFoundError("gone")

    monkeypatch.setattr(policy_watch, "file_signature", vanished)
    assert watcher.refresh() is False
    assert [p.name for p in watcher.policies] == ["a"]
    errors = {"file": str(path)}
    assert telemetry.registry.get_sample_value(RELOAD_ERRORS, errors) == 1
