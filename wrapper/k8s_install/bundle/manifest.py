"""The bundle manifest: every item (what it is, where it came from) and every file (sha256, size).

The manifest is written as canonical JSON (sorted keys, no spaces); those exact bytes are what
the detached ed25519 signature covers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from k8s_install.base.errors import ExitCode, K8sInstallError

FORMAT = "k8s-install-bundle/v1"
LOCAL_SOURCE = "local:"  # the source of an item taken from --local-files or --local-images
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
META_FILES = frozenset({MANIFEST, SIGNATURE})

# Directories inside a bundle.
ENGINE_DIR = "engine"
FILES_DIR = "files"
IMAGES_DIR = "images"
CHARTS_DIR = "charts"
WHEELS_DIR = "wheels"
PACKAGES_DIR = "packages"
SBOM = "sbom.spdx.json"


@dataclass(frozen=True)
class Item:
    """One logical thing in the bundle: a binary, an image, a chart, a wheel."""

    kind: str  # engine | file | image | chart | wheel | package
    name: str
    version: str
    source: str
    sha256: str  # of the bytes in the bundle; for an image: the manifest digest (hex)
    size: int  # for an image: manifest + config + layers
    paths: tuple[str, ...] = ()
    # A local build that replaced a planned download: what the plan named instead (its URL and
    # the sha256 upstream declares). Empty for everything downloaded or pulled.
    upstream_url: str = ""
    upstream_sha256: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def is_local(self) -> bool:
        return self.source.startswith(LOCAL_SOURCE)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paths"] = list(self.paths)
        for optional in ("upstream_url", "upstream_sha256"):
            if not data[optional]:
                del data[optional]  # manifests without local builds keep their old bytes
        return data


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int
    in_base: bool = False  # an incremental bundle leaves this file to its base


@dataclass
class Manifest:
    name: str
    created: str
    metadata: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    files: dict[str, FileEntry] = field(default_factory=dict)
    base: dict[str, Any] | None = None

    def to_bytes(self) -> bytes:
        return canonical(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "created": self.created,
            "metadata": self.metadata,
            "items": [i.as_dict() for i in sorted(self.items, key=lambda i: (i.kind, i.name))],
            "files": {path: _file_dict(entry) for path, entry in sorted(self.files.items())},
        }
        if self.base is not None:
            data["base"] = self.base
        return data

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def item_map(self) -> dict[str, Item]:
        return {i.key: i for i in self.items}

    @property
    def total_size(self) -> int:
        """Bytes of every file the bundle (with its base) carries."""
        return sum(e.size for e in self.files.values())

    @property
    def own_size(self) -> int:
        """Bytes this bundle itself carries (not counting files left to the base)."""
        return sum(e.size for e in self.files.values() if not e.in_base)


def _file_dict(entry: FileEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"sha256": entry.sha256, "size": entry.size}
    if entry.in_base:
        data["in_base"] = True
    return data


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def from_bytes(raw: bytes, where: str = MANIFEST) -> Manifest:
    """Parse manifest bytes; a malformed manifest is bad input (exit 2)."""
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
        return Manifest(
            name=str(data["name"]),
            created=str(data["created"]),
            metadata=dict(data["metadata"]),
            items=[Item(**{**i, "paths": tuple(i.get("paths", ()))}) for i in data["items"]],
            files={
                str(p): FileEntry(str(f["sha256"]), int(f["size"]), bool(f.get("in_base")))
                for p, f in data["files"].items()
            },
            base=data.get("base"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise K8sInstallError(
            f"{where}: not a k8s-install bundle manifest ({exc})",
            fix="point at a directory or .tar made by `k8s-install bundle build`",
            code=ExitCode.INVALID_INPUT,
        ) from exc


def load(bundle_dir: Path) -> Manifest:
    path = bundle_dir / MANIFEST
    if not path.is_file():
        raise K8sInstallError(
            f"{path}: no manifest",
            fix="point at a directory or .tar made by `k8s-install bundle build`",
            code=ExitCode.INVALID_INPUT,
        )
    return from_bytes(path.read_bytes(), str(path))
