"""etcd_restore: the key deleted after the snapshot is back, etcd serves it healthy, and the
data directory it replaced is kept. Every API server, on the etcd member and on the
control-plane node that is none, was down while etcd was replaced and runs again."""

from __future__ import annotations

from typing import Any

import helpers
import pytest
import testinfra


def _env(host: Any) -> str:
    name = helpers.variables(host)["inventory_hostname"]
    return (
        "ETCDCTL_ENDPOINTS=https://127.0.0.1:2379 ETCDCTL_CACERT=/etc/ssl/etcd/ssl/ca.pem "
        f"ETCDCTL_CERT=/etc/ssl/etcd/ssl/admin-{name}.pem "
        f"ETCDCTL_KEY=/etc/ssl/etcd/ssl/admin-{name}-key.pem"
    )


def _etcd_member(host: Any) -> None:
    if "etcd" not in helpers.variables(host)["group_names"]:
        pytest.skip("not an etcd member")


def test_deleted_key_is_back(host: Any) -> None:
    _etcd_member(host)
    got = host.run(
        f"env ETCDCTL_API=3 {_env(host)} etcdctl get /molecule/canary --print-value-only"
    )
    assert got.rc == 0, got.stderr
    assert got.stdout.strip() == "still-here"


def test_etcd_healthy_and_old_data_kept(host: Any) -> None:
    _etcd_member(host)
    assert host.service("etcd").is_running
    health = host.run(f"env ETCDCTL_API=3 {_env(host)} etcdctl endpoint health")
    assert health.rc == 0, health.stderr
    kept = host.run("ls -d /var/lib/etcd.before-restore-*").stdout.split()
    assert len(kept) == 1
    assert host.file(f"{kept[0]}/member").is_directory
    assert host.file("/var/lib/etcd").user == "etcd"


def test_api_server_was_down_while_etcd_was_replaced(host: Any) -> None:
    """Its log says stopped, then started; the etcd data was moved aside in between."""
    events = host.file("/var/log/molecule-kubelet.log").content_string.split("\n")
    events = [line.split() for line in events if line]
    assert [e[1] for e in events] == ["started", "stopped", "started"], events
    member = testinfra.get_host(
        f"ansible://cp1?ansible_inventory={host.backend.ansible_inventory}", sudo=True
    )
    kept = member.run("ls -d /var/lib/etcd.before-restore-*").stdout.split()
    moved = kept[0].rsplit("-", 1)[1]
    assert events[1][0] <= moved <= events[2][0], (events, moved)
    assert host.file("/etc/kubernetes/manifests/kube-apiserver.yaml").exists
    assert host.socket("tcp://127.0.0.1:6443").is_listening
