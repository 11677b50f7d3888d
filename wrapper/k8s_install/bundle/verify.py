"""Verify a bundle: the signature first, then every file against the manifest.

A bundle holds regular files and directories only. Any link (symbolic or hard), device or FIFO
member, and any member whose name leaves the bundle, fails verification by name, and nothing is
ever read through it: a link could make a file outside the bundle pass as one inside it.

Files are hashed in parallel threads with 1 MiB reads; hashlib releases the GIL while it hashes,
so this runs at disk speed. A .tar bundle is streamed member by member.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import manifest as mf
from k8s_install.bundle import sign

CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    with path.open("rb", buffering=0) as handle:
        return sha256_stream(handle)


def sha256_stream(handle: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    while True:
        count = handle.readinto(view)  # type: ignore[attr-defined]
        if not count:
            break
        digest.update(view[:count])
        size += count
    return digest.hexdigest(), size


def hash_files(
    root: Path, relatives: Iterable[str], workers: int | None = None
) -> dict[str, tuple[str, int]]:
    """relative path -> (sha256, size), hashed in parallel."""
    names = list(relatives)
    workers = workers or min(16, max(2, (os.cpu_count() or 2) * 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda rel: sha256_file(root / rel), names)
        return dict(zip(names, results, strict=True))


@dataclass
class Report:
    bundle: str
    signature: str = "unchecked"  # ok | bad | unchecked
    flipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    from_base: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # refused members: links, devices, escapes
    kubernetes_version: str = ""  # from the signed manifest, once its signature checked out
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.signature == "ok" and not (
            self.flipped or self.missing or self.extra or self.links
        )

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "ok": self.ok,
            "signature": self.signature,
            "flipped": self.flipped,
            "missing": self.missing,
            "extra": self.extra,
            "from_base": self.from_base,
            "links": self.links,
            "files": self.files,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 1),
        }


def list_files(root: Path) -> list[str]:
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            found.append(str((Path(dirpath) / name).relative_to(root)))
    return found


def _refused_entry(path: Path, relative: str) -> str | None:
    """Why path may not be in a bundle directory (None: a plain file or directory)."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return f"{relative} -> {os.readlink(path)} (symbolic link)"
    if stat.S_ISREG(info.st_mode):
        return f"{relative} (hard link, {info.st_nlink} names)" if info.st_nlink > 1 else None
    if stat.S_ISDIR(info.st_mode):
        return None
    return f"{relative} (not a regular file)"


def refused_in_dir(root: Path) -> list[str]:
    """Every entry of a bundle directory that is not a plain file or directory, named."""
    refused = []
    for dirpath, dirs, names in os.walk(root):  # never follows a symlinked directory
        for name in [*dirs, *names]:
            path = Path(dirpath) / name
            reason = _refused_entry(path, str(path.relative_to(root)))
            if reason:
                refused.append(reason)
    return sorted(refused)


def _refused_member(member: tarfile.TarInfo, name: str) -> str | None:
    if member.issym():
        return f"{name} -> {member.linkname} (symbolic link)"
    if member.islnk():
        return f"{name} => {member.linkname} (hard link)"
    if not (member.isfile() or member.isdir()):
        return f"{name} (not a regular file)"
    if _escapes(name):
        return f"{name} (a path outside the bundle)"
    return None


def _escapes(name: str) -> bool:
    return name.startswith("/") or ".." in Path(name).parts


def _inside(base: Path, relative: str) -> Path | None:
    """base/relative, when it is a plain file reached through no link; else None."""
    if _escapes(relative):
        return None
    path = base
    for part in Path(relative).parts:
        path = path / part
        if path.is_symlink():
            return None
    return path if path.is_file() and path.stat().st_nlink == 1 else None


def _check_signature(raw: bytes, signature: bytes | None, key: Path, report: Report) -> None:
    if signature is None:
        report.signature = "bad"
        report.missing.append(mf.SIGNATURE)
        return
    report.signature = "ok" if sign.is_valid(raw, signature, key) else "bad"


