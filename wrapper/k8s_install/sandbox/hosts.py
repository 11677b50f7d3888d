"""The host lifecycle of a sandbox: network, volumes, containers, readiness, and removal."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from k8s_install.base.errors import ExitCode, InvalidInput, K8sInstallError, Problem
from k8s_install.sandbox import clusterfile, hostfiles, image, keys, network, podman, profile, ready
from k8s_install.sandbox.layout import (
    DIR_LABEL,
    LABEL,
    NODE_LABEL,
    Layout,
    NodeSpec,
    address,
    check_subnet,
    layout,
    node_specs,
)

# Re-exported: callers use hosts.HostInfo and hosts.SandboxInfo.
from k8s_install.sandbox.model import HostInfo as HostInfo
from k8s_install.sandbox.model import Log as Log
from k8s_install.sandbox.model import SandboxInfo as SandboxInfo


def _quiet(_message: str) -> None:
    pass


def _require_root() -> None:
    if os.geteuid() != 0:
        raise K8sInstallError(
            "sandbox hosts are privileged podman containers and need root",
            fix="run as root, e.g. `sudo k8s-install sandbox up`",
            code=ExitCode.INVALID_INPUT,
        )


def _network_info(name: str) -> dict[str, Any] | None:
    if not podman.exists("network", name):
        return None
    data = podman.json_out(["network", "inspect", name])
    return dict(data[0]) if data else None


def _owner(lay: Layout) -> str:
    """The directory a sandbox of this name was made for ("" when none exists)."""
    info = _network_info(lay.network)
    if info is not None:
        return str((info.get("labels") or {}).get(DIR_LABEL, ""))
    for row in _containers(lay.name):
        return str((row.get("Labels") or {}).get(DIR_LABEL, ""))
    return ""


def _check_owner(lay: Layout) -> str:
    """Refuse to act on a same-named sandbox of another directory that still exists.

    Returns the owner directory when it is gone (an orphan, e.g. a deleted temporary
    directory): the caller may remove that sandbox.
    """
    owner = _owner(lay)
    if not owner or owner == str(lay.directory):
        return ""
    if Path(owner).exists():
        raise InvalidInput(
            f"sandbox {lay.name!r} belongs to {owner}, not {lay.directory}",
            [
                Problem(
                    "--name",
                    "is taken by a sandbox in another directory",
                    f"use another --name, or `--dir {owner}`",
                )
            ],
        )
    return owner


def _ensure_network(lay: Layout, subnet: str | None, outbound: bool, log: Log) -> str:
    """Create the sandbox network (or reuse it); return its subnet."""
    info = _network_info(lay.network)
    if info is not None:
        current = str(info["subnets"][0]["subnet"])
        if subnet and subnet != current:
            raise InvalidInput(
                f"sandbox {lay.name!r} runs on {current}, not {subnet}",
                [
                    Problem(
                        "--subnet",
                        "differs from the running sandbox",
                        "run `k8s-install sandbox down` first to change the subnet",
                    )
                ],
            )
        return current
    args = [
        "network",
        "create",
        "--label",
        f"{LABEL}={lay.name}",
        "--label",
        f"{DIR_LABEL}={lay.directory}",
    ]
    if subnet:
        args += ["--subnet", subnet]
    if not outbound:
        args.append("--internal")  # hosts reach each other and this machine, nothing else
    log(f"creating network {lay.network}")
    podman.run([*args, lay.network])
    info = _network_info(lay.network)
    assert info is not None
    return str(info["subnets"][0]["subnet"])


def _ensure_bridge(lay: Layout, log: Log) -> network.Bridge | None:
    """The network's bridge, given its gateway address where the backend did not (CNI)."""
    info = _network_info(lay.network)
    if info is None:
        return None
    br = network.bridge(info)
    if network.ensure_gateway(br):
        log(f"gave bridge {br.interface} its address {br.gateway} ({network.backend()} backend)")
    return br


def _ulimits() -> list[str]:
    # nofile at most 20000 (the host's hard limit); nproc explicit, as runc cannot raise it here.
    return ["--ulimit", podman.NOFILE, "--ulimit", "nproc=32768:32768"]


def _create_host(
    lay: Layout, spec: NodeSpec, subnet: str, img: image.ImageSpec, files: bytes
) -> None:
    volume = lay.volume(spec.name)
    labels = [
        "--label",
        f"{LABEL}={lay.name}",
        "--label",
        f"{NODE_LABEL}={spec.name}",
        "--label",
        f"{DIR_LABEL}={lay.directory}",
    ]
    if not podman.exists("volume", volume):
        # containerd's overlay snapshotter cannot sit on the container's own overlay root.
        podman.run(["volume", "create", *labels, volume])
    podman.run(
        [
            "--runtime",
            podman.RUNTIME,
            "create",
            "--name",
            lay.container(spec.name),
            "--hostname",
            spec.name,
            "--network",
            lay.network,
            "--ip",
            address(subnet, spec.index),
            "--privileged",
            "--systemd",
            "always",
            "--no-hosts",
            *_ulimits(),
            *(profile.CREATE_ARGS if img.kubernetes else ()),
            "--volume",
            f"{volume}:/var/lib/containerd",
            *labels,
            img.tag,
        ]
    )
    podman.run(["cp", "--archive=false", "-", f"{lay.container(spec.name)}:/"], input_bytes=files)


