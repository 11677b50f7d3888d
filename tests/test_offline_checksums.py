"""The offline group_vars take every binary's checksum from the bundle's signed manifest.

Bundles here are real ones, built from local sources (test_bundle_local), so a local build's
sha256 is not upstream's and the engine must be told it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import inventory, offline_repo, runner
from k8s_install.base.errors import K8sInstallError
from k8s_install.bundle import build, offline_checksums, sign
from k8s_install.bundle import download_list as planner
from k8s_install.bundle import manifest as mf
from k8s_install.cli import cli
from k8s_install.model import config
from test_bundle_local import _local_layout, _local_tree, _plan

KUBESPRAY = Path(os.environ.get("K8S_INSTALL_KUBESPRAY_DIR", "/tmp/ci-kubespray-v2.31.0"))
OFFLINE = "group_vars/all/20-offline.yml"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    return tmp_path / "k.key", tmp_path / "k.pub"


def _bundle(tmp_path: Path, key: Path, name: str = "bundle") -> Path:
    opts = build.Options(
        tmp_path / name,
        key,
        tmp_path / "cache",
        {},
        {},
        wheels=False,
        local_files=(_local_tree(tmp_path / "own"),),
        local_images=(_local_layout(tmp_path / "layout"),),
    )
    return build.build(_plan(), opts).output


def _offline(sample_copy: Path, bundle: Path, public: Path, **kubespray: Any) -> Path:
    data = yaml.safe_load(sample_copy.read_text())
    data["offline"] = {
        "enabled": True,
        "bundle": str(bundle),
        "public_key": str(public),
        "repo_host": "cp1",
    }
    if kubespray:
        data.setdefault("kubespray", {}).update(kubespray)
    sample_copy.write_text(yaml.safe_dump(data))
    return sample_copy


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"kubelet": "1" * 64}, {"kubelet_binary_checksum": "sha256:" + "1" * 64}),
        ({"etcd": "2" * 64}, {"etcd_binary_checksum": "sha256:" + "2" * 64}),
        ({"cni": "3" * 64}, {"cni_binary_checksum": "sha256:" + "3" * 64}),
        ({"nerdctl": "4" * 64}, {"nerdctl_archive_checksum": "sha256:" + "4" * 64}),
        (
            {"containerd": "5" * 64},
            {
                "containerd_archive_checksum": "sha256:" + "5" * 64,
                "containerd_static_archive_checksum": "sha256:" + "5" * 64,
            },
        ),
        ({"calico_crds": "6" * 64}, {}),  # the engine has no variable for it
        ({"kubespray": "7" * 64, "test-binary": "8" * 64}, {}),
    ],
)
def test_checksum_vars_use_the_engine_names_and_format(
    names: dict[str, str], expected: dict[str, str]
) -> None:
    assert offline_repo.checksum_vars(names) == expected


@pytest.mark.skipif(
    not (KUBESPRAY / "roles").is_dir(), reason=f"no Kubespray checkout at {KUBESPRAY}"
)
def test_every_variable_and_download_of_the_table_exists_in_the_engine() -> None:
    text = (KUBESPRAY / "roles/kubespray_defaults/defaults/main/download.yml").read_text()
    downloads = yaml.safe_load(text)["downloads"]
    for name, variables in offline_repo.CHECKSUM_VARS.items():
        assert name in downloads, name
        for var in variables:
            assert re.search(rf"^{var}: ", text, re.MULTILINE), var
        used = str(downloads[name]["checksum"])
        assert any(v in used for v in variables) or name == "containerd", (name, used)
    assert "containerd_checksum" in str(downloads["containerd"]["checksum"])
    # Every download with a *_checksum variable of its own is in the table.
    defined = set(re.findall(r"^(\w+_checksum): ", text, re.MULTILINE))
    in_table = {v for vs in offline_repo.CHECKSUM_VARS.values() for v in vs}
    assert defined - in_table == {"containerd_checksum"}


@pytest.mark.parametrize("suffix", ["", ".tar"])
def test_the_inventory_carries_the_manifest_checksums(
    suffix: str, sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = _bundle(tmp_path, keys[0], f"bundle{suffix}")
    manifest = mf.load(bundle if bundle.is_dir() else build.unpack(bundle, tmp_path / "u"))
    cluster_yaml = _offline(sample_copy, bundle, keys[1])
    result = CliRunner().invoke(cli, ["inventory", "-c", str(cluster_yaml), "--json"])
    assert result.exit_code == 0, result.output
    values = yaml.safe_load((cluster_yaml.parent / "inventory" / OFFLINE).read_text())
    items = manifest.item_map()
    assert values["kubelet_binary_checksum"] == f"sha256:{items['file:kubelet'].sha256}"
    assert values["etcd_binary_checksum"] == f"sha256:{items['file:etcd'].sha256}"
    assert items["file:kubelet"].sha256 != items["file:kubelet"].upstream_sha256
    assert "kubeadm_binary_checksum" not in values  # not in this bundle: the engine's own


def test_a_users_kubespray_override_wins_over_the_bundle(
    sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    mine = "sha256:" + "f" * 64
    cluster_yaml = _offline(
        sample_copy, _bundle(tmp_path, keys[0]), keys[1], kubelet_binary_checksum=mine
    )
    directory = tmp_path / "inv"
    inventory.write(offline_checksums.attach(config.load(cluster_yaml)), directory)
    assert "kubelet_binary_checksum: sha256:" in (directory / OFFLINE).read_text()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(directory),
         "--host", "cp1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    host = json.loads(proc.stdout)
    assert host["kubelet_binary_checksum"] == mine  # 90-kubespray-overrides.yml is read last
    assert (
        host["etcd_binary_checksum"].startswith("sha256:") and host["etcd_binary_checksum"] != mine
    )


def test_a_bundle_signed_by_another_key_gives_no_checksums(
    sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    sign.keygen(tmp_path / "other.key", tmp_path / "other.pub")
    cluster_yaml = _offline(sample_copy, _bundle(tmp_path, keys[0]), tmp_path / "other.pub")
    result = CliRunner().invoke(cli, ["inventory", "-c", str(cluster_yaml)])
    assert result.exit_code == 2
    assert "signature does not match offline.public_key" in result.output


def test_a_missing_bundle_stops_the_inventory(sample_copy: Path, keys: tuple[Path, Path]) -> None:
    cluster_yaml = _offline(sample_copy, sample_copy.parent / "gone.tar", keys[1])
    result = CliRunner().invoke(cli, ["inventory", "-c", str(cluster_yaml)])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_a_tar_whose_first_member_is_not_the_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with tarfile.open(tmp_path / "b.tar", "w") as tar:
        tar.add(tmp_path / "x", arcname="files/x")
        tar.add(tmp_path / "x", arcname=mf.MANIFEST)
    with pytest.raises(K8sInstallError, match="not among the first members") as caught:
        offline_checksums.read_meta(tmp_path / "b.tar")
    assert caught.value.code == 2


@pytest.mark.parametrize("name", [mf.MANIFEST, mf.SIGNATURE])
def test_a_linked_manifest_in_a_bundle_directory_is_not_read(tmp_path: Path, name: str) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (tmp_path / "elsewhere").write_text("{}")
    (bundle / name).symlink_to(tmp_path / "elsewhere")
    if name != mf.MANIFEST:
        (bundle / mf.MANIFEST).write_text("{}")
    with pytest.raises(K8sInstallError, match="a link, refused") as caught:
        offline_checksums.read_meta(bundle)
    assert caught.value.code == 2


def test_every_command_writes_the_same_inventory(
    sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster_yaml = _offline(sample_copy, _bundle(tmp_path, keys[0]), keys[1])
    CliRunner().invoke(cli, ["inventory", "-c", str(cluster_yaml), "-o", str(tmp_path / "cmd")])

    class Stop(Exception):
        pass

    def stop(_request: runner.RunRequest) -> runner.RunResult:
        raise Stop

    monkeypatch.setattr(runner, "run_playbook", stop)
    result = CliRunner().invoke(cli, ["ping", "-c", str(cluster_yaml)])
    assert isinstance(result.exception, Stop)
    by_run = cluster_yaml.parent / "inventory"
    expected = {
        p.relative_to(tmp_path / "cmd"): p.read_text() for p in (tmp_path / "cmd").rglob("*.yml")
    }
    assert expected and {p: (by_run / p).read_text() for p in expected} == expected
    assert "kubelet_binary_checksum" in expected[Path(OFFLINE)]


def test_planning_a_bundle_resolves_upstream_checksums(
    sample_copy: Path, keys: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's download list is resolved without the bundle's checksums."""
    cluster = offline_checksums.attach(
        config.load(_offline(sample_copy, _bundle(tmp_path, keys[0]), keys[1]))
    )
    assert cluster.offline_checksums
    seen = {}

    def fake_run(request: runner.RunRequest) -> Any:
        seen["offline"] = (request.inventory / OFFLINE).read_text()
        out = Path(request.extravars["k8s_install_plan_out"])
        out.write_text('{"files": [], "images": []}')
        return SimpleNamespace(status="successful", rc=0, failures=[])

    monkeypatch.setattr(runner, "run_playbook", fake_run)
    planner.resolve_engine(cluster, tmp_path)
    assert "files_repo" in seen["offline"] and "_checksum" not in seen["offline"]
