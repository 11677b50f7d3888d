"""The engine's checksum variables from the offline bundle's signed manifest.

The inventory (ansible/inventory.py) cannot read a bundle: it is a layer below. So every command
that writes the inventory loads its cluster through `attach`, which reads only manifest.json
(and its signature) from offline.bundle, a directory or a .tar, bounded in size, and puts
{engine variable: "sha256:<hex>"} on the cluster; ansible/offline_repo.py writes them into
20-offline.yml. Planning a bundle (bundle/download_list.py) resolves the engine without them:
a plan names upstream's checksums.
"""

from __future__ import annotations

import dataclasses
import os
import tarfile
from pathlib import Path

from k8s_install.ansible import offline_repo
from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import engine_source
from k8s_install.bundle import manifest as mf
from k8s_install.model.config import Cluster

# A manifest lists every file of the bundle; 64 MiB is hundreds of thousands of files.
MAX_MANIFEST = 64 << 20


def _too_big(where: str, size: int) -> K8sInstallError:
    return K8sInstallError(
        f"{where}: {size} bytes, larger than any bundle manifest ({MAX_MANIFEST})",
        fix="point offline.bundle at a bundle made by `k8s-install bundle build`",
        code=ExitCode.INVALID_INPUT,
    )


def read_meta(bundle: Path) -> tuple[bytes, bytes]:
    """(manifest.json, manifest.json.sig) of a bundle directory or .tar; b"" for a missing sig.

    A .tar is read only up to its first member that is neither: the builder writes both first.
    """
    if bundle.is_dir():
        path = bundle / mf.MANIFEST
        sig = bundle / mf.SIGNATURE
        for meta_path in (path, sig):
            if meta_path.is_symlink():  # as `bundle verify`: never read through a link
                raise K8sInstallError(
                    f"{meta_path} -> {os.readlink(meta_path)}: a link, refused in a bundle",
                    fix="point offline.bundle at a bundle made by `k8s-install bundle build`",
                    code=ExitCode.INVALID_INPUT,
                )
        if not path.is_file():
            raise K8sInstallError(
                f"{path}: no manifest",
                fix="point offline.bundle at a bundle made by `k8s-install bundle build`",
                code=ExitCode.INVALID_INPUT,
            )
        if path.stat().st_size > MAX_MANIFEST:
            raise _too_big(str(path), path.stat().st_size)
        if not sig.is_file():
            return path.read_bytes(), b""
        with sig.open("rb") as handle:
            return path.read_bytes(), handle.read(MAX_MANIFEST)
    if not bundle.is_file():
        raise K8sInstallError(
            f"offline.bundle: {bundle} does not exist",
            fix="copy the bundle there, or correct offline.bundle in cluster.yaml",
            code=ExitCode.INVALID_INPUT,
        )
    meta: dict[str, bytes] = {}
    try:
        with tarfile.open(bundle, "r:") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name not in mf.META_FILES or not member.isfile():
                    break
                if member.size > MAX_MANIFEST:
                    raise _too_big(f"{bundle}: {name}", member.size)
                member_file = tar.extractfile(member)
                meta[name] = member_file.read() if member_file else b""
    except (OSError, tarfile.TarError) as exc:
        raise K8sInstallError(
            f"{bundle}: cannot read the archive ({exc})", code=ExitCode.INVALID_INPUT
        ) from exc
    if mf.MANIFEST not in meta:
        raise K8sInstallError(
            f"{bundle}: {mf.MANIFEST} is not among the first members of the archive",
            fix="point offline.bundle at a .tar made by `k8s-install bundle build`",
            code=ExitCode.INVALID_INPUT,
        )
    return meta[mf.MANIFEST], meta.get(mf.SIGNATURE, b"")


def file_sha256(manifest: mf.Manifest) -> dict[str, str]:
    """Download name -> the sha256 of its file in the bundle, for every file item."""
    result = {}
    for item in manifest.items:
        if item.kind != "file":
            continue
        entry = manifest.files.get(item.paths[0]) if item.paths else None
        if entry is not None and entry.sha256 != item.sha256:
            raise K8sInstallError(
                f"{mf.MANIFEST}: item {item.name} says sha256 {item.sha256}, "
                f"its file {item.paths[0]} {entry.sha256}",
                fix="rebuild the bundle with `k8s-install bundle build`",
                code=ExitCode.INVALID_INPUT,
            )
        result[item.name] = item.sha256
    return result


def for_cluster(cluster: Cluster) -> dict[str, str]:
    """{engine variable: "sha256:<hex>"} from offline.bundle; {} without an offline bundle.

    The signature is checked when offline.public_key is set (`up` verifies every file too).
    """
    bundle = engine_source.bundle_path(cluster)
    if bundle is None:
        return {}
    raw, signature = read_meta(bundle)
    engine_source.check_signature(cluster, raw, signature, bundle)
    return offline_repo.checksum_vars(file_sha256(mf.from_bytes(raw, str(bundle))))


def attach(cluster: Cluster) -> Cluster:
    """The cluster with its offline checksums, as every inventory writer must see it."""
    return dataclasses.replace(cluster, offline_checksums=for_cluster(cluster))
