"""The Kubespray engine: its pin, where a run finds it, and the lock file generated from it.

The pin lives in one place, data/engines/<release>.json, written by `k8s-install engine lock`
from an engine checkout. A run finds the engine in this order:

1. an explicit `--engine-dir` or K8S_INSTALL_KUBESPRAY_DIR: a checkout for development. It wins
   when given, and it is NOT verified (it is reported as `dev`, unverified);
2. the engine tarball inside the cluster's offline bundle, verified against the pin;
3. the local cache, ~/.cache/k8s-install/engines/<release>/ (or under XDG_CACHE_HOME), which
   holds only trees extracted from a verified tarball;
4. a download of the release tarball: its sha256 is checked BEFORE anything is extracted.

The engine itself is never committed to this repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from k8s_install.base.errors import ExitCode, InvalidInput, K8sInstallError, Problem
from k8s_install.base.resources import data_dir
from k8s_install.bundle import engine_source
from k8s_install.model import engine_releases
from k8s_install.model.config import Cluster

ENV_DIR = "K8S_INSTALL_KUBESPRAY_DIR"
ENV_URL = "K8S_INSTALL_ENGINE_URL"
MARKER = ".k8s-install-engine.json"
CHECKSUMS = Path("roles/kubespray_defaults/vars/main/checksums.yml")
VALIDATE_TASKS = Path("roles/validate_inventory/tasks/main.yml")
# Network plugin choices that bring their own CNI, listed after the named plugins.
BRING_YOUR_OWN = ("custom_cni", "cni", "none")
DOWNLOAD_TIMEOUT = 60
Log = Callable[[str], None]


@dataclass(frozen=True)
class Engine:
    """A usable engine tree: `path` holds cluster.yml, playbooks/, roles/ and library/."""

    release: str
    path: Path
    source: str  # dev, bundle, cache, download
    verified: bool

    @property
    def roles(self) -> Path:
        return self.path / "roles"

    @property
    def library(self) -> Path:
        return self.path / "library"

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "path": str(self.path),
            "source": self.source,
            "verified": self.verified,
        }


def pin(release: str = engine_releases.DEFAULT_RELEASE) -> dict[str, Any]:
    """The lock data of a release; InvalidInput for a release we do not ship."""
    try:
        return engine_releases.lock(release)
    except KeyError:
        raise InvalidInput(
            f"unknown engine release '{release}'",
            [
                Problem(
                    "engine.release",
                    f"k8s-install has no lock file for '{release}'",
                    f"use one of: {', '.join(engine_releases.releases())}",
                )
            ],
        ) from None


def supported_versions(release: str = engine_releases.DEFAULT_RELEASE) -> list[str]:
    """Kubernetes versions the engine release supports, newest first (from its checksums)."""
    return list(pin(release)["kubernetes_versions"])


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "k8s-install" / "engines"


def cache_dir(release: str) -> Path:
    return cache_root() / release


def tarball_url(release: str) -> str:
    return os.environ.get(ENV_URL) or str(pin(release)["tarball_url"])


def is_engine_tree(path: Path) -> bool:
    return (path / "cluster.yml").is_file() and (path / "roles").is_dir()


def requirement_status(release: str = engine_releases.DEFAULT_RELEASE) -> list[dict[str, str]]:
    """Each Python requirement of the engine against what is installed beside k8s-install."""
    rows = []
    for line in pin(release)["requirements"]:
        name, _, wanted = str(line).partition("==")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = ""
        rows.append(
            {
                "name": name,
                "wanted": wanted,
                "installed": installed,
                "ok": "yes" if installed == wanted else "no",
            }
        )
    return rows


# Resolution


def resolve(
    release: str,
    *,
    cluster: Cluster | None = None,
    engine_dir: Path | None = None,
    download: bool = True,
    log: Log = lambda _message: None,
) -> Engine:
    """Find the engine for a run, in the documented order (see the module docstring)."""
    pin(release)
    explicit = engine_dir or (Path(os.environ[ENV_DIR]) if os.environ.get(ENV_DIR) else None)
    if explicit is not None:
        path = explicit.expanduser().resolve()
        if not is_engine_tree(path):
            raise InvalidInput(
                f"{path} is not a Kubespray checkout (no cluster.yml and roles/)",
                fix=f"point --engine-dir or {ENV_DIR} at a Kubespray {release} checkout, "
                "or unset it to use the pinned release",
            )
        log(f"using the engine checkout {path} (development override, not verified)")
        return Engine(release, path, "dev", verified=False)
    if cluster is not None:
        archive = engine_source.engine_archive(cluster)
        if archive is not None:
            log(f"using the engine from the offline bundle: {archive}")
            return Engine(release, install_archive(release, archive), "bundle", verified=True)
    cached = cached_engine(release)
    if cached is not None:
        return cached
    if not download:
        raise K8sInstallError(
            f"the engine {release} is not in the cache ({cache_dir(release)})",
            fix="run `k8s-install engine fetch`, or give --engine-dir",
        )
    url = tarball_url(release)
    log(f"downloading the engine {release} from {url}")
    return Engine(release, fetch(release, url), "download", verified=True)


def cached_engine(release: str) -> Engine | None:
    """The cached tree, when its marker says it came from the pinned tarball."""
    directory = cache_dir(release)
    marker = directory / MARKER
    if not marker.is_file() or not is_engine_tree(directory):
        return None
    try:
        recorded = json.loads(marker.read_text())
    except ValueError:
        return None
    if recorded.get("tarball_sha256") != pin(release)["tarball_sha256"]:
        return None
    return Engine(release, directory, "cache", verified=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(release: str, url: str | None = None) -> Path:
    """Download the release tarball, verify it, then extract it into the cache."""
    url = url or tarball_url(release)
    cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root(), prefix=".download-") as tmp:
        archive = Path(tmp) / f"kubespray-{release}.tar.gz"
        try:
            with (
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response,
                archive.open("wb") as handle,
            ):
                shutil.copyfileobj(response, handle)
        except (urllib.error.URLError, OSError) as exc:
            raise K8sInstallError(
                f"could not download the engine from {url}: {exc}",
                fix="check the network, or use an offline bundle, or give --engine-dir",
                code=ExitCode.UNREACHABLE,
            ) from exc
        return install_archive(release, archive)


def install_archive(release: str, archive: Path) -> Path:
    """Verify a tarball against the pin, then extract it safely into the cache."""
    lock = pin(release)
    actual = sha256_of(archive)
    if actual != lock["tarball_sha256"]:
        raise K8sInstallError(
            f"the engine tarball {archive.name} has sha256 {actual}, "
            f"but {release} is pinned to {lock['tarball_sha256']}; nothing was extracted",
            fix="the download or bundle is corrupt or tampered with: fetch it again",
        )
    target = cache_dir(release)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".extract-") as tmp:
        staging = Path(tmp) / "engine"
        extract(archive, staging, str(lock["tarball_prefix"]))
        (staging / MARKER).write_text(
            json.dumps({"release": release, "tarball_sha256": actual}, indent=2) + "\n"
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def extract(archive: Path, target: Path, prefix: str) -> None:
    """Extract members under `prefix` into target; refuse anything that escapes it."""
    target.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            name = member.name
            if name.rstrip("/") == prefix.rstrip("/"):
                continue
            if not name.startswith(prefix):
                raise K8sInstallError(
                    f"the engine tarball holds '{name}' outside '{prefix}'; nothing was used",
                    fix="the tarball is not a Kubespray release archive",
                )
            member.name = name[len(prefix) :]
            if member.islnk() and member.linkname.startswith(prefix):
                member.linkname = member.linkname[len(prefix) :]
            members.append(member)
        try:
            tar.extractall(target, members=members, filter="data")
        except tarfile.FilterError as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise K8sInstallError(
                f"the engine tarball is unsafe: {exc}; nothing was used",
                fix="the tarball is not a Kubespray release archive",
            ) from exc


# The lock file generator


def _release_of(engine_dir: Path) -> str:
    galaxy = yaml.safe_load((engine_dir / "galaxy.yml").read_text())
    return "v" + str(galaxy["version"])


def _requirements(engine_dir: Path) -> list[str]:
    lines = (engine_dir / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _network_plugins(engine_dir: Path) -> list[str]:
    """validate_inventory's allowed plugins: those with a role, sorted, then bring-your-own."""
    text = (engine_dir / VALIDATE_TASKS).read_text()
    match = re.search(r"kube_network_plugin in \[([^\]]*)\]", text)
    if match is None:
        raise K8sInstallError(f"no kube_network_plugin list in {VALIDATE_TASKS}")
    allowed = re.findall(r"'([^']+)'", match.group(1))
    roles = engine_dir / "roles" / "network_plugin"
    named = sorted(p for p in allowed if p not in BRING_YOUR_OWN and (roles / p).is_dir())
    return named + [p for p in BRING_YOUR_OWN if p in allowed]


