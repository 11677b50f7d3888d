"""etcd backup and restore on a real 3-member etcd cluster with TLS (Debian's etcd 3.4).

One sandbox of three control-plane+etcd hosts for the module; the cluster is laid out like
the engine's (certificates in /etc/ssl/etcd/ssl, data in /var/lib/etcd, members named after the nodes).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import runner
from k8s_install.base import resources
from k8s_install.cli import cli
from k8s_install.model import config

from . import etcd_tls
from .conftest import SandboxCluster, SandboxFactory

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
KEY, VALUE = "/k8s-install/test/canary", "still-here"


def etcdctl(cluster: SandboxCluster, host: str, *args: str, check: bool = True) -> str:
    env = [
        "ETCDCTL_API=3",
        "ETCDCTL_ENDPOINTS=https://127.0.0.1:2379",
        "ETCDCTL_CACERT=/etc/ssl/etcd/ssl/ca.pem",
        f"ETCDCTL_CERT=/etc/ssl/etcd/ssl/admin-{host}.pem",
        f"ETCDCTL_KEY=/etc/ssl/etcd/ssl/admin-{host}-key.pem",
    ]
    result = cluster.exec(host, "env", *env, "etcdctl", "--command-timeout=10s", *args, check=check)
    return result.stdout.strip()


def _edit(path: Path, **sections: Any) -> Path:
    data = yaml.safe_load(path.read_text())
    data.update(sections)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def etcd(
    sandbox_factory: SandboxFactory, tmp_path_factory: pytest.TempPathFactory
) -> SandboxCluster:
    cluster = sandbox_factory("etcd", nodes=3, control_planes=3)
    certs = etcd_tls.generate(
        tmp_path_factory.mktemp("etcd-certs"), {h.name: h.address for h in cluster.hosts}
    )
    request = runner.for_cluster(
        config.load(cluster.cluster_file),
        HERE / "etcd_cluster.yml",
        "test-etcd",
        extravars={"etcd_test_cert_dir": str(certs), "etcd_test_data_dir": "/var/lib/etcd"},
    )
    result = runner.run_playbook(request)
    assert result.status == "successful", result.failures
    return cluster


@pytest.fixture
def repo(etcd: SandboxCluster, tmp_path: Path) -> Path:
    """A copy of the cluster repo keeping 2 snapshots, with the backup timer on."""
    copy = etcd.copy_to(tmp_path / "repo")
    return _edit(
        copy,
        backup={
            "retention": 2,
            "schedule": {"enabled": True, "on_calendar": "daily", "retention": 2},
        },
    )


def _cli(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    out = result.stdout.strip()
    return result.exit_code, json.loads(out) if out.startswith("{") else {"output": result.output}


def test_backup_destroy_restore_brings_the_key_back(etcd: SandboxCluster, repo: Path) -> None:
    backups = repo.parent / "backups"
    backups.mkdir(mode=0o700)
    for stamp in ("20000101T000000Z", "20000102T000000Z"):  # older snapshots, beyond retention
        (backups / f"{etcd.name}-etcd-{stamp}.db").write_bytes(b"old")
    etcdctl(etcd, "cp1", "put", KEY, VALUE)

    code, report = _cli("backup", "-c", str(repo))
    assert code == 0, report
    snap = report["snapshot"]
    local = Path(snap["local_path"])
    assert local.is_file() and snap["total_keys"] > 0 and snap["revision"] > 0
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    kept = sorted(p.name for p in backups.glob("*.db"))
    assert kept == [f"{etcd.name}-etcd-20000102T000000Z.db", local.name]  # retention 2
    # The member's copy verifies with etcdctl too.
    status = json.loads(
        etcd.exec(
            "cp1",
            "env",
            "ETCDCTL_API=3",
            "etcdctl",
            "snapshot",
            "status",
            snap["remote_path"],
            "-w",
            "json",
        ).stdout
    )
    assert status["hash"] and status["totalKey"] == snap["total_keys"]

    # A second backup: the timer is converged already (no change there), retention rolls on.
    code, again = _cli("backup", "-c", str(repo))
    assert code == 0, again
    changed = {t["task"] for t in again["run"]["changed_tasks"]}
    assert changed and not {t for t in changed if "timer" in t or "unit" in t or "script" in t}
    local = Path(again["snapshot"]["local_path"])
    assert sorted(p.name for p in backups.glob("*.db")) == sorted(
        [Path(snap["local_path"]).name, local.name]
    )

    # The timer took a scheduled snapshot on another member when started by hand.
    etcd.exec("cp2", "systemctl", "start", "k8s-install-etcd-backup.service")
    scheduled = etcd.exec(
        "cp2", "sh", "-c", "ls /var/backups/k8s-install/etcd/*scheduled*.db"
    ).stdout
    assert scheduled.strip()
    assert (
        etcd.exec("cp2", "systemctl", "is-enabled", "k8s-install-etcd-backup.timer").stdout.strip()
        == "enabled"
    )

    # Destroy: the key is deleted and every member's data is gone.
    etcdctl(etcd, "cp1", "del", KEY)
    for host in etcd.hosts:
        host.exec("systemctl", "stop", "etcd")
        host.exec("rm", "-rf", "/var/lib/etcd/member")

    refused = CliRunner().invoke(cli, ["restore", str(local), "-c", str(repo)], input=None)
    assert refused.exit_code == 2 and "--yes" in refused.output  # no terminal: refuses, no hang

    code, report = _cli("restore", str(local), "--yes", "-c", str(repo))
    assert code == 0, report
    for host in etcd.names:
        assert etcdctl(etcd, host, "get", KEY, "--print-value-only") == VALUE
    aside = etcd.exec("cp1", "sh", "-c", "ls -d /var/lib/etcd.before-restore-*").stdout
    assert aside.strip(), "the old data directory is kept"
    runs = sorted((repo.parent / "runs").glob("*.yaml"))
    assert [yaml.safe_load(p.read_text())["command"] for p in runs] == [
        "backup",
        "backup",
        "restore",
    ]


def test_losing_one_member_keeps_quorum(etcd: SandboxCluster) -> None:
    etcd.exec("cp3", "systemctl", "stop", "etcd")
    try:
        etcdctl(etcd, "cp1", "put", "/k8s-install/test/quorum", "2-of-3")
        assert (
            etcdctl(etcd, "cp2", "get", "/k8s-install/test/quorum", "--print-value-only")
            == "2-of-3"
        )
    finally:
        etcd.exec("cp3", "systemctl", "start", "etcd")
    assert etcdctl(etcd, "cp3", "get", "/k8s-install/test/quorum", "--print-value-only") == "2-of-3"


UPGRADE_LIKE = """\
- name: Back up etcd before the upgrade
  ansible.builtin.import_playbook: {backup}

