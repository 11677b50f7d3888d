"""Readiness of sandbox hosts: systemd up (running or degraded) and sshd answering."""

from __future__ import annotations

import socket
import time

from k8s_install.base.errors import K8sInstallError
from k8s_install.sandbox import podman
from k8s_install.sandbox.layout import Layout
from k8s_install.sandbox.model import HostInfo, Log

READY_STATES = ("running", "degraded")
WAIT_STATES = ("initializing", "starting", "")


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


def ssh_banner(host: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def wait_ready(lay: Layout, hosts: list[HostInfo], timeout: float, log: Log) -> None:
    """Until every host's systemd is up (running or degraded) and sshd answers."""
    deadline = time.monotonic() + timeout
    pending = {h.node: h for h in hosts}
    while pending:
        for node, host in list(pending.items()):
            host.system, host.failed_units = system_state(host.container)
            if host.system in READY_STATES and ssh_banner(host.address):
                del pending[node]
                if host.failed_units:
                    log(
                        f"{node}: systemd {host.system}; failed units: "
                        + ", ".join(host.failed_units)
                    )
            elif host.system not in (*WAIT_STATES, *READY_STATES):
                raise K8sInstallError(
                    f"{node}: systemd is {host.system!r}",
                    fix=f"see `podman logs {host.container}`; the kernel or runtime may refuse "
                    "systemd in a container (use runc, cgroups v1 or v2 with delegation)",
                )
        if pending and time.monotonic() > deadline:
            detail = ", ".join(f"{n}: systemd {h.system or 'unknown'}" for n, h in pending.items())
            raise K8sInstallError(
                f"hosts not ready after {timeout:.0f}s ({detail})",
                fix="check `podman logs <container>` and `podman exec <container> "
                "systemctl --failed`; sshd must listen on port 22",
            )
        if pending:
            time.sleep(0.5)
