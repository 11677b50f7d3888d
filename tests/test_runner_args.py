"""The runner driver passes arguments as a list: paths with spaces and quotes survive intact."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from k8s_install.ansible import runner
from k8s_install.bundle import download_list
from k8s_install.model import config

AWKWARD = "dir with space and 'quote'"


def _inventory(directory: Path) -> Path:
    path = directory / "hosts file.yaml"
    path.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    return path


def test_options_are_separate_arguments() -> None:
    request = runner.RunRequest(
        playbook="x.yml",
        inventory=Path("i"),
        private_dir=Path("p"),
        check=True,
        diff=True,
        vault_password_file=Path("/a b/it's.txt"),
    )
    assert runner.playbook_options(request) == [
        "--check",
        "--diff",
        "--vault-password-file",
        "/a b/it's.txt",
    ]


def test_check_mode_and_a_vault_file_whose_path_has_spaces_and_quotes(tmp_path: Path) -> None:
    work = tmp_path / AWKWARD
    work.mkdir()
    password = work / "vault pass 'file'.txt"
    password.write_text("s3cret\n")
    secret = VaultLib([("default", VaultSecret(b"s3cret"))]).encrypt("decrypted-ok").decode()
    vars_file = work / "vaulted vars.yml"
    vars_file.write_text("greeting: !vault |\n  " + secret.replace("\n", "\n  ") + "\n")
    playbook = work / "play book.yml"
    playbook.write_text(
        "- name: Check the arguments arrived whole\n  hosts: all\n  gather_facts: false\n"
        f"  vars_files:\n    - {vars_file}\n"
        "  tasks:\n    - name: Check mode and the vaulted value\n"
        "      ansible.builtin.assert:\n        that:\n          - ansible_check_mode\n"
        "          - greeting == 'decrypted-ok'\n"
    )
    request = runner.RunRequest(
        playbook=playbook,
        inventory=_inventory(work),
        private_dir=work / "private dir",
        check=True,
        skip_tags=["never ever"],
        vault_password_file=password,
    )
    result = runner.run_playbook(request)
    assert result.status == "successful", result.failures


def _fake_engine(root: Path) -> Path:
    """Just enough of Kubespray's kubespray_defaults for the download-list resolution."""
    defaults = root / "roles" / "kubespray_defaults" / "defaults"
    defaults.mkdir(parents=True)
    (defaults / "main.yml").write_text(
        "kube_image_repo: registry.k8s.io\n"
        "downloads:\n"
        "  kubeadm:\n"
        "    enabled: true\n"
        "    file: true\n"
        "    url: https://dl.k8s.io/release/v{{ kube_version }}/bin/linux/amd64/kubeadm\n"
        "    checksum: 'sha256:" + "a" * 64 + "'\n"
        "  pause:\n"
        "    enabled: true\n"
        "    container: true\n"
        "    repo: registry.k8s.io/pause\n"
        "    tag: '3.10'\n"
    )
    return root


def test_bundle_plan_resolves_through_the_driver_from_a_path_with_spaces(
    sample_copy: Path, tmp_path: Path
) -> None:
    cluster = config.load(sample_copy)
    engine = _fake_engine(tmp_path / AWKWARD / "kubespray v2.31.0")
    resolved = download_list.resolve_engine(cluster, engine)
    assert resolved["files"][0]["name"] == "kubeadm"
    assert f"v{cluster.kubernetes_version}" in resolved["files"][0]["url"]
    assert "registry.k8s.io/pause:3.10" in resolved["images"]


def test_bundle_plan_failure_names_the_task(sample_copy: Path, tmp_path: Path) -> None:
    cluster = config.load(sample_copy)
    engine = tmp_path / "engine"
    (engine / "roles" / "kubespray_defaults" / "defaults").mkdir(parents=True)
    (engine / "roles" / "kubespray_defaults" / "defaults" / "main.yml").write_text("x: 1\n")
    with pytest.raises(download_list.K8sInstallError, match="Write the list"):
        download_list.resolve_engine(cluster, engine)
