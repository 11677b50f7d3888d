"""Judge preflight probes: every check of one host as error, warning or ok, with a fix.

Pure functions of data the role collected (facts, the probe module's output, the other hosts'
identities), so the same logic is tested on fact fixtures in tests/test_preflight.py.
"""

from __future__ import annotations

import ipaddress
from typing import Any

Result = dict[str, str]
ROLES_ORDER = ("control-plane", "etcd", "worker")


def _row(check: str, status: str, message: str, fix: str = "") -> Result:
    return {"check": check, "status": status, "message": message, "fix": fix}


def _true(value: Any) -> bool:
    """Templated values may arrive as strings ("True", "0")."""
    return str(value).strip().lower() in ("true", "yes", "1")


def _int(value: Any, default: int = -1) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def _become(ctx: dict[str, Any]) -> Result:
    sudo = ctx.get("sudo") or {}
    user = str(sudo.get("user", "?"))
    if _int(sudo.get("uid")) == 0:
        return _row("become", "ok", f"connected as root ({user})")
    if _int(sudo.get("rc")) == 0:
        return _row("become", "ok", f"passwordless sudo works for {user}")
    if _true(ctx.get("become_password")):
        return _row("become", "ok", f"sudo needs a password for {user}; the vaulted one is used")
    detail = str(sudo.get("stderr", "")).strip().splitlines()
    return _row(
        "become",
        "error",
        f"`sudo -n true` failed for {user}: {detail[-1] if detail else 'a password is required'}",
        f"allow passwordless sudo: echo '{user} ALL=(ALL) NOPASSWD: ALL' | sudo tee "
        f"/etc/sudoers.d/{user}; or set access.become_password_vault_file",
    )


def _os(ctx: dict[str, Any]) -> list[Result]:
    facts = ctx["facts"]
    supported: dict[str, list[str]] = ctx["settings"]["supported_os"]
    name = str(facts.get("distribution", "?"))
    version = str(facts.get("distribution_version", "?"))
    major = str(facts.get("distribution_major_version", "?"))
    rows = []
    if name not in supported:
        rows.append(
            _row(
                "os",
                "error",
                f"{name} {version} is not supported by the engine (Kubespray v2.31.0)",
                "use one of: " + ", ".join(sorted(supported)),
            )
        )
    else:
        versions = [str(v) for v in supported[name]]
        if versions and version not in versions and major not in versions:
            rows.append(
                _row(
                    "os",
                    "error",
                    f"{name} {version} is not a supported {name} version",
                    f"use {name} " + " or ".join(versions),
                )
            )
        else:
            rows.append(_row("os", "ok", f"{name} {version}"))
    arch = str(facts.get("architecture", "?"))
    arches: dict[str, str] = ctx["settings"]["architectures"]
    status = arches.get(arch, "error")
    rows.append(
        _row(
            "architecture",
            status,
            arch
            if status == "ok"
            else f"{arch} is {'experimental' if status == 'warning' else 'not supported'}",
            "" if status == "ok" else "use x86_64 (amd64) or aarch64 (arm64) hosts",
        )
    )
    return rows


def _minimums(ctx: dict[str, Any]) -> dict[str, int]:
    table: dict[str, dict[str, int]] = ctx["settings"]["minimums"]
    wanted: dict[str, int] = {}
    for role in ctx.get("roles") or []:
        for key, value in (table.get(role) or {}).items():
            wanted[key] = max(wanted.get(key, 0), int(value))
    return wanted


