"""Readiness of sandbox hosts: systemd up, sshd listening inside, and reachable from here.

Each of the three has its own error, so a failure names its real cause.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from k8s_install.base.errors import K8sInstallError
from k8s_install.sandbox import network, podman
from k8s_install.sandbox.layout import Layout
from k8s_install.sandbox.model import HostInfo, Log

READY_STATES = ("running", "degraded")
WAIT_STATES = ("initializing", "starting", "")
# sshd listens inside but this machine cannot connect: give up on the route after this long.
UNREACHABLE_AFTER = 15.0


def system_state(container: str) -> tuple[str, list[str]]:
    proc = podman.exec_in(container, ["systemctl", "is-system-running"], timeout=30)
    state = proc.stdout.decode(errors="replace").strip()
    failed: list[str] = []
    if state == "degraded":
        out = podman.exec_in(
            container, ["systemctl", "list-units", "--failed", "--plain", "--no-legend"], timeout=30
        )
        failed = [line.split()[0] for line in out.stdout.decode().splitlines() if line.strip()]
    return state, failed


def sshd_listening(container: str, port: int = 22) -> bool:
    """Whether something listens on PORT inside the host (read from its own /proc)."""
    proc = podman.exec_in(container, ["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout=30)
    wanted = f":{port:04X}"
    for line in proc.stdout.decode(errors="replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1].endswith(wanted) and fields[3] == "0A":  # LISTEN
            return True
    return False


def ssh_banner(host: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


@dataclass
class _Wait:
    host: HostInfo
    listening_since: float | None = None


def _systemd_error(host: HostInfo) -> K8sInstallError:
    return K8sInstallError(
        f"{host.node}: systemd is {host.system or 'not answering'!r}, not running",
        fix=f"see `podman logs {host.container}`; the kernel or runtime may refuse "
        "systemd in a container (use runc, cgroups v1 or v2 with delegation)",
    )


def _sshd_error(host: HostInfo) -> K8sInstallError:
    return K8sInstallError(
        f"{host.node}: systemd is up but sshd does not listen on port 22 inside the host",
        fix=f"see `podman exec {host.container} systemctl status ssh` and "
        f"`podman exec {host.container} journalctl -u ssh`",
    )


def _route_error(host: HostInfo, br: network.Bridge | None) -> K8sInstallError:
    reason = network.unreachable_reason(br, host.address) if br else ""
    fix = "run `k8s-install sandbox up` again (it gives the bridge its address)"
    if br and br.interface:
        prefix = br.subnet.rsplit("/", 1)[1]
        fix += f", or by hand: `ip addr add {br.gateway}/{prefix} dev {br.interface}`"
    return K8sInstallError(
        f"{host.node}: sshd listens inside the host, but this machine cannot reach "
        f"{host.address}:22" + (f" ({reason})" if reason else ""),
        fix=fix,
    )


def wait_ready(
    lay: Layout,
    hosts: list[HostInfo],
    timeout: float,
    log: Log,
    br: network.Bridge | None = None,
) -> None:
    """Until every host's systemd is up, sshd listens in it, and its port 22 answers here."""
    deadline = time.monotonic() + timeout
    pending = {h.node: _Wait(h) for h in hosts}
    while pending:
        now = time.monotonic()
        for node, wait in list(pending.items()):
            host = wait.host
            host.system, host.failed_units = system_state(host.container)
            if host.system not in (*WAIT_STATES, *READY_STATES):
                raise _systemd_error(host)
            if host.system not in READY_STATES:
                continue
            if ssh_banner(host.address):
                del pending[node]
                if host.failed_units:
                    log(
                        f"{node}: systemd {host.system}; failed units: "
                        + ", ".join(host.failed_units)
                    )
                continue
            if wait.listening_since is None and sshd_listening(host.container):
                wait.listening_since = now
            if wait.listening_since is not None and now - wait.listening_since > UNREACHABLE_AFTER:
                raise _route_error(host, br)
        if pending and time.monotonic() > deadline:
            wait = next(iter(pending.values()))
            if wait.host.system not in READY_STATES:
                raise _systemd_error(wait.host)
            if wait.listening_since is None:
                raise _sshd_error(wait.host)
            raise _route_error(wait.host, br)
        if pending:
            time.sleep(0.5)
