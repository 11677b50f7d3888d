"""testinfra checks for roles/node_base, shared by molecule scenarios."""

from __future__ import annotations

from typing import Any

import yaml


def _vars(host: Any) -> dict[str, Any]:
    return dict(host.ansible.get_variables())


def test_node_file_names_this_node(host: Any) -> None:
    node_file = host.file("/etc/k8s-install/node.yaml")
    assert node_file.is_file
    assert node_file.user == "root"
    assert node_file.mode == 0o644
    data = yaml.safe_load(node_file.content_string)
    variables = _vars(host)
    assert data["node"] == variables["inventory_hostname"]
    assert data["cluster"] == variables["k8s_install_cluster_name"]
    assert data["roles"] == variables["k8s_install_node_roles"]


def test_modules_listed_for_boot(host: Any) -> None:
    lines = host.file("/etc/modules-load.d/k8s-install.conf").content_string.splitlines()
    assert {"overlay", "br_netfilter"} <= {line.strip() for line in lines}


def test_sysctls_persisted_and_applied(host: Any) -> None:
    conf = host.file("/etc/sysctl.d/90-k8s-install.conf").content_string
    assert "net.ipv4.ip_forward = 1" in conf
    # ip_forward lives in the host's own network namespace, so it is really set.
    assert host.sysctl("net.ipv4.ip_forward") == 1


def test_sshd_runs(host: Any) -> None:
    assert host.service("ssh").is_running
