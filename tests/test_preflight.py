"""Preflight judging on fact fixtures: each problem is an error or warning naming the fix.

Swap cannot be planted honestly on the sandbox hosts (a privileged container shares the real
machine's kernel, so `swapon` there would put swap on the test machine itself, and /proc/swaps
shows the machine's swap), so the swap check's logic is tested here on a fixture.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from k8s_install.base.resources import data_dir


def _filters() -> ModuleType:
    path = data_dir("roles") / "preflight" / "filter_plugins" / "preflight.py"
    spec = importlib.util.spec_from_file_location("preflight_filters", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILTERS = _filters()

PROBE: dict[str, Any] = {
    "hostname": "cp1",
    "uid": 0,
    "swap": {"devices": [], "total_kb": 0},
    "listening": {"source": "ss -ltnH", "sockets": [{"address": "0.0.0.0", "port": 22}]},
    "time_sync": {"active": ["chrony"], "synchronized": None},
    "modules": {
        "found": {"overlay": "loaded (/proc/modules)", "br_netfilter": "loaded (/proc/modules)"},
        "module_tree": True,
        "proc_modules": True,
    },
    "sysctls": {"net.ipv4.ip_forward": True},
    "dns": {"cp1": ["10.0.0.11"], "10.0.0.11": ["10.0.0.11"]},
    "nameservers": ["10.0.0.1"],
    "peers": [{"name": "cp2", "address": "10.0.0.12", "port": 22, "error": ""}],
    "interfaces": {
        "lo": {"mac": "00:00:00:00:00:00", "addresses": ["127.0.0.1"]},
        "eth0": {"mac": "52:54:00:aa:bb:01", "addresses": ["10.0.0.11"]},
    },
    "product_uuid": {"value": "uuid-1", "reason": ""},
    "runtimes": {
        "docker": {"binary": "", "unit_files": [], "active": False},
        "crio": {"binary": "", "unit_files": [], "active": False},
        "containerd": {
            "binary": "",
            "unit_files": [],
            "active": False,
            "config": "",
            "config_from_engine": False,
        },
    },
    "disk": {"path": "/var", "free_mb": 50000},
}


def _context(probe: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    probe = copy.deepcopy(probe or PROBE)
    identity = FILTERS.preflight_identity(probe)
    ctx: dict[str, Any] = {
        "host": "cp1",
        "ssh_address": "10.0.0.11",
        "roles": ["control-plane", "etcd"],
        "ip": "10.0.0.11",
        "ports": [6443, 2379, 2380, 10250],
        "dns_names": ["cp1"],
        "become_password": "False",
        "sudo": {"rc": "0", "stderr": "", "uid": "1000", "user": "debian"},
        "facts": {
            "distribution": "Debian",
            "distribution_version": "12.7",
            "distribution_major_version": "12",
            "architecture": "x86_64",
            "processor_vcpus": "2",
            "memtotal_mb": "4096",
        },
        "probe": probe,
        "identity": identity,
        "identities": {
            "cp1": identity,
            "cp2": {"hostname": "cp2", "macs": ["52:54:00:aa:bb:02"], "product_uuid": "uuid-2"},
        },
        "settings": {
            "supported_os": {"Debian": ["11", "12", "13"], "Ubuntu": ["22.04", "24.04"]},
            "architectures": {"x86_64": "ok", "aarch64": "ok"},
            "minimums": {
                "control-plane": {"cpus": 2, "memory_mb": 1500, "disk_free_mb": 10240},
                "etcd": {"cpus": 1, "memory_mb": 1024, "disk_free_mb": 10240},
            },
        },
    }
    ctx.update(changes)
    return ctx


def _by_check(ctx: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {row["check"]: row for row in FILTERS.preflight_results(ctx)}


def test_clean_host_has_no_problem() -> None:
    rows = FILTERS.preflight_results(_context())
    assert [r for r in rows if r["status"] != "ok"] == []


def _probe(**changes: Any) -> dict[str, Any]:
    probe = copy.deepcopy(PROBE)
    probe.update(changes)
    return probe


@pytest.mark.parametrize(
    ("ctx", "check", "status", "in_message", "in_fix"),
    [
        (
            _context(_probe(swap={"devices": ["/swapfile"], "total_kb": 1048572})),
            "swap",
            "error",
            "/swapfile",
            "swapoff -a",
        ),
        (
            _context(_probe(swap={"devices": [], "total_kb": 2048})),
            "swap",
            "error",
            "2048 kB",
            "/etc/fstab",
        ),
        (
            _context(
                sudo={
                    "rc": "1",
                    "stderr": "sudo: a password is required",
                    "uid": "1000",
                    "user": "ops",
                }
            ),
            "become",
            "error",
            "a password is required",
            "NOPASSWD",
        ),
        (
            _context(
                sudo={"rc": "1", "stderr": "", "uid": "1000", "user": "ops"}, become_password="True"
            ),
            "become",
            "ok",
            "vaulted",
            "",
        ),
        (
            _context(facts={**_context()["facts"], "distribution": "Gentoo"}),
            "os",
            "error",
            "Gentoo",
            "Debian",
        ),
        (
            _context(
                facts={
                    **_context()["facts"],
                    "distribution_version": "10.13",
                    "distribution_major_version": "10",
                }
            ),
            "os",
            "error",
            "Debian 10.13",
            "11 or 12 or 13",
        ),
        (
            _context(facts={**_context()["facts"], "processor_vcpus": "1"}),
            "cpu",
            "error",
            "needs at least 2",
            "CPUs",
        ),
        (
            _context(facts={**_context()["facts"], "memtotal_mb": "1000"}),
            "memory",
            "error",
            "1000 MB",
            "memory",
        ),
        (
            _context(_probe(disk={"path": "/var", "free_mb": 100})),
            "disk",
            "error",
            "100 MB free on /var",
            "/var",
        ),
        (
            _context(_probe(time_sync={"active": [], "synchronized": False})),
            "time sync",
            "warning",
            "no time",
            "chrony",
        ),
        (
            _context(
                _probe(listening={"source": "ss", "sockets": [{"address": "*", "port": 6443}]})
            ),
            "ports",
            "error",
            "6443",
            "ss -ltnp",
        ),
        (
            _context(ip="10.0.0.99"),
            "address",
            "error",
            "eth0: 10.0.0.11",
            "internal_address",
        ),
        (
            _context(_probe(dns={"cp1": "[Errno -2] Name or service not known"})),
            "dns",
            "error",
            "cp1",
            "/etc/resolv.conf",
        ),
        (
            _context(
                _probe(
                    peers=[
                        {"name": "cp2", "address": "10.0.0.12", "port": 22, "error": "timed out"}
                    ]
                )
            ),
            "reachability",
            "error",
            "cp2 10.0.0.12:22",
            "open these ports",
        ),
        (
            _context(_probe(sysctls={"net.bridge.bridge-nf-call-iptables": False})),
            "sysctls",
            "error",
            "net.bridge.bridge-nf-call-iptables",
            "br_netfilter",
        ),
    ],
)
def test_each_problem_is_flagged_with_a_fix(
    ctx: dict[str, Any], check: str, status: str, in_message: str, in_fix: str
) -> None:
    row = _by_check(ctx)[check]
    assert row["status"] == status, row
    assert in_message in row["message"]
    assert in_fix in row["fix"]


def test_refused_peer_port_counts_as_reachable() -> None:
    probe = _probe(
        peers=[
            {
                "name": "cp2",
                "address": "10.0.0.12",
                "port": 6443,
                "error": "[Errno 111] Connection refused",
            }
        ]
    )
    assert _by_check(_context(probe))["reachability"]["status"] == "ok"


def test_duplicates_across_hosts() -> None:
    ctx = _context()
    ctx["identities"]["cp2"] = {
        "hostname": "CP1",
        "macs": ["52:54:00:aa:bb:01"],
        "product_uuid": "uuid-1",
    }
    rows = _by_check(ctx)
    assert rows["hostname"]["status"] == "error" and "cp2" in rows["hostname"]["message"]
    assert "hostnamectl set-hostname cp1" in rows["hostname"]["fix"]
    assert (
        rows["mac address"]["status"] == "error"
        and "52:54:00:aa:bb:01" in rows["mac address"]["message"]
    )
    assert rows["product_uuid"]["status"] == "error"


def test_missing_product_uuid_warns() -> None:
    probe = _probe(
        product_uuid={"value": "", "reason": "/sys/class/dmi/id/product_uuid does not exist"}
    )
    row = _by_check(_context(probe))["product_uuid"]
    assert row["status"] == "warning" and "does not exist" in row["message"]


def test_other_runtime_is_an_error_and_running_containerd_a_warning() -> None:
    probe = copy.deepcopy(PROBE)
    probe["runtimes"]["docker"]["binary"] = "/usr/bin/dockerd"
    assert _by_check(_context(probe))["container runtime"]["status"] == "error"
    probe = copy.deepcopy(PROBE)
    probe["runtimes"]["containerd"].update(active=True, binary="/usr/bin/containerd")
    assert _by_check(_context(probe))["container runtime"]["status"] == "warning"


def test_modules_unknown_without_any_source_warns() -> None:
    probe = _probe(
        modules={"found": {"br_netfilter": ""}, "module_tree": False, "proc_modules": False}
    )
    assert _by_check(_context(probe))["kernel modules"]["status"] == "warning"
    probe = _probe(
        modules={"found": {"br_netfilter": ""}, "module_tree": True, "proc_modules": True}
    )
    assert _by_check(_context(probe))["kernel modules"]["status"] == "error"


def test_role_minimums_take_the_largest(tmp_path: Path) -> None:
    ctx = _context(roles=["worker"], facts={**_context()["facts"], "processor_vcpus": "1"})
    ctx["settings"]["minimums"]["worker"] = {"cpus": 1, "memory_mb": 1024, "disk_free_mb": 1}
    assert _by_check(ctx)["cpu"]["status"] == "ok"


def _listening(*sockets: tuple[int, str]) -> dict[str, Any]:
    return {
        "source": "ss -ltnpH",
        "sockets": [{"address": "*", "port": port, "process": prog} for port, prog in sockets],
    }


@pytest.mark.parametrize(
    ("member_of", "sockets", "status"),
    [
        # A node of this cluster whose ports its own components hold: the cluster itself.
        ("lab", [(6443, "kube-apiserver"), (10250, "kubelet")], "ok"),
        # The same ports held by something else on a node of this cluster: a real conflict.
        ("lab", [(6443, "nginx")], "error"),
        # A node of another cluster, or of none: its kube-apiserver is not ours.
        ("other", [(6443, "kube-apiserver")], "error"),
        ("", [(6443, "kube-apiserver")], "error"),
    ],
)
def test_busy_ports_of_our_own_cluster_are_no_conflict(
    member_of: str, sockets: list[tuple[int, str]], status: str
) -> None:
    probe = _probe(listening=_listening(*sockets), member_of=member_of)
    ctx = _context(probe, cluster="lab", roles=["control-plane"], ports=[6443, 10250])
    row = _by_check(ctx)["ports"]
    assert row["status"] == status, row
    if status == "ok":
        assert "in use by this cluster (lab)" in row["message"]
