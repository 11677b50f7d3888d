"""Sandbox networking on every podman network backend this machine offers.

Two hosts on their own network: this machine reaches port 22 on each, each reaches the
other, and no host has a route beyond the sandbox network (nor NAT on this machine) unless
`--outbound` was given. Nothing is sent anywhere else: the "nothing beyond" part is read from
the hosts' routing tables and this machine's NAT rules.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8s_install.base.errors import K8sInstallError
from k8s_install.sandbox import hosts, image, network, podman, ready
from k8s_install.sandbox.layout import layout

from .conftest import PREFIX

pytestmark = pytest.mark.integration

BACKENDS = network.available_backends()


def _routes(container: str) -> list[str]:
    out = podman.exec_in(container, ["ip", "-4", "route", "show"], check=True)
    return [line.split()[0] for line in out.stdout.decode().splitlines() if line.strip()]


def _reaches(container: str, address: str) -> bool:
    script = f"exec 3<>/dev/tcp/{address}/22 && head -c 4 <&3"
    proc = podman.exec_in(container, ["timeout", "5", "bash", "-c", script])
    return proc.stdout.startswith(b"SSH-")


def _nat_rules_for(subnet: str) -> list[str]:
    save = shutil.which("iptables-save") or "/usr/sbin/iptables-save"
    out = subprocess.run([save, "-t", "nat"], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if subnet in line]


@pytest.fixture(params=BACKENDS or ["none"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "none":
        pytest.skip("podman has no network backend installed (containernetworking-plugins)")
    monkeypatch.setenv(podman.BACKEND_ENV, request.param)
    yield str(request.param)


@pytest.mark.parametrize("outbound", [False, True], ids=["internal", "outbound"])
def test_two_hosts_reach_each_other_and_this_machine_only(
    backend: str, outbound: bool, sandbox_image: str, tmp_path: Path
) -> None:
    name = f"{PREFIX}-net-{backend[:3]}-{'o' if outbound else 'i'}"
    try:
        info = hosts.up(
            name,
            tmp_path,
            nodes=2,
            extra_packages=image.TEST_IMAGE_PACKAGES,
            outbound=outbound,
            timeout=120,
        )
        assert network.backend() == backend
        subnet = ipaddress.ip_network(info.subnet)
        a, b = info.hosts
        for host in info.hosts:
            assert ready.ssh_banner(host.address), f"this machine cannot reach {host.node}:22"
        assert _reaches(a.container, b.address), f"{a.node} cannot reach {b.node}"
        assert _reaches(b.container, a.address), f"{b.node} cannot reach {a.node}"
        for host in info.hosts:
            routes = _routes(host.container)
            beyond = [r for r in routes if r == "default" or not _inside(r, subnet)]
            if outbound:
                assert "default" in routes, f"{host.node} has no way out: {routes}"
            else:
                assert beyond == [], f"{host.node} has routes beyond {subnet}: {beyond}"
        nat = _nat_rules_for(str(subnet))
        if outbound:
            assert nat, f"--outbound gave {subnet} no NAT rule on this machine"
        else:
            assert nat == [], f"an internal network has NAT rules: {nat}"
    finally:
        hosts.down(name, tmp_path)


def _inside(route: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_network(route, strict=False).subnet_of(subnet)  # type: ignore[arg-type]
    except ValueError:
        return False


def test_readiness_errors_name_the_real_cause(sandbox_image: str, tmp_path: Path) -> None:
    name = f"{PREFIX}-ready"
    try:
        info = hosts.up(name, tmp_path, nodes=1, extra_packages=image.TEST_IMAGE_PACKAGES)
        host = info.hosts[0]
        br = network.bridge(podman.json_out(["network", "inspect", info.network])[0])
        prefix = info.subnet.rsplit("/", 1)[1]

        subprocess.run(
            ["ip", "addr", "del", f"{br.gateway}/{prefix}", "dev", br.interface], check=True
        )
        with pytest.raises(K8sInstallError) as unreachable:
            ready.wait_ready(layout(name, tmp_path), [host], 30, lambda _m: None, br)
        assert "cannot reach" in str(unreachable.value)
        assert f"{br.interface} of network {info.network} has no IPv4 address" in str(
            unreachable.value
        )
        assert "sandbox up" in (unreachable.value.fix or "")

        hosts.up(name, tmp_path, nodes=1, extra_packages=image.TEST_IMAGE_PACKAGES)
        assert ready.ssh_banner(host.address)

        podman.exec_in(host.container, ["systemctl", "stop", "ssh.socket", "ssh.service"])
        with pytest.raises(K8sInstallError) as no_sshd:
            ready.wait_ready(layout(name, tmp_path), [host], 3, lambda _m: None, br)
        assert "sshd does not listen on port 22" in str(no_sshd.value)
    finally:
        hosts.down(name, tmp_path)
