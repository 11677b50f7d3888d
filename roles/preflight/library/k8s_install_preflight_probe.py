#!/usr/bin/python
"""Read-only probe of one host for k8s-install preflight: reads files and sockets, changes nothing."""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: k8s_install_preflight_probe
short_description: Collect what k8s-install preflight judges, without changing the host
description:
  - Reads /proc, /sys and /etc, lists listening TCP ports, resolves names and opens TCP
    connections to peers. It never writes anything and always reports changed=false.
options:
  ports:
    description: TCP ports that must be free on this host.
    type: list
    elements: int
    default: []
  modules:
    description: Kernel modules that must be available.
    type: list
    elements: str
    default: []
  sysctls:
    description: Kernel parameters (dotted names) that must exist.
    type: list
    elements: str
    default: []
  dns_names:
    description: Names that must resolve on this host.
    type: list
    elements: str
    default: []
  peers:
    description: Other hosts to open a TCP connection to (name, address, port).
    type: list
    elements: dict
    default: []
  timeout:
    description: Seconds to wait for each peer connection.
    type: float
    default: 3
  disk_path:
    description: Path whose file system must have free space.
    type: str
    default: /var
"""

RUNTIME_UNITS = ("docker", "crio", "containerd")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _run(args: list[str]) -> tuple[int | None, str]:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None, ""
    return proc.returncode, proc.stdout


def swap() -> dict[str, Any]:
    text = _read("/proc/swaps") or ""
    devices = [line.split()[0] for line in text.splitlines()[1:] if line.strip()]
    total_kb = 0
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("SwapTotal:"):
            total_kb = int(line.split()[1])
    return {"devices": devices, "total_kb": total_kb}


def _hex_port(text: str) -> int:
    return int(text.rsplit(":", 1)[1], 16)


def _process(line: str) -> str:
    """The program name in an `ss -p` line (users:(("kube-apiserver",pid=1,fd=3))), or ""."""
    start = line.find('users:(("')
    if start < 0:
        return ""
    rest = line[start + len('users:(("') :]
    return rest.split('"', 1)[0]


def membership() -> str:
    """The cluster this node says it belongs to (node_base's /etc/k8s-install/node.yaml)."""
    for line in (_read("/etc/k8s-install/node.yaml") or "").splitlines():
        if line.startswith("cluster:"):
            return line.split(":", 1)[1].strip().strip('"')
    return ""


def listening() -> dict[str, Any]:
    """Listening TCP sockets as (address, port): `ss -ltnH`, else /proc/net/tcp{,6}."""
    found = []
    if shutil.which("ss"):
        rc, out = _run(["ss", "-ltnpH"])
        if rc == 0:
            for line in out.splitlines():
                fields = line.split()
                if len(fields) >= 4:
                    local = fields[3]
                    address, _, port = local.rpartition(":")
                    if port.isdigit():
                        found.append(
                            {
                                "address": address.strip("[]"),
                                "port": int(port),
                                "process": _process(line),
                            }
                        )
            return {"source": "ss -ltnpH", "sockets": found}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in (_read(name) or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                found.append({"address": fields[1].rsplit(":", 1)[0], "port": _hex_port(fields[1])})
    return {"source": "/proc/net/tcp", "sockets": found}


def time_sync() -> dict[str, Any]:
    active = []
    if shutil.which("systemctl"):
        for unit in ("chrony", "chronyd", "systemd-timesyncd", "ntp", "ntpd", "ntpsec"):
            rc, _ = _run(["systemctl", "is-active", "--quiet", unit])
            if rc == 0:
                active.append(unit)
    synced = None
    if shutil.which("timedatectl"):
        rc, out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if rc == 0 and out.strip() in ("yes", "no"):
            synced = out.strip() == "yes"
    return {"active": active, "synchronized": synced}


def kernel_modules(names: list[str]) -> dict[str, Any]:
    release = os.uname().release
    loaded = {line.split()[0] for line in (_read("/proc/modules") or "").splitlines() if line}
    builtin_text = _read(f"/lib/modules/{release}/modules.builtin") or ""
    builtin = {os.path.basename(p).split(".ko")[0] for p in builtin_text.split()}
    filesystems = _read("/proc/filesystems") or ""
    result = {}
    for name in names:
        evidence = ""
        if name in loaded:
            evidence = "loaded (/proc/modules)"
        elif os.path.isdir(f"/sys/module/{name}"):
            evidence = "present (/sys/module)"
        elif name in builtin:
            evidence = "built into the kernel (modules.builtin)"
        elif name == "overlay" and re.search(r"\boverlay\b", filesystems):
            evidence = "overlay file system registered (/proc/filesystems)"
        elif name == "br_netfilter" and os.path.isdir("/proc/sys/net/bridge"):
            evidence = "bridge netfilter active (/proc/sys/net/bridge)"
        elif glob.glob(f"/lib/modules/{release}/**/{name}.ko*", recursive=True):
            evidence = "loadable (/lib/modules)"
        elif shutil.which("modinfo") and _run(["modinfo", "-n", name])[0] == 0:
            evidence = "loadable (modinfo)"
        result[name] = evidence
    return {
        "found": result,
        "module_tree": os.path.isdir(f"/lib/modules/{release}"),
        "proc_modules": os.path.exists("/proc/modules"),
    }


def sysctls(names: list[str]) -> dict[str, bool]:
    return {name: os.path.exists("/proc/sys/" + name.replace(".", "/")) for name in names}


def nameservers() -> list[str]:
    text = _read("/etc/resolv.conf") or ""
    return [line.split()[1] for line in text.splitlines() if line.startswith("nameserver ")]


def resolve(names: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            result[name] = sorted({info[4][0] for info in infos})
        except OSError as exc:
            result[name] = str(exc)
    return result


def reach(peers: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    result = []
    for peer in peers:
        entry = {"name": peer["name"], "address": peer["address"], "port": int(peer["port"])}
        try:
            with socket.create_connection((peer["address"], int(peer["port"])), timeout=timeout):
                entry["error"] = ""
        except OSError as exc:
            entry["error"] = str(exc) or type(exc).__name__
        result.append(entry)
    return result


def interfaces() -> dict[str, dict[str, Any]]:
    """Interface -> {mac, addresses}, from /sys/class/net and `ip -o addr`."""
    result: dict[str, dict[str, Any]] = {}
    for path in sorted(glob.glob("/sys/class/net/*")):
        name = os.path.basename(path)
        mac = (_read(path + "/address") or "").strip()
        result[name] = {"mac": mac, "addresses": []}
    rc, out = _run(["ip", "-o", "addr", "show"]) if shutil.which("ip") else (None, "")
    if rc == 0:
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] in ("inet", "inet6"):
                name = fields[1].split("@")[0]
                result.setdefault(name, {"mac": "", "addresses": []})
                result[name]["addresses"].append(fields[3].split("/")[0])
    return result


def product_uuid() -> dict[str, str]:
    path = "/sys/class/dmi/id/product_uuid"
    if not os.path.exists(path):
        return {"value": "", "reason": f"{path} does not exist (containers have no DMI data)"}
    text = _read(path)
    if text is None:
        return {"value": "", "reason": f"{path} is not readable (needs root)"}
    return {"value": text.strip().lower(), "reason": ""}


def runtimes() -> dict[str, dict[str, Any]]:
    result = {}
    for unit in RUNTIME_UNITS:
        binary = shutil.which("dockerd" if unit == "docker" else unit) or ""
        unit_files = [
            p
            for d in ("/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system")
            for p in glob.glob(f"{d}/{unit}.service")
        ]
        active = False
        if shutil.which("systemctl"):
            active = _run(["systemctl", "is-active", "--quiet", unit])[0] == 0
        result[unit] = {"binary": binary, "unit_files": unit_files, "active": active}
    config = _read("/etc/containerd/config.toml")
    result["containerd"]["config"] = "" if config is None else "/etc/containerd/config.toml"
    result["containerd"]["config_from_engine"] = bool(config and "kubespray" in config.lower())
    return result


def disk(path: str) -> dict[str, Any]:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    usage = shutil.disk_usage(path or "/")
    return {"path": path or "/", "free_mb": usage.free // (1024 * 1024)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "ports": {"type": "list", "elements": "int", "default": []},
            "modules": {"type": "list", "elements": "str", "default": []},
            "sysctls": {"type": "list", "elements": "str", "default": []},
            "dns_names": {"type": "list", "elements": "str", "default": []},
            "peers": {"type": "list", "elements": "dict", "default": []},
            "timeout": {"type": "float", "default": 3},
            "disk_path": {"type": "str", "default": "/var"},
        },
        supports_check_mode=True,
    )
    params = module.params
    probe = {
        "hostname": socket.gethostname(),
        "uid": os.geteuid(),
        "swap": swap(),
        "listening": listening(),
        "member_of": membership(),
        "time_sync": time_sync(),
        "modules": kernel_modules(params["modules"]),
        "sysctls": sysctls(params["sysctls"]),
        "dns": resolve(params["dns_names"]),
        "nameservers": nameservers(),
        "peers": reach(params["peers"], params["timeout"]),
        "interfaces": interfaces(),
        "product_uuid": product_uuid(),
        "runtimes": runtimes(),
        "disk": disk(params["disk_path"]),
    }
    module.exit_json(changed=False, probe=probe)


if __name__ == "__main__":
    main()
