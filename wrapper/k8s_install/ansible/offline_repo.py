"""The engine's offline variables, set from cluster.yaml's offline: section (bundle work).

Every download base URL points at the file server on offline.repo_host (HTTPS, the bundle's CA)
and every image repository at its registry. containerd trusts that registry through the CA, and
the well-known upstream registries are mirrored to it, so an image named upstream (a pause or
helper image) is still pulled from the bundle. Nothing here turns verification off.

The checksum of every binary comes from the bundle's signed manifest, not from the engine's
tables: CHECKSUM_VARS names the engine variable that carries each download's checksum, and the
values (cluster.offline_checksums, read from the manifest by bundle/offline_checksums.py) go
into 20-offline.yml. A bundle of local builds then installs as one of upstream's does. The
user's own `kubespray:` section (90-kubespray-overrides.yml, read later) still wins.
"""

from __future__ import annotations

from collections.abc import Mapping
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

# Download name (a key of the engine's `downloads`, the name of a bundle file item) -> the engine
# variables carrying its checksum: Kubespray v2.31.0,
# roles/kubespray_defaults/defaults/main/download.yml lines 183-206. containerd's file is the
# static or the dynamic archive as containerd_static_binary says, and containerd_checksum picks
# one of two variables: both are set, since the bundle holds whichever file the plan named.
# Downloads missing here (calico_crds, gateway_api_crds, prometheus_operator_crds) take their
# checksum straight from the engine's tables, with no variable to override.
CHECKSUM_VARS: dict[str, tuple[str, ...]] = {
    "kubelet": ("kubelet_binary_checksum",),
    "kubeadm": ("kubeadm_binary_checksum",),
    "kubectl": ("kubectl_binary_checksum",),
    "etcd": ("etcd_binary_checksum",),
    "cni": ("cni_binary_checksum",),
    "crictl": ("crictl_binary_checksum",),
    "runc": ("runc_binary_checksum",),
    "containerd": ("containerd_archive_checksum", "containerd_static_archive_checksum"),
    "nerdctl": ("nerdctl_archive_checksum",),
    "helm": ("helm_archive_checksum",),
    "calicoctl": ("calicoctl_binary_checksum",),
    "ciliumcli": ("ciliumcli_binary_checksum",),
    "crun": ("crun_binary_checksum",),
    "crio": ("crio_archive_checksum",),
    "cri_dockerd": ("cri_dockerd_archive_checksum",),
    "skopeo": ("skopeo_binary_checksum",),
    "yq": ("yq_binary_checksum",),
    "youki": ("youki_archive_checksum",),
    "kata_containers": ("kata_containers_binary_checksum",),
    "gvisor_runsc": ("gvisor_runsc_binary_checksum",),
    "gvisor_containerd_shim": ("gvisor_containerd_shim_binary_checksum",),
    "argocd_install": ("argocd_install_checksum",),
}


def checksum_vars(file_sha256: Mapping[str, str]) -> dict[str, str]:
    """{download name: sha256 hex} -> {engine variable: "sha256:<hex>"}, in the engine's format.

    Names without a variable are left out (see CHECKSUM_VARS).
    """
    result = {}
    for name, sha256 in sorted(file_sha256.items()):
        for var in CHECKSUM_VARS.get(name, ()):
            result[var] = f"sha256:{sha256}"
    return result


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
    # Every binary's checksum, from the bundle's manifest (see CHECKSUM_VARS).
    result.update(sorted(cluster.offline_checksums.items()))
    return result
