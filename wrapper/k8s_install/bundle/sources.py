"""HTTP downloads into a content-addressed cache: parallel, resumable (Range), verified.

Every download names the sha256 it must have. The cache keeps finished files by that sha256, so
a second build (or another bundle) reuses them; an interrupted download is resumed from its
.part file with an HTTP Range request. URLs are rewritten through a mirror map first, which is
how tests (and sites with their own mirrors) point the builder at other servers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle.verify import CHUNK, sha256_file

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "k8s-install"
USER_AGENT = "k8s-install-bundle"
TIMEOUT = 60

# (url, bytes done, bytes total or 0)
ProgressFn = Callable[[str, int, int], None]


class DownloadError(K8sInstallError):
    pass


@dataclass(frozen=True)
class Download:
    url: str
    sha256: str
    dest: Path


def rewrite(url: str, mirrors: Mapping[str, str]) -> str:
    """Apply the longest matching mirror prefix (`https://dl.k8s.io` -> `http://127.0.0.1:8/x`)."""
    for prefix in sorted(mirrors, key=len, reverse=True):
        if url.startswith(prefix):
            return mirrors[prefix].rstrip("/") + url[len(prefix) :]
    return url


def parse_mirrors(pairs: Iterable[str]) -> dict[str, str]:
    """PREFIX=REPLACEMENT pairs from the command line."""
    result = {}
    for pair in pairs:
        prefix, sep, target = pair.partition("=")
        if not sep or not prefix or not target:
            raise K8sInstallError(
                f"--mirror {pair!r} is not PREFIX=URL",
                fix="e.g. --mirror https://dl.k8s.io=http://mirror.local/dl.k8s.io",
                code=ExitCode.INVALID_INPUT,
            )
        result[prefix] = target
    return result


class Fetcher:
    def __init__(
        self,
        cache_dir: Path = DEFAULT_CACHE,
        mirrors: Mapping[str, str] | None = None,
        workers: int = 4,
        progress: ProgressFn | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.mirrors = dict(mirrors or {})
        self.workers = workers
        self.progress = progress or (lambda _u, _d, _t: None)
        self.context = context
        self.downloaded_bytes = 0
        self.cached_bytes = 0
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock(self, sha256: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(sha256, threading.Lock())

    def _count(self, downloaded: int = 0, cached: int = 0) -> None:
        with self._guard:
            self.downloaded_bytes += downloaded
            self.cached_bytes += cached

    def cached(self, sha256: str) -> Path:
        return self.cache_dir / "sha256" / sha256[:2] / sha256

    def fetch(self, url: str, sha256: str, headers: Mapping[str, str] | None = None) -> Path:
        """The verified file in the cache, downloading (or resuming) when needed.

        Fetches of one sha256 run one at a time: the second finds the first's file cached.
        """
        with self._lock(sha256):
            return self._fetch(url, sha256, headers)

    def _fetch(self, url: str, sha256: str, headers: Mapping[str, str] | None) -> Path:
        target = self.cached(sha256)
        if target.is_file():
            if sha256_file(target)[0] == sha256:
                size = target.stat().st_size
                self._count(cached=size)
                self.progress(url, size, size)
                return target
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(sha256 + ".part")
        real_url = rewrite(url, self.mirrors)
        got = self._download(real_url, part, headers or {})
        if got != sha256:
            part.unlink()
            raise DownloadError(
                f"{real_url}: sha256 is {got}, the plan declares {sha256}",
                fix="the source or mirror serves a different file; nothing was kept",
            )
        part.replace(target)
        return target

    def _download(self, url: str, part: Path, headers: Mapping[str, str]) -> str:
        """Download (or resume) into `part`; returns the sha256 of the whole file."""
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT, context=self.context)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # the .part is already whole
                return sha256_file(part)[0]
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DownloadError(
                f"{url}: {getattr(exc, 'reason', exc)}",
                fix="check the URL and network, or point --mirror at a reachable copy",
            ) from exc
        with response:
            resumed = response.status == 206
            length = int(response.headers.get("Content-Length") or 0)
            total = length + (have if resumed else 0)
            done = have if resumed else 0
            digest = hashlib.sha256()
            if resumed:  # the bytes already there count too
                with part.open("rb") as old:
                    for block in iter(lambda: old.read(CHUNK), b""):
                        digest.update(block)
            with part.open("ab" if resumed else "wb") as out:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)  # hashed while it arrives: no second read
                    out.write(chunk)
                    done += len(chunk)
                    self._count(downloaded=len(chunk))
                    self.progress(url, done, total)
        if length and done != total:
            raise DownloadError(
                f"{url}: connection closed at {done} of {total} bytes",
                fix="run the build again: it resumes where it stopped",
            )
        return digest.hexdigest()

    def fetch_all(self, downloads: Iterable[Download]) -> list[Path]:
        """Fetch in parallel and copy each file to its dest."""
        items = list(downloads)

        def one(item: Download) -> Path:
            cached = self.fetch(item.url, item.sha256)
            place(cached, item.dest)
            return item.dest

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(one, items))


def place(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f"{dest.name}.{threading.get_ident()}.tmp")
    shutil.copyfile(source, partial)  # a copy: a tampered bundle file must not touch the cache
    partial.replace(dest)  # atomic: two images sharing a layer may place it at once


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
