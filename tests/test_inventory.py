"""Kubespray inventory generation: golden files, determinism, and the group layout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret
from click.testing import CliRunner

from k8s_install.ansible import inventory
from k8s_install.base.resources import sample_cluster
from k8s_install.cli import cli
from k8s_install.model import config

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
UPDATE = os.environ.get("K8S_INSTALL_UPDATE_GOLDEN") == "1"


def golden_cases() -> list[Path]:
    return sorted(p for p in GOLDEN.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.name)
def test_inventory_matches_golden(case: Path, tmp_path: Path) -> None:
    """Regenerate with K8S_INSTALL_UPDATE_GOLDEN=1 after an intended change, then review the diff."""
    cluster = config.load(case / "cluster.yaml")
    expected = case / "expected"
    if UPDATE:
        shutil.rmtree(expected, ignore_errors=True)
        inventory.write(cluster, expected)
    written = inventory.write(cluster, tmp_path / "inv")
    produced = {str(p.relative_to(tmp_path / "inv")): p.read_bytes() for p in written}
    wanted = {
        str(p.relative_to(expected)): p.read_bytes() for p in expected.rglob("*") if p.is_file()
    }
    assert produced.keys() == wanted.keys()
    for name, content in produced.items():
        assert content == wanted[name], f"{case.name}/{name} differs from the golden file"


def test_output_is_byte_identical_across_runs(tmp_path: Path) -> None:
    cluster = config.load(sample_cluster())
    first = {p.name: p.read_bytes() for p in inventory.write(cluster, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in inventory.write(cluster, tmp_path / "b")}
    assert first == second


def test_groups_follow_roles() -> None:
    cluster = config.load(sample_cluster())
    hosts = inventory.hosts(cluster)["all"]
    children = hosts["children"]
    assert list(children["kube_control_plane"]["hosts"]) == ["cp1", "cp2", "cp3"]
    assert list(children["etcd"]["hosts"]) == ["cp1", "cp2", "cp3"]
    assert list(children["kube_node"]["hosts"]) == ["worker1", "worker2"]
    assert set(children["k8s_cluster"]["children"]) == {"kube_control_plane", "kube_node"}
    assert hosts["hosts"]["worker2"]["ansible_port"] == 2222
    assert hosts["hosts"]["cp2"]["etcd_member_name"] == "cp2"
    assert hosts["hosts"]["cp1"]["ip"] == "10.0.0.11"
    assert "etcd_member_name" not in hosts["hosts"]["worker1"]


def test_etcd_member_names_survive_removing_a_member(sample_copy: Path) -> None:
    """Member names follow the node, so removing cp2 does not rename cp3's member."""
    before = inventory.hosts(config.load(sample_copy))["all"]["hosts"]
    data = yaml.safe_load(sample_copy.read_text())
    data["nodes"] = [n for n in data["nodes"] if n["name"] not in ("cp2", "cp3")]
    sample_copy.write_text(yaml.safe_dump(data))
    after = inventory.hosts(config.load(sample_copy))["all"]["hosts"]
    assert after["cp1"]["etcd_member_name"] == before["cp1"]["etcd_member_name"] == "cp1"


def test_user_overrides_land_in_group_vars_not_extravars(sample_copy: Path) -> None:
    text = sample_copy.read_text().replace(
        "# kubespray:", "kubespray:\n  kube_proxy_mode: nftables\n#"
    )
    sample_copy.write_text(text)
    cluster = config.load(sample_copy)
    files = inventory.files(cluster)
    overrides = yaml.safe_load(files["group_vars/all/90-kubespray-overrides.yml"])
    assert overrides == {"kube_proxy_mode": "nftables"}


def test_ansible_reads_the_inventory(tmp_path: Path) -> None:
    """ansible-inventory itself parses what we write, with our groups and vars."""
    cluster = config.load(sample_cluster())
    inventory.write(cluster, tmp_path / "inv")
    tool = Path(sys.executable).parent / "ansible-inventory"
    result = subprocess.run(
        [str(tool), "-i", str(tmp_path / "inv" / "hosts.yaml"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    assert sorted(data["kube_control_plane"]["hosts"]) == ["cp1", "cp2", "cp3"]
    cp1 = data["_meta"]["hostvars"]["cp1"]
    assert cp1["kube_version"] == "1.35.4"
    assert cp1["kube_pods_subnet"] == "10.233.64.0/18"


def test_a_vaulted_override_reaches_ansible_decrypted(sample_copy: Path, tmp_path: Path) -> None:
    """A `!vault` value in kubespray: stays tagged in the inventory, so Ansible decrypts it
    (a plain string would hand the engine the ciphertext as the join token)."""
    password = tmp_path / "vault-password"
    password.write_text("pw\n")
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(b"pw"))])
    cipher = vault.encrypt("the-join-token").decode()
    block = "\n    ".join(cipher.splitlines())
    text = sample_copy.read_text().replace(
        "# kubespray:", f"kubespray:\n  kubeadm_token: !vault |\n    {block}\n#"
    )
    sample_copy.write_text(text)
    inventory.write(config.load(sample_copy), tmp_path / "inv")
    tool = Path(sys.executable).parent / "ansible"
    result = subprocess.run(
        [
            str(tool),
            "cp1",
            "-i",
            str(tmp_path / "inv" / "hosts.yaml"),
            "-m",
            "debug",
            "-a",
            "msg={{ kubeadm_token }}",
            "-c",
            "local",
            "--vault-password-file",
            str(password),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the-join-token" in result.stdout
    assert "ANSIBLE_VAULT" not in result.stdout


def test_cli_writes_inventory_beside_cluster_yaml(sample_copy: Path) -> None:
    result = CliRunner().invoke(cli, ["inventory", "-c", str(sample_copy)])
    assert result.exit_code == 0, result.output
    assert (sample_copy.parent / "inventory" / "hosts.yaml").is_file()
