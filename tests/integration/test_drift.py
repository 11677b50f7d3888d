"""Drift on sandbox hosts: a hand-made change to a file our role manages shows up in `drift`
with exit 2, and applying the role again restores it; every apply leaves a commit with its record.

`up` as a whole needs the engine and Kubernetes server binaries, which this environment lacks, so
"apply" here is our node_base role run through the runner exactly as `up` runs it (the drift
playbook without check mode), recorded with record.commit_run as `up` records its runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import runner
from k8s_install.base import output_schemas as jsonout
from k8s_install.cli import cli
from k8s_install.model import config
from k8s_install.records import applied_file as state
from k8s_install.records import git_repo as gitrepo
from k8s_install.records import in_cluster as clusterstate
from k8s_install.records import runs as record

from .conftest import SandboxCluster

pytestmark = pytest.mark.integration

SYSCTL_FILE = "/etc/sysctl.d/90-k8s-install.conf"
NODE_FILE = "/etc/k8s-install/node.yaml"
MANAGED = (SYSCTL_FILE, NODE_FILE, "/etc/modules-load.d/k8s-install.conf")


@pytest.fixture(scope="module")
def repo(
    sandbox_cluster: SandboxCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A cluster repo for the session's sandbox; node_base's files are removed afterwards."""
    directory = tmp_path_factory.mktemp("drift-repo")
    sandbox_cluster.copy_to(directory)
    gitrepo.git(directory, "init", "--quiet", "--initial-branch=main")
    (directory / ".gitignore").write_text(gitrepo.GITIGNORE)
    gitrepo.git(directory, "add", "cluster.yaml", ".gitignore")
    gitrepo.git(directory, "commit", "--quiet", "-m", "Sandbox cluster")
    yield directory
    for host in sandbox_cluster.names:
        sandbox_cluster.exec(host, "rm", "-rf", *MANAGED, check=False)


def _apply(repo: Path) -> tuple[runner.RunResult, str]:
    cluster = config.load(repo / "cluster.yaml")
    record.ensure_clean(cluster, allow_dirty=False)
    result = runner.run_playbook(runner.for_cluster(cluster, "drift.yml", "up"))
    run_id = record.commit_run(cluster, result, command="up", applied=True)
    return result, run_id


def _drift(repo: Path) -> tuple[int, dict[str, object]]:
    outcome = CliRunner().invoke(cli, ["drift", "-c", str(repo / "cluster.yaml"), "--json"])
    document = json.loads(outcome.output)
    assert jsonout.errors("drift", document) == []
    return outcome.exit_code, document


def test_apply_records_then_hand_change_drifts_then_apply_restores(
    repo: Path, sandbox_cluster: SandboxCluster
) -> None:
    result, run_id = _apply(repo)
    assert result.status == "successful", result.failures
    assert result.changed > 0
    assert state.applied_spec(repo) is not None
    message = gitrepo.git(repo, "log", "-1", "--format=%B")
    assert f"Run-Id: {run_id}" in message and "Result: successful" in message
    history = CliRunner().invoke(cli, ["history", "-c", str(repo / "cluster.yaml"), "--json"])
    assert jsonout.errors("history", json.loads(history.output)) == []

    code, report = _drift(repo)
    assert code == 0, report
    hosts = report["hosts"]
    assert isinstance(hosts, dict)
    assert {h["status"] for h in hosts.values()} == {"in-sync"}
    # node_base reads its sysctls in check mode too, so nothing is left unchecked.
    assert [u for h in hosts.values() for u in h["cannot_check"]] == []

    # By hand, outside k8s-install:
    sandbox_cluster.exec("worker1", "sh", "-c", f"echo 'net.ipv4.ip_forward = 0' > {SYSCTL_FILE}")
    sandbox_cluster.exec("cp1", "sed", "-i", 's/^node: .*/node: "renamed"/', NODE_FILE)

    code, report = _drift(repo)
    assert code == 2
    hosts = report["hosts"]
    assert isinstance(hosts, dict)
    assert hosts["worker2"]["status"] == "in-sync"
    worker1 = hosts["worker1"]["drifted"]
    assert [d["path"] for d in worker1] == [SYSCTL_FILE]
    assert "-net.ipv4.ip_forward = 0" in worker1[0]["diff"]
    assert "+net.ipv4.ip_forward = 1" in worker1[0]["diff"]
    assert [d["path"] for d in hosts["cp1"]["drifted"]] == [NODE_FILE]
    assert '-node: "renamed"' in hosts["cp1"]["drifted"][0]["diff"]
    # drift changed nothing: the hand-made content is still there.
    on_host = sandbox_cluster.exec("worker1", "cat", SYSCTL_FILE).stdout
    assert on_host == "net.ipv4.ip_forward = 0\n"
    human = CliRunner().invoke(cli, ["drift", "-c", str(repo / "cluster.yaml")])
    assert human.exit_code == 2
    assert "worker1: drifted" in human.output and SYSCTL_FILE in human.output
    _up_refuses_to_overwrite_drift(repo, sandbox_cluster)

    result, _ = _apply(repo)
    assert result.status == "successful", result.failures
    assert result.hosts["worker1"].changed >= 1
    assert result.hosts["cp1"].changed >= 1
    assert "net.ipv4.ip_forward = 1" in sandbox_cluster.exec("worker1", "cat", SYSCTL_FILE).stdout
    code, report = _drift(repo)
    assert code == 0, report
    assert len(record.all_records(repo)) == 2
    assert gitrepo.changes(repo) == []


def _up_refuses_to_overwrite_drift(repo: Path, sandbox_cluster: SandboxCluster) -> None:
    """With a change pending, `up --fail-on-drift` stops before touching anything."""
    path = repo / "cluster.yaml"
    original = path.read_text()
    data = yaml.safe_load(original)
    data["nodes"][-1]["labels"] = {"pool": "a"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    gitrepo.git(repo, "commit", "--quiet", "-am", "Label a worker")
    outcome = CliRunner().invoke(cli, ["up", "-c", str(path), "--yes", "--fail-on-drift"])
    assert outcome.exit_code == 2, outcome.output
    assert "drifted" in outcome.output and "--fail-on-drift" in outcome.output
    on_host = sandbox_cluster.exec("worker1", "cat", SYSCTL_FILE).stdout
    assert on_host == "net.ipv4.ip_forward = 0\n"
    gitrepo.git(repo, "revert", "--no-edit", "HEAD")


def test_cluster_record_without_kubernetes_degrades_clearly(repo: Path) -> None:
    """No API server exists here: writing the ConfigMap fails softly, status says why."""
    cluster = config.load(repo / "cluster.yaml")
    ok, message = clusterstate.publish_latest(cluster)
    assert ok is False
    assert "k8s-install-state" in message and "kubectl" in message
    outcome = CliRunner().invoke(cli, ["status", "-c", str(repo / "cluster.yaml"), "--json"])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.output)
    assert jsonout.errors("status", document) == []
    assert document["cluster_record"]["reachable"] is False
    assert "Kubernetes is not installed" in document["cluster_record"]["message"]
    assert document["in_sync"] is True
