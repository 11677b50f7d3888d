"""The sandbox end to end: podman hosts, real SSH through the runner driver, ping, down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import runner
from k8s_install.cli import cli
from k8s_install.model import config
from k8s_install.sandbox import hosts, image, podman

from .conftest import SandboxCluster, SandboxFactory

pytestmark = pytest.mark.integration

FACTS_PLAYBOOK = """\
- name: Collect facts from every node
  hosts: all
  gather_facts: true
  tasks:
    - name: Record what the node says about itself
      ansible.builtin.copy:
        content: "{{ {'hostname': ansible_facts.hostname,
                      'addresses': ansible_facts.all_ipv4_addresses,
                      'release': ansible_facts.distribution_release,
                      'virtualization': ansible_facts.virtualization_type,
                      'user': ansible_facts.user_id,
                      'pid1': ansible_facts.service_mgr} | to_json }}"
        dest: "{{ facts_dir }}/{{ inventory_hostname }}.json"
        mode: "0644"
      delegate_to: localhost
      become: false
"""


def test_runner_playbook_over_ssh_reports_facts_per_host(
    sandbox_cluster: SandboxCluster, tmp_path: Path
) -> None:
    playbook = tmp_path / "facts.yml"
    playbook.write_text(FACTS_PLAYBOOK)
    cluster = config.load(sandbox_cluster.cluster_file)
    request = runner.for_cluster(cluster, playbook, "test", extravars={"facts_dir": str(tmp_path)})
    result = runner.run_playbook(request)
    assert result.status == "successful", result.failures
    assert sorted(result.hosts) == sorted(sandbox_cluster.names)
    for host in sandbox_cluster.hosts:
        facts = json.loads((tmp_path / f"{host.name}.json").read_text())
        assert facts["hostname"] == host.name
        assert host.address in facts["addresses"]
        assert facts["release"] == "bookworm"
        assert facts["pid1"] == "systemd"
        assert facts["user"] == "root"  # access.become: true, from the debian user


def test_ping_reports_every_node_ok(sandbox_cluster: SandboxCluster) -> None:
    result = CliRunner().invoke(cli, ["ping", "-c", str(sandbox_cluster.cluster_file), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {name: r["status"] for name, r in report["nodes"].items()} == dict.fromkeys(
        sandbox_cluster.names, "ok"
    )


def test_host_key_checking_stays_on(sandbox_cluster: SandboxCluster, tmp_path: Path) -> None:
    """Swap two hosts' keys in a copy of known_hosts: ping must refuse those hosts."""
    copy = sandbox_cluster.copy_to(tmp_path)
    # Connect as root: an open SSH control master for the debian user (from earlier tests)
    # would be reused without checking host keys again.
    data = yaml.safe_load(copy.read_text())
    data["access"]["user"] = "root"
    copy.write_text(yaml.safe_dump(data))
    known = tmp_path / ".sandbox" / sandbox_cluster.name / "known_hosts"
    lines = known.read_text().splitlines()
    names0, key0 = lines[0].split(" ", 1)
    names1, key1 = lines[1].split(" ", 1)
    known.write_text("\n".join([f"{names0} {key1}", f"{names1} {key0}", *lines[2:]]) + "\n")
    result = CliRunner().invoke(cli, ["ping", "-c", str(copy), "--json"])
    assert result.exit_code == 3, result.output
    statuses = {n: r["status"] for n, r in json.loads(result.stdout)["nodes"].items()}
    first, second, third = sandbox_cluster.names
    assert statuses == {first: "unreachable", second: "unreachable", third: "ok"}


def test_ping_reports_a_failed_become(sandbox_factory: SandboxFactory) -> None:
    lone = sandbox_factory("nosudo", nodes=1)
    lone.exec("cp1", "rm", "/etc/sudoers.d/debian")
    result = CliRunner().invoke(cli, ["ping", "-c", str(lone.cluster_file), "--json"])
    assert result.exit_code == 1, result.output
    node = json.loads(result.stdout)["nodes"]["cp1"]
    assert node["status"] == "failed"
    assert node["message"].startswith("Check become to root")


def test_real_ssh_as_debian_with_sudo(sandbox_cluster: SandboxCluster) -> None:
    done = sandbox_cluster.ssh("worker1", "sudo", "-n", "id", "-u")
    assert done.stdout.strip() == "0"