def _containers(name: str) -> list[dict[str, Any]]:
    rows = podman.json_out(["ps", "--all", "--format", "json", "--filter", f"label={LABEL}={name}"])
    return [dict(r) for r in rows]


def up(
    name: str,
    directory: Path,
    *,
    nodes: int = 3,
    control_planes: int = 1,
    extra_packages: Iterable[str] = (),
    subnet: str | None = None,
    outbound: bool = False,
    kubernetes: bool = False,
    timeout: float = 180,
    log: Log = _quiet,
) -> SandboxInfo:
    """Bring the sandbox to N running hosts and write its files; safe to run again.

    kubernetes: hosts get the Kubernetes host profile (sandbox/profile.py).
    """
    lay = layout(name, directory)
    specs = node_specs(nodes, control_planes)
    if subnet:
        subnet = check_subnet(subnet, nodes)
    spec = image.spec_for(extra_packages, kubernetes=kubernetes)
    kept = _edited_cluster_file(lay)
    foreign = lay.cluster_file.exists() and not lay.cluster_file.read_text().startswith(
        clusterfile.MARKER
    )
    if foreign and not kept:
        clusterfile.write(lay, specs, "0.0.0.0/32")  # raises InvalidInput, nothing touched yet
    podman.podman_path()  # missing podman is named before anything else
    _require_root()
    orphaned = _check_owner(lay)
    if orphaned:
        log(f"removing sandbox {lay.name!r} left by {orphaned}, which no longer exists")
        _remove_objects(lay, log)
    tag, built = image.ensure(spec, log)
    if built:
        log(f"built image {tag}")
    net = _ensure_network(lay, subnet, outbound, log)
    check_subnet(net, nodes)
    wanted = {s.name for s in specs}
    for row in _containers(lay.name):
        node = (row.get("Labels") or {}).get(NODE_LABEL, "")
        if node not in wanted:
            log(f"removing {node} (not in the requested size)")
            _remove_host(lay, node)
    client = keys.ensure_key(lay.key, f"k8s-install-sandbox-{lay.name}")
    hosts_file = hostfiles.hosts_file(lay, specs, net)
    hosts: list[HostInfo] = []
    known: list[str] = []
    existing = {(r.get("Labels") or {}).get(NODE_LABEL, ""): r for r in _containers(lay.name)}
    for s in specs:
        host = HostInfo(s.name, lay.container(s.name), address(net, s.index), list(s.roles))
        current = existing.get(s.name)
        if current is not None and current.get("State") in ("created", "configured"):
            # Never started: an earlier `up` stopped between create and start. Start afresh.
            _remove_host(lay, s.name)
            current = None
        if current is None:
            log(f"starting {host.container} at {host.address}")
            _create_host(lay, s, net, spec, hostfiles.host_files(lay, s, client, hosts_file))
            podman.run(["start", host.container])
        else:
            if current.get("Image") not in (tag, tag.removeprefix("localhost/")):
                log(
                    f"{s.name} keeps image {current.get('Image')}, not {tag}: "
                    "`sandbox down` then `up` to switch"
                )
            if current.get("State") != "running":
                log(f"starting {host.container} again")
                podman.run(["start", host.container])
        host.state = "running"
        pub = keys.ensure_key(lay.host_key(s.name), f"root@{s.name}").public_line
        known.append(keys.known_hosts_line([s.name, host.address], pub))
        hosts.append(host)
    keys.write_known_hosts(lay.known_hosts, known)
    br = _ensure_bridge(lay, log)
    ready.wait_ready(lay, hosts, timeout, log, br)
    if kept:
        log(f"{lay.cluster_file} changed since `sandbox up` wrote it: kept as it is")
        written = kept
    else:
        written = clusterfile.write(lay, specs, net, kubernetes)
    _save_state(
        lay,
        {
            "image": tag,
            "subnet": net,
            "nodes": [s.name for s in specs],
            "kubernetes": kubernetes,
            "cluster_digest": written,
        },
    )
    return _info(lay, net, tag, hosts)


def _edited_cluster_file(lay: Layout) -> str:
    """The digest `up` recorded for cluster.yaml, when the file has changed since `up` wrote
    it (a cluster repo built on the sandbox): it is kept. Empty otherwise."""
    recorded = str(_load_state(lay).get("cluster_digest") or "")
    if not recorded or not lay.cluster_file.is_file():
        return ""
    return recorded if clusterfile.digest(lay.cluster_file.read_text()) != recorded else ""


def _info(lay: Layout, subnet: str, tag: str, hosts: list[HostInfo]) -> SandboxInfo:
    return SandboxInfo(
        name=lay.name,
        directory=str(lay.directory),
        network=lay.network,
        subnet=subnet,
        image=tag,
        cluster_file=str(lay.cluster_file),
        ssh_key=str(lay.key),
        known_hosts=str(lay.known_hosts),
        user=image.USER,
        hosts=hosts,
    )


