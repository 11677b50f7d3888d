"""etcd_restore: the key deleted after the snapshot is back, etcd serves it healthy, and the
data directory it replaced is kept."""

from __future__ import annotations

from typing import Any

import helpers


def _env(host: Any) -> str:
    name = helpers.variables(host)["inventory_hostname"]
    return (
        "ETCDCTL_ENDPOINTS=https://127.0.0.1:2379 ETCDCTL_CACERT=/etc/ssl/etcd/ssl/ca.pem "
        f"ETCDCTL_CERT=/etc/ssl/etcd/ssl/admin-{name}.pem "
        f"ETCDCTL_KEY=/etc/ssl/etcd/ssl/admin-{name}-key.pem"
    )


def test_deleted_key_is_back(host: Any) -> None:
    got = host.run(
        f"env ETCDCTL_API=3 {_env(host)} etcdctl get /molecule/canary --print-value-only"
    )
    assert got.rc == 0, got.stderr
    assert got.stdout.strip() == "still-here"


def test_etcd_healthy_and_old_data_kept(host: Any) -> None:
    assert host.service("etcd").is_running
    health = host.run(f"env ETCDCTL_API=3 {_env(host)} etcdctl endpoint health")
    assert health.rc == 0, health.stderr
    kept = host.run("ls -d /var/lib/etcd.before-restore-*").stdout.split()
    assert len(kept) == 1
    assert host.file(f"{kept[0]}/member").is_directory
    assert host.file("/var/lib/etcd").user == "etcd"
