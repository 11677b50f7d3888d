"""The sandbox network on either podman backend: CNI (Debian 12's default) or netavark.

An internal network must still let this machine reach the hosts. netavark gives the bridge
its gateway address; CNI does not (`isGateway: false`), so the bridge is given it here.
Hosts on an internal network get no default route and no NAT: they reach each other and
this machine, nothing beyond.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from k8s_install.base.errors import K8sInstallError
from k8s_install.sandbox import podman

BACKENDS = ("cni", "netavark")


@dataclass(frozen=True)
class Bridge:
    """The host side of a sandbox network."""

    network: str
    interface: str
    subnet: str
    gateway: str
    internal: bool


def backend() -> str:
    """The network backend podman uses on this machine (or the one forced for sandboxes)."""
    forced = podman.forced_backend()
    if forced:
        return forced
    return podman.text(["info", "--format", "{{.Host.NetworkBackend}}"]) or "cni"


def available_backends() -> list[str]:
    """Backends this machine can run: CNI with its plugins, netavark when installed."""
    found = []
    for name, probe in (("cni", "bridge"), ("netavark", "netavark")):
        dirs = ["/usr/lib/cni", "/opt/cni/bin"] if name == "cni" else ["/usr/lib/podman"]
        if any(shutil.which(probe, path=d) for d in dirs):
            found.append(name)
    return found


def bridge(info: dict[str, Any]) -> Bridge:
    """The bridge of a network, from `podman network inspect` (both backends report alike)."""
    subnet = info["subnets"][0]
    net = ipaddress.ip_network(str(subnet["subnet"]))
    gateway = str(subnet.get("gateway") or (net.network_address + 1))
    return Bridge(
        network=str(info["name"]),
        interface=str(info.get("network_interface", "")),
        subnet=str(net),
        gateway=gateway,
        internal=bool(info.get("internal", False)),
    )


def _ip(args: list[str]) -> subprocess.CompletedProcess[str]:
    ip = shutil.which("ip") or "/usr/sbin/ip"
    return subprocess.run([ip, *args], capture_output=True, text=True, timeout=30, check=False)


def bridge_addresses(interface: str) -> list[str]:
    """IPv4 addresses (with prefix) on an interface; empty when it does not exist yet."""
    proc = _ip(["-4", "-o", "addr", "show", "dev", interface])
    return [line.split()[3] for line in proc.stdout.splitlines() if len(line.split()) > 3]


def ensure_gateway(br: Bridge) -> bool:
    """Give the bridge its gateway address if it has none; True when it was added.

    Needed on CNI internal networks only, and only once the bridge exists (after the first
    host started).
    """
    if not br.interface:
        return False
    prefix = ipaddress.ip_network(br.subnet).prefixlen
    wanted = f"{br.gateway}/{prefix}"
    if wanted in bridge_addresses(br.interface):
        return False
    proc = _ip(["addr", "add", wanted, "dev", br.interface])
    if proc.returncode != 0 and "File exists" not in proc.stderr:
        raise K8sInstallError(
            f"cannot give bridge {br.interface} its address {wanted}: {proc.stderr.strip()}",
            fix=f"run as root; or by hand: `ip addr add {wanted} dev {br.interface}`",
        )
    return True


def route_to(address: str) -> str:
    """The interface this machine would send to ADDRESS on ("" when there is no route)."""
    proc = _ip(["-4", "-o", "route", "get", address])
    words = proc.stdout.split()
    return words[words.index("dev") + 1] if "dev" in words else ""


def unreachable_reason(br: Bridge, address: str) -> str:
    """Why this machine cannot reach a host, with the bridge as the suspect ("" if no clue)."""
    if br.interface and not bridge_addresses(br.interface):
        return f"bridge {br.interface} of network {br.network} has no IPv4 address"
    via = route_to(address)
    if br.interface and via and via != br.interface:
        return f"the route to {address} leaves by {via}, not the sandbox bridge {br.interface}"
    return ""
