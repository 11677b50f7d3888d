"""Run records and commits in real Git repos, with real (small) playbook runs on localhost."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from pathlib import Path

import pytest
import yaml

from k8s_install.ansible import inventory
from k8s_install.ansible.events import Event
from k8s_install.ansible.runner import RunRequest, RunResult, run_playbook
from k8s_install.base.errors import ExitCode, InvalidInput
from k8s_install.model import config
from k8s_install.records import applied_file as state
from k8s_install.records import git_repo as gitrepo
from k8s_install.records import runs as record

FAILING = """\
- name: A play that fails on its second task
  hosts: all
  gather_facts: false
  tasks:
    - name: Change something harmless
      ansible.builtin.command:
        cmd: "true"
      changed_when: true
    - name: Fail on purpose
      ansible.builtin.fail:
        msg: this run fails on purpose
"""

PASSING = """\
- name: A play that changes one thing
  hosts: all
  gather_facts: false
  tasks:
    - name: Change something harmless
      ansible.builtin.command:
        cmd: "true"
      changed_when: true
"""

SLEEPING = """\
- name: A play that waits to be interrupted
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait
      ansible.builtin.command:
        cmd: sleep 30
      changed_when: false
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A cluster repo made by `init`: sample cluster.yaml, .gitignore, one commit."""
    directory = tmp_path / "cluster"
    gitrepo.init(directory, "lab")
    return directory


def _local_run(repo: Path, tmp_path: Path, play: str, command: str = "up") -> RunResult:
    playbook = tmp_path / f"{command}-play.yml"
    playbook.write_text(play)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    request = RunRequest(
        playbook=playbook, inventory=hosts, private_dir=repo / ".k8s-install", command=command
    )
    return run_playbook(request)


def _log(repo: Path, fmt: str = "%B") -> str:
    return gitrepo.git(repo, "log", "-1", f"--format={fmt}")


def test_failed_run_is_recorded_and_committed_with_trailers(repo: Path, tmp_path: Path) -> None:
    cluster = config.load(repo / "cluster.yaml")
    result = _local_run(repo, tmp_path, FAILING)
    assert result.status == "failed"
    run_id = record.commit_run(cluster, result, command="up", applied=True)
    assert run_id == result.run_id

    data = yaml.safe_load(record.record_path(repo, run_id).read_text())
    assert data["result"] == "failed"
    assert data["applied"] is False
    assert data["hosts"]["localhost"]["changed"] == 1
    assert data["hosts"]["localhost"]["failed"] == 1
    assert data["totals"] == {"hosts": 1, "changed": 1, "failed": 1}
    assert data["failures"][0]["message"] == "this run fails on purpose"
    assert data["versions"]["engine"] == "v2.31.0"
    assert data["cluster"]["digest"] == cluster.digest()
    assert data["log"] == f".k8s-install/artifacts/{run_id}/"
    assert (repo / data["log"] / "stdout").is_file()  # the log exists, outside Git
    assert 1 <= len(data["slowest_tasks"]) <= 10
    # A failed run never marks anything as applied.
    assert state.applied_spec(repo) is None

    message = _log(repo)
    assert f"Run-Id: {run_id}" in message
    assert "Result: failed" in message
    trailers = gitrepo.git(repo, "log", "-1", "--format=%(trailers:key=Result,valueonly)")
    assert trailers.strip() == "failed"
    committed = gitrepo.git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert f"runs/{run_id}.yaml" in committed
    assert not any(p.startswith(".k8s-install") for p in committed)
    assert record.commits_by_run(repo)[run_id] == gitrepo.head(repo)


def test_successful_apply_updates_state_and_commits_inventory(repo: Path, tmp_path: Path) -> None:
    cluster = config.load(repo / "cluster.yaml")
    inventory.write(cluster, repo / "inventory")  # what runner.for_cluster does before a run
    result = _local_run(repo, tmp_path, PASSING)
    run_id = record.commit_run(cluster, result, command="up", applied=True)

    assert state.applied_spec(repo) == cluster.spec
    assert state.digest(state.applied_spec(repo) or {}) == cluster.digest()
    committed = gitrepo.git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert "state/applied.yaml" in committed
    assert "inventory/hosts.yaml" in committed
    assert record.latest_applied(repo)["run_id"] == run_id  # type: ignore[index]
    assert gitrepo.changes(repo) == []


def test_record_survives_a_failing_git_commit(repo: Path, tmp_path: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'rejected by hook' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    cluster = config.load(repo / "cluster.yaml")
    before = gitrepo.head(repo)
    result = _local_run(repo, tmp_path, FAILING)

    recorded = record.record_run(cluster, result, command="up", applied=True)
    assert recorded.commit == ""
    assert "rejected by hook" in recorded.warning
    assert recorded.path.is_file()
    assert gitrepo.head(repo) == before
    # The uncommitted record is the tool's: it does not block the next run, which commits it.
    assert record.ensure_clean(cluster, allow_dirty=False) == []
    hook.unlink()
    second = record.record_run(cluster, None, command="up", applied=False, extra={"why": "test"})
    committed = gitrepo.git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert f"runs/{recorded.run_id}.yaml" in committed
    assert f"runs/{second.run_id}.yaml" in committed


def test_interrupted_run_is_recorded(repo: Path, tmp_path: Path) -> None:
    """Ctrl-C (a real SIGINT to this process) during a run still leaves a record."""
    cluster = config.load(repo / "cluster.yaml")
    playbook = tmp_path / "sleep.yml"
    playbook.write_text(SLEEPING)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    request = RunRequest(playbook=playbook, inventory=hosts, private_dir=repo / ".k8s-install")
    sent: list[bool] = []

    def interrupt_once_waiting(event: Event) -> None:
        # Ctrl-C once the sleeping task has started: deterministic even on a loaded machine.
        if event.kind == "task" and event.task == "Wait" and not sent:
            sent.append(True)
            threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()

    # Python's own Ctrl-C handler, whatever disposition this process inherited.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run_playbook(request, interrupt_once_waiting)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent
    assert result.status == "interrupted"
    run_id = record.commit_run(cluster, result, command="up", applied=True)
    data = record.find(repo, run_id)
    assert data["result"] == "interrupted"
    assert "Result: interrupted" in _log(repo)
    assert state.applied_spec(repo) is None


def test_recording_block_records_an_exception(repo: Path) -> None:
    cluster = config.load(repo / "cluster.yaml")
    with pytest.raises(KeyboardInterrupt), record.recording(cluster, "scale") as rec:
        raise KeyboardInterrupt
    assert rec.recorded is not None
    data = record.find(repo, rec.recorded.run_id)
    assert data["result"] == "interrupted"
    assert data["command"] == "scale"
    assert "Result: interrupted" in _log(repo)


def test_dirty_tree_is_refused_naming_the_files(repo: Path) -> None:
    cluster_file = repo / "cluster.yaml"
    cluster = config.load(cluster_file)
    assert record.ensure_clean(cluster, allow_dirty=False) == []
    cluster_file.write_text(cluster_file.read_text() + "\n# an uncommitted edit\n")
    (repo / "notes.txt").write_text("scratch\n")
    with pytest.raises(InvalidInput) as caught:
        record.ensure_clean(cluster, allow_dirty=False)
    assert caught.value.code == ExitCode.INVALID_INPUT
    assert "cluster.yaml" in str(caught.value)
    assert {p.path for p in caught.value.problems} == {"cluster.yaml", "notes.txt"}
    assert "--allow-dirty" in caught.value.fix
    assert sorted(record.ensure_clean(cluster, allow_dirty=True)) == ["cluster.yaml", "notes.txt"]


def test_generated_inventory_is_not_user_dirt(repo: Path) -> None:
    cluster = config.load(repo / "cluster.yaml")
    inventory.write(cluster, repo / "inventory")
    (repo / ".k8s-install" / "artifacts").mkdir(parents=True)
    (repo / "rendered" / "addons" / "x").mkdir(parents=True)
    (repo / "rendered" / "addons" / "x" / "values.yaml").write_text("a: 1\n")
    assert record.ensure_clean(cluster, allow_dirty=False) == []
    # A hand-made file in inventory/ changes the run: that is the user's.
    extra = repo / "inventory" / "host_vars" / "cp1.yml"
    extra.parent.mkdir(parents=True)
    extra.write_text("kube_proxy_mode: ipvs\n")
    with pytest.raises(InvalidInput) as caught:
        record.ensure_clean(cluster, allow_dirty=False)
    assert [p.path for p in caught.value.problems] == ["inventory/host_vars/cp1.yml"]


def test_not_a_repo_is_refused_unless_allowed(tmp_path: Path) -> None:
    from k8s_install.base.resources import sample_cluster

    (tmp_path / "cluster.yaml").write_text(sample_cluster().read_text())
    cluster = config.load(tmp_path / "cluster.yaml")
    with pytest.raises(InvalidInput, match="not a Git repository"):
        record.ensure_clean(cluster, allow_dirty=False)
    assert record.ensure_clean(cluster, allow_dirty=True) == []
    recorded = record.record_run(cluster, None, command="up", applied=False)
    assert recorded.path.is_file()
    assert "not committed" in recorded.warning


def test_cluster_in_a_subdirectory_of_a_monorepo(tmp_path: Path) -> None:
    from k8s_install.base.resources import sample_cluster

    top = tmp_path / "infra"
    top.mkdir()
    gitrepo.git(top, "init", "--quiet", "--initial-branch=main")
    directory = top / "clusters" / "prod"
    directory.mkdir(parents=True)
    (directory / "cluster.yaml").write_text(
        sample_cluster().read_text().replace("name: sample", "name: prod", 1)
    )
    gitrepo.git(top, "add", "clusters")
    gitrepo.git(top, "commit", "--quiet", "-m", "Add prod")
    (top / "other.txt").write_text("another team's edit\n")  # outside this cluster: ignored
    cluster = config.load(top / "clusters" / "prod" / "cluster.yaml")
    assert record.ensure_clean(cluster, allow_dirty=False) == []
    run_id = record.commit_run(cluster, None, command="up", applied=False)
    committed = gitrepo.git(top, "show", "--name-only", "--format=", "HEAD").split()
    assert committed == [f"clusters/prod/runs/{run_id}.yaml"]
    assert "other.txt" in gitrepo.git(top, "status", "--porcelain")


def test_find_by_prefix_and_latest(repo: Path) -> None:
    cluster = config.load(repo / "cluster.yaml")
    first = record.commit_run(cluster, None, command="up", applied=False)
    second = record.commit_run(cluster, None, command="scale", applied=False)
    assert record.find(repo, "latest")["run_id"] == second
    assert record.find(repo, first)["run_id"] == first
    with pytest.raises(InvalidInput, match="no run"):
        record.find(repo, "19990101")
    assert [r["run_id"] for r in record.all_records(repo)] == [second, first]


def test_runs_within_one_second_are_listed_newest_first(repo: Path) -> None:
    cluster = config.load(repo / "cluster.yaml")
    ids = [record.record_run(cluster, None, command="up", applied=False).run_id for _ in range(8)]
    assert [r["run_id"] for r in record.all_records(repo)] == ids[::-1]


SECRET_PLAY = """\
- name: A play whose failing task handles a secret
  hosts: all
  gather_facts: false
  tasks:
    - name: Use a secret
      ansible.builtin.command:
        cmd: "sh -c 'echo {{ token }} >&2; exit 3'"
      no_log: true
