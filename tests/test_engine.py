"""The engine pin, its resolution order, the verified download and the lock generator."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from k8s_install.base.errors import InvalidInput, K8sInstallError
from k8s_install.cli import cli
from k8s_install.engine import kubespray as engine
from k8s_install.model import engine_releases as engine_data

RELEASE = engine_data.DEFAULT_RELEASE
PREFIX = "kubespray-2.31.0/"
ENGINE_DIR = os.environ.get(engine.ENV_DIR)
needs_engine = pytest.mark.skipif(
    not ENGINE_DIR,
    reason=f"{engine.ENV_DIR} is not set: needs a Kubespray {RELEASE} checkout "
    "(see docs/testing-boundary.md)",
)


def make_tarball(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> str:
    """A gzipped tarball like GitHub's; returns its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        directory = tarfile.TarInfo(PREFIX.rstrip("/"))
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


GOOD = {
    f"{PREFIX}cluster.yml": b"---\n",
    f"{PREFIX}roles/.keep": b"",
    f"{PREFIX}library/kube.py": b"# module\n",
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(engine.ENV_DIR, raising=False)
    monkeypatch.delenv(engine.ENV_URL, raising=False)
    return tmp_path / "cache" / "k8s-install" / "engines" / RELEASE


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving tmp_path/www/."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www
    server.shutdown()
    server.server_close()


def pin_to(monkeypatch: pytest.MonkeyPatch, sha: str) -> None:
    """Pin the release to a test tarball's sha256 (the real one is 2.5 MB from GitHub)."""
    real = engine_data.lock(RELEASE)
    monkeypatch.setattr(engine, "pin", lambda release=RELEASE: {**real, "tarball_sha256": sha})


def test_the_pin_is_in_one_place_and_complete() -> None:
    lock = engine.pin(RELEASE)
    assert lock["release"] == RELEASE
    assert lock["commit"] == "1c9add48975060f45396b34d8e022c30d7f80dab"
    assert len(lock["tarball_sha256"]) == 64
    assert lock["tarball_url"].endswith(f"/{RELEASE}.tar.gz")
    assert engine.supported_versions(RELEASE)[0] == lock["default_kubernetes_version"]


def test_python_requirements_match_the_engine() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    for requirement in engine.pin(RELEASE)["requirements"]:
        assert f'"{requirement}"' in pyproject
    assert all(row["ok"] == "yes" for row in engine.requirement_status(RELEASE))


def test_unknown_release_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as error:
        engine.pin("v9.9.9")
    assert error.value.problems[0].path == "engine.release"


def test_download_verifies_then_extracts_into_the_cache(
    cache: Path, served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, www = served
    sha = make_tarball(www / "ks.tar.gz", GOOD)
    pin_to(monkeypatch, sha)
    monkeypatch.setenv(engine.ENV_URL, f"{url}/ks.tar.gz")
    found = engine.resolve(RELEASE)
    assert found.source == "download" and found.verified
    assert found.path == cache
    assert (cache / "cluster.yml").read_text() == "---\n"
    assert json.loads((cache / engine.MARKER).read_text())["tarball_sha256"] == sha
    # The second resolution uses the cache and downloads nothing.
    (www / "ks.tar.gz").unlink()
    again = engine.resolve(RELEASE)
    assert again.source == "cache" and again.path == cache


def test_a_wrong_checksum_is_refused_and_nothing_extracted(
    cache: Path, served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, www = served
    make_tarball(www / "ks.tar.gz", GOOD)
    pin_to(monkeypatch, "0" * 64)
    with pytest.raises(K8sInstallError, match="nothing was extracted"):
        engine.fetch(RELEASE, f"{url}/ks.tar.gz")
    assert not cache.exists()
    assert [p.name for p in cache.parent.iterdir()] == []


@pytest.mark.parametrize(
    ("members", "links"),
    [
        ({f"{PREFIX}../escape.txt": b"x", **GOOD}, None),
        ({"/etc/evil": b"x", **GOOD}, None),
        ({"other/cluster.yml": b"x", **GOOD}, None),
        (GOOD, {f"{PREFIX}roles/link": "/etc/passwd"}),
    ],
    ids=["dot-dot", "absolute", "outside-prefix", "symlink-out"],
)
def test_unsafe_tarballs_are_refused(
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    members: dict[str, bytes],
    links: dict[str, str] | None,
) -> None:
    archive = tmp_path / "bad.tar.gz"
    pin_to(monkeypatch, make_tarball(archive, members, links))
    with pytest.raises(K8sInstallError, match="nothing was used"):
        engine.install_archive(RELEASE, archive)
    assert not cache.exists()
    assert not (tmp_path / "escape.txt").exists()


def test_unreachable_download_is_exit_3(cache: Path) -> None:
    with pytest.raises(K8sInstallError) as error:
        engine.fetch(RELEASE, "http://127.0.0.1:9/nothing.tar.gz")
    assert int(error.value.code) == 3
    assert not cache.exists()


def test_an_explicit_checkout_wins_and_is_unverified(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "ks.tar.gz"
    pin_to(monkeypatch, make_tarball(archive, GOOD))
    engine.install_archive(RELEASE, archive)  # a verified cache exists too
    checkout = tmp_path / "checkout"
    (checkout / "roles").mkdir(parents=True)
    (checkout / "cluster.yml").write_text("---\n")
    found = engine.resolve(RELEASE, engine_dir=checkout)
    assert (found.source, found.verified, found.path) == ("dev", False, checkout)
    monkeypatch.setenv(engine.ENV_DIR, str(checkout))
    assert engine.resolve(RELEASE).source == "dev"


def test_an_explicit_dir_that_is_no_engine_is_invalid(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a Kubespray checkout"):
        engine.resolve(RELEASE, engine_dir=tmp_path)


def test_a_cache_from_another_tarball_is_not_used(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "ks.tar.gz"
    pin_to(monkeypatch, make_tarball(archive, GOOD))
    engine.install_archive(RELEASE, archive)
    pin_to(monkeypatch, "f" * 64)
    assert engine.cached_engine(RELEASE) is None
    with pytest.raises(K8sInstallError, match="not in the cache"):
        engine.resolve(RELEASE, download=False)


def test_the_bundle_comes_before_the_cache(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_copy: Path
) -> None:
    from k8s_install.bundle import engine_source
    from k8s_install.model import config

    archive = tmp_path / "bundled.tar.gz"
    pin_to(monkeypatch, make_tarball(archive, GOOD))
    monkeypatch.setattr(engine_source, "engine_archive", lambda cluster: archive)
    found = engine.resolve(RELEASE, cluster=config.load(sample_copy))
    assert (found.source, found.verified) == ("bundle", True)


def test_engine_ansible_settings_point_at_its_library(tmp_path: Path) -> None:
    found = engine.Engine(RELEASE, tmp_path, "dev", verified=False)
    assert engine.ansible_settings(found) == {"defaults": {"library": str(tmp_path / "library")}}


def test_engine_info_json_and_fetch_cli(
    cache: Path, served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["engine", "info", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["release"] == RELEASE
    assert data["resolved"]["source"] == "none"
    assert "1.35.4" in data["kubernetes_versions"]
    url, www = served
    pin_to(monkeypatch, make_tarball(www / "ks.tar.gz", GOOD))
    fetched = runner.invoke(cli, ["engine", "fetch", "--url", f"{url}/ks.tar.gz", "--json"])
    assert fetched.exit_code == 0, fetched.output
    assert json.loads(fetched.stdout)["path"] == str(cache)


@needs_engine
@pytest.mark.engine
def test_lock_generator_reproduces_the_shipped_lock(tmp_path: Path) -> None:
    assert ENGINE_DIR
    shipped = engine.lock_path(RELEASE)
    target = tmp_path / "lock.json"
    target.write_text(shipped.read_text())  # commit and sha256 carry over from the pin
    engine.write_lock(Path(ENGINE_DIR), target=target)
    assert target.read_text() == shipped.read_text()


@needs_engine
@pytest.mark.engine
def test_engine_lock_cli_writes_the_versions(tmp_path: Path) -> None:
    target = tmp_path / "lock.json"
    target.write_text(engine.lock_path(RELEASE).read_text())
    result = CliRunner().invoke(
        cli, ["engine", "lock", "--engine-dir", str(ENGINE_DIR), "-o", str(target), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lock"]["kubernetes_versions"][0] == "1.35.4"


def test_lock_without_commit_or_sha_is_refused(tmp_path: Path) -> None:
    checkout = tmp_path / "ks"
    (checkout / "roles/kubespray_defaults/vars/main").mkdir(parents=True)
    (checkout / "roles/validate_inventory/tasks").mkdir(parents=True)
    (checkout / "roles/network_plugin/calico").mkdir(parents=True)
    (checkout / "galaxy.yml").write_text("version: 9.9.9\n")
    (checkout / "requirements.txt").write_text("# c\nansible==1\n")
    (checkout / engine.CHECKSUMS).write_text("kubelet_checksums:\n  amd64:\n    1.2.3: sha256:x\n")
    (checkout / engine.VALIDATE_TASKS).write_text(
        "- kube_network_plugin in ['calico', 'cloud', 'cni', 'none']\n"
    )
    with pytest.raises(InvalidInput, match="cannot pin"):
        engine.generate_lock(checkout)
    data = engine.generate_lock(checkout, previous={"commit": "c" * 40, "tarball_sha256": "s"})
    assert data["kubernetes_versions"] == ["1.2.3"]
    assert data["network_plugins"] == ["calico", "cni", "none"]
    assert data["requirements"] == ["ansible==1"]
