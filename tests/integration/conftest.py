"""Podman test hosts for integration tests, shared by every engineer's tests.

`sandbox_cluster` (session scope) is ONE 3-node sandbox for the whole test session:
cp1 (control-plane, etcd), worker1, worker2, from the test image that also carries
containerd, nginx, docker-registry, etcd, chrony and curl (services installed but not
started). Tests that change hosts should undo it, or use `sandbox_factory` for hosts of
their own. See docs/sandbox.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from k8s_install.sandbox import hosts, image

SESSION_NAME = "pytest"
KEEP_ENV = "K8S_INSTALL_TEST_KEEP_SANDBOX"  # set to 1 to leave the hosts up for debugging


@dataclass(frozen=True)
class SandboxHost:
    """One sandbox host: its node name, address, roles and podman container."""

    name: str
    address: str
    roles: tuple[str, ...]
    container: str

    def exec(
        self, *command: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the host with `podman exec` (no SSH; for setup and checks)."""
        return subprocess.run(
            ["podman", "exec", self.container, *command],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )


@dataclass
class SandboxCluster:
    """A running sandbox: cluster.yaml, SSH material, and its hosts."""

    name: str
    directory: Path
    cluster_file: Path
    ssh_key: Path
    known_hosts: Path
    user: str
    subnet: str
    hosts: list[SandboxHost] = field(default_factory=list)

    def host(self, name: str) -> SandboxHost:
        for candidate in self.hosts:
            if candidate.name == name:
                return candidate
        raise KeyError(f"no host {name!r} in sandbox {self.name!r}")

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def exec(
        self, host: str, *command: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.host(host).exec(*command, check=check)

    def ssh(self, host: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command over real SSH as the sandbox user, host key checking on."""
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.ssh_key),
                "-o",
                f"UserKnownHostsFile={self.known_hosts}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                f"{self.user}@{self.host(host).address}",
                *command,
            ],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def copy_to(self, directory: Path) -> Path:
        """A copy of cluster.yaml and its key material in another directory (to edit freely)."""
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / "cluster.yaml"
        shutil.copy(self.cluster_file, target)
        shutil.copytree(self.directory / ".sandbox", directory / ".sandbox", dirs_exist_ok=True)
        return target


def _to_cluster(info: hosts.SandboxInfo) -> SandboxCluster:
    return SandboxCluster(
        name=info.name,
        directory=Path(info.directory),
        cluster_file=Path(info.cluster_file),
        ssh_key=Path(info.directory) / ".sandbox" / info.name / "id_ed25519",
        known_hosts=Path(info.directory) / ".sandbox" / info.name / "known_hosts",
        user=info.user,
        subnet=info.subnet,
        hosts=[SandboxHost(h.node, h.address, tuple(h.roles), h.container) for h in info.hosts],
    )


def _require_podman() -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: apt-get install podman runc debootstrap")
    if os.geteuid() != 0:
        pytest.skip("sandbox hosts are privileged podman containers: run the tests as root")


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The test host image tag (built once, then cached by podman across runs)."""
    _require_podman()
    tag, _built = image.ensure(image.test_spec())
    return tag


SandboxFactory = Callable[..., SandboxCluster]


@pytest.fixture(scope="session")
def sandbox_factory(
    sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxFactory]:
    """Make extra sandboxes: factory(name, nodes=1, control_planes=1). All go at session end."""
    made: list[tuple[str, Path]] = []

    def make(name: str, nodes: int = 1, control_planes: int = 1) -> SandboxCluster:
        directory = tmp_path_factory.mktemp(f"sandbox-{name}")
        hosts.down(name, directory)  # a crashed earlier run may have left one behind
        made.append((name, directory))
        info = hosts.up(
            name,
            directory,
            nodes=nodes,
            control_planes=control_planes,
            extra_packages=image.TEST_IMAGE_PACKAGES,
        )
        return _to_cluster(info)

    try:
        yield make
    finally:
        if not os.environ.get(KEEP_ENV):
            for name, directory in made:
                hosts.down(name, directory)


@pytest.fixture(scope="session")
def sandbox_cluster(sandbox_factory: SandboxFactory) -> SandboxCluster:
    """The session's 3-node sandbox: cp1 (control-plane, etcd), worker1, worker2."""
    return sandbox_factory(SESSION_NAME, nodes=3, control_planes=1)
