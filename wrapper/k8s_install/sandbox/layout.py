"""Names and paths of one sandbox: podman object names, node names and roles, files on disk."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from k8s_install.base.errors import InvalidInput, Problem

PREFIX = "k8si"
LABEL = "k8s-install.sandbox"
NODE_LABEL = "k8s-install.node"
DIR_LABEL = "k8s-install.dir"
FIRST_HOST = 11  # node i gets subnet address .(11 + i)
MAX_NODES = 20
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$")


@dataclass(frozen=True)
class NodeSpec:
    """One host of the sandbox."""

    name: str
    roles: tuple[str, ...]
    index: int


@dataclass(frozen=True)
class Layout:
    """Everything named after the sandbox name and directory."""

    name: str
    directory: Path

    @property
    def network(self) -> str:
        return f"{PREFIX}-{self.name}"

    def container(self, node: str) -> str:
        return f"{PREFIX}-{self.name}-{node}"

    def volume(self, node: str) -> str:
        return f"{PREFIX}-{self.name}-{node}-containerd"

    @property
    def state_dir(self) -> Path:
        return self.directory / ".sandbox" / self.name

    @property
    def key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    def host_key(self, node: str) -> Path:
        return self.state_dir / "hostkeys" / node / "ssh_host_ed25519_key"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def cluster_file(self) -> Path:
        return self.directory / "cluster.yaml"


def layout(name: str, directory: Path) -> Layout:
    if not _NAME.match(name):
        raise InvalidInput(
            f"sandbox name {name!r} is not valid",
            [
                Problem(
                    "--name",
                    "must be 1-30 lower-case letters, digits or '-', "
                    "starting and ending with a letter or digit",
                    "e.g. --name dev",
                )
            ],
        )
    return Layout(name, directory.expanduser().resolve())


def node_specs(nodes: int, control_planes: int) -> list[NodeSpec]:
    """cp1..cpM (control-plane + etcd), then worker1..worker(N-M)."""
    problems = []
    if not 1 <= nodes <= MAX_NODES:
        problems.append(
            Problem("--nodes", f"must be 1 to {MAX_NODES}, got {nodes}", "e.g. --nodes 3")
        )
    if not 1 <= control_planes <= max(nodes, 1):
        problems.append(
            Problem(
                "--control-planes",
                f"must be 1 to --nodes ({nodes}), got {control_planes}",
                "e.g. --control-planes 1",
            )
        )
    if problems:
        raise InvalidInput("sandbox size is not valid", problems)
    specs = [NodeSpec(f"cp{i + 1}", ("control-plane", "etcd"), i) for i in range(control_planes)]
    specs += [
        NodeSpec(f"worker{i + 1}", ("worker",), control_planes + i)
        for i in range(nodes - control_planes)
    ]
    return specs


def address(subnet: str, index: int) -> str:
    net = ipaddress.ip_network(subnet)
    return str(net.network_address + FIRST_HOST + index)


def check_subnet(subnet: str, nodes: int) -> str:
    """A valid IPv4 subnet with room for the nodes; returned normalised."""
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise InvalidInput(
            f"--subnet {subnet!r} is not a network",
            [Problem("--subnet", str(exc), "e.g. --subnet 10.89.40.0/24")],
        ) from exc
    if net.version != 4 or net.num_addresses < FIRST_HOST + nodes + 2:
        raise InvalidInput(
            f"--subnet {subnet} is too small or not IPv4",
            [
                Problem(
                    "--subnet",
                    f"needs an IPv4 network with room for {nodes} hosts from .{FIRST_HOST}",
                    "e.g. --subnet 10.89.40.0/24",
                )
            ],
        )
    return str(net)
