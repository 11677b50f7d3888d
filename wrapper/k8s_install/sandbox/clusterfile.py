"""The cluster.yaml a sandbox writes: its hosts, roles, key and known_hosts."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Any

import yaml

from k8s_install.base import resources
from k8s_install.base.errors import InvalidInput, Problem
from k8s_install.model.engine_releases import DEFAULT_RELEASE
from k8s_install.sandbox import profile
from k8s_install.sandbox.layout import Layout, NodeSpec, address

ENGINE_RELEASE = DEFAULT_RELEASE
MARKER = "# Written by `k8s-install sandbox up`"
# (pod_cidr, service_cidr) pairs; the first that does not overlap the podman subnet is used.
_CIDRS = [
    ("10.233.64.0/18", "10.233.0.0/18"),
    ("172.30.64.0/18", "172.30.0.0/18"),
    ("192.168.64.0/18", "192.168.0.0/18"),
]


def kubernetes_version() -> str:
    """The newest Kubernetes version the pinned engine supports."""
    data = json.loads(
        (resources.data_dir("data") / "engines" / f"{ENGINE_RELEASE}.json").read_text()
    )
    return str(data["kubernetes_versions"][0])


def cidrs_for(subnet: str) -> tuple[str, str]:
    host_net = ipaddress.ip_network(subnet)
    for pod, service in _CIDRS:
        if not (
            host_net.overlaps(ipaddress.ip_network(pod))
            or host_net.overlaps(ipaddress.ip_network(service))
        ):
            return pod, service
    raise InvalidInput(
        f"no pod/service CIDR pair avoids the sandbox subnet {subnet}",
        [
            Problem(
                "--subnet",
                "overlaps every candidate cluster network",
                "pick a subnet outside 10.233/16, 172.30/16, 192.168/16",
            )
        ],
    )


def document(
    lay: Layout, specs: list[NodeSpec], subnet: str, kubernetes: bool = False
) -> dict[str, Any]:
    pod, service = cidrs_for(subnet)
    doc: dict[str, Any] = {
        "name": lay.name,
        "kubernetes": {"version": kubernetes_version()},
        "engine": {"release": ENGINE_RELEASE},
        "nodes": [
            {"name": s.name, "address": address(subnet, s.index), "roles": list(s.roles)}
            for s in specs
        ],
        "network": {
            "plugin": "bridge" if kubernetes else "calico",
            "pod_cidr": pod,
            "service_cidr": service,
            "node_prefix": 24,
        },
        "access": {
            "user": "debian",
            "port": 22,
            # Relative to this file's directory, so the directory can move.
            "ssh_key": str(lay.key.relative_to(lay.directory)),
            "known_hosts": str(lay.known_hosts.relative_to(lay.directory)),
            "become": True,
        },
    }
    if kubernetes:
        doc["kubespray"] = dict(profile.KUBESPRAY_VARS)
    return doc


def render(lay: Layout, specs: list[NodeSpec], subnet: str, kubernetes: bool = False) -> str:
    header = (
        f"{MARKER} (sandbox {lay.name!r}): podman hosts on network\n"
        f"# {lay.network} ({subnet}). `k8s-install sandbox down --name {lay.name}` removes them.\n"
    )
    body = yaml.safe_dump(document(lay, specs, subnet, kubernetes), sort_keys=False)
    return header + body


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write(lay: Layout, specs: list[NodeSpec], subnet: str, kubernetes: bool = False) -> str:
    """Write DIR/cluster.yaml (refusing to overwrite one the sandbox did not write)."""
    path = lay.cluster_file
    if path.exists() and not path.read_text().startswith(MARKER):
        raise InvalidInput(
            f"{path} exists and was not written by `k8s-install sandbox up`",
            [
                Problem(
                    str(path),
                    "would be overwritten",
                    "use --dir to put the sandbox in another directory, or move the file",
                )
            ],
        )
    text = render(lay, specs, subnet, kubernetes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return digest(text)


def remove_if_unchanged(path: Path, written_digest: str) -> bool:
    """Remove cluster.yaml when it is still exactly what `up` wrote."""
    if path.is_file() and digest(path.read_text()) == written_digest:
        path.unlink()
        return True
    return False