def _resources(ctx: dict[str, Any]) -> list[Result]:
    facts, probe = ctx["facts"], ctx["probe"]
    wanted = _minimums(ctx)
    roles = "+".join(r for r in ROLES_ORDER if r in (ctx.get("roles") or []))
    have = {
        "cpus": _int(facts.get("processor_vcpus"), 0),
        "memory_mb": _int(facts.get("memtotal_mb"), 0),
        "disk_free_mb": int(probe["disk"]["free_mb"]),
    }
    labels = {
        "cpus": ("cpu", "CPUs", "give the host more CPUs"),
        "memory_mb": ("memory", "MB of memory", "give the host more memory"),
        "disk_free_mb": (
            "disk",
            f"MB free on {probe['disk']['path']}",
            f"free space on {probe['disk']['path']} or grow the disk",
        ),
    }
    rows = []
    for key, (check, unit, fix) in labels.items():
        need = wanted.get(key, 0)
        if have[key] < need:
            rows.append(
                _row(
                    check,
                    "error",
                    f"{have[key]} {unit}; a {roles} node needs at least {need}",
                    f"{fix} (or lower preflight_minimums)",
                )
            )
        else:
            rows.append(_row(check, "ok", f"{have[key]} {unit} (minimum {need})"))
    return rows


def _swap(ctx: dict[str, Any]) -> Result:
    swap = ctx["probe"]["swap"]
    if swap["devices"] or int(swap["total_kb"]) > 0:
        devices = ", ".join(swap["devices"]) or f"{swap['total_kb']} kB"
        return _row(
            "swap",
            "error",
            f"swap is on ({devices}); the kubelet refuses to start with swap",
            "sudo swapoff -a, and remove or comment the swap lines in /etc/fstab",
        )
    return _row("swap", "ok", "off")


def _time(ctx: dict[str, Any]) -> Result:
    sync = ctx["probe"]["time_sync"]
    if sync["active"]:
        return _row("time sync", "ok", "active: " + ", ".join(sync["active"]))
    if sync["synchronized"]:
        return _row("time sync", "ok", "NTPSynchronized=yes")
    return _row(
        "time sync",
        "warning",
        "no time synchronisation service is active; etcd and certificates need clocks in sync",
        "sudo apt-get install chrony (or enable systemd-timesyncd): systemctl enable --now chrony",
    )


def _unique(ctx: dict[str, Any]) -> list[Result]:
    host = ctx["host"]
    mine = ctx["identity"]
    others = {name: ident for name, ident in (ctx.get("identities") or {}).items() if name != host}
    rows = []
    name = str(mine.get("hostname", "")).lower()
    same = sorted(
        n for n, ident in others.items() if str(ident.get("hostname", "")).lower() == name
    )
    if same:
        rows.append(
            _row(
                "hostname",
                "error",
                f"hostname '{mine.get('hostname')}' is also used by {', '.join(same)}",
                f"give each host its own name: sudo hostnamectl set-hostname {host}",
            )
        )
    else:
        rows.append(_row("hostname", "ok", f"{mine.get('hostname')} (unique)"))
    macs = set(mine.get("macs") or [])
    clash = sorted(n for n, ident in others.items() if macs & set(ident.get("macs") or []))
    if clash:
        shared = sorted(macs & {m for n in clash for m in others[n].get("macs") or []})
        rows.append(
            _row(
                "mac address",
                "error",
                f"MAC {', '.join(shared)} is also on {', '.join(clash)}",
                "give each (virtual) NIC a unique MAC; cloned VMs need new MACs",
            )
        )
    else:
        rows.append(_row("mac address", "ok", "unique"))
    uuid = str(mine.get("product_uuid") or "")
    if not uuid:
        rows.append(
            _row(
                "product_uuid",
                "warning",
                mine.get("product_uuid_reason") or "product_uuid unknown",
                "nothing to do in containers; on VMs check that /sys/class/dmi/id/product_uuid "
                "exists and differs between hosts",
            )
        )
    else:
        same = sorted(n for n, ident in others.items() if ident.get("product_uuid") == uuid)
        if same:
            rows.append(
                _row(
                    "product_uuid",
                    "error",
                    f"product_uuid {uuid} is also on {', '.join(same)}",
                    "cloned VMs must get new UUIDs (regenerate them in the hypervisor)",
                )
            )
        else:
            rows.append(_row("product_uuid", "ok", "unique"))
    return rows


