"""scripts/artifacts release sets: the recipes, versions, download paths and image tags of each.

Nothing is built: these check what `build.py --set NAME` would build and where it would put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from artifacts import build

ROOT = Path(__file__).resolve().parents[1]
KUBESPRAY = Path(os.environ.get("K8S_INSTALL_KUBESPRAY_DIR", "/tmp/ci-kubespray-v2.31.0"))
recipes, package, gobuild, images = build.recipes, build.package, build.gobuild, build.image_recipes
SET_1_35, SET_1_34 = recipes.SETS["1.35"], recipes.SETS["1.34"]
OWN_1_34 = {"kubernetes": "kubernetes-1.34", "coredns": "coredns-1.12"}


def test_default_set_is_the_1_35_recipes() -> None:
    assert recipes.DEFAULT_SET == "1.35"
    assert list(SET_1_35.components) == [r.name for r in recipes.RECIPES]
    assert list(SET_1_35.components.values()) == list(recipes.RECIPES)
    assert SET_1_35.version("kubernetes") == "1.35.4"
    assert SET_1_35.version("etcd") == "3.6.10"
    assert SET_1_35.version("coredns") == "1.12.4"


def test_1_34_set_versions_and_wrappers() -> None:
    assert list(SET_1_34.components) == list(SET_1_35.components)
    got = {c: (r.name, r.version, r.module_dir) for c, r in SET_1_34.components.items()}
    assert got["kubernetes"] == ("kubernetes-1.34", "1.34.4", "build/kubernetes-1.34")
    assert got["etcd"] == ("etcd", "3.6.10", "build/etcd")
    assert got["coredns"] == ("coredns-1.12", "1.12.1", "build/coredns-1.12")
    for component in OWN_1_34:
        assert (ROOT / got[component][2] / "go.mod").is_file()
        assert (ROOT / got[component][2] / "go.sum").is_file()


def test_1_34_shares_every_other_build_with_1_35() -> None:
    for component, recipe in SET_1_34.components.items():
        same = recipe == SET_1_35.components[component]
        assert same == (component not in OWN_1_34), component
    gover = "go1.0"  # any: the key only has to agree between the sets
    for component in set(SET_1_34.components) - set(OWN_1_34):
        assert gobuild.key(SET_1_34.components[component], gover) == gobuild.key(
            SET_1_35.components[component], gover
        )


def test_1_34_stamps_its_kubernetes_version() -> None:
    ldflags = SET_1_34.components["kubernetes"].ldflags
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4 " in ldflags
    assert "-X k8s.io/client-go/pkg/version.gitVersion=v1.34.4 " in ldflags
    assert "version.gitMinor=34 " in ldflags
    assert "v1.35" not in ldflags
    assert f"version.buildDate={recipes.BUILD_DATE_1_34} " in ldflags


def test_download_paths_carry_the_set_versions() -> None:
    paths = package.paths(SET_1_34)
    assert paths["kubeadm"] == "dl.k8s.io/release/v1.34.4/bin/linux/amd64/kubeadm"
    assert paths["kubelet"] == "dl.k8s.io/release/v1.34.4/bin/linux/amd64/kubelet"
    assert paths["etcd"] == (
        "github.com/etcd-io/etcd/releases/download/v3.6.10/etcd-v3.6.10-linux-amd64.tar.gz"
    )
    old = package.paths(SET_1_35)
    assert old["kubectl"] == "dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubectl"
    assert set(paths) == set(old) == set(build.CHECKSUM_VARS)
    for name in ("containerd", "runc", "cni", "crictl", "nerdctl", "helm"):
        assert paths[name] == old[name]


def test_files_are_written_where_the_paths_say(tmp_path: Path) -> None:
    bins = {}
    for component, recipe in SET_1_34.components.items():
        folder = tmp_path / "bins" / component
        folder.mkdir(parents=True)
        for binary in recipe.binaries:
            (folder / binary.name).write_text(f"{component} {binary.name}\n")
        bins[component] = folder
    placed = package.files(bins, tmp_path / "out", SET_1_34)
    assert placed == package.paths(SET_1_34)
    for rel in placed.values():
        assert (tmp_path / "out" / "files" / rel).is_file()
    kubeadm = tmp_path / "out/files/dl.k8s.io/release/v1.34.4/bin/linux/amd64/kubeadm"
    assert kubeadm.read_text() == "kubernetes kubeadm\n"


def test_artifacts_versions_are_the_set_ones() -> None:
    assert build.versions(SET_1_35) == {
        "etcd_version": recipes.ETCD,
        "containerd_version": recipes.CONTAINERD,
        "runc_version": recipes.RUNC,
        "cni_version": recipes.CNI,
        "crictl_version": recipes.CRICTL,
        "nerdctl_version": recipes.NERDCTL,
    }
    assert build.versions(SET_1_34) == build.versions(SET_1_35)


def test_image_tags_are_the_set_ones() -> None:
    assert build.image_versions(SET_1_35) == images.VERSIONS
    names = images.image_names(build.image_versions(SET_1_34))
    assert names["kube-apiserver"] == "registry.k8s.io/kube-apiserver:v1.34.4"
    assert names["kube-proxy"] == "registry.k8s.io/kube-proxy:v1.34.4"
    assert names["coredns"] == "registry.k8s.io/coredns/coredns:v1.12.1"
    assert names["pause"] == "registry.k8s.io/pause:3.10.1"
    assert names["smoke"] == images.SMOKE_IMAGE


@pytest.mark.skipif(not KUBESPRAY.is_dir(), reason="needs a Kubespray v2.31.0 tree")
def test_1_34_set_is_what_kubespray_picks_for_kube_1_34() -> None:
    defaults = KUBESPRAY / "roles/kubespray_defaults"
    download = yaml.safe_load((defaults / "defaults/main/download.yml").read_text())
    main = yaml.safe_load((defaults / "vars/main/main.yml").read_text())
    checksums = yaml.safe_load((defaults / "vars/main/checksums.yml").read_text())
    assert str(download["coredns_supported_versions"]["1.34"]) == SET_1_34.version("coredns")
    assert main["pod_infra_supported_versions"]["1.34"] == SET_1_34.version("pause")
    # etcd_supported_versions['1.34'] takes a 3.5.x, which kubeadm 1.34.4 refuses below 3.5.24
    # and the proxy does not serve from 3.5.22: the set keeps 1.35's etcd, in the same table.
    assert "select('version', '3.6', '<')" in main["etcd_supported_versions"]["1.34"]
    etcd = SET_1_34.version("etcd")
    assert etcd == SET_1_35.version("etcd")
    assert etcd in {str(v) for v in checksums["etcd_binary_checksums"]["amd64"]}
    for table in ("kubelet_checksums", "kubeadm_checksums", "kubectl_checksums"):
        assert SET_1_34.version("kubernetes") in {str(v) for v in checksums[table]["amd64"]}
