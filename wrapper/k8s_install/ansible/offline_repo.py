"""The engine's offline variables, set from cluster.yaml's offline: section (bundle work).

Every download base URL points at the file server on offline.repo_host (HTTPS, the bundle's CA)
and every image repository at its registry. containerd trusts that registry through the CA, and
the well-known upstream registries are mirrored to it, so an image named upstream (a pause or
helper image) is still pulled from the bundle. Nothing here turns verification off.
"""

from __future__ import annotations

from typing import Any

from k8s_install.model.config import Cluster

UPSTREAM_REGISTRIES = ("registry.k8s.io", "docker.io", "quay.io", "ghcr.io", "gcr.io")
FILE_HOSTS = {
    "github_url": "github.com",
    "dl_k8s_io_url": "dl.k8s.io",
    "storage_googleapis_url": "storage.googleapis.com",
    "get_helm_url": "get.helm.sh",
}
IMAGE_REPOS = (
    "kube_image_repo",
    "gcr_image_repo",
    "github_image_repo",
    "docker_image_repo",
    "quay_image_repo",
)
CERTS_DIR = "/etc/containerd/certs.d"


def repo_address(cluster: Cluster) -> str:
    """The address nodes use to reach offline.repo_host (a node's internal address, or as given)."""
    host = str(cluster.section("offline").get("repo_host", ""))
    for node in cluster.nodes:
        if host in (node.name, node.address):
            return node.ip
    return host


def registry_host(cluster: Cluster) -> str:
    return f"{repo_address(cluster)}:{cluster.section('offline')['registry_port']}"


def files_repo(cluster: Cluster) -> str:
    return f"https://{repo_address(cluster)}:{cluster.section('offline')['files_port']}"


def ca_path(cluster: Cluster) -> str:
    return f"{CERTS_DIR}/{registry_host(cluster)}/ca.crt"


def containerd_mirrors(cluster: Cluster) -> list[dict[str, Any]]:
    registry = registry_host(cluster)
    mirror = {
        "host": f"https://{registry}",
        "capabilities": ["pull", "resolve"],
        "ca": ca_path(cluster),
    }
    result = [{"prefix": registry, "mirrors": [mirror]}]
    for upstream in UPSTREAM_REGISTRIES:
        result.append({"prefix": upstream, "mirrors": [mirror]})
    return result


def group_vars(cluster: Cluster) -> dict[str, Any]:
    offline = cluster.section("offline")
    if not offline.get("enabled"):
        return {}
    result: dict[str, Any] = {
        "k8s_install_offline": True,
        "files_repo": files_repo(cluster),
        "registry_host": registry_host(cluster),
    }
    for var, host in FILE_HOSTS.items():
        result[var] = "{{ files_repo }}/" + host
    for var in IMAGE_REPOS:
        result[var] = "{{ registry_host }}"
    result["containerd_registries_mirrors"] = containerd_mirrors(cluster)
    result["download_validate_certs"] = True
    # The roles that serve the bundle and trust its CA (the playbook of the bundle_serve action).
    result["offline_repo_files_port"] = int(offline["files_port"])
    result["offline_repo_registry_port"] = int(offline["registry_port"])
    result["registry_trust_registry"] = registry_host(cluster)
    result["registry_trust_mirrored"] = list(UPSTREAM_REGISTRIES)
    return result