- name: Stop when the snapshot failed
  ansible.builtin.import_playbook: {gate}
  vars:
    k8s_install_gate: the etcd snapshot

- name: Restart something (stands in for the engine's upgrade)
  hosts: all
  gather_facts: false
  tasks:
    - name: Leave a marker
      ansible.builtin.file:
        path: /tmp/k8s-install-restarted
        state: touch
        mode: "0644"
"""


@pytest.fixture
def upgrade_like(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "upgrade_like.yml"
    path.write_text(
        UPGRADE_LIKE.format(
            backup=resources.playbook("backup.yml"), gate=resources.playbook("stop_on_failure.yml")
        )
    )
    yield path


def test_failed_backup_stops_an_upgrade_before_anything_restarts(
    etcd: SandboxCluster, tmp_path: Path, upgrade_like: Path
) -> None:
    copy = _edit(
        etcd.copy_to(tmp_path / "bad"),
        kubespray={"etcd_backup_cert": "/etc/ssl/etcd/ssl/missing.pem"},
    )
    cluster = config.load(copy)
    listing = "ls /var/backups/k8s-install/etcd/*.db 2>/dev/null || true"
    before = etcd.exec("cp1", "sh", "-c", listing).stdout.split()
    result = runner.run_playbook(runner.for_cluster(cluster, upgrade_like, "upgrade-test"))
    assert result.status == "failed"
    assert any("snapshot" in f["task"].lower() for f in result.failures), result.failures
    for host in etcd.hosts:
        assert host.exec("test", "-e", "/tmp/k8s-install-restarted", check=False).returncode != 0
    # No unverified snapshot is left looking complete.
    assert etcd.exec("cp1", "sh", "-c", listing).stdout.split() == before
