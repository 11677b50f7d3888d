"""Preflight on real sandbox hosts: planted problems are flagged with host and fix; a clean
host passes; preflight changes nothing.

Swap is not planted: a privileged container shares the test machine's kernel, so swapon
inside it would add swap to the machine itself, and /proc/swaps shows the machine's swap.
The swap check is tested on fact fixtures in tests/test_preflight.py instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.cli import cli

from .conftest import SandboxCluster

pytestmark = pytest.mark.integration

WATCHED = "/etc /usr /opt /root /home /var/lib /var/backups"
NO_SUDO_USER = "nosudo"
BUSY_PORT = 10250  # the kubelet's port: needed free on every node


def _preflight(cluster_file: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["preflight", "-c", str(cluster_file), "--json", *args])
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout)


def _rows(report: dict[str, Any], host: str, check: str) -> list[dict[str, str]]:
    return [c for c in report["checks"] if c["host"] == host and c["check"] == check]


def _edit(path: Path, change: Any) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def timed(sandbox_cluster: SandboxCluster) -> Iterator[SandboxCluster]:
    """chrony running (without touching the shared clock: -x) so time sync passes."""
    for host in sandbox_cluster.hosts:
        host.exec("sh", "-c", "echo 'DAEMON_OPTS=\"-F 1 -x\"' > /etc/default/chrony")
        host.exec("systemctl", "start", "chrony")
    yield sandbox_cluster
    for host in sandbox_cluster.hosts:
        host.exec("systemctl", "stop", "chrony", check=False)


def test_clean_hosts_pass_and_nothing_changes(timed: SandboxCluster) -> None:
    cluster = timed
    for host in cluster.hosts:
        host.exec("touch", "/tmp/k8s-install-preflight-marker")
    code, report = _preflight(cluster.cluster_file)
    assert code == 0, report
    assert report["errors"] == 0
    warned = {c["check"] for c in report["checks"] if c["status"] == "warning"}
    assert warned <= {"product_uuid"}, report  # containers have no DMI product_uuid
    assert {c["host"] for c in report["checks"]} == set(cluster.names)
    code, second = _preflight(cluster.cluster_file)
    assert code == 0
    for run in (report["run"], second["run"]):
        assert all(stats["changed"] == 0 for stats in run["hosts"].values()), run["hosts"]
    for host in cluster.hosts:
        newer = host.exec(
            "sh",
            "-c",
            # Files only: directories change mtime when ansible's temp dir comes and goes.
            # sudo itself records its first use in ~/.sudo_as_admin_successful.
            f"find {WATCHED} -xdev -type f -newer /tmp/k8s-install-preflight-marker "
            "-not -path '*/.ansible/*' -not -name .sudo_as_admin_successful "
            "-not -path '/var/lib/chrony/*' "
            "-not -path '/var/lib/systemd/*' -not -path '/var/lib/private/*' -print",
        ).stdout.split()
        assert newer == [], f"preflight wrote on {host.name}: {newer}"


@pytest.fixture
def planted(timed: SandboxCluster, tmp_path: Path) -> Iterator[tuple[SandboxCluster, Path]]:
    """worker1: no passwordless sudo for its SSH user, hostname cp1 (a duplicate);
    cp1: a busy port; worker2: cluster.yaml gives an address that is not on it."""
    cluster = timed
    worker1, cp1 = cluster.host("worker1"), cluster.host("cp1")
    worker1.exec(
        "sh",
        "-c",
        f"id {NO_SUDO_USER} || useradd -m -s /bin/sh {NO_SUDO_USER}; "
        f"install -d -m 700 -o {NO_SUDO_USER} -g {NO_SUDO_USER} /home/{NO_SUDO_USER}/.ssh; "
        f"install -m 600 -o {NO_SUDO_USER} -g {NO_SUDO_USER} /home/debian/.ssh/authorized_keys "
        f"/home/{NO_SUDO_USER}/.ssh/authorized_keys; usermod -aG sudo {NO_SUDO_USER}",
    )
    worker1.exec("hostname", "cp1")
    cp1.exec(
        "systemd-run",
        "--unit=k8s-install-test-listener",
        "python3",
        "-c",
        f"import socket,time; s=socket.socket(); s.bind(('0.0.0.0', {BUSY_PORT})); "
        "s.listen(); time.sleep(600)",
    )
    copy = cluster.copy_to(tmp_path / "planted")

    def change(data: dict[str, Any]) -> None:
        for node in data["nodes"]:
            if node["name"] == "worker1":
                node["ssh_user"] = NO_SUDO_USER
            if node["name"] == "worker2":
                node["internal_address"] = cluster.subnet.rsplit(".", 1)[0] + ".250"

    try:
        yield cluster, _edit(copy, change)
    finally:
        cp1.exec("systemctl", "stop", "k8s-install-test-listener", check=False)
        worker1.exec("hostname", "worker1", check=False)
        worker1.exec("userdel", "-r", NO_SUDO_USER, check=False)


def test_planted_problems_are_flagged_with_host_and_fix(
    planted: tuple[SandboxCluster, Path],
) -> None:
    cluster, cluster_file = planted
    code, report = _preflight(cluster_file)
    assert code == 2, report

    (become,) = _rows(report, "worker1", "become")
    assert become["status"] == "error"
    assert NO_SUDO_USER in become["message"] and "NOPASSWD" in become["fix"]

    (hostname,) = _rows(report, "worker1", "hostname")
    assert hostname["status"] == "error" and "cp1" in hostname["message"]
    assert "hostnamectl set-hostname worker1" in hostname["fix"]
    (cp1_name,) = _rows(report, "cp1", "hostname")
    assert cp1_name["status"] == "error" and "worker1" in cp1_name["message"]

    (ports,) = _rows(report, "cp1", "ports")
    assert ports["status"] == "error" and str(BUSY_PORT) in ports["message"]
    assert "ss -ltnp" in ports["fix"]
    (other_ports,) = _rows(report, "worker2", "ports")
    assert other_ports["status"] == "ok"

    (address,) = _rows(report, "worker2", "address")
    assert address["status"] == "error"
    assert ".250" in address["message"] and cluster.host("worker2").address in address["message"]
    assert "internal_address" in address["fix"]

    # Problems stay on the hosts that have them.
    for check in ("become", "address"):
        assert _rows(report, "cp1", check)[0]["status"] == "ok"


def test_unreachable_host_exits_3(sandbox_cluster: SandboxCluster, tmp_path: Path) -> None:
    copy = sandbox_cluster.copy_to(tmp_path / "unreachable")

    def change(data: dict[str, Any]) -> None:
        data["nodes"][0]["ssh_port"] = 2  # nothing listens there: refused at once

    code, report = _preflight(_edit(copy, change), "--limit", data_name(copy))
    assert code == 3, report
    assert report["unreachable"] == [data_name(copy)]
    (row,) = [c for c in report["checks"] if c["host"] == data_name(copy)]
    assert row["check"] == "ssh" and row["status"] == "error" and ":2 " in row["message"]


def data_name(cluster_file: Path) -> str:
    return str(yaml.safe_load(cluster_file.read_text())["nodes"][0]["name"])
