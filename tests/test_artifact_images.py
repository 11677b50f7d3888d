"""scripts/artifacts/images.py: names, tags, layers and entrypoints of the images we build."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from artifacts import images

from k8s_install.bundle import oci

KUBESPRAY = Path(os.environ.get("K8S_INSTALL_KUBESPRAY_DIR", "/tmp/ci-kubespray-v2.31.0"))


@pytest.fixture
def bins(tmp_path: Path) -> dict[str, Path]:
    """Stand-in binaries: small shell scripts, one per component."""
    folder = tmp_path / "bins"
    folder.mkdir()
    result = {}
    for name in images.BINARIES:
        path = folder / name
        path.write_text(f"#!/bin/sh\necho {name}\n")
        path.chmod(0o644)  # build_images makes them executable in the image
        result[name] = path
    return result


@pytest.fixture
def bases(tmp_path: Path) -> Path:
    """A fake netbase tree, so the fast tests need no debootstrap."""
    netbase = tmp_path / "netbase"
    (netbase / "usr/sbin").mkdir(parents=True)
    (netbase / "usr/sbin/xtables-nft-multi").write_text("#!/bin/sh\n")
    (netbase / "usr/sbin/iptables").symlink_to("xtables-nft-multi")
    return netbase


def _build(tmp_path: Path, bins: dict[str, Path], bases: Path) -> list[str]:
    return images.build_images(tmp_path / "layout", bins, tmp_path / "cache", netbase_root=bases)


def _image(layout: Path, name: str) -> tuple[dict[str, Any], list[dict[str, tarfile.TarInfo]]]:
    """The image's config and, per layer, its tar members by name."""
    manifest = json.loads(oci.blob_path(layout, oci.images(layout)[name]["digest"]).read_bytes())
    config = json.loads(oci.blob_path(layout, manifest["config"]["digest"]).read_bytes())
    members = []
    for layer in manifest["layers"]:
        data = gzip.decompress(oci.blob_path(layout, layer["digest"]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members.append({m.name.rstrip("/"): m for m in tar.getmembers()})
    return config, members


def test_names_and_tags_are_the_upstream_ones(
    tmp_path: Path, bins: dict[str, Path], bases: Path
) -> None:
    names = _build(tmp_path, bins, bases)
    assert sorted(names) == [
        "docker.io/k8s-install/smoke:1.1",
        "registry.k8s.io/coredns/coredns:v1.12.4",
        "registry.k8s.io/kube-apiserver:v1.35.4",
        "registry.k8s.io/kube-controller-manager:v1.35.4",
        "registry.k8s.io/kube-proxy:v1.35.4",
        "registry.k8s.io/kube-scheduler:v1.35.4",
        "registry.k8s.io/pause:3.10.1",
    ]
    assert sorted(oci.images(tmp_path / "layout")) == sorted(names)
    assert images.SMOKE_IMAGE in names


def test_control_plane_images_are_one_binary_found_by_path(
    tmp_path: Path, bins: dict[str, Path], bases: Path
) -> None:
    _build(tmp_path, bins, bases)
    for name in images.CONTROL_PLANE:
        config, members = _image(tmp_path / "layout", f"registry.k8s.io/{name}:v1.35.4")
        assert "Entrypoint" not in config["config"] and "Cmd" not in config["config"]
        assert "/usr/local/bin" in config["config"]["Env"][0]
        (layer,) = members
        assert list(layer) == ["usr", "usr/local", "usr/local/bin", f"usr/local/bin/{name}"]
        binary = layer[f"usr/local/bin/{name}"]
        assert binary.mode == 0o755 and binary.size == bins[name].stat().st_size


def test_pause_and_coredns_entrypoints(tmp_path: Path, bins: dict[str, Path], bases: Path) -> None:
    _build(tmp_path, bins, bases)
    config, (layer,) = _image(tmp_path / "layout", "registry.k8s.io/pause:3.10.1")
    assert config["config"]["Entrypoint"] == ["/pause"] and list(layer) == ["pause"]
    config, (layer,) = _image(tmp_path / "layout", "registry.k8s.io/coredns/coredns:v1.12.4")
    assert config["config"]["Entrypoint"] == ["/coredns"] and list(layer) == ["coredns"]
    assert "User" not in config["config"]  # root with NET_BIND_SERVICE only, as Kubespray runs it


def test_kube_proxy_is_netbase_plus_its_binary(
    tmp_path: Path, bins: dict[str, Path], bases: Path
) -> None:
    _build(tmp_path, bins, bases)
    config, (base, top) = _image(tmp_path / "layout", "registry.k8s.io/kube-proxy:v1.35.4")
    assert base["usr/sbin/iptables"].linkname == "xtables-nft-multi"
    assert "usr/local/bin/kube-proxy" in top and "usr/local/bin/kube-proxy" not in base
    assert "Entrypoint" not in config["config"]  # kubeadm's DaemonSet gives the full path


def test_smoke_image_is_our_program_serving_on_port_80(
    tmp_path: Path, bins: dict[str, Path], bases: Path
) -> None:
    _build(tmp_path, bins, bases)
    config, (layer,) = _image(tmp_path / "layout", images.SMOKE_IMAGE)
    assert config["config"]["Entrypoint"] == ["/smoke"]
    assert config["config"]["Cmd"] == ["serve", "-listen", ":80"]
    assert list(layer) == ["smoke"] and layer["smoke"].mode == 0o755


def test_same_binaries_same_digests(tmp_path: Path, bins: dict[str, Path], bases: Path) -> None:
    first = _build(tmp_path / "one", bins, bases)
    for path in bins.values():
        os.utime(path, (time.time() + 100, time.time() + 100))
    _build(tmp_path / "two", bins, bases)
    digests = [
        {n: e["digest"] for n, e in oci.images(tmp_path / run / "layout").items()}
        for run in ("one", "two")
    ]
    assert digests[0] == digests[1] and len(digests[0]) == len(first)


def test_versions_come_from_one_place(tmp_path: Path, bins: dict[str, Path], bases: Path) -> None:
    names = images.build_images(
        tmp_path / "layout",
        bins,
        tmp_path / "cache",
        {"kubernetes": "v1.35.5"},
        netbase_root=bases,
    )
    assert "registry.k8s.io/kube-proxy:v1.35.5" in names
    assert "registry.k8s.io/pause:3.10.1" in names


def test_a_missing_binary_is_named(tmp_path: Path, bins: dict[str, Path]) -> None:
    del bins["coredns"]
    with pytest.raises(images.ImageBuildError, match="no binary for coredns"):
        images.build_images(tmp_path / "layout", bins, tmp_path / "cache")


@pytest.mark.skipif(not KUBESPRAY.is_dir(), reason="needs a Kubespray v2.31.0 tree")
def test_tags_match_kubespray_defaults() -> None:
    download = (KUBESPRAY / "roles/kubespray_defaults/defaults/main/download.yml").read_text()
    pause = (KUBESPRAY / "roles/kubespray_defaults/vars/main/main.yml").read_text()
    assert f"'1.35': {images.VERSIONS['coredns'].removeprefix('v')}" in download
    assert f"'1.35': '{images.VERSIONS['pause']}'" in pause
    assert 'kube_image_repo: "registry.k8s.io"' in download


def test_nft_alternative_is_checked(tmp_path: Path) -> None:
    alternatives = tmp_path / "etc/alternatives"
    alternatives.mkdir(parents=True)
    (alternatives / "iptables").symlink_to("/usr/sbin/iptables-legacy")
    (alternatives / "ip6tables").symlink_to("/usr/sbin/ip6tables-nft")
    with pytest.raises(images.ImageBuildError, match="not iptables-nft"):
        images.check_nft_alternative(tmp_path)


def test_a_cached_tree_is_reused_and_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    calls = []

    def build(root: Path) -> None:
        calls.append(root)
        (root / "file").write_text("x")

    first = images._cached(tmp_path, "thing", "k1", build)
    assert images._cached(tmp_path, "thing", "k1", build) == first and len(calls) == 1
    assert (first / "file").read_text() == "x"

    def broken(root: Path) -> None:
        (root / "half").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        images._cached(tmp_path, "thing", "k2", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing.lock", "thing-k1"]


@pytest.mark.integration
def test_netbase_from_debootstrap(tmp_path: Path) -> None:
    root = images.netbase(tmp_path)
    for tool in ("usr/sbin/iptables", "usr/sbin/nft", "usr/sbin/conntrack", "usr/bin/ip"):
        assert (root / tool).exists(), tool
    assert not list((root / "var/lib/apt/lists").iterdir())
    assert not list((root / "dev").iterdir())