# Programs of an installed cluster that hold its ports; a port held by one of them on a node
# of this very cluster is the cluster itself, not a conflict.
CLUSTER_PROGRAMS = (
    "kube-apiserver",
    "kube-controller",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "etcd",
    "containerd",
)


def _ports(ctx: dict[str, Any]) -> Result:
    wanted = sorted({int(p) for p in ctx.get("ports") or []})
    ours = bool(ctx.get("cluster")) and ctx["probe"].get("member_of") == ctx.get("cluster")
    busy: dict[int, list[str]] = {}
    own: dict[int, str] = {}
    for sock in ctx["probe"]["listening"]["sockets"]:
        port = int(sock["port"])
        if port not in wanted:
            continue
        program = str(sock.get("process", ""))
        if ours and program.startswith(CLUSTER_PROGRAMS):
            own[port] = program
        else:
            busy.setdefault(port, []).append(str(sock["address"]))
    if busy:
        detail = "; ".join(f"{p} (on {', '.join(sorted(set(a)))})" for p, a in sorted(busy.items()))
        ports = " ".join(str(p) for p in sorted(busy))
        return _row(
            "ports",
            "error",
            f"required port(s) already in use: {detail}",
            f"stop what listens there (sudo ss -ltnp 'sport = :{min(busy)}' shows it); "
            f"ports needed free: {ports}",
        )
    if own:
        held = ", ".join(f"{p} by {prog}" for p, prog in sorted(own.items()))
        return _row("ports", "ok", f"in use by this cluster ({ctx['cluster']}): {held}")
    return _row("ports", "ok", "free: " + " ".join(str(p) for p in wanted))


def _kernel(ctx: dict[str, Any]) -> list[Result]:
    probe = ctx["probe"]
    found: dict[str, str] = probe["modules"]["found"]
    missing = sorted(name for name, evidence in found.items() if not evidence)
    rows = []
    if missing:
        nothing = not probe["modules"]["module_tree"] and not probe["modules"]["proc_modules"]
        rows.append(
            _row(
                "kernel modules",
                "warning" if nothing else "error",
                f"not available: {', '.join(missing)}"
                + (" (no /lib/modules and no /proc/modules to tell)" if nothing else ""),
                "install the kernel's modules package (e.g. linux-modules-extra) or a kernel "
                "with them built in: sudo modprobe " + " ".join(missing),
            )
        )
    else:
        rows.append(_row("kernel modules", "ok", ", ".join(sorted(found))))
    absent = sorted(name for name, there in probe["sysctls"].items() if not there)
    if absent:
        rows.append(
            _row(
                "sysctls",
                "error",
                f"missing: {', '.join(absent)}",
                "load the module that provides them (br_netfilter for net.bridge.*)",
            )
        )
    else:
        rows.append(_row("sysctls", "ok", ", ".join(sorted(probe["sysctls"]))))
    return rows


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _address(ctx: dict[str, Any]) -> Result:
    probe = ctx["probe"]
    ip = str(ctx.get("ip", ""))
    local = {a for iface in probe["interfaces"].values() for a in iface["addresses"]}
    candidates = [ip]
    if not _is_ip(ip):
        resolved = probe["dns"].get(ip)
        candidates = resolved if isinstance(resolved, list) else []
    if any(c in local for c in candidates):
        return _row("address", "ok", f"{ip} is on this host")
    listing = "; ".join(
        f"{name}: {', '.join(iface['addresses']) or 'no address'}"
        for name, iface in sorted(probe["interfaces"].items())
        if name != "lo"
    )
    return _row(
        "address",
        "error",
        f"{ip} (cluster.yaml) is not an address of this host; its interfaces: {listing}",
        f"set nodes[{ctx['host']}].internal_address in cluster.yaml to one of these addresses",
    )


