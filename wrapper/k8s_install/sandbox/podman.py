"""Run podman with argument lists (never shell strings) and turn its failures into our errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from k8s_install.base.errors import ExitCode, K8sInstallError

# The host has hybrid cgroups (v1): crun mis-handles them there, runc works. Always say so.
RUNTIME = "runc"
# Containers inherit a huge nofile limit otherwise; systemd and sshd in the hosts choke on it.
NOFILE_MAX = 20000
NOFILE = f"nofile={NOFILE_MAX}:{NOFILE_MAX}"

# Forces podman's network backend for every sandbox call (cni or netavark); unset: podman's own.
BACKEND_ENV = "K8S_INSTALL_PODMAN_NETWORK_BACKEND"

INSTALL_FIX = "install podman and runc: `apt-get install podman runc debootstrap` (as root)"

# Known refusals, and what to change. Matched against podman's stderr, lower-cased.
_HINTS = [
    ("crun", "use runc: the sandbox passes `--runtime runc`; check `podman info` lists runc"),
    ("runc: not found", INSTALL_FIX),
    ("executable file `runc` not found", INSTALL_FIX),
    (
        "rlimit",
        "the container's limits exceed this machine's hard limits (`ulimit -Hn`, `ulimit -Hu`): "
        "the sandbox asks for nofile 20000 and nproc 32768; raise the hard limits to at least that",
    ),
    ("operation not permitted", "run as root: sandbox hosts are privileged podman containers"),
    (
        "cgroup",
        "the kernel refused the cgroup setup; boot with cgroups v1 or v2 delegation "
        "and keep `--runtime runc` (crun fails on hybrid cgroups)",
    ),
    ("too many open files", "lower the nofile limit: the sandbox passes --ulimit " + NOFILE),
    ("address already in use", "another network uses that subnet; pick one with --subnet"),
]


class PodmanError(K8sInstallError):
    """podman refused or failed; the message carries its stderr."""


def podman_path() -> str:
    """The podman binary, or an error that says what to install."""
    path = shutil.which("podman")
    if path is None:
        raise K8sInstallError(
            "podman is not installed (sandbox hosts are podman containers)",
            fix=INSTALL_FIX,
            code=ExitCode.INVALID_INPUT,
        )
    return path


def forced_backend() -> str:
    """The network backend forced by K8S_INSTALL_PODMAN_NETWORK_BACKEND, or ""."""
    value = os.environ.get(BACKEND_ENV, "").strip()
    if value and value not in ("cni", "netavark"):
        raise K8sInstallError(
            f"{BACKEND_ENV}={value!r} is not a podman network backend",
            fix=f"set {BACKEND_ENV} to cni or netavark, or unset it",
            code=ExitCode.INVALID_INPUT,
        )
    return value


def hint_for(stderr: str) -> str:
    """A fix for a known podman failure, or a generic one."""
    lowered = stderr.lower()
    for needle, fix in _HINTS:
        if needle in lowered:
            return fix
    return "see the podman message above; `podman info` shows the runtime and cgroup setup"


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    input_bytes: bytes | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[bytes]:
    """Run `podman ARGS`; on failure raise PodmanError with the stderr and a fix."""
    backend = forced_backend()
    cmd = [podman_path(), *(["--network-backend", backend] if backend else []), *args]
    proc = subprocess.run(cmd, input=input_bytes, capture_output=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()
        raise PodmanError(f"`podman {' '.join(args[:3])}` failed: {stderr}", fix=hint_for(stderr))
    return proc


def text(args: Sequence[str], *, check: bool = True) -> str:
    """Run podman and return its stdout as text."""
    return run(args, check=check).stdout.decode(errors="replace").strip()


def json_out(args: Sequence[str]) -> Any:
    """Run podman with JSON output and parse it (empty output is an empty list)."""
    out = text(args)
    return json.loads(out) if out else []


def exists(kind: str, name: str) -> bool:
    """Whether a podman object exists: kind is image, container, network or volume."""
    sub = {
        "image": ["image", "exists"],
        "container": ["container", "exists"],
        "network": ["network", "exists"],
        "volume": ["volume", "exists"],
    }[kind]
    return run([*sub, name], check=False).returncode == 0


def exec_in(
    container: str, command: Sequence[str], *, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run a command inside a container (`podman exec`)."""
    return run(["exec", container, *command], check=check, timeout=timeout)