def _save_state(lay: Layout, data: dict[str, Any]) -> None:
    lay.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lay.state_file.write_text(json.dumps({"name": lay.name, **data}, indent=2) + "\n")


def _load_state(lay: Layout) -> dict[str, Any]:
    try:
        return dict(json.loads(lay.state_file.read_text()))
    except (OSError, ValueError):
        return {}


def status(name: str, directory: Path) -> SandboxInfo | None:
    """What exists of the sandbox now; None when nothing does."""
    lay = layout(name, directory)
    podman.podman_path()
    net = _network_info(lay.network)
    rows = _containers(lay.name)
    if net is None and not rows:
        return None
    subnet = str(net["subnets"][0]["subnet"]) if net else ""
    state = _load_state(lay)
    hosts = []
    for row in sorted(rows, key=lambda r: str((r.get("Labels") or {}).get(NODE_LABEL, ""))):
        node = str((row.get("Labels") or {}).get(NODE_LABEL, ""))
        networks = row.get("Networks") or []
        host = HostInfo(node, lay.container(node), "", [], state=str(row.get("State", "")))
        host.roles = ["control-plane", "etcd"] if node.startswith("cp") else ["worker"]
        planned = [str(n) for n in state.get("nodes", [])]
        if subnet and node in planned:  # the fixed address, also while stopped
            host.address = address(subnet, planned.index(node))
        elif subnet and networks:
            host.address = _container_address(host.container, lay.network)
        if host.state == "running":
            host.system, host.failed_units = ready.system_state(host.container)
        hosts.append(host)
    return _info(lay, subnet, str(state.get("image", "")), hosts)


def _container_address(container: str, network: str) -> str:
    data = podman.json_out(["container", "inspect", container])
    nets = data[0].get("NetworkSettings", {}).get("Networks", {}) if data else {}
    return str(nets.get(network, {}).get("IPAddress", ""))


def _remove_host(lay: Layout, node: str) -> None:
    podman.run(["rm", "--force", "--time", "5", lay.container(node)], check=False)
    podman.run(["volume", "rm", "--force", lay.volume(node)], check=False)
    shutil.rmtree(lay.host_key(node).parent, ignore_errors=True)


def _remove_objects(lay: Layout, log: Log = _quiet) -> dict[str, Any]:
    """Remove the sandbox's podman objects (containers, volumes, network), found by label."""
    removed: dict[str, Any] = {"containers": [], "volumes": [], "network": None}
    for row in _containers(lay.name):
        node = str((row.get("Labels") or {}).get(NODE_LABEL, ""))
        log(f"removing {lay.container(node)}")
        _remove_host(lay, node)
        removed["containers"].append(lay.container(node))
        removed["volumes"].append(lay.volume(node))
    for vol in podman.json_out(
        ["volume", "ls", "--format", "json", "--filter", f"label={LABEL}={lay.name}"]
    ):
        podman.run(["volume", "rm", "--force", str(vol["Name"])], check=False)
        removed["volumes"].append(str(vol["Name"]))
    if podman.exists("network", lay.network):
        podman.run(["network", "rm", "--force", lay.network])
        removed["network"] = lay.network
    return removed


def down(name: str, directory: Path, log: Log = _quiet) -> dict[str, Any]:
    """Remove containers, volumes, network, keys (and cluster.yaml if unchanged). Keeps images."""
    lay = layout(name, directory)
    podman.podman_path()
    _check_owner(lay)
    removed = {**_remove_objects(lay, log), "state_dir": None, "cluster_file": None}
    state = _load_state(lay)
    if state.get("cluster_digest") and clusterfile.remove_if_unchanged(
        lay.cluster_file, str(state["cluster_digest"])
    ):
        removed["cluster_file"] = str(lay.cluster_file)
    if lay.state_dir.exists():
        shutil.rmtree(lay.state_dir)
        removed["state_dir"] = str(lay.state_dir)
        with contextlib.suppress(OSError):
            lay.state_dir.parent.rmdir()  # .sandbox/, when no other sandbox lives there
    return removed


def sandboxes() -> list[tuple[str, Path]]:
    """Every sandbox on this machine as (name, directory), from the labels podman keeps."""
    podman.podman_path()
    found: dict[str, Path] = {}
    for net in podman.json_out(["network", "ls", "--format", "json"]):
        labels = net.get("labels") or {}
        if LABEL in labels:
            found[str(labels[LABEL])] = Path(str(labels.get(DIR_LABEL, ".")))
    for row in _containers_labelled():
        labels = row.get("Labels") or {}
        found.setdefault(str(labels[LABEL]), Path(str(labels.get(DIR_LABEL, "."))))
    return sorted(found.items())


def _containers_labelled() -> list[dict[str, Any]]:
    rows = podman.json_out(["ps", "--all", "--format", "json", "--filter", f"label={LABEL}"])
    return [dict(r) for r in rows]
