"""Real servers on loopback for the bundle tests: nginx (files, Range) and docker-registry (OCI).

Plus the fixtures the tests build: test binaries, a chart, an engine-like tarball and small
images made from files, pushed to the registry through its HTTP API. No test touches the
internet: the builder reaches these only through its mirror maps.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from k8s_install.bundle import oci
from k8s_install.bundle.charts import ChartSpec
from k8s_install.bundle.download_list import FileSpec, Plan
from k8s_install.bundle.verify import sha256_file

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
UPSTREAM_FILES = "https://github.com/k8s-install/fixtures/releases/download"
UPSTREAM_CHARTS = "https://charts.k8s-install.test"


def need_servers() -> None:
    for binary in (NGINX, REGISTRY):
        if not Path(binary).exists():
            pytest.skip(f"{binary} is not installed (apt-get install nginx docker-registry)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer on {url}")


@contextlib.contextmanager
def nginx(root: Path, work: Path) -> Iterator[tuple[str, Path]]:
    """nginx serving `root` on a loopback port; yields (base URL, access log)."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = work / "access.log"
    conf = work / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"{user}daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  access_log {log};\n"
        f"  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;\n"
        f"  fastcgi_temp_path {work}/fcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; }}\n"
        "}\n"
    )
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work)], stderr=subprocess.PIPE)
    try:
        _wait(f"http://127.0.0.1:{port}/", proc, "nginx") if (
            root / "index.html"
        ).exists() else _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def registry(work: Path) -> Iterator[str]:
    """Debian's docker-registry on a loopback port with its own storage; yields its URL."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = work / "config.yml"
    conf.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work}/storage\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [REGISTRY, "serve", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait(f"http://127.0.0.1:{port}/v2/", proc, "docker-registry")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _add_to_chart_index(repo_dir: Path, chart: ChartSpec) -> None:
    """A Helm repository index.yaml, as `helm repo index` writes it (name, version, urls, digest)."""
    index_file = repo_dir / "index.yaml"
    index = yaml.safe_load(index_file.read_text()) if index_file.exists() else None
    index = index or {"apiVersion": "v1", "entries": {}}
    versions = index["entries"].setdefault(chart.name, [])
    versions.append(
        {
            "name": chart.name,
            "version": chart.version,
            "urls": [chart.url.rsplit("/", 1)[-1]],
            "digest": chart.sha256,
        }
    )
    index_file.write_text(yaml.safe_dump(index))


@dataclass
class Sources:
    plan: Plan
    mirrors: dict[str, str]
    registry_mirrors: dict[str, str]
    files_url: str
    registry_url: str
    access_log: Path
    www: Path


def write_binary(path: Path, size: int, seed: int) -> None:
    """Deterministic test content (not any real program)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = (f"k8s-install test binary {seed}\n".encode() * 4096)[:65536]
    with path.open("wb") as handle:
        written = 0
        while written < size:
            chunk = block[: size - written]
            handle.write(chunk)
            written += len(chunk)


def write_tgz(path: Path, files: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))


def build_sources(
    www: Path,
    registry_url: str,
    files_url: str,
    access_log: Path,
    *,
    binary_size: int = 3 << 20,
    version: str = "1.0.0",
    images: int = 2,
) -> Sources:
    """Fill the file server and the registry; return a plan naming upstream-style URLs."""
    files: list[FileSpec] = []
    for index, name in enumerate(("test-binary", "test-runtime")):
        rel = f"github.com/k8s-install/fixtures/releases/download/v{version}/{name}-linux-amd64"
        write_binary(www / rel, binary_size + index, index + sum(map(ord, version)))
        files.append(FileSpec(name, version, f"https://{rel}", sha256_file(www / rel)[0]))
    engine_rel = "github.com/k8s-install/fixtures/archive/engine-v9.9.9.tar.gz"
    write_tgz(www / engine_rel, {"engine-9.9.9/README": b"a test engine tarball\n"})
    engine = FileSpec(
        "kubespray", "9.9.9", f"https://{engine_rel}", sha256_file(www / engine_rel)[0]
    )
    chart_rel = f"charts.k8s-install.test/test-chart-{version}.tgz"
    write_tgz(
        www / chart_rel,
        {
            "test-chart/Chart.yaml": f"apiVersion: v2\nname: test-chart\nversion: {version}\n".encode()
        },
    )
    chart = ChartSpec(
        "test-chart", version, f"https://{chart_rel}", sha256_file(www / chart_rel)[0]
    )
    _add_to_chart_index(www / "charts.k8s-install.test", chart)
    layout = www.parent / f"push-layout-{version}"
    refs = []
    for index in range(images):
        ref = f"registry.k8s.io/test/image{index}:v{version}"
        oci.write_image(
            layout, ref, {f"bin/hello{index}": f"hello {index} {version}\n".encode() * 1000}
        )
        refs.append(ref)
    if refs:
        list(oci.push(layout, registry_url))
    plan = Plan(
        name="fixture",
        kubernetes_version="1.35.4",
        engine_release="v2.31.0",
        engine=engine,
        files=files,
        images=refs,
        charts=[chart],
    )
    return Sources(
        plan=plan,
        mirrors={
            "https://github.com": f"{files_url}/github.com",
            "https://charts.k8s-install.test": f"{files_url}/charts.k8s-install.test",
        },
        registry_mirrors={"registry.k8s.io": registry_url},
        files_url=files_url,
        registry_url=registry_url,
        access_log=access_log,
        www=www,
    )
