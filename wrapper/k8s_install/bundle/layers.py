"""Image layers: deterministic gzip'd tars, from in-memory entries or a directory on disk.

The same entries always give the same bytes, so the same digest: entries are sorted by path,
every mtime is 0, owners are numeric (0 unless a tree keeps its owners), and the gzip header
carries no name and no time. Missing parent directories are added (mode 0755). Files are
streamed from disk, so a 100 MB binary is never held in memory. Nothing here knows about OCI
layouts: `oci.write_layer` puts the result into one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Literal

from k8s_install.base.errors import K8sInstallError

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

Kind = Literal["file", "dir", "symlink", "hardlink"]
# gzip's own default: level 9 costs twice the time for about 1% less.
COMPRESS_LEVEL = 6


class LayerError(K8sInstallError):
    pass


@dataclass(frozen=True)
class Entry:
    """One tar member. `path` is relative to the image root ("usr/local/bin/kube-proxy").

    A file's content is `data`, or the file at `source` when set. `target` is where a
    symlink points, or the entry path a hard link shares its content with.
    """

    path: str
    kind: Kind = "file"
    mode: int = 0o644
    data: bytes = b""
    source: Path | None = None
    target: str = ""
    uid: int = 0
    gid: int = 0


def file(path: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(_clean(path), "file", mode, data=data)


def file_from(path: str, source: Path, mode: int | None = None) -> Entry:
    """A file whose content is read from `source` when the layer is written."""
    if mode is None:
        mode = stat.S_IMODE(source.stat().st_mode)
    return Entry(_clean(path), "file", mode, source=source)


def directory(path: str, mode: int = 0o755) -> Entry:
    return Entry(_clean(path), "dir", mode)


def symlink(path: str, target: str) -> Entry:
    return Entry(_clean(path), "symlink", 0o777, target=target)


def _clean(path: str) -> str:
    """'/usr//bin/' -> 'usr/bin'; rejects '..', and the root itself."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("/", ".")]
    if not parts or ".." in parts:
        raise LayerError(f"layer path {path!r} is not a path inside the image")
    return "/".join(parts)


def tree_entries(root: Path, prefix: str = "", *, keep_owners: bool = False) -> list[Entry]:
    """Every directory, file, symlink and hard link under `root`, placed under `prefix`.

    Modes are the files' own (setuid bits included). Owners are 0:0, or the numeric owners on
    disk with keep_owners (a root file system built as root). Of several hard links to one
    file, the first in layer order carries the content. Device nodes, FIFOs and sockets are
    refused: a container runtime provides /dev.
    """
    base = _clean(prefix).split("/") if prefix.strip("/") else []
    found: list[tuple[list[str], Path]] = []
    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        for name in [*dirnames, *filenames]:
            found.append(([*base, *(here / name).relative_to(root).parts], here / name))
    entries = [Entry("/".join(base[: n + 1]), "dir", 0o755) for n in range(len(base))]
    first_path: dict[tuple[int, int], str] = {}
    for parts, path in sorted(found, key=lambda item: item[0]):
        relative = "/".join(parts)
        info = path.lstat()
        uid, gid = (info.st_uid, info.st_gid) if keep_owners else (0, 0)
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            entries.append(
                Entry(relative, "symlink", 0o777, target=os.readlink(path), uid=uid, gid=gid)
            )
        elif stat.S_ISDIR(info.st_mode):
            entries.append(Entry(relative, "dir", mode, uid=uid, gid=gid))
        elif stat.S_ISREG(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in first_path:
                entries.append(
                    Entry(relative, "hardlink", mode, target=first_path[key], uid=uid, gid=gid)
                )
                continue
            if info.st_nlink > 1:
                first_path[key] = relative
            entries.append(Entry(relative, "file", mode, source=path, uid=uid, gid=gid))
        else:
            raise LayerError(
                f"{path} is a device, FIFO or socket, which a layer does not carry",
                fix="remove it from the tree (the container runtime provides /dev)",
            )
    return entries


def _sort_key(entry: Entry) -> list[str]:
    return entry.path.split("/")  # parents before children, siblings by name


def normalise(entries: Iterable[Entry]) -> list[Entry]:
    """Sorted, with missing parent directories added; duplicate paths are an error.

    A hard link must come after its target in that order (tar extracts in order).
    """
    by_path: dict[str, Entry] = {}
    for entry in entries:
        if entry.path in by_path:
            raise LayerError(f"{entry.path} is in the layer twice")
        by_path[entry.path] = entry
    for path in list(by_path):
        parts = path.split("/")
        for n in range(1, len(parts)):
            parent = "/".join(parts[:n])
            if parent not in by_path:
                by_path[parent] = Entry(parent, "dir", 0o755)
            elif by_path[parent].kind != "dir":
                raise LayerError(f"{parent} is a {by_path[parent].kind}, yet {path} is under it")
    ordered = sorted(by_path.values(), key=_sort_key)
    seen: set[str] = set()
    for entry in ordered:
        if entry.kind == "hardlink" and entry.target not in seen:
            raise LayerError(f"hard link {entry.path} comes before its target {entry.target}")
        seen.add(entry.path)
    return ordered


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
}


def _tarinfo(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path + "/" if entry.kind == "dir" else entry.path)
    info.type = _TYPES[entry.kind]
    info.mode = entry.mode
    info.mtime = 0
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    if entry.kind in ("symlink", "hardlink"):
        info.linkname = entry.target
    elif entry.kind == "file":
        info.size = entry.source.stat().st_size if entry.source else len(entry.data)
    return info


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through it to `sink`."""

    def __init__(self, sink: BinaryIO | gzip.GzipFile) -> None:
        super().__init__()
        self.sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += view.nbytes
        self.sink.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.size


@dataclass(frozen=True)
class LayerFile:
    """A written layer: the gzip'd tar at `path`, its digest and size, and its diff_id."""

    path: Path
    digest: str
    size: int
    diff_id: str


def write_layer_file(entries: Iterable[Entry], into: Path) -> LayerFile:
    """Write the layer to a new file in the directory `into`; the caller moves or removes it."""
    ordered = normalise(entries)
    fd, name = tempfile.mkstemp(dir=into, prefix=".layer-")
    try:
        with os.fdopen(fd, "wb") as handle:
            compressed = _Hashing(handle)
            with gzip.GzipFile(
                filename="", mode="wb", compresslevel=COMPRESS_LEVEL, fileobj=compressed, mtime=0
            ) as gz:
                raw = _Hashing(gz)
                with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for entry in ordered:
                        _add(tar, entry)
        return LayerFile(
            Path(name),
            "sha256:" + compressed.sha256.hexdigest(),
            compressed.size,
            "sha256:" + raw.sha256.hexdigest(),
        )
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _add(tar: tarfile.TarFile, entry: Entry) -> None:
    info = _tarinfo(entry)
    if entry.kind != "file":
        tar.addfile(info)
    elif entry.source is not None:
        with entry.source.open("rb") as content:
            tar.addfile(info, content)
        if entry.source.stat().st_size != info.size:
            raise LayerError(f"{entry.source} changed size while it was written into a layer")
    else:
        tar.addfile(info, io.BytesIO(entry.data))
