"""What the sandbox reports: hosts and the sandbox as a whole (also as JSON)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

Log = Callable[[str], None]


@dataclass
class HostInfo:
    """One host as podman and systemd see it."""

    node: str
    container: str
    address: str
    roles: list[str]
    state: str = "missing"  # podman: running, exited, created, missing
    system: str = ""  # systemctl is-system-running
    failed_units: list[str] = field(default_factory=list)


@dataclass
class SandboxInfo:
    """A sandbox: where it is, its network and image, and its hosts."""

    name: str
    directory: str
    network: str
    subnet: str
    image: str
    cluster_file: str
    ssh_key: str
    known_hosts: str
    user: str
    hosts: list[HostInfo]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
