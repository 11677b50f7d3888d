"""history, show, status and drift against real Git repos and real (localhost) Ansible runs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible.runner import RunRequest, run_playbook
from k8s_install.base import output_schemas as jsonout
from k8s_install.checks import drift
from k8s_install.cli import cli
from k8s_install.model import config
from k8s_install.records import applied_file as state
from k8s_install.records import git_repo as gitrepo
from k8s_install.records import in_cluster as clusterstate
from k8s_install.records import runs as record


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    directory = tmp_path / "cluster"
    gitrepo.init(directory, "lab")
    return directory


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _apply_recorded(repo: Path) -> str:
    """A recorded, successful apply without hosts (what `up` records after its runs)."""
    cluster = config.load(repo / "cluster.yaml")
    return record.record_run(cluster, None, command="up", applied=True, status="successful").run_id


def test_history_and_show_json_validate(repo: Path) -> None:
    config_path = str(repo / "cluster.yaml")
    code, output = _invoke("history", "-c", config_path, "--json")
    assert code == 0
    assert json.loads(output)["runs"] == []
    cluster = config.load(repo / "cluster.yaml")
    failed = record.commit_run(
        cluster, None, command="up", applied=True, extra={"error": "boom [/x] [Errno 2]"}
    )
    applied = _apply_recorded(repo)

    code, output = _invoke("history", "-c", config_path, "--json")
    assert code == 0, output
    document = json.loads(output)
    assert jsonout.errors("history", document) == []
    assert [r["run_id"] for r in document["runs"]] == [applied, failed]
    by_id = {r["run_id"]: r for r in document["runs"]}
    assert by_id[failed]["result"] == "error"
    assert by_id[applied]["applied"] is True
    assert by_id[applied]["commit"] == gitrepo.head(repo)

    code, output = _invoke("show", failed[:-1], "-c", config_path, "--json")
    assert code == 0, output
    shown = json.loads(output)
    assert jsonout.errors("show", shown) == []
    assert shown["record"]["extra"] == {"error": "boom [/x] [Errno 2]"}
    assert shown["log"].endswith(f".k8s-install/artifacts/{failed}")
    assert shown["log_present"] is False
    # Every record on disk conforms to the published run-record schema.
    for path in (repo / "runs").glob("*.yaml"):
        assert jsonout.errors("run-record", yaml.safe_load(path.read_text())) == []

    code, output = _invoke("show", "-c", config_path)
    assert code == 0
    assert "log:" in output and "not on this machine" in output
    code, output = _invoke("show", failed, "-c", config_path)
    assert code == 0, output
    assert "boom [/x] [Errno 2]" in output  # data with brackets is shown, not parsed as markup
    code, output = _invoke("show", "nope", "-c", config_path)
    assert code == 2


def test_status_shows_pending_changes_against_git(repo: Path) -> None:
    config_path = repo / "cluster.yaml"
    code, output = _invoke("status", "-c", str(config_path), "--no-cluster", "--json")
    assert code == 0, output
    document = json.loads(output)
    assert jsonout.errors("status", document) == []
    assert document["git"]["applied"] is False
    assert document["pending"]["first_install"] is True

    _apply_recorded(repo)
    code, output = _invoke("status", "-c", str(config_path), "--no-cluster", "--json")
    document = json.loads(output)
    assert document["in_sync"] is True
    assert document["pending"]["actions"] == []

    text = config_path.read_text().replace("pod_cidr: 10.233.64.0/18", "pod_cidr: 10.234.64.0/18")
    text = text.replace(
        "  - name: worker2\n",
        "  - name: worker3\n    address: 192.0.2.23\n    roles: [worker]\n  - name: worker2\n",
    )
    config_path.write_text(text)
    code, output = _invoke("status", "-c", str(config_path), "--no-cluster", "--json")
    document = json.loads(output)
    assert jsonout.errors("status", document) == []
    assert document["in_sync"] is False
    assert document["git"]["uncommitted"] == ["cluster.yaml"]
    assert document["pending"]["actions"] or document["pending"]["problems"]
    code, output = _invoke("status", "-c", str(config_path), "--no-cluster")
    assert "pending action" in output
    assert "uncommitted change in cluster.yaml" in output


def _kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig for an API server on a closed loopback port."""
    path = tmp_path / "admin.conf"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_status_degrades_when_the_cluster_is_unreachable(repo: Path, tmp_path: Path) -> None:
    _apply_recorded(repo)
    kubeconfig = _kubeconfig(tmp_path)
    config_path = str(repo / "cluster.yaml")
    args = ("status", "-c", config_path, "--kubeconfig", str(kubeconfig))
    code, output = _invoke(*args, "--json")
    assert code == 0, output
    document = json.loads(output)
    assert jsonout.errors("status", document) == []
    assert document["cluster_record"]["reachable"] is False
    message = document["cluster_record"]["message"]
    if shutil.which("kubectl"):  # Debian's kubectl package; without it the message says so
        assert "127.0.0.1:1" in message
    else:
        assert "kubectl is not installed" in message
    assert document["disagreements"] == []
    code, output = _invoke(*args)
    assert "cluster: unknown" in output
    assert "Git: applied by run" in output


