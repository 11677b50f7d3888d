"""etcd_backup's timer: enabled and scheduled; a run leaves a snapshot that verifies.

Debian's etcd 3.4 has no etcdutl (3.5 moved `snapshot status` there), so the snapshot is
checked with `etcdctl snapshot status`, the tool the role itself picks on this etcd.
"""

from __future__ import annotations

from typing import Any

import helpers

DIR = "/var/backups/k8s-install/etcd"
TIMER = "k8s-install-etcd-backup.timer"


def _snapshots(host: Any) -> list[str]:
    found = host.run("find %s -name '*-scheduled-*.db'", DIR)
    return sorted(found.stdout.split())


def test_timer_enabled_and_waiting(host: Any) -> None:
    timer = host.service(TIMER)
    assert timer.is_enabled
    assert timer.is_running  # active (waiting): systemd will fire it
    assert host.run("systemctl list-timers --all %s", TIMER).stdout.count(TIMER) == 1


def test_a_run_leaves_a_snapshot_that_verifies(host: Any) -> None:
    before = _snapshots(host)
    run = host.run("systemctl start k8s-install-etcd-backup.service")
    assert run.rc == 0, host.run("journalctl -u k8s-install-etcd-backup.service -n 20").stdout
    new = sorted(set(_snapshots(host)) - set(before))
    assert len(new) == 1, (before, new)
    assert host.file(new[0]).mode == 0o600
    status = helpers.etcdctl_json(host, "snapshot", "status", new[0])
    assert status["totalKey"] > 0 and status["revision"] > 0 and status["hash"]


def test_retention_keeps_the_newest(host: Any) -> None:
    for _ in range(2):  # retention 2 in converge: three runs leave two
        host.run_test("sleep 1 && systemctl start k8s-install-etcd-backup.service")
    assert len(_snapshots(host)) == 2
