"""Finding and running helm: K8S_INSTALL_HELM, the offline bundle, or a checksum-verified download.

helm never comes from PATH: the version that renders must be the one that was pinned or shipped.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.base.resources import data_dir

ENV_BINARY = "K8S_INSTALL_HELM"
ENV_CACHE = "K8S_INSTALL_CACHE"
BUNDLE_PATH = "bin/helm"  # where an unpacked offline bundle keeps helm
# What helm may see of our environment. Its own state goes under the cache, never ~/.config.
ENV_ALLOWLIST = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")


@dataclass(frozen=True)
class Pin:
    version: str
    url: str
    sha256: str

    @property
    def arch(self) -> str:
        return _arch()


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


@cache
def pin() -> Pin:
    """The helm release k8s-install downloads (data/addons/helm.yaml)."""
    data: dict[str, Any] = yaml.safe_load((data_dir("data") / "addons" / "helm.yaml").read_text())
    arch = _arch()
    sums: dict[str, str] = data["sha256"]
    if arch not in sums:
        raise K8sInstallError(
            f"no pinned helm for the {arch} architecture",
            fix=f"set {ENV_BINARY}=/path/to/helm",
        )
    version = str(data["version"])
    return Pin(version, str(data["url"]).format(version=version, arch=arch), sums[arch])


def cache_dir() -> Path:
    base = os.environ.get(ENV_CACHE) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "k8s-install"
    )
    return Path(base)


def find(bundle: Path | None = None, *, download_missing: bool = True) -> Path:
    """The helm binary to use: K8S_INSTALL_HELM, else the bundle's bin/helm, else the pinned
    release from the cache (downloaded and verified on first use)."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise K8sInstallError(
                f"{ENV_BINARY}={explicit} is not an executable file",
                fix=f"point {ENV_BINARY} at a helm binary, or unset it",
                code=ExitCode.INVALID_INPUT,
            )
        return path
    if bundle is not None:
        path = bundle / BUNDLE_PATH
        if path.is_file():
            return path
        raise K8sInstallError(
            f"the offline bundle {bundle} has no {BUNDLE_PATH}",
            fix="rebuild the bundle with `k8s-install bundle build`",
            code=ExitCode.INVALID_INPUT,
        )
    wanted = pin()
    cached = cache_dir() / "helm" / wanted.version / "helm"
    if cached.is_file():
        return cached
    if not download_missing:
        raise K8sInstallError(
            f"helm {wanted.version} is not in {cached.parent}",
            fix=f"set {ENV_BINARY}=/path/to/helm, or allow the download",
        )
    return download(wanted, cached)


def download(wanted: Pin, target: Path) -> Path:
    """Fetch the helm archive, check its sha256, and unpack helm to target (atomically)."""
    try:
        with urllib.request.urlopen(wanted.url, timeout=60) as response:
            archive = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise K8sInstallError(
            f"cannot download helm {wanted.version} from {wanted.url}: {exc}",
            fix=f"set {ENV_BINARY}=/path/to/helm, or use the offline bundle",
            code=ExitCode.UNREACHABLE,
        ) from None
    digest = hashlib.sha256(archive).hexdigest()
    if digest != wanted.sha256:
        raise K8sInstallError(
            f"helm archive from {wanted.url} has sha256 {digest}, expected {wanted.sha256}",
            fix="the download was altered or truncated; nothing was installed. Retry, or "
            f"set {ENV_BINARY}",
        )
    member = f"linux-{wanted.arch}/helm"
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        try:
            source = tar.extractfile(member)
        except KeyError:
            source = None
        if source is None:
            raise K8sInstallError(f"helm archive from {wanted.url} has no {member}")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".helm.")
        with os.fdopen(fd, "wb") as handle:
            shutil.copyfileobj(source, handle)
    os.chmod(temporary, 0o755)
    os.replace(temporary, target)
    return target


@dataclass(frozen=True)
class Helm:
    """A helm binary with its own state directories (repository cache, registry config)."""

    binary: Path
    home: Path

    def env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in ENV_ALLOWLIST if k in os.environ}
        env.update(
            HOME=str(self.home),
            HELM_CACHE_HOME=str(self.home / "cache"),
            HELM_CONFIG_HOME=str(self.home / "config"),
            HELM_DATA_HOME=str(self.home / "data"),
        )
        return env

    def run(
        self, *args: str, check: bool = True, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = self.env()
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        result = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=env, check=False
        )
        if check and result.returncode != 0:
            raise HelmError(args, result.stderr.strip() or result.stdout.strip())
        return result

    def version(self) -> str:
        return self.run("version", "--template", "{{ .Version }}").stdout.strip()


class HelmError(K8sInstallError):
    def __init__(self, args: tuple[str, ...], message: str) -> None:
        super().__init__(f"helm {' '.join(args[:2])} failed: {message}")
        self.args_ = args
        self.message = message


def default(bundle: Path | None = None) -> Helm:
    return Helm(find(bundle), cache_dir() / "helm-home")


def bundle_dir(cluster: Any) -> Path | None:
    """The unpacked offline bundle of an offline cluster, else None."""
    offline = cluster.section("offline")
    bundle = offline.get("bundle") if offline.get("enabled") else None
    if not bundle:
        return None
    path = (cluster.root / str(bundle)).resolve()
    return path if path.is_dir() else None
