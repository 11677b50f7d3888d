"""Serve a verified bundle on offline.repo_host: the offline_repo playbook, then the image push."""

from __future__ import annotations

import shutil
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from k8s_install.ansible import actions, offline_repo, runner
from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import build, engine_source, oci, tls
from k8s_install.bundle import manifest as mf
from k8s_install.model.config import Cluster

UNPACK_DIR = Path(".k8s-install") / "offline" / "bundle"


def bundle_dir(cluster: Cluster, bundle: Path | None, *, fresh: bool = False) -> Path:
    """The unpacked bundle: the directory itself, or a .tar extracted under .k8s-install/.

    An earlier extraction of the same .tar is reused unless `fresh`.
    """
    path = bundle or engine_source.bundle_path(cluster)
    if path is None:
        raise K8sInstallError(
            "no bundle: offline.bundle is unset and --bundle was not given",
            fix="set offline.enabled and offline.bundle in cluster.yaml, or pass --bundle",
            code=ExitCode.INVALID_INPUT,
        )
    if path.is_dir():
        return path
    if not path.is_file():
        raise K8sInstallError(
            f"{path}: no such bundle",
            code=ExitCode.INVALID_INPUT,
            fix="give the bundle directory or .tar",
        )
    target = cluster.root / UNPACK_DIR / path.stem
    manifest = target / mf.MANIFEST
    if not fresh and manifest.is_file() and manifest.read_bytes() == tar_manifest(path):
        return target
    shutil.rmtree(target, ignore_errors=True)
    return build.unpack(path, target)


def is_extracted(cluster: Cluster, unpacked: Path) -> bool:
    return unpacked.parent == cluster.root / UNPACK_DIR


def tar_manifest(archive: Path) -> bytes:
    import tarfile

    with tarfile.open(archive) as tar:
        handle = tar.extractfile(mf.MANIFEST)
        return handle.read() if handle else b""


def tls_names(cluster: Cluster) -> list[str]:
    address = offline_repo.repo_address(cluster)
    host = str(cluster.section("offline").get("repo_host"))
    return list(dict.fromkeys([address, host]))


def run_request(cluster: Cluster, unpacked: Path, paths: tls.Paths) -> runner.RunRequest:
    host = str(cluster.section("offline")["repo_host"])
    repo_node = next((n.name for n in cluster.nodes if host in (n.name, n.address)), host)
    return actions.request(
        cluster,
        "bundle_serve",
        "bundle serve",
        extravars={
            "k8s_install_offline_repo_host": repo_node,
            "offline_repo_bundle_dir": str(unpacked.resolve()),
            "offline_repo_tls_dir": str(paths.directory.resolve()),
            "registry_trust_ca_file": str(paths.ca_cert.resolve()),
            "offline_repo_push_from": [control_address(cluster)],
        },
    )


def control_address(cluster: Cluster) -> str:
    """This machine's address on the route to the repo host: the one allowed to push images."""
    target = offline_repo.repo_address(cluster)
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((target, int(cluster.section("offline")["registry_port"])))
        except OSError as exc:
            raise K8sInstallError(
                f"no route to offline.repo_host {target}: {exc}",
                fix="check the repo host's address and this machine's network",
                code=ExitCode.UNREACHABLE,
            ) from exc
        return str(probe.getsockname()[0])


def push_images(
    cluster: Cluster, unpacked: Path, paths: tls.Paths, log: Callable[[str], None]
) -> list[str]:
    layout = unpacked / mf.IMAGES_DIR
    if not (layout / "index.json").is_file():
        return []
    context = ssl.create_default_context(cafile=str(paths.ca_cert))
    url = f"https://{offline_repo.registry_host(cluster)}"
    pushed = []
    for name in oci.push(layout, url, context=context):
        log(f"pushed {name}")
        pushed.append(name)
    return pushed