def test_hosts_carry_test_packages_with_services_stopped(sandbox_cluster: SandboxCluster) -> None:
    host = sandbox_cluster.host("cp1")
    installed = host.exec(
        "dpkg-query", "-W", "-f", "${Package} ${Status}\\n", *image.TEST_IMAGE_PACKAGES
    ).stdout
    for package in image.TEST_IMAGE_PACKAGES:
        assert f"{package} install ok installed" in installed
    for unit in ("containerd", "nginx", "chrony", "etcd"):
        state = host.exec("systemctl", "is-active", unit, check=False).stdout.strip()
        assert state == "inactive", unit
    mount = host.exec("findmnt", "-no", "FSTYPE", "/var/lib/containerd").stdout.strip()
    assert mount and mount != "overlay"  # a volume, so containerd's overlays work


def test_up_again_changes_nothing(sandbox_cluster: SandboxCluster) -> None:
    before = {h.container: _container_id(h.container) for h in sandbox_cluster.hosts}
    text = sandbox_cluster.cluster_file.read_text()
    info = hosts.up(
        sandbox_cluster.name,
        sandbox_cluster.directory,
        nodes=3,
        extra_packages=image.TEST_IMAGE_PACKAGES,
    )
    assert {h.container: _container_id(h.container) for h in info.hosts} == before
    assert sandbox_cluster.cluster_file.read_text() == text
    assert len(_containers(sandbox_cluster.name)) == 3


def test_same_name_from_another_directory_is_refused(
    sandbox_cluster: SandboxCluster, tmp_path: Path
) -> None:
    for command in ("up", "down"):
        result = CliRunner().invoke(
            cli, ["sandbox", command, "--name", sandbox_cluster.name, "--dir", str(tmp_path)]
        )
        assert result.exit_code == 2, result.output
        assert str(sandbox_cluster.directory) in result.output
    assert len(_containers(sandbox_cluster.name)) == 3


def test_status_json_lists_running_hosts(sandbox_cluster: SandboxCluster) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "sandbox",
            "status",
            "--name",
            sandbox_cluster.name,
            "--dir",
            str(sandbox_cluster.directory),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["exists"] is True
    assert [(h["node"], h["state"]) for h in data["hosts"]] == [
        (n, "running") for n in sorted(sandbox_cluster.names)
    ]
    assert all(h["system"] in ("running", "degraded") for h in data["hosts"])


def test_cluster_file_validates_and_points_at_hosts(sandbox_cluster: SandboxCluster) -> None:
    cluster = config.load(sandbox_cluster.cluster_file)
    assert [(n.name, n.address) for n in cluster.nodes] == [
        (h.name, h.address) for h in sandbox_cluster.hosts
    ]
    assert [n.name for n in cluster.control_planes] == ["cp1"]
    assert (sandbox_cluster.ssh_key.stat().st_mode & 0o777) == 0o600


def test_down_removes_hosts_network_volumes_and_key(sandbox_factory: SandboxFactory) -> None:
    small = sandbox_factory("down", nodes=1)
    data = yaml.safe_load(small.cluster_file.read_text())
    assert data["nodes"][0]["name"] == "cp1"
    result = CliRunner().invoke(
        cli, ["sandbox", "down", "--name", small.name, "--dir", str(small.directory), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert not podman.exists("container", small.host("cp1").container)
    assert not podman.exists("volume", f"k8si-{small.name}-cp1-containerd")
    assert not podman.exists("network", f"k8si-{small.name}")
    assert not small.ssh_key.exists()
    assert not small.cluster_file.exists()
    assert podman.exists("image", image.test_spec().tag)  # the cache stays
    again = CliRunner().invoke(
        cli, ["sandbox", "down", "--name", small.name, "--dir", str(small.directory)]
    )
    assert again.exit_code == 0
    assert "nothing to remove" in again.output


def _containers(sandbox: str) -> list[object]:
    return list(
        podman.json_out(
            ["ps", "-a", "--format", "json", "--filter", f"label=k8s-install.sandbox={sandbox}"]
        )
    )


def _container_id(name: str) -> str:
    return podman.text(["container", "inspect", "--format", "{{.Id}}", name])
