"""Where an offline bundle keeps the engine release, and how it is checked before use."""

from __future__ import annotations

import tarfile
from pathlib import Path

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import manifest as mf
from k8s_install.bundle import sign
from k8s_install.model.config import Cluster

EXTRACT_DIR = Path(".k8s-install") / "bundle"


def bundle_path(cluster: Cluster) -> Path | None:
    offline = cluster.section("offline")
    if not offline.get("enabled") or not offline.get("bundle"):
        return None
    path = Path(str(offline["bundle"])).expanduser()
    return path if path.is_absolute() else cluster.root / path


def public_key(cluster: Cluster) -> Path | None:
    value = cluster.section("offline").get("public_key")
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else cluster.root / path


def _missing(path: Path) -> K8sInstallError:
    return K8sInstallError(
        f"offline.bundle: {path} does not exist",
        fix="copy the bundle there, or correct offline.bundle in cluster.yaml",
        code=ExitCode.INVALID_INPUT,
    )


def engine_archive(cluster: Cluster) -> Path | None:
    """The engine tarball inside the cluster's offline bundle, or None without a bundle.

    The manifest signature is checked when offline.public_key is set; the tarball's own sha256
    is checked again by the engine against its pin.
    """
    bundle = bundle_path(cluster)
    if bundle is None:
        return None
    if bundle.is_dir():
        raw = (bundle / mf.MANIFEST).read_bytes() if (bundle / mf.MANIFEST).is_file() else b""
        signature = (
            (bundle / mf.SIGNATURE).read_bytes() if (bundle / mf.SIGNATURE).is_file() else b""
        )
        manifest = mf.from_bytes(raw, str(bundle / mf.MANIFEST))
        check_signature(cluster, raw, signature, bundle)
        engines = [i for i in manifest.items if i.kind == "engine"]
        return bundle / engines[0].paths[0] if engines else None
    if not bundle.is_file():
        raise _missing(bundle)
    return _extract_engine(cluster, bundle)


def check_signature(cluster: Cluster, raw: bytes, signature: bytes, bundle: Path) -> None:
    """The manifest against offline.public_key (nothing to check when no key is set)."""
    key = public_key(cluster)
    if key is not None and not sign.is_valid(raw, signature, key):
        raise K8sInstallError(
            f"{bundle}: the manifest signature does not match offline.public_key",
            fix="run `k8s-install bundle verify` and use a bundle signed with that key",
            code=ExitCode.INVALID_INPUT,  # nothing has run on any host
        )


def _extract_engine(cluster: Cluster, archive: Path) -> Path | None:
    with tarfile.open(archive) as tar:
        meta = {}
        for name in mf.META_FILES:
            handle = tar.extractfile(name)
            meta[name] = handle.read() if handle else b""
        check_signature(cluster, meta[mf.MANIFEST], meta[mf.SIGNATURE], archive)
        manifest = mf.from_bytes(meta[mf.MANIFEST], str(archive))
        engines = [i for i in manifest.items if i.kind == "engine"]
        if not engines:
            return None
        target = cluster.root / EXTRACT_DIR
        tar.extract(engines[0].paths[0], target, filter="data")
        return target / engines[0].paths[0]