def _compare(
    manifest: mf.Manifest, seen: dict[str, tuple[str, int]], base: Path | None, report: Report
) -> None:
    report.kubernetes_version = str(manifest.metadata.get("kubernetes_version") or "")
    for path, entry in sorted(manifest.files.items()):
        if entry.in_base and path not in seen:
            if base is None:
                report.from_base.append(path)
                continue
            if (base / path).is_symlink() or _escapes(path):
                report.links.append(f"{base / path} (a link or path outside the base bundle)")
                continue
            inside = _inside(base, path)
            if inside is None:
                report.missing.append(path)
                continue
            seen[path] = sha256_file(inside)
        if path not in seen:
            report.missing.append(path)
        elif seen[path] != (entry.sha256, entry.size):
            report.flipped.append(path)
    report.extra = sorted(p for p in seen if p not in manifest.files and p not in mf.META_FILES)
    report.files = len(seen)
    report.bytes = sum(size for _sha, size in seen.values())


def verify_dir(bundle: Path, key: Path, base: Path | None = None) -> Report:
    report = Report(str(bundle))
    started = time.perf_counter()
    report.links = refused_in_dir(bundle)
    if report.links:  # read nothing, the manifest included, through a link
        report.seconds = time.perf_counter() - started
        return report
    raw = _read_manifest(bundle / mf.MANIFEST)
    sig_path = bundle / mf.SIGNATURE
    _check_signature(raw, sig_path.read_bytes() if sig_path.is_file() else None, key, report)
    if report.signature != "ok":
        report.seconds = time.perf_counter() - started
        return report
    manifest = mf.from_bytes(raw, str(bundle / mf.MANIFEST))
    names = [p for p in list_files(bundle) if p not in mf.META_FILES]
    seen = hash_files(bundle, names)
    _compare(manifest, seen, base, report)
    report.seconds = time.perf_counter() - started
    return report


def verify_tar(archive: Path, key: Path, base: Path | None = None) -> Report:
    """Stream a .tar bundle; the manifest and signature are its first members."""
    report = Report(str(archive))
    started = time.perf_counter()
    seen: dict[str, tuple[str, int]] = {}
    meta: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                refused = _refused_member(member, name)
                if refused:
                    report.links.append(refused)
                    continue
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                assert handle is not None
                if name in mf.META_FILES:
                    meta[name] = handle.read()
                    if name == mf.SIGNATURE:
                        _check_signature(meta.get(mf.MANIFEST, b""), meta[name], key, report)
                        if report.signature != "ok":
                            break
                    continue
                seen[name] = sha256_stream(handle)
    except (OSError, tarfile.TarError) as exc:
        raise K8sInstallError(
            f"{archive}: cannot read the archive ({exc})", code=ExitCode.INVALID_INPUT
        ) from exc
    if report.links:  # a link member fails the bundle, whatever else it holds
        report.seconds = time.perf_counter() - started
        return report
    if mf.MANIFEST not in meta:
        raise K8sInstallError(
            f"{archive}: no {mf.MANIFEST} in the archive",
            fix="point at a .tar made by `k8s-install bundle build`",
            code=ExitCode.INVALID_INPUT,
        )
    if report.signature == "unchecked":
        _check_signature(meta[mf.MANIFEST], None, key, report)
    if report.signature == "ok":
        _compare(mf.from_bytes(meta[mf.MANIFEST], str(archive)), seen, base, report)
    report.seconds = time.perf_counter() - started
    return report


def _read_manifest(path: Path) -> bytes:
    if not path.is_file():
        raise K8sInstallError(
            f"{path}: no manifest",
            fix="point at a directory or .tar made by `k8s-install bundle build`",
            code=ExitCode.INVALID_INPUT,
        )
    return path.read_bytes()


def verify(bundle: Path, key: Path, base: Path | None = None) -> Report:
    """Verify a bundle directory or .tar; bad input raises (exit 2), a failed check is a Report."""
    if not key.is_file():
        raise K8sInstallError(
            f"{key}: public key not found",
            fix="pass the .pub file from `k8s-install bundle keygen` with --key",
            code=ExitCode.INVALID_INPUT,
        )
    sign.load_public(key)
    if bundle.is_dir():
        return verify_dir(bundle, key, base)
    if bundle.is_file():
        return verify_tar(bundle, key, base)
    raise K8sInstallError(
        f"{bundle}: no such bundle",
        fix="give a bundle directory or .tar",
        code=ExitCode.INVALID_INPUT,
    )
