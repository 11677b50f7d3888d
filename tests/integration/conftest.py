"""Podman test hosts for integration tests, shared by every engineer's tests.

`sandbox_cluster` (session scope) is ONE 3-node sandbox for the whole test session:
cp1 (control-plane, etcd), worker1, worker2, from the test image that also carries
containerd, nginx, docker-registry, etcd, chrony and curl (services installed but not
started). Tests that change hosts should undo it, or use `sandbox_factory` for hosts of
their own. See docs/sandbox.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from k8s_install.sandbox import hosts, image

# Sandboxes are named after this process (pt<pid>, pt<pid>-<name>), so test sessions run by
# several people on one machine never touch each other's hosts.
PREFIX = f"pt{os.getpid()}"
_OURS = re.compile(r"^pt(\d+)(-[a-z0-9-]+)?$")
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


def _remove_orphans() -> None:
    """Remove test sandboxes left by test sessions that died (their process is gone)."""
    for name, directory in hosts.sandboxes():
        match = _OURS.match(name)
        if match and not _alive(int(match.group(1))):
            hosts.down(name, directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def sandbox_factory(
    sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxFactory]:
    """Make extra sandboxes: factory(name, nodes=1, control_planes=1). All go at session end."""
    made: list[tuple[str, Path]] = []

    _remove_orphans()

    def make(name: str = "", nodes: int = 1, control_planes: int = 1) -> SandboxCluster:
        """name: a short suffix (lower case, digits, '-'); "" for the session sandbox."""
        full = f"{PREFIX}-{name}" if name else PREFIX
        directory = tmp_path_factory.mktemp(f"sandbox-{full}")
        made.append((full, directory))
        info = hosts.up(
            full,
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
    return sandbox_factory("", nodes=3, control_planes=1)