"""


def test_no_log_secrets_stay_out_of_the_record_and_git(repo: Path, tmp_path: Path) -> None:
    canary = "canary-record-5d1e77"
    cluster = config.load(repo / "cluster.yaml")
    playbook = tmp_path / "secret.yml"
    playbook.write_text(SECRET_PLAY)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    request = RunRequest(
        playbook=playbook,
        inventory=hosts,
        private_dir=repo / ".k8s-install",
        extravars={"token": canary},
    )
    result = run_playbook(request)
    assert result.status == "failed"
    run_id = record.commit_run(cluster, result, command="up", applied=True)
    text = record.record_path(repo, run_id).read_text()
    assert canary not in text
    assert "no_log" in text  # the failure is there, its output hidden
    assert canary not in gitrepo.git(repo, "log", "-p", "--all")


def test_a_cluster_file_with_another_name_is_committed(tmp_path: Path) -> None:
    from k8s_install.base.resources import sample_cluster

    repo = tmp_path / "sites"
    repo.mkdir()
    gitrepo.git(repo, "init", "--quiet", "--initial-branch=main")
    (repo / "berlin.yaml").write_text(sample_cluster().read_text())
    gitrepo.git(repo, "add", "berlin.yaml")
    gitrepo.git(repo, "commit", "--quiet", "-m", "Berlin")
    cluster = config.load(repo / "berlin.yaml")
    (repo / "berlin.yaml").write_text((repo / "berlin.yaml").read_text() + "# applied edit\n")
    assert record.ensure_clean(cluster, allow_dirty=True) == ["berlin.yaml"]
    run_id = record.commit_run(cluster, None, command="up", applied=False)
    committed = gitrepo.git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(committed) == ["berlin.yaml", f"runs/{run_id}.yaml"]
