"""helm resolution: K8S_INSTALL_HELM, the offline bundle, or a download checked against the pin."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from k8s_install.addons import helm
from k8s_install.base.errors import ExitCode, K8sInstallError


@pytest.fixture(scope="module")
def archive(helm_binary: Path) -> bytes:
    """A release archive laid out like get.helm.sh's, holding the real helm binary."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        tar.add(helm_binary, arcname=f"linux-{helm._arch()}/helm")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(archive: bytes) -> Iterator[str]:
    """A loopback HTTP server offering the archive."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/helm.tar.gz":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(archive)))
            self.end_headers()
            self.wfile.write(archive)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_the_checksum_and_installs_a_working_helm(
    server: str, archive: bytes, tmp_path: Path
) -> None:
    pin = helm.Pin("4.1.4", f"{server}/helm.tar.gz", hashlib.sha256(archive).hexdigest())
    target = helm.download(pin, tmp_path / "helm" / "4.1.4" / "helm")
    assert os.access(target, os.X_OK)
    assert helm.Helm(target, tmp_path / "home").version().startswith("v")


def test_a_wrong_checksum_installs_nothing(server: str, tmp_path: Path) -> None:
    pin = helm.Pin("4.1.4", f"{server}/helm.tar.gz", "0" * 64)
    target = tmp_path / "helm" / "helm"
    with pytest.raises(K8sInstallError, match="expected 0000"):
        helm.download(pin, target)
    assert list(tmp_path.iterdir()) == []  # no partial file either


def test_an_unreachable_download_exits_3_and_names_the_way_out(tmp_path: Path) -> None:
    pin = helm.Pin("3.18.4", "http://127.0.0.1:9/helm.tar.gz", "0" * 64)
    with pytest.raises(K8sInstallError) as caught:
        helm.download(pin, tmp_path / "helm")
    assert caught.value.code == ExitCode.UNREACHABLE
    assert helm.ENV_BINARY in caught.value.fix


def test_an_explicit_binary_must_be_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(helm.ENV_BINARY, str(tmp_path / "nope"))
    with pytest.raises(K8sInstallError) as caught:
        helm.find()
    assert caught.value.code == ExitCode.INVALID_INPUT


def test_the_bundle_then_the_cache_are_used_without_downloading(
    helm_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(helm.ENV_BINARY, raising=False)
    monkeypatch.setenv(helm.ENV_CACHE, str(tmp_path / "cache"))
    bundle = tmp_path / "bundle"
    (bundle / "bin").mkdir(parents=True)
    (bundle / "bin" / "helm").symlink_to(helm_binary)
    assert helm.find(bundle) == bundle / "bin" / "helm"
    with pytest.raises(K8sInstallError, match="has no bin/helm"):
        helm.find(tmp_path)
    with pytest.raises(K8sInstallError, match="is not in"):
        helm.find(download_missing=False)
    cached = tmp_path / "cache" / "helm" / helm.pin().version / "helm"
    cached.parent.mkdir(parents=True)
    cached.symlink_to(helm_binary)
    assert helm.find(download_missing=False) == cached


def test_helm_runs_with_its_own_state_and_no_inherited_secrets(
    helm_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    runner = helm.Helm(helm_binary, tmp_path / "home")
    env = runner.env()
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HELM_CACHE_HOME"].startswith(str(tmp_path))
    output = runner.run("env").stdout
    assert str(tmp_path / "home" / "config") in output


@pytest.mark.engine
def test_the_pin_is_the_engines_helm() -> None:
    engine = os.environ.get("K8S_INSTALL_KUBESPRAY_DIR")
    if not engine:
        pytest.skip("set K8S_INSTALL_KUBESPRAY_DIR to a Kubespray v2.31.0 checkout")
    checksums = yaml.safe_load(
        (Path(engine) / "roles/kubespray_defaults/vars/main/checksums.yml").read_text()
    )["helm_archive_checksums"]
    pin = helm.pin()
    assert checksums[pin.arch][pin.version] == f"sha256:{pin.sha256}"
    assert pin.version == str(next(iter(checksums["amd64"])))  # the engine's default helm
    assert pin.url.endswith(f"helm-v{pin.version}-linux-{pin.arch}.tar.gz")