def _commit_of(engine_dir: Path) -> str | None:
    head = engine_dir / ".git" / "HEAD"
    if not head.is_file():
        return None
    ref = head.read_text().strip()
    if ref.startswith("ref: "):
        path = engine_dir / ".git" / ref[5:]
        return path.read_text().strip() if path.is_file() else None
    return ref


def generate_lock(
    engine_dir: Path,
    *,
    tarball: Path | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The lock data of an engine checkout.

    Kubernetes versions are the keys of kubelet_checksums.amd64 in the engine's checksums.yml,
    in the engine's order (newest first); the first one is the engine's default kube_version.
    The commit comes from the checkout's .git, else from the previous lock; the tarball sha256
    from `tarball`, else from the previous lock (a checkout made by `git archive` has neither).
    """
    previous = previous or {}
    release = _release_of(engine_dir)
    checksums = yaml.safe_load((engine_dir / CHECKSUMS).read_text())
    versions = [str(v) for v in checksums["kubelet_checksums"]["amd64"]]
    commit = _commit_of(engine_dir) or previous.get("commit")
    sha = sha256_of(tarball) if tarball else previous.get("tarball_sha256")
    if not commit or not sha:
        raise InvalidInput(
            f"cannot pin {release}: the commit or tarball sha256 is unknown",
            fix="run it on a git checkout, and give --tarball with the release tarball",
        )
    bare = release.lstrip("v")
    return {
        "release": release,
        "commit": commit,
        "tarball_url": f"https://github.com/kubernetes-sigs/kubespray/archive/refs/tags/{release}.tar.gz",
        "tarball_sha256": sha,
        "tarball_prefix": f"kubespray-{bare}/",
        "requirements": _requirements(engine_dir),
        "kubernetes_versions": versions,
        "default_kubernetes_version": versions[0],
        "network_plugins": _network_plugins(engine_dir),
        "generated_from": f"{CHECKSUMS} (kubelet_checksums.amd64)",
    }


def lock_path(release: str) -> Path:
    return data_dir("data") / "engines" / f"{release}.json"


def render_lock(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def write_lock(
    engine_dir: Path, *, tarball: Path | None = None, target: Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Regenerate data/engines/<release>.json (or `target`) from an engine checkout."""
    release = _release_of(engine_dir)
    path = target or lock_path(release)
    previous = json.loads(path.read_text()) if path.is_file() else None
    data = generate_lock(engine_dir, tarball=tarball, previous=previous)
    path.write_text(render_lock(data))
    engine_releases.lock.cache_clear()
    return path, data


def ansible_settings(engine: Engine) -> dict[str, dict[str, str]]:
    """What the engine's own ansible.cfg provides that a run needs: its module library."""
    return {"defaults": {"library": str(engine.library)}}