def _dns(ctx: dict[str, Any]) -> Result:
    probe = ctx["probe"]
    failed = {
        n: r
        for n, r in probe["dns"].items()
        if n in (ctx.get("dns_names") or []) and not isinstance(r, list)
    }
    if failed:
        name, error = sorted(failed.items())[0]
        return _row(
            "dns",
            "error",
            f"cannot resolve {', '.join(sorted(failed))}: {error}",
            "check /etc/resolv.conf and /etc/hosts (nameservers: "
            + (", ".join(probe["nameservers"]) or "none")
            + f"); or change preflight_dns_names (it resolves {name!r})",
        )
    if not probe["nameservers"]:
        return _row(
            "dns",
            "warning",
            "no nameserver in /etc/resolv.conf",
            "add a nameserver line to /etc/resolv.conf (CoreDNS forwards to it)",
        )
    names = ", ".join(sorted(ctx.get("dns_names") or [])) or "nothing asked"
    return _row("dns", "ok", f"resolves {names}")


def _reach(ctx: dict[str, Any]) -> Result:
    bad = []
    for peer in ctx["probe"]["peers"]:
        error = str(peer.get("error", ""))
        # A refused connection still proves the path: nothing listens yet, nothing drops packets.
        if error and "refused" not in error.lower():
            bad.append(f"{peer['name']} {peer['address']}:{peer['port']} ({error})")
    if bad:
        return _row(
            "reachability",
            "error",
            "cannot reach " + "; ".join(bad),
            "open these ports between the nodes (firewall, security group, routing)",
        )
    count = len(ctx["probe"]["peers"])
    return _row("reachability", "ok", f"{count} peer port(s) reachable")


def _runtime(ctx: dict[str, Any]) -> Result:
    runtimes = ctx["probe"]["runtimes"]
    other = [
        name
        for name in ("docker", "crio")
        if runtimes[name]["binary"] or runtimes[name]["unit_files"] or runtimes[name]["active"]
    ]
    if other:
        return _row(
            "container runtime",
            "error",
            f"{' and '.join(other)} is installed; the engine installs containerd and would "
            "uninstall it, stopping its containers",
            "remove it first (sudo apt-get purge docker-ce docker.io cri-o) or use another host",
        )
    containerd = runtimes["containerd"]
    if containerd["active"] and not containerd["config_from_engine"]:
        return _row(
            "container runtime",
            "warning",
            "containerd is running with a configuration the engine did not write; the engine "
            "replaces /etc/containerd/config.toml and restarts it",
            "stop workloads that use this containerd, or use another host",
        )
    if containerd["binary"] or containerd["unit_files"]:
        return _row(
            "container runtime", "ok", "containerd installed, not running: the engine replaces it"
        )
    return _row("container runtime", "ok", "none")


def preflight_results(ctx: dict[str, Any]) -> list[Result]:
    """All checks of one host, in table order."""
    rows = [_row("ssh", "ok", f"reached {ctx.get('ssh_address', '')}".strip()), _become(ctx)]
    rows += _os(ctx)
    rows += _resources(ctx)
    rows.append(_swap(ctx))
    rows.append(_time(ctx))
    rows += _unique(ctx)
    rows.append(_ports(ctx))
    rows += _kernel(ctx)
    rows.append(_address(ctx))
    rows.append(_dns(ctx))
    rows.append(_reach(ctx))
    rows.append(_runtime(ctx))
    return rows


def preflight_identity(probe: dict[str, Any]) -> dict[str, Any]:
    """What must be unique across hosts: hostname, MACs (not loopback), product_uuid."""
    macs = sorted(
        {
            str(i["mac"]).lower()
            for name, i in probe["interfaces"].items()
            if name != "lo" and i["mac"] and i["mac"] != "00:00:00:00:00:00"
        }
    )
    return {
        "hostname": probe["hostname"],
        "macs": macs,
        "product_uuid": probe["product_uuid"]["value"],
        "product_uuid_reason": probe["product_uuid"]["reason"],
    }


class FilterModule:
    """k8s-install preflight filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "k8s_install_preflight_results": preflight_results,
            "k8s_install_preflight_identity": preflight_identity,
        }