def test_configmap_renders_a_valid_object(repo: Path) -> None:
    cluster = config.load(repo / "cluster.yaml")
    run_id = _apply_recorded(repo)
    entry = record.find(repo, run_id)
    obj = clusterstate.configmap(cluster, entry)
    assert obj["kind"] == "ConfigMap"
    assert obj["metadata"] == {
        "name": "k8s-install-state",
        "namespace": "kube-system",
        "labels": {
            "app.kubernetes.io/managed-by": "k8s-install",
            "app.kubernetes.io/name": "k8s-install-state",
        },
    }
    assert clusterstate.problems(obj) == []
    data = obj["data"]
    assert data["run-id"] == run_id
    assert (
        data["applied-digest"] == cluster.digest() == state.digest(state.applied_spec(repo) or {})
    )
    assert data["engine-release"] == "v2.31.0"
    assert yaml.safe_load(data["record.yaml"]) == entry
    assert clusterstate.problems({"data": {"bad key!": "x", "n": 1}}) == [
        "data key 'bad key!' is not a valid ConfigMap key",
        "data['n'] must be a string",
    ]


def test_git_and_cluster_records_compared() -> None:
    git_view = {"run_id": "r2", "applied_digest": "abc"}
    agree = clusterstate.ClusterRecord(True, "", {"run-id": "r2", "applied-digest": "abc"})
    assert clusterstate.compare(git_view, agree) == []
    behind = clusterstate.ClusterRecord(True, "", {"run-id": "r1", "applied-digest": "old"})
    differences = clusterstate.compare(git_view, behind)
    assert len(differences) == 2
    assert "r1" in differences[0] and "r2" in differences[0]
    empty = clusterstate.ClusterRecord(True, "no ConfigMap", None)
    assert clusterstate.compare(git_view, empty) == ["the cluster holds no record yet"]
    unreachable = clusterstate.ClusterRecord(False, "down")
    assert clusterstate.compare(git_view, unreachable) == []


CHECK_PLAY = """\
- name: Things drift can and cannot check
  hosts: all
  gather_facts: false
  force_handlers: true
  tasks:
    - name: Manage a file
      ansible.builtin.copy:
        content: "managed: true\\n"
        dest: "{{ target }}"
        mode: "0644"
      notify: Reload something
    - name: Read a value for real
      ansible.builtin.command:
        cmd: echo value
      check_mode: false
      changed_when: false
      register: read
    - name: Apply a value with a command
      ansible.builtin.command:
        cmd: "true"
      changed_when: true
    - name: Skipped by a condition
      ansible.builtin.command:
        cmd: "true"
      when: false
    - name: Fail only in check mode
      ansible.builtin.assert:
        that: ansible_check_mode is false
  handlers:
    - name: Reload something
      ansible.builtin.debug:
        msg: a consequence of the file change, not drift of its own
      changed_when: true
"""


def test_check_run_classifies_drift_and_blind_spots(tmp_path: Path) -> None:
    """A real check+diff run on localhost: a hand-edited file is drift, with its diff;
    command tasks and a check-mode-only failure are 'cannot check'; skips by `when` are not."""
    target = tmp_path / "managed.conf"
    target.write_text("managed: false\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text(CHECK_PLAY)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    log = tmp_path / "checkmode.jsonl"
    base = RunRequest(
        playbook=playbook,
        inventory=hosts,
        private_dir=tmp_path / "private",
        extravars={"target": str(target)},
    )
    result = run_playbook(drift.checking(base, log))
    drifted, unchecked, unreachable, seen = drift.report_for(result, log)

    handler_ran = any(
        (e.get("event_data") or {}).get("task") == "Reload something"
        and e.get("event") == "runner_on_ok"
        for e in drift._events(result.artifacts)
    )
    assert handler_ran  # ... and reported changed, yet it is no drift of its own
    assert target.read_text() == "managed: false\n"  # check mode changed nothing
    assert seen == ["localhost"] and unreachable == []
    assert [(d.host, d.path) for d in drifted] == [("localhost", str(target))]
    assert "-managed: false" in drifted[0].diff and "+managed: true" in drifted[0].diff
    reasons = {u.task: u.reason for u in unchecked}
    assert reasons == {
        "Apply a value with a command": "command tasks do not run in check mode",
        "Fail only in check mode": reasons["Fail only in check mode"],
    }
    assert reasons["Fail only in check mode"].startswith("failed in check mode")


def test_drift_of_unreachable_hosts_exits_3(repo: Path) -> None:
    config_path = repo / "cluster.yaml"
    config_path.write_text(
        "name: lab\nkubernetes:\n  version: '1.35.4'\n"
        "nodes:\n  - name: cp1\n    address: 127.0.0.1\n    ssh_port: 1\n"
        "    roles: [control-plane, etcd, worker]\n"
        "access:\n  host_key_checking: false\n"
    )
    code, output = _invoke("drift", "-c", str(config_path), "--json")
    assert code == 0, output  # nothing applied yet: no baseline, nothing runs
    document = json.loads(output)
    assert jsonout.errors("drift", document) == []
    assert document["hosts"] == {} and "nothing has been applied" in document["notes"][0]

    _apply_recorded(repo)
    code, output = _invoke("drift", "-c", str(config_path), "--json")
    assert code == 3, output
    document = json.loads(output)
    assert jsonout.errors("drift", document) == []
    assert document["hosts"]["cp1"]["status"] == "unreachable"
    assert document["compared_with"] == "state/applied.yaml"
    # Drift never writes the repo's own inventory/ (that follows cluster.yaml).
    assert not (repo / "inventory").exists()
